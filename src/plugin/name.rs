//! Volume names: checked against Docker's pattern before a name ever becomes a path.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest accepted name. A trashed volume's directory is `<name>@<millis>`, which must still
/// fit the 255-byte file-name limit of every file system we sit on.
pub const MAX_NAME_LEN: usize = 200;

/// Why a volume name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("volume name is empty")]
    Empty,
    #[error("volume name {0:?} contains a NUL byte")]
    Nul(String),
    #[error("volume name {0:?} contains '/'; a volume name is a single path component")]
    Slash(String),
    #[error("volume name {0:?} contains '..'")]
    DotDot(String),
    #[error("volume name is {len} bytes long; the limit is {MAX_NAME_LEN}")]
    TooLong { len: usize },
    #[error(
        "volume name {0:?} does not match Docker's volume name pattern [a-zA-Z0-9][a-zA-Z0-9_.-]+"
    )]
    Pattern(String),
}

/// A name that is safe to use as one path component and that Docker itself would accept.
/// Deserialising checks it the same way, so a name read back from disk is as safe.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VolumeName(String);

impl VolumeName {
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let owned = || raw.to_string();
        if raw.is_empty() {
            return Err(NameError::Empty);
        }
        if raw.contains('\0') {
            return Err(NameError::Nul(owned()));
        }
        if raw.contains('/') {
            return Err(NameError::Slash(owned()));
        }
        if raw.contains("..") {
            return Err(NameError::DotDot(owned()));
        }
        if raw.len() > MAX_NAME_LEN {
            return Err(NameError::TooLong { len: raw.len() });
        }
        let mut chars = raw.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !first_ok || !rest_ok || raw.len() < 2 {
            return Err(NameError::Pattern(owned()));
        }
        Ok(Self(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for VolumeName {
    type Error = NameError;

    fn try_from(raw: String) -> Result<Self, NameError> {
        Self::parse(&raw)
    }
}

impl From<VolumeName> for String {
    fn from(name: VolumeName) -> Self {
        name.0
    }
}

impl fmt::Display for VolumeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_docker_style_names() {
        for name in ["data", "web-1-vol", "a.b_c-d", "X9", "svc-3-vol"] {
            assert_eq!(VolumeName::parse(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn refuses_each_bad_shape_with_its_own_reason() {
        assert_eq!(VolumeName::parse(""), Err(NameError::Empty));
        assert!(matches!(VolumeName::parse("a\0b"), Err(NameError::Nul(_))));
        assert!(matches!(VolumeName::parse("a/b"), Err(NameError::Slash(_))));
        assert!(matches!(
            VolumeName::parse("a..b"),
            Err(NameError::DotDot(_))
        ));
        assert!(matches!(VolumeName::parse(".."), Err(NameError::DotDot(_))));
        let long = "a".repeat(MAX_NAME_LEN + 1);
        assert_eq!(
            VolumeName::parse(&long),
            Err(NameError::TooLong {
                len: MAX_NAME_LEN + 1
            })
        );
        for bad in ["a", "-ab", ".ab", "_ab", "a b", "a:b", "ä1"] {
            assert!(
                matches!(VolumeName::parse(bad), Err(NameError::Pattern(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn messages_say_what_was_wrong() {
        let err = VolumeName::parse("a/b").unwrap_err().to_string();
        assert!(err.contains("'/'"), "{err}");
        let err = VolumeName::parse("-x").unwrap_err().to_string();
        assert!(err.contains("[a-zA-Z0-9][a-zA-Z0-9_.-]+"), "{err}");
    }
}
