//! The launch template's `UserData`: the node script, base64-encoded, within EC2's limit.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// EC2 limits user data to 16 KB, counted in raw form before base64 encoding
/// (EC2 User Guide, "Run commands when you launch an EC2 instance with user data input").
pub const USER_DATA_LIMIT_BYTES: usize = 16 * 1024;

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
