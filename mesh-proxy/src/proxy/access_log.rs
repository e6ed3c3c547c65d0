//! The HTTP access log, in Envoy's default format, from a completed request's
//! record. Off by default (`MESH_LOG=…,access=warn`): nothing is copied for it then.

use std::time::{SystemTime, UNIX_EPOCH};

use hyper::Version;

use crate::stream_info::StreamInfo;

/// Whether the access log is on (the `access` target at info level).
pub(super) fn enabled() -> bool {
    tracing::enabled!(target: "access", tracing::Level::INFO)
}

/// Logs a completed request.
pub(super) fn log(listener: &str, info: &StreamInfo) {
    if enabled() {
        tracing::info!(target: "access", listener, "{}", line(info));
    }
}

/// Envoy's default format: `[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%
/// %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION%
/// %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
/// "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"`.
pub(super) fn line(info: &StreamInfo) -> String {
    let dash = |v: Option<&str>| v.unwrap_or("-").to_string();
    let req = info.request_log.as_deref();
    let upstream_time = info
        .upstream_service_time()
        .map_or_else(|| "-".to_string(), |d| d.as_millis().to_string());
    format!(
        "[{}] \"{} {} {}\" {} {} {} {} {} {} \"{}\" \"{}\" \"{}\" \"{}\" \"{}\"",
        timestamp(info.start_time),
        dash(req.map(|r| r.method.as_str())),
        dash(req.map(|r| r.path.as_str())),
        protocol(info.protocol),
        info.response_code.unwrap_or(0),
        info.response_flags,
        info.bytes_received,
        info.bytes_sent,
        info.duration().as_millis(),
        upstream_time,
        dash(req.and_then(|r| r.forwarded_for.as_deref())),
        dash(req.and_then(|r| r.user_agent.as_deref())),
        dash(req.and_then(|r| r.request_id.as_deref())),
        dash(req.map(|r| r.authority.as_str())),
        info.upstream_host
            .map_or_else(|| "-".to_string(), |h| h.to_string()),
    )
}

fn protocol(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    }
}

/// `2026-12-02T18:27:09.123Z`, as Envoy's `%START_TIME%`.
fn timestamp(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(i64::try_from(days).unwrap_or(0));
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Days since 1970-01-01 → (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::stream_info::{RequestLog, ResponseFlag};

    #[test]
    fn a_completed_request_is_logged_in_envoys_default_format() {
        let mut info = StreamInfo::completed_for_test(
            503,
            Some(ResponseFlag::UpstreamConnectionFailure),
            Duration::from_millis(12),
        );
        info.start_time = UNIX_EPOCH + Duration::from_millis(1_764_700_029_123);
        info.request_log = Some(Box::new(RequestLog {
            method: "GET".into(),
            path: "/reviews/0".into(),
            authority: "reviews:9080".into(),
            forwarded_for: None,
            user_agent: Some("curl/8.5.0".into()),
            request_id: Some("2f5c".into()),
        }));
        info.bytes_sent = 91;
        info.upstream_host = Some(([10, 77, 1, 2], 9080).into());
        assert_eq!(
            line(&info),
            "[2025-12-02T18:27:09.123Z] \"GET /reviews/0 HTTP/1.1\" 503 UF 0 91 12 - \"-\" \
             \"curl/8.5.0\" \"2f5c\" \"reviews:9080\" \"10.77.1.2:9080\""
        );
    }

    #[test]
    fn dates_are_civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_789), (2026, 12, 2));
    }
}
