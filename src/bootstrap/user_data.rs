//! The launch template's `UserData`: the node script, base64-encoded, within EC2's limit.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// EC2 limits user data to 16 KB, counted in raw form before base64 encoding
/// (EC2 User Guide, "Run commands when you launch an EC2 instance with user data input").
pub const USER_DATA_LIMIT_BYTES: usize = 16 * 1024;

/// What plan says when the script changes: instances run user data once, at first boot.
pub const RUNNING_NODES_KEEP_USER_DATA: &str = "Running nodes keep the user data they booted with: replace them to run the new script (for an auto scaling group: `aws autoscaling start-instance-refresh --auto-scaling-group-name <group>`).";

/// A node script EC2 would refuse as user data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the node script is {bytes} bytes; EC2 accepts at most {limit} bytes of user data. Shorten [nodes].extra_user_data, or have it download a script instead of inlining one"
)]
pub struct UserDataTooLarge {
    pub bytes: usize,
    pub limit: usize,
}

/// `RequestLaunchTemplateData.UserData` for `script`: base64 text, refused when too large,
/// so plan can report it before any AWS call.
pub fn launch_template_user_data(script: &str) -> Result<String, UserDataTooLarge> {
    if script.len() > USER_DATA_LIMIT_BYTES {
        return Err(UserDataTooLarge {
            bytes: script.len(),
            limit: USER_DATA_LIMIT_BYTES,
        });
    }
    Ok(STANDARD.encode(script))
}

/// User data read back from a launch template version that is not base64-encoded UTF-8 text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the launch template's user data is not base64-encoded text: {reason}")]
pub struct UserDataUnreadable {
    pub reason: String,
}

/// The script inside `UserData` as `DescribeLaunchTemplateVersions` returns it.
pub fn decode_launch_template_user_data(encoded: &str) -> Result<String, UserDataUnreadable> {
    let bytes = STANDARD
        .decode(encoded.trim())
        .map_err(|error| UserDataUnreadable {
            reason: error.to_string(),
        })?;
    String::from_utf8(bytes).map_err(|error| UserDataUnreadable {
        reason: error.to_string(),
    })
}

/// A unified diff (3 lines of context) from the user data in AWS to the rendered script,
/// for plan to show; empty when they are the same.
pub fn user_data_diff(current: &str, desired: &str) -> String {
    similar::TextDiff::from_lines(current, desired)
        .unified_diff()
        .context_radius(3)
        .header("user_data (current)", "user_data (desired)")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_a_script_that_fits() {
        let encoded = launch_template_user_data("#!/bin/sh\necho hi\n").unwrap();
        assert_eq!(
            STANDARD.decode(encoded).unwrap(),
            b"#!/bin/sh\necho hi\n".to_vec()
        );
    }

    #[test]
    fn what_was_encoded_decodes_back() {
        let script = "#!/bin/sh\necho hi\n";
        let encoded = launch_template_user_data(script).unwrap();
        assert_eq!(decode_launch_template_user_data(&encoded).unwrap(), script);
        assert!(decode_launch_template_user_data("not base64!").is_err());
    }

    #[test]
    fn the_diff_shows_changed_lines_with_context_and_nothing_when_equal() {
        let current = "a\nb\nid = \"fs-1\"\nc\n";
        let desired = "a\nb\nid = \"fs-2\"\nc\n";
        assert_eq!(
            user_data_diff(current, desired),
            "--- user_data (current)\n+++ user_data (desired)\n@@ -1,4 +1,4 @@\n a\n b\n-id = \"fs-1\"\n+id = \"fs-2\"\n c\n"
        );
        assert_eq!(user_data_diff(desired, desired), "");
    }

    #[test]
    fn exactly_16_kb_fits_and_one_byte_more_does_not() {
        let at_limit = "x".repeat(USER_DATA_LIMIT_BYTES);
        assert!(launch_template_user_data(&at_limit).is_ok());
        let over = "x".repeat(USER_DATA_LIMIT_BYTES + 1);
        assert_eq!(
            launch_template_user_data(&over).unwrap_err(),
            UserDataTooLarge {
                bytes: 16_385,
                limit: 16_384
            }
        );
    }
}
