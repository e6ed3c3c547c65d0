//! One request's record, Envoy's StreamInfo: filled in along the request's way
//! (route, cluster, upstream host, attempts, timings, bytes, response flags, the
//! peer's identity) and read once it is complete by the access log and the stats,
//! and later by tracing, instead of each collecting its own.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use hyper::{HeaderMap, Method, Version};

use crate::config::Cluster;
use crate::proxy::Replay;
use crate::transport::DownstreamInfo;

/// Envoy's response flags, for counters and access logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFlag {
    /// No route configuration or no route matched.
    NoRoute,
    /// No healthy upstream host.
    NoHealthyUpstream,
    /// Upstream connection failure.
    UpstreamConnectionFailure,
    /// Upstream request timeout.
    UpstreamRequestTimeout,
    /// The route's cluster does not exist.
    NoClusterFound,
    /// Upstream connection reset or protocol error.
    UpstreamConnectionTermination,
    /// The fault filter aborted the request.
    FaultInjected,
    /// The fault filter delayed the request.
    DelayInjected,
    /// A circuit breaker threshold was reached.
    UpstreamOverflow,
}

/// Every flag, in the order Envoy's access log lists them.
pub const RESPONSE_FLAGS: [ResponseFlag; 9] = [
    ResponseFlag::NoHealthyUpstream,
    ResponseFlag::UpstreamRequestTimeout,
    ResponseFlag::UpstreamConnectionFailure,
    ResponseFlag::UpstreamConnectionTermination,
    ResponseFlag::UpstreamOverflow,
    ResponseFlag::NoRoute,
    ResponseFlag::DelayInjected,
    ResponseFlag::FaultInjected,
    ResponseFlag::NoClusterFound,
];

impl ResponseFlag {
    /// The short name of Envoy's access log (`%RESPONSE_FLAGS%`).
    pub fn short(self) -> &'static str {
        match self {
            ResponseFlag::NoRoute => "NR",
            ResponseFlag::NoHealthyUpstream => "UH",
            ResponseFlag::UpstreamConnectionFailure => "UF",
            ResponseFlag::UpstreamRequestTimeout => "UT",
            ResponseFlag::NoClusterFound => "NC",
            ResponseFlag::UpstreamConnectionTermination => "UC",
            ResponseFlag::FaultInjected => "FI",
            ResponseFlag::DelayInjected => "DI",
            ResponseFlag::UpstreamOverflow => "UO",
        }
    }

    fn bit(self) -> u16 {
        1 << RESPONSE_FLAGS.iter().position(|f| *f == self).unwrap_or(0)
    }
}

/// The flags a request collected (a delayed request that then timed out has both).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResponseFlags(u16);

impl ResponseFlags {
    pub fn insert(&mut self, flag: ResponseFlag) {
        self.0 |= flag.bit();
    }

    pub fn contains(self, flag: ResponseFlag) -> bool {
        self.0 & flag.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The flags set, in Envoy's order.
    pub fn iter(self) -> impl Iterator<Item = ResponseFlag> {
        RESPONSE_FLAGS
            .into_iter()
            .filter(move |f| self.contains(*f))
    }
}

/// `UH,UF` as Envoy's `%RESPONSE_FLAGS%`, or `-` when there is none.
impl fmt::Display for ResponseFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("-");
        }
        for (i, flag) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(flag.short())?;
        }
        Ok(())
    }
}

