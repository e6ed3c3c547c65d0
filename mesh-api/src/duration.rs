//! Durations as Istio writes them: `"1s"`, `"0.5s"`, `"100ms"`, `"1m30s"`, `"1h"`.
//!
//! Istio reads durations with Go's `time.ParseDuration` (and the CRDs check them with
//! CEL's `duration()`, which takes the same syntax), so that is the syntax accepted
//! here: a sequence of decimal numbers, each with an optional fraction and a unit out of
//! `h`, `m`, `s`, `ms`, `us` (or `µs`), `ns`; `"0"` alone needs no unit.
//! The text is kept as written so that a document round-trips unchanged.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Nanoseconds in each unit Go's `time.ParseDuration` knows.
const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),
    ("\u{3bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Go's `time.Duration` is an `i64` of nanoseconds: anything longer is rejected by Istio.
const MAX_NANOS: u128 = i64::MAX as u128;

/// A non-negative duration, kept with the text it was written as.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Duration {
    text: String,
    value: std::time::Duration,
}

/// Why a string is not a duration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration {input:?}: {reason}; write a number followed by a unit \
     (h, m, s, ms, us or ns), e.g. \"1.5s\", \"100ms\" or \"1m30s\""
)]
pub struct DurationError {
    input: String,
    reason: String,
}

impl Duration {
    /// The duration as a `std::time::Duration`.
    pub fn as_std(&self) -> std::time::Duration {
        self.value
    }

    /// The duration as it was written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// A duration written the way protobuf's JSON mapping writes it: seconds, with a
    /// fraction only when needed (`"1.5s"`, `"30s"`, `"0.000001s"`).
    pub fn from_std(value: std::time::Duration) -> Self {
        let nanos = value.subsec_nanos();
        let text = if nanos == 0 {
            format!("{}s", value.as_secs())
        } else {
            let fraction = format!("{nanos:09}");
            format!("{}.{}s", value.as_secs(), fraction.trim_end_matches('0'))
        };
        Duration { text, value }
    }
}

/// A duration flag or query parameter of our own tools, in the same syntax and with
/// the same meaning as Istio's fields (a bare number other than `0` is an error, not
/// seconds or milliseconds): one parser for the whole project.
pub fn parse_std(text: &str) -> Result<std::time::Duration, DurationError> {
    text.trim().parse::<Duration>().map(|d| d.as_std())
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let error = |reason: &str| DurationError {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let unsigned = match input.as_bytes().first() {
            Some(b'-') => return Err(error("negative durations are not allowed")),
            Some(b'+') => &input[1..],
            Some(_) => input,
            None => return Err(error("it is empty")),
        };
        let nanos = if unsigned == "0" {
            0
        } else {
            parse_components(unsigned).map_err(|reason| error(&reason))?
        };
        let value = std::time::Duration::new(
            u64::try_from(nanos / 1_000_000_000).map_err(|_| error("it is too long"))?,
            // The remainder is below 1e9 and fits.
            (nanos % 1_000_000_000) as u32,
        );
        Ok(Duration {
            text: input.to_string(),
            value,
        })
    }
}

/// Sums `<number>[.<fraction>]<unit>` components into nanoseconds.
fn parse_components(mut rest: &str) -> Result<u128, String> {
    if rest.is_empty() {
        return Err("there is no number".to_string());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_digits, after_int) = rest.split_at(int_len);
        let (frac_digits, after_number) = match after_int.strip_prefix('.') {
            Some(after_dot) => {
                let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
                after_dot.split_at(frac_len)
            }
            None => ("", after_int),
        };
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(format!("expected a number at {rest:?}"));
        }
        let unit_len = after_number
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(after_number.len());
        let (unit, next) = after_number.split_at(unit_len);
        if unit.is_empty() {
            return Err(format!(
                "the number {:?} has no unit",
                &rest[..rest.len() - next.len()]
            ));
        }
        let Some(&(_, unit_nanos)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(format!("unknown unit {unit:?}"));
        };
        total = total
            .checked_add(component_nanos(int_digits, frac_digits, unit_nanos)?)
            .filter(|t| *t <= MAX_NANOS)
            .ok_or("it is too long (the maximum is about 292 years)")?;
        rest = next;
    }
    Ok(total)
}

