//! Debian package versions (`[epoch:]upstream[-revision]`), ordered exactly as
//! `dpkg --compare-versions` orders them. (STUB: being written.)

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A parsed, validated Debian version. Equality is dpkg's: `1.0` == `0:1.0`.
#[derive(Debug, Clone)]
pub struct Version {
    text: String,
}

/// Why a string is not a valid Debian version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid version {text:?}: {reason}")]
pub struct VersionError {
    pub text: String,
    pub reason: String,
}

impl FromStr for Version {
    type Err = VersionError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Version { text: text.to_owned() })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.text.cmp(&other.text)
    }
}
impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Version {}