/// One HTTP request's record.
#[derive(Debug)]
pub struct StreamInfo {
    pub start: Instant,
    pub start_time: SystemTime,
    pub downstream: Arc<DownstreamInfo>,
    pub protocol: Version,
    /// The matched route's name.
    pub route_name: Option<Arc<str>>,
    /// The cluster the request was sent to (the weighted draw's, for a split).
    pub upstream_cluster: Option<Arc<Cluster>>,
    /// The endpoint of the last attempt.
    pub upstream_host: Option<SocketAddr>,
    /// Requests sent upstream: 1, plus one per retry.
    pub upstream_attempts: u32,
    /// When the first attempt was sent, and when the answering one's headers came.
    pub upstream_request_sent: Option<Instant>,
    pub upstream_response_received: Option<Instant>,
    /// When the last byte of the response went downstream (or the stream ended).
    pub completed: Option<Instant>,
    pub response_code: Option<u16>,
    pub response_flags: ResponseFlags,
    /// Request body bytes (Envoy's `%BYTES_RECEIVED%`), once known.
    pub bytes_received: u64,
    /// Response body bytes sent downstream (`%BYTES_SENT%`).
    pub bytes_sent: u64,
    /// What the access log prints of the request, copied only when it is on.
    pub request_log: Option<Box<RequestLog>>,
    /// The request body on its way upstream, counted into `bytes_received` when the
    /// stream completes (it may still be arriving while the response starts).
    pub(crate) request_body: Option<Arc<Replay>>,
}

/// The request line and headers of Envoy's default access log format.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestLog {
    pub method: String,
    pub path: String,
    pub authority: String,
    pub forwarded_for: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

impl StreamInfo {
    pub fn new(downstream: Arc<DownstreamInfo>, protocol: Version) -> StreamInfo {
        StreamInfo {
            start: Instant::now(),
            start_time: SystemTime::now(),
            downstream,
            protocol,
            route_name: None,
            upstream_cluster: None,
            upstream_host: None,
            upstream_attempts: 0,
            upstream_request_sent: None,
            upstream_response_received: None,
            completed: None,
            response_code: None,
            response_flags: ResponseFlags::default(),
            bytes_received: 0,
            bytes_sent: 0,
            request_log: None,
            request_body: None,
        }
    }

    /// From the request's arrival to its completion (or to now, while it runs).
    pub fn duration(&self) -> Duration {
        self.completed
            .unwrap_or_else(Instant::now)
            .saturating_duration_since(self.start)
    }

    /// From the first attempt sent to the answering attempt's headers (what Envoy
    /// puts in `x-envoy-upstream-service-time`).
    pub fn upstream_service_time(&self) -> Option<Duration> {
        Some(
            self.upstream_response_received?
                .saturating_duration_since(self.upstream_request_sent?),
        )
    }
}

impl RequestLog {
    /// The parts of a request the access log shows.
    pub fn of(method: &Method, path: &str, authority: &str, headers: &HeaderMap) -> RequestLog {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        RequestLog {
            method: method.to_string(),
            path: path.to_string(),
            authority: authority.to_string(),
            forwarded_for: header("x-forwarded-for"),
            user_agent: header("user-agent"),
            request_id: header("x-request-id"),
        }
    }
}

#[cfg(test)]
impl StreamInfo {
    /// A request that ended with `status` (and `flag`) after `elapsed`, for tests.
    pub(crate) fn completed_for_test(
        status: u16,
        flag: Option<ResponseFlag>,
        elapsed: Duration,
    ) -> StreamInfo {
        let mut info = StreamInfo::new(Arc::new(DownstreamInfo::loopback()), Version::HTTP_11);
        info.response_code = Some(status);
        if let Some(flag) = flag {
            info.response_flags.insert(flag);
        }
        info.completed = Some(info.start + elapsed);
        info
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_print_in_envoys_order_or_a_dash() {
        let mut flags = ResponseFlags::default();
        assert_eq!(flags.to_string(), "-");
        flags.insert(ResponseFlag::UpstreamRequestTimeout);
        flags.insert(ResponseFlag::DelayInjected);
        assert_eq!(flags.to_string(), "UT,DI");
        assert!(flags.contains(ResponseFlag::DelayInjected));
        assert!(!flags.contains(ResponseFlag::NoRoute));
        let every = RESPONSE_FLAGS
            .iter()
            .fold(ResponseFlags::default(), |mut all, f| {
                all.insert(*f);
                all
            });
        assert_eq!(
            every.iter().count(),
            RESPONSE_FLAGS.len(),
            "no two flags share a bit"
        );
    }
}
