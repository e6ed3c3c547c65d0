//! The HTTP filters before the router, run on each request in the connection
//! manager's order and on its response in reverse (Envoy's filter chain). A filter
//! acts with the matched route's config (`typed_per_filter_config`), or its own.
//! Authorization, JWT, stats and ext_authz filters take their places here.

use hyper::Request;
use hyper::body::Incoming;

use super::local_reply::{self, Reply};
use super::random;
use crate::config::HttpFilter;
use crate::route::{CorsOutcome, Route};
use crate::stream_info::{ResponseFlag, StreamInfo};

/// What the filters decided on the request that their response side needs.
#[derive(Debug, Default)]
pub(super) struct FilterState {
    /// The CORS headers for an allowed cross-origin request's response.
    cors_headers: Option<Vec<(&'static str, String)>>,
}

/// Runs the filters before the router on a request. `Some` is a local reply that
/// ends the request there (a fault abort, a CORS preflight); `None` goes on to the
/// router.
pub(super) async fn on_request(
    filters: &[HttpFilter],
    route: &Route,
    req: &Request<Incoming>,
    info: &mut StreamInfo,
    state: &mut FilterState,
) -> Option<Reply> {
    for filter in filters {
        match filter {
            HttpFilter::Fault(own) => {
                let Some(fault) = route.fault.as_ref().or(own.as_ref()) else {
                    continue;
                };
                let decision = fault.decide(random(), random());
                if let Some(delay) = decision.delay {
                    tokio::time::sleep(delay).await;
                    info.response_flags.insert(ResponseFlag::DelayInjected);
                }
                if let Some(abort) = decision.abort {
                    return Some(local_reply::fault_abort(abort));
                }
            }
            HttpFilter::Cors => {
                let Some(cors) = &route.cors else { continue };
                match cors.on_request(req.method(), req.headers(), random()) {
                    CorsOutcome::Preflight(headers) => {
                        return Some(local_reply::cors_preflight(headers));
                    }
                    CorsOutcome::Forward(headers) => state.cors_headers = Some(headers),
                    CorsOutcome::Pass => {}
                }
            }
            HttpFilter::Router => break,
        }
    }
    None
}

/// Runs the filters' response side on the router's answer (only CORS acts there).
pub(super) fn on_response(state: FilterState, reply: &mut Reply) {
    if let Some(headers) = state.cors_headers {
        reply.set_headers(headers);
    }
}
