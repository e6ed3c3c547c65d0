//! Times as the CA writes them: rcgen's `OffsetDateTime`, Unix seconds in tokens,
//! RFC 3339 in errors and at the debug endpoint.

use std::time::{Duration, SystemTime};

use time::OffsetDateTime;

/// `t` as rcgen wants it.
pub(crate) fn offset(t: SystemTime) -> OffsetDateTime {
    OffsetDateTime::from(t)
}

pub(crate) fn unix(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Unix seconds (negative: before 1970, clamped to the epoch).
pub(crate) fn from_unix(secs: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

/// `2024-05-01T12:00:00Z`.
pub(crate) fn utc(t: SystemTime) -> String {
    let t = OffsetDateTime::from(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_times_are_rfc3339() {
        assert_eq!(utc(from_unix(1_700_000_000)), "2023-11-14T22:13:20Z");
        assert_eq!(utc(from_unix(-5)), "1970-01-01T00:00:00Z");
    }
}
