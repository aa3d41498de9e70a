//! Volume options (`docker volume create -o KEY=VALUE`, `volume-opt=KEY=VALUE`).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Every option a volume accepts; unknown keys are refused with this list.
pub const VALID_OPTIONS: [&str; 5] = ["perfmode", "uid", "gid", "mode", "access"];

/// Which EFS performance mode the volume's file system must have: the spec's own type, so the
/// plugin config that bootstrap writes and the plugin that reads it cannot disagree.
pub use crate::spec::PerformanceMode;

/// Whether nodes may mount the volume at the same time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    #[default]
    MultiNode,
    /// A second node's Mount is refused while another node holds the lease.
    SingleNode,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MultiNode => "multi-node",
            Self::SingleNode => "single-node",
        }
    }
}

/// An option Docker passed that cannot be honoured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    #[error("unknown volume option {key:?}; valid options: {}", VALID_OPTIONS.join(", "))]
    Unknown { key: String },
    #[error("volume option {key}={value:?} is invalid: {expected}")]
    Invalid {
        key: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// The parsed, normalised options of one volume, stored in its metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeOptions {
    pub perfmode: PerformanceMode,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Permission bits of the volume's root directory.
    pub mode: Option<u32>,
    pub access: Access,
    /// The size a CSI CreateVolume asked for: recorded and reported, never enforced, because
    /// EFS has no quotas. VolumeDriver volumes have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<CapacityRequest>,
}

/// A CSI capacity range as asked for; zero means "not given", as in the CSI spec.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapacityRequest {
    pub required_bytes: u64,
    pub limit_bytes: u64,
}

impl VolumeOptions {
    pub fn parse(raw: &HashMap<String, String>) -> Result<Self, OptionError> {
        let mut options = Self::default();
        for (key, value) in raw {
            match key.as_str() {
                "perfmode" => options.perfmode = parse_perfmode(value)?,
                "uid" => options.uid = Some(parse_id("uid", value)?),
                "gid" => options.gid = Some(parse_id("gid", value)?),
                "mode" => options.mode = Some(parse_mode(value)?),
                "access" => options.access = parse_access(value)?,
                _ => return Err(OptionError::Unknown { key: key.clone() }),
            }
        }
        Ok(options)
    }

    /// `key=value` pairs as a user would type them, for messages and `Get.Status`.
    pub fn describe(&self) -> String {
        let mut parts = vec![
            format!("perfmode={}", self.perfmode.as_str()),
            format!("access={}", self.access.as_str()),
        ];
        parts.extend(self.uid.map(|uid| format!("uid={uid}")));
        parts.extend(self.gid.map(|gid| format!("gid={gid}")));
        parts.extend(self.mode.map(|mode| format!("mode={mode:04o}")));
        parts.extend(self.capacity.map(|capacity| {
            format!(
                "required-bytes={},limit-bytes={} (not enforced)",
                capacity.required_bytes, capacity.limit_bytes
            )
        }));
        parts.join(",")
    }
}

fn parse_perfmode(value: &str) -> Result<PerformanceMode, OptionError> {
    match value.to_ascii_lowercase().as_str() {
        "maxio" => Ok(PerformanceMode::MaxIo),
        "generalpurpose" => Ok(PerformanceMode::GeneralPurpose),
        _ => Err(invalid(
            "perfmode",
            value,
            "expected maxio or generalpurpose",
        )),
    }
}

/// 4294967295 is `(uid_t)-1`, which chown reads as "leave unchanged": stored, it would
/// promise an owner the directory never gets.
fn parse_id(key: &'static str, value: &str) -> Result<u32, OptionError> {
    value
        .parse()
        .ok()
        .filter(|id| *id != u32::MAX)
        .ok_or_else(|| invalid(key, value, "expected a number from 0 to 4294967294"))
}

fn parse_mode(value: &str) -> Result<u32, OptionError> {
    u32::from_str_radix(value, 8)
        .ok()
        .filter(|mode| *mode <= 0o7777)
        .ok_or_else(|| invalid("mode", value, "expected octal permission bits such as 0750"))
}

fn parse_access(value: &str) -> Result<Access, OptionError> {
    match value {
        "single-node" => Ok(Access::SingleNode),
        "multi-node" => Ok(Access::MultiNode),
        _ => Err(invalid(
            "access",
            value,
            "expected single-node or multi-node",
        )),
    }
}

fn invalid(key: &'static str, value: &str, expected: &'static str) -> OptionError {
    OptionError::Invalid {
        key,
        value: value.to_string(),
        expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_every_option() {
        let parsed = VolumeOptions::parse(&opts(&[
            ("perfmode", "maxio"),
            ("uid", "1000"),
            ("gid", "50"),
            ("mode", "0750"),
            ("access", "single-node"),
        ]))
        .unwrap();
        assert_eq!(
            parsed,
            VolumeOptions {
                perfmode: PerformanceMode::MaxIo,
                uid: Some(1000),
                gid: Some(50),
                mode: Some(0o750),
                access: Access::SingleNode,
                capacity: None,
            }
        );
        assert_eq!(
            parsed.describe(),
            "perfmode=maxIO,access=single-node,uid=1000,gid=50,mode=0750"
        );
    }

    #[test]
    fn no_options_means_defaults() {
        assert_eq!(
            VolumeOptions::parse(&HashMap::new()).unwrap(),
            VolumeOptions::default()
        );
    }

    #[test]
    fn unknown_option_lists_the_valid_ones() {
        let err = VolumeOptions::parse(&opts(&[("size", "10")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown volume option \"size\"; valid options: perfmode, uid, gid, mode, access"
        );
    }

    #[test]
    fn the_id_chown_reads_as_unchanged_is_refused() {
        for key in ["uid", "gid"] {
            let err = VolumeOptions::parse(&opts(&[(key, "4294967295")])).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "volume option {key}=\"4294967295\" is invalid: expected a number from 0 to 4294967294"
                )
            );
        }
        let highest = VolumeOptions::parse(&opts(&[("uid", "4294967294")])).unwrap();
        assert_eq!(highest.uid, Some(4294967294));
    }

    #[test]
    fn bad_values_say_what_is_expected() {
        for (key, value) in [
            ("perfmode", "fast"),
            ("uid", "-1"),
            ("uid", "4294967295"),
            ("gid", "4294967295"),
            ("gid", "x"),
            ("mode", "0999"),
            ("mode", "17777"),
            ("access", "exclusive"),
        ] {
            let err = VolumeOptions::parse(&opts(&[(key, value)])).unwrap_err();
            assert!(matches!(err, OptionError::Invalid { .. }), "{key}={value}");
            assert!(err.to_string().contains("expected"), "{err}");
        }
    }
}
