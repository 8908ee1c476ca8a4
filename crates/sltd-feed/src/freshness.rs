//! How current the served data is: FRESH, STALE or EXPIRED. One rule, one
//! default and one spelling for `sltd-sync status`, every daemon answer,
//! `GetStatus`, the metrics and `sltd check` (`docs/FEED.md` section 11).
//!
//! EXPIRED uses the comparison the checkpoint verification uses
//! ([`has_expired`]): data is EXPIRED exactly from the second its checkpoint
//! would no longer verify. STALE is about age: the time since the as-of of
//! the data (the issue time of the checkpoint it was verified against).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The default age after which data is reported STALE: 48 hours.
///
/// The publisher re-signs the checkpoint at least daily, so a healthy post's
/// data can be up to a day old plus a sync interval. Twice the re-signing
/// period means one late or missed refresh (publisher maintenance, a post
/// offline overnight) does not raise an alarm at every post, while a feed
/// that stopped (or a mirror that froze it) is flagged within two days,
/// days before its checkpoint expires (7 days by default). A shorter value
/// such as 6 h would report most healthy posts STALE for most of the day.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(48 * 3600);

/// Whether a validity period ending at `expires_at` (Unix seconds) is over at
/// `now`: valid while `now <= expires_at`. Used for roots, checkpoints and
/// freshness alike.
pub fn has_expired(now: i64, expires_at: i64) -> bool {
    now > expires_at
}

/// How current data is at a given moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Freshness {
    /// Not older than the stale threshold, and not expired.
    Fresh,
    /// Older than the stale threshold, still within its signed validity.
    Stale,
    /// Past the expiry of the checkpoint it was verified against. Answers
    /// still come, and say so.
    Expired,
}

impl Freshness {
    /// The name every program prints: `FRESH`, `STALE` or `EXPIRED` (the
    /// `sltd.v1.Freshness` enum names).
    pub fn as_str(self) -> &'static str {
        match self {
            Freshness::Fresh => "FRESH",
            Freshness::Stale => "STALE",
            Freshness::Expired => "EXPIRED",
        }
    }
}

impl std::fmt::Display for Freshness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When data counts as STALE. In configuration files it is written
/// `stale_after = "48h"` (humantime syntax), as the `--stale-after` flags
/// take it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FreshnessPolicy {
    /// Data whose as-of is more than this long ago is STALE.
    #[serde(deserialize_with = "duration_text")]
    pub stale_after: Duration,
}

impl Default for FreshnessPolicy {
    fn default() -> Self {
        Self {
            stale_after: DEFAULT_STALE_AFTER,
        }
    }
}

impl FreshnessPolicy {
    /// The policy with `stale_after`, or the default when `None`.
    pub fn with_stale_after(stale_after: Option<Duration>) -> Self {
        stale_after.map_or_else(Self::default, |stale_after| Self { stale_after })
    }

    /// The freshness at `now` of data as of `as_of` whose validity ends at
    /// `expires_at` (all Unix seconds; `None`: no signed expiry, as for a
    /// plain index file). Expiry wins over age; data claiming to be from the
    /// future is not stale.
    pub fn freshness(&self, now: i64, as_of: i64, expires_at: Option<i64>) -> Freshness {
        let stale_after = i64::try_from(self.stale_after.as_secs()).unwrap_or(i64::MAX);
        if expires_at.is_some_and(|e| has_expired(now, e)) {
            Freshness::Expired
        } else if age_seconds(now, as_of) > stale_after {
            Freshness::Stale
        } else {
            Freshness::Fresh
        }
    }
}

/// Seconds from `as_of` to `now` (negative for data from the future).
pub fn age_seconds(now: i64, as_of: i64) -> i64 {
    now.saturating_sub(as_of)
}

/// Deserialises a duration written as humantime text (`"48h"`, `"90m"`).
pub fn duration_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map_err(|e| {
        serde::de::Error::custom(format!("{e} in {text:?} (write e.g. \"48h\" or \"90m\")"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_at_its_boundaries() {
        let p = FreshnessPolicy {
            stale_after: Duration::from_secs(100),
        };
        // Age exactly the threshold is still fresh; one second more is stale.
        assert_eq!(p.freshness(1100, 1000, Some(5000)), Freshness::Fresh);
        assert_eq!(p.freshness(1101, 1000, Some(5000)), Freshness::Stale);
        // Valid through the expiry second, expired after it (as checkpoints).
        assert_eq!(p.freshness(5000, 4990, Some(5000)), Freshness::Fresh);
        assert_eq!(p.freshness(5001, 4990, Some(5000)), Freshness::Expired);
        // Expiry wins over a recent as-of; no expiry never expires.
        assert_eq!(p.freshness(5001, 5001, Some(5000)), Freshness::Expired);
        assert_eq!(p.freshness(i64::MAX, 1000, None), Freshness::Stale);
        // Data from the future is not stale.
        assert_eq!(p.freshness(1000, 5000, None), Freshness::Fresh);
        assert!(!has_expired(5000, 5000) && has_expired(5001, 5000));
    }

    #[test]
    fn default_and_spelling() {
        let p = FreshnessPolicy::default();
        assert_eq!(p.stale_after, Duration::from_secs(172_800));
        assert_eq!(FreshnessPolicy::with_stale_after(None), p);
        assert_eq!(Freshness::Stale.to_string(), "STALE");
        assert_eq!(
            serde_json::to_string(&Freshness::Expired).unwrap(),
            "\"EXPIRED\""
        );
    }

    #[test]
    fn configuration_syntax() {
        let p: FreshnessPolicy = serde_json::from_str(r#"{"stale_after":"36h"}"#).unwrap();
        assert_eq!(p.stale_after, Duration::from_secs(36 * 3600));
        let p: FreshnessPolicy = serde_json::from_str("{}").unwrap();
        assert_eq!(p, FreshnessPolicy::default());
        let e = serde_json::from_str::<FreshnessPolicy>(r#"{"stale_after":"soon"}"#).unwrap_err();
        assert!(e.to_string().contains("soon"), "{e}");
        assert!(serde_json::from_str::<FreshnessPolicy>(r#"{"stale_after_secs":1}"#).is_err());
    }
}
