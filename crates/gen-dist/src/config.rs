//! [`DistConfig`]: the timeouts and bucket size of a distributed run.

use crate::error::{Error, Result};
use std::time::Duration;

/// How long to wait for peers, and how large gradient buckets are.
///
/// Every field has a default; `{}` in TOML or JSON gives them all.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DistConfig {
    /// Seconds to reach the store and for every rank to join and connect. Default 300.
    pub init_timeout_s: f64,
    /// Seconds a collective waits for its peers before it fails (Gloo's timeout). A rank that
    /// dies is noticed at once, whatever this is; a rank that stops answering is noticed after
    /// it. Default 1800, torch's default.
    pub timeout_s: f64,
    /// The size of one gradient bucket in MiB ([`GradBuckets`](crate::GradBuckets)). Default
    /// 25, DDP's `bucket_cap_mb`.
    pub bucket_mib: f64,
}

impl Default for DistConfig {
    fn default() -> Self {
        DistConfig {
            init_timeout_s: 300.0,
            timeout_s: 1800.0,
            bucket_mib: 25.0,
        }
    }
}

impl DistConfig {
    /// The same config with both timeouts set to `timeout` (handy in tests).
    pub fn with_timeouts(mut self, timeout: Duration) -> Self {
        self.init_timeout_s = timeout.as_secs_f64();
        self.timeout_s = timeout.as_secs_f64();
        self
    }

    /// [`DistConfig::init_timeout_s`] as a duration; an error when not positive and finite.
    pub fn init_timeout(&self) -> Result<Duration> {
        seconds("init_timeout_s", self.init_timeout_s)
    }

    /// [`DistConfig::timeout_s`] as a duration; an error when not positive and finite.
    pub fn timeout(&self) -> Result<Duration> {
        seconds("timeout_s", self.timeout_s)
    }

    /// [`DistConfig::bucket_mib`] in bytes; an error when not positive and finite.
    pub fn bucket_bytes(&self) -> Result<usize> {
        if self.bucket_mib.is_finite() && self.bucket_mib > 0.0 {
            // Saturating float-to-int cast; at least one byte.
            Ok(((self.bucket_mib * 1024.0 * 1024.0) as usize).max(1))
        } else {
            Err(Error::InvalidArgument {
                name: "bucket_mib",
                reason: format!("expected a positive size in MiB, got {}", self.bucket_mib),
            })
        }
    }
}

fn seconds(name: &'static str, value: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| Error::InvalidArgument {
            name,
            reason: format!("expected a positive number of seconds, got {value}"),
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let config = DistConfig::default();
        assert_eq!(config.timeout().unwrap(), Duration::from_secs(1800));
        assert_eq!(config.init_timeout().unwrap(), Duration::from_secs(300));
        assert_eq!(config.bucket_bytes().unwrap(), 25 << 20);
        let bad = DistConfig {
            timeout_s: 0.0,
            init_timeout_s: f64::NAN,
            bucket_mib: -1.0,
        };
        assert!(bad.timeout().unwrap_err().to_string().contains("timeout_s"));
        assert!(bad.init_timeout().is_err());
        assert!(bad.bucket_bytes().is_err());
    }
}