/// `int.frac` units in nanoseconds, truncated to whole nanoseconds.
fn component_nanos(int_digits: &str, frac_digits: &str, unit_nanos: u128) -> Result<u128, String> {
    let too_long = || "it is too long (the maximum is about 292 years)".to_string();
    let int: u128 = if int_digits.is_empty() {
        0
    } else {
        int_digits.parse().map_err(|_| too_long())?
    };
    let mut nanos = int.checked_mul(unit_nanos).ok_or_else(too_long)?;
    // Digits beyond nanosecond precision cannot change the result.
    let mut scale = unit_nanos;
    for digit in frac_digits.bytes() {
        if scale < 10 {
            break;
        }
        scale /= 10;
        nanos += u128::from(digit - b'0') * scale;
    }
    Ok(nanos)
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;

        impl Visitor<'_> for DurationVisitor {
            type Value = Duration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string such as \"1s\" or \"100ms\"")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Duration, E> {
                value.parse().map_err(E::custom)
            }
        }

        deserializer.deserialize_str(DurationVisitor)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // Istio's schemas give durations as plain strings (checked by CEL, not by format).
        json_schema!({ "type": "string" })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration as Std;

    use super::*;

    fn parse(s: &str) -> Std {
        s.parse::<Duration>().unwrap().as_std()
    }

    #[test]
    fn accepts_go_duration_syntax() {
        assert_eq!(parse("1s"), Std::from_secs(1));
        assert_eq!(parse("0.5s"), Std::from_millis(500));
        assert_eq!(parse(".5s"), Std::from_millis(500));
        assert_eq!(parse("1.s"), Std::from_secs(1));
        assert_eq!(parse("100ms"), Std::from_millis(100));
        assert_eq!(parse("250us"), Std::from_micros(250));
        assert_eq!(parse("250\u{b5}s"), Std::from_micros(250));
        assert_eq!(parse("7ns"), Std::from_nanos(7));
        assert_eq!(parse("1m"), Std::from_secs(60));
        assert_eq!(parse("1h"), Std::from_secs(3600));
        assert_eq!(parse("1.5h"), Std::from_secs(5400));
        assert_eq!(parse("1h30m10.5s"), Std::from_millis(5_410_500));
        assert_eq!(parse("+2s"), Std::from_secs(2));
        assert_eq!(parse("0"), Std::ZERO);
        assert_eq!(parse("0s"), Std::ZERO);
        assert_eq!(parse("1.0000000019s"), Std::new(1, 1));
    }

    #[test]
    fn rejects_malformed_durations_with_the_reason() {
        for (input, reason) in [
            ("", "empty"),
            ("1", "no unit"),
            ("10", "no unit"),
            ("1sec", "unknown unit \"sec\""),
            ("1d", "unknown unit \"d\""),
            ("s", "expected a number"),
            (".s", "expected a number"),
            ("-1s", "negative"),
            ("1s ", "unknown unit"),
            ("1 s", "unknown unit"),
            ("3000000h", "too long"),
        ] {
            let err = input.parse::<Duration>().unwrap_err().to_string();
            assert!(err.contains(reason), "{input:?}: {err}");
            assert!(err.contains(&format!("{input:?}")), "{input:?}: {err}");
        }
    }

    #[test]
    fn round_trips_the_text_as_written() {
        for text in ["1m30s", "0.500s", "100ms", "1h"] {
            let d: Duration = serde_json::from_value(serde_json::json!(text)).unwrap();
            assert_eq!(serde_json::to_value(&d).unwrap(), serde_json::json!(text));
        }
        let err = serde_json::from_value::<Duration>(serde_json::json!(5)).unwrap_err();
        assert!(err.to_string().contains("duration string"), "{err}");
    }

    #[test]
    fn from_std_writes_protobuf_json_seconds() {
        assert_eq!(Duration::from_std(Std::from_millis(1500)).as_str(), "1.5s");
        assert_eq!(Duration::from_std(Std::from_secs(30)).as_str(), "30s");
        assert_eq!(
            Duration::from_std(Std::from_micros(1)).as_str(),
            "0.000001s"
        );
        let d = Duration::from_std(Std::from_millis(1500));
        assert_eq!(d.as_str().parse::<Duration>().unwrap(), d);
    }
}
