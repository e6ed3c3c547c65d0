//! CORS (`envoy.filters.http.cors` per-route config), as Envoy's filter applies it:
//! a preflight from an allowed origin is answered by the proxy; other requests from
//! an allowed origin go upstream and their responses get the allow headers.
//! Pure: the caller passes the request head and a random draw for `filter_enabled`.

use envoy_types::pb::envoy::extensions::filters::http::cors::v3::CorsPolicy;
use envoy_types::pb::google::protobuf::Any;
use hyper::Method;
use hyper::header::{HeaderMap, ORIGIN};
use prost::Message;

use super::StringMatcher;
use super::build::string_matcher;
use super::fault::Share;

const CORS_POLICY: &str = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy";

/// A route's CORS policy.
#[derive(Debug, Clone)]
pub struct Cors {
    pub allow_origins: Vec<StringMatcher>,
    pub allow_methods: String,
    pub allow_headers: String,
    pub expose_headers: String,
    pub max_age: String,
    pub allow_credentials: bool,
    pub allow_private_network_access: bool,
    pub forward_not_matching_preflights: bool,
    pub enabled: Share,
}

/// What the CORS filter does with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOutcome {
    /// Not a CORS request, or the filter is off for it: nothing to do.
    Pass,
    /// Forward; add these headers to the response.
    Forward(Vec<(&'static str, String)>),
    /// Answer 200 with these headers, without going upstream (a preflight).
    Preflight(Vec<(&'static str, String)>),
}

impl Cors {
    pub fn on_request(
        &self,
        method: &Method,
        headers: &HeaderMap,
        enabled_draw: u64,
    ) -> CorsOutcome {
        if !self.enabled.hit(enabled_draw) {
            return CorsOutcome::Pass;
        }
        let Some(origin) = headers
            .get(ORIGIN)
            .and_then(|o| o.to_str().ok())
            .filter(|o| !o.is_empty())
        else {
            return CorsOutcome::Pass;
        };
        let allowed = self
            .allow_origins
            .iter()
            .any(|m| m.matches("*") || m.matches(origin));
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let request_method = header("access-control-request-method");
        if method != Method::OPTIONS || request_method.is_empty() {
            return CorsOutcome::Forward(if allowed {
                self.response_headers(origin)
            } else {
                Vec::new()
            });
        }
        if !allowed && self.forward_not_matching_preflights {
            return CorsOutcome::Forward(Vec::new());
        }
        // Envoy sets the other headers of a preflight answer whether or not the
        // origin matched; only allow-origin depends on it.
        let mut out = Vec::new();
        if allowed {
            out.push(("access-control-allow-origin", origin.to_string()));
        }
        if self.allow_credentials {
            out.push(("access-control-allow-credentials", "true".to_string()));
        }
        match self.allow_methods.as_str() {
            "" => {}
            "*" => out.push(("access-control-allow-methods", request_method)),
            methods => out.push(("access-control-allow-methods", methods.to_string())),
        }
        match self.allow_headers.as_str() {
            "" => {}
            "*" => out.push((
                "access-control-allow-headers",
                header("access-control-request-headers"),
            )),
            allowed_headers => {
                out.push(("access-control-allow-headers", allowed_headers.to_string()));
            }
        }
        if !self.max_age.is_empty() {
            out.push(("access-control-max-age", self.max_age.clone()));
        }
        if self.allow_private_network_access
            && header("access-control-request-private-network") == "true"
        {
            out.push(("access-control-allow-private-network", "true".to_string()));
        }
        // Envoy's own answer passes through the filter's response side too, which
        // adds expose-headers for an allowed origin (found by the differential test).
        if allowed && !self.expose_headers.is_empty() {
            out.push(("access-control-expose-headers", self.expose_headers.clone()));
        }
        CorsOutcome::Preflight(out)
    }

    fn response_headers(&self, origin: &str) -> Vec<(&'static str, String)> {
        let mut out = vec![("access-control-allow-origin", origin.to_string())];
        if self.allow_credentials {
            out.push(("access-control-allow-credentials", "true".to_string()));
        }
        if !self.expose_headers.is_empty() {
            out.push(("access-control-expose-headers", self.expose_headers.clone()));
        }
        out
    }
}

/// The per-route `typed_per_filter_config` of the CORS filter.
pub(super) fn build_cors(any: &Any) -> Result<Cors, String> {
    if any.type_url != CORS_POLICY {
        return Err(format!("type {} is not the CORS filter's", any.type_url));
    }
    let p = CorsPolicy::decode(any.value.as_slice()).map_err(|e| format!("cannot decode: {e}"))?;
    if p.shadow_enabled.is_some() {
        return Err("shadow_enabled is not supported".into());
    }
    let enabled = match &p.filter_enabled {
        // Unset: always on, as Envoy reads it.
        None => Share {
            numerator: 100,
            denominator: 100,
        },
        Some(f) if !f.runtime_key.is_empty() => {
            return Err("filter_enabled.runtime_key: runtime overrides are not supported".into());
        }
        Some(f) => Share::from_proto(f.default_value.as_ref()),
    };
    Ok(Cors {
        allow_origins: p
            .allow_origin_string_match
            .iter()
            .map(string_matcher)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("allow_origin_string_match: {e}"))?,
        allow_methods: p.allow_methods,
        allow_headers: p.allow_headers,
        expose_headers: p.expose_headers,
        max_age: p.max_age,
        allow_credentials: p.allow_credentials.is_some_and(|b| b.value),
        allow_private_network_access: p.allow_private_network_access.is_some_and(|b| b.value),
        forward_not_matching_preflights: p.forward_not_matching_preflights.is_none_or(|b| b.value),
        enabled,
    })
}

#[cfg(test)]
mod tests;
