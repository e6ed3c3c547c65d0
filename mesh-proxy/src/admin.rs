//! The admin interface (127.0.0.1:15000, Envoy's endpoints), the health port (15021,
//! `/healthz/ready`, Istio's readiness probe) and the metrics port (15090,
//! `/stats/prometheus`). The workload certificate's views are in [`secrets`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::config::{ConfigDump, Snapshot};
use crate::identity::IdentityStatus;
use crate::metrics;
use crate::proxy::{ProxyBody, Shared};

mod secrets;

/// What the admin endpoints read and change.
#[derive(Debug, Clone)]
pub struct AdminState {
    pub shared: Shared,
    pub log_levels: Arc<LogLevels>,
    /// The workload identity, when the proxy has one (`--root-cert`).
    pub identity: Option<IdentityStatus>,
}

/// `/config_dump`: the applied config, and Envoy's `configs` list for the parts shown
/// in Envoy's own shape (the secrets).
#[derive(serde::Serialize)]
struct FullConfigDump<'a> {
    #[serde(flatten)]
    summary: ConfigDump<'a>,
    configs: Vec<serde_json::Value>,
}

/// The log filter, changeable at run time (`POST /logging`): a list of
/// `tracing-subscriber` directives (`info`, `access=warn`) and the function that
/// installs a new filter.
pub struct LogLevels {
    directives: Mutex<Vec<String>>,
    apply: Box<ApplyFilter>,
}

/// Installs a filter given as comma-separated directives.
type ApplyFilter = dyn Fn(&str) -> Result<(), String> + Send + Sync;

/// Envoy's log levels, and the `tracing` level each maps to.
const LEVELS: [(&str, &str); 8] = [
    ("trace", "trace"),
    ("debug", "debug"),
    ("info", "info"),
    ("warning", "warn"),
    ("warn", "warn"),
    ("error", "error"),
    ("critical", "error"),
    ("off", "off"),
];

/// Serves the admin endpoints on `listener` until the process ends.
pub async fn serve_admin(listener: TcpListener, state: AdminState) {
    serve(listener, state, admin).await;
}

/// Serves `/healthz/ready` on `listener`.
pub async fn serve_health(listener: TcpListener, state: AdminState) {
    serve(listener, state, health).await;
}

/// Serves `/stats/prometheus` on `listener` (Istio's 15090, what Prometheus scrapes).
pub async fn serve_metrics(listener: TcpListener, state: AdminState) {
    serve(listener, state, prometheus).await;
}

async fn serve(
    listener: TcpListener,
    state: AdminState,
    route: fn(&AdminState, &Request<Incoming>) -> Response<ProxyBody>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let resp = route(&state, &req);
                async move { Ok::<_, Infallible>(resp) }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn health(state: &AdminState, req: &Request<Incoming>) -> Response<ProxyBody> {
    let shared = &state.shared;
    if req.uri().path() != "/healthz/ready" {
        return text(StatusCode::NOT_FOUND, "");
    }
    // Istio's agent reports not ready while draining, so that endpoints go first.
    if shared.drain.is_signaled() {
        return text(StatusCode::SERVICE_UNAVAILABLE, "not ready: draining\n");
    }
    // A proxy with an identity serves nothing meshed before its first certificate.
    let certificate = shared.certificates.borrow().clone();
    if let Some(why) = secrets::not_ready(state.identity.as_ref(), certificate.as_deref()) {
        return text(StatusCode::SERVICE_UNAVAILABLE, &why);
    }
    if shared.snapshots.borrow().synced {
        return text(StatusCode::OK, "");
    }
    text(
        StatusCode::SERVICE_UNAVAILABLE,
        "not ready: waiting for the first complete xDS sync\n",
    )
}

fn prometheus(state: &AdminState, req: &Request<Incoming>) -> Response<ProxyBody> {
    match req.uri().path() {
        "/stats/prometheus" => {
            let mut resp = text(StatusCode::OK, &metrics::render(&state.shared.stats));
            resp.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static(metrics::CONTENT_TYPE),
            );
            resp
        }
        _ => text(StatusCode::NOT_FOUND, "metrics are at /stats/prometheus\n"),
    }
}

fn admin(state: &AdminState, req: &Request<Incoming>) -> Response<ProxyBody> {
    let shared = &state.shared;
    let snapshot: Arc<Snapshot> = shared.snapshots.borrow().clone();
    let post = req.method() == Method::POST;
    let query = req.uri().query().unwrap_or("");
    match req.uri().path() {
        "/ready" if shared.drain.is_signaled() => {
            text(StatusCode::SERVICE_UNAVAILABLE, "DRAINING\n")
        }
        "/ready" if snapshot.synced => text(StatusCode::OK, "LIVE\n"),
        "/ready" => text(StatusCode::SERVICE_UNAVAILABLE, "PRE_INITIALIZING\n"),
        "/config_dump" => json(&FullConfigDump {
            summary: snapshot.config_dump(),
            configs: vec![secrets::secrets_config_dump(
                shared.certificates.borrow().as_deref(),
                state.identity.as_ref(),
            )],
        }),
        "/certs" => json(&secrets::certs(
            shared.certificates.borrow().as_deref(),
            SystemTime::now(),
        )),
        "/clusters" => text(StatusCode::OK, &clusters(&snapshot)),
        "/stats" => text(StatusCode::OK, &shared.stats.render()),
        "/stats/prometheus" => prometheus(state, req),
        // As Envoy: GET lists the levels, POST with a query changes them.
        "/logging" if !post && !query.is_empty() => text(
            StatusCode::METHOD_NOT_ALLOWED,
            "use POST to change log levels\n",
        ),
        "/logging" if query.is_empty() => text(StatusCode::OK, &state.log_levels.list()),
        "/logging" => match state.log_levels.update(query) {
            Ok(list) => text(StatusCode::OK, &list),
            Err(e) => text(StatusCode::BAD_REQUEST, &format!("{e}\n")),
        },
        "/drain_listeners" if post => {
            tracing::info!("draining listeners (admin request)");
            shared.drain.signal();
            text(StatusCode::OK, "OK\n")
        }
        "/drain_listeners" => text(StatusCode::METHOD_NOT_ALLOWED, "use POST\n"),
        "/quitquitquit" if req.method() == Method::POST => {
            tokio::spawn(async {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                std::process::exit(0);
            });
            text(StatusCode::OK, "OK\n")
        }
        "/quitquitquit" => text(StatusCode::METHOD_NOT_ALLOWED, "use POST\n"),
        _ => text(
            StatusCode::NOT_FOUND,
            "admin endpoints: /ready /config_dump /certs /clusters /stats /stats/prometheus \
             /logging (POST ?level= or ?<target>=) /drain_listeners (POST) /quitquitquit (POST)\n",
        ),
    }
}

/// Envoy's `/clusters` text: `cluster::host:port::field::value`.
fn clusters(snapshot: &Snapshot) -> String {
    let mut out = String::new();
    for (name, c) in &snapshot.clusters {
        out.push_str(&format!(
            "{name}::default_priority::max_connections::4294967295\n"
        ));
        for e in c.endpoints.iter() {
            let addr: SocketAddr = e.address;
            out.push_str(&format!("{name}::{addr}::weight::{}\n", e.weight));
            out.push_str(&format!("{name}::{addr}::health_flags::healthy\n"));
        }
    }
    out
}

impl LogLevels {
    /// `initial` is the filter in force (`MESH_LOG`); `apply` installs a new one.
    pub fn new(
        initial: &str,
        apply: impl Fn(&str) -> Result<(), String> + Send + Sync + 'static,
    ) -> LogLevels {
        LogLevels {
            directives: Mutex::new(split_directives(initial)),
            apply: Box::new(apply),
        }
    }

    /// Envoy's `/logging` listing: `active loggers:` then `  <target>: <level>`.
    fn list(&self) -> String {
        let directives = self
            .directives
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut out = String::from("active loggers:\n");
        for d in directives.iter() {
            let (target, level) = d.rsplit_once('=').unwrap_or(("default", d));
            out.push_str(&format!("  {target}: {level}\n"));
        }
        out
    }

    /// Applies `?level=<l>` (every target) or `?<target>=<l>`; the filter stays as
    /// it was when the new one is refused.
    fn update(&self, query: &str) -> Result<String, String> {
        let mut directives = self
            .directives
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let updated = updated_directives(&directives, query)?;
        (self.apply)(&updated.join(","))?;
        *directives = updated;
        drop(directives);
        Ok(self.list())
    }
}

impl std::fmt::Debug for LogLevels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogLevels")
            .field("directives", &self.directives)
            .finish_non_exhaustive()
    }
}

fn split_directives(filter: &str) -> Vec<String> {
    filter
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_string)
        .collect()
}

/// The directives after a `/logging` query: `level=` replaces them all (Envoy sets
/// every logger), `<target>=` replaces or adds that target's.
fn updated_directives(current: &[String], query: &str) -> Result<Vec<String>, String> {
    let mut directives = current.to_vec();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, level) = pair
            .split_once('=')
            .ok_or_else(|| format!("`{pair}`: write ?level=debug or ?<target>=debug"))?;
        let level = LEVELS
            .iter()
            .find(|(name, _)| *name == level)
            .map(|(_, l)| *l)
            .ok_or_else(|| {
                format!("`{level}` is not a log level; use trace, debug, info, warning, error, critical or off")
            })?;
        if key == "level" {
            directives = vec![level.to_string()];
            continue;
        }
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_alphanumeric() || "_:-".contains(c))
        {
            return Err(format!(
                "`{key}` is not a log target; targets look like mesh_proxy::xds or access"
            ));
        }
        directives.retain(|d| d.rsplit_once('=').is_none_or(|(t, _)| t != key));
        directives.push(format!("{key}={level}"));
    }
    Ok(directives)
}

fn json(value: &impl serde::Serialize) -> Response<ProxyBody> {
    match serde_json::to_string_pretty(value) {
        Ok(json) => {
            let mut resp = text(StatusCode::OK, &json);
            resp.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            resp
        }
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

fn text(status: StatusCode, body: &str) -> Response<ProxyBody> {
    let mut resp = Response::new(crate::proxy::full(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directives(s: &[&str]) -> Vec<String> {
        s.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn level_sets_every_logger_and_a_target_sets_its_own() {
        let current = directives(&["info", "access=warn"]);
        assert_eq!(
            updated_directives(&current, "level=debug"),
            Ok(directives(&["debug"]))
        );
        assert_eq!(
            updated_directives(&current, "access=debug&mesh_proxy::xds=trace"),
            Ok(directives(&[
                "info",
                "access=debug",
                "mesh_proxy::xds=trace"
            ]))
        );
        assert_eq!(
            updated_directives(&current, "level=warning"),
            Ok(directives(&["warn"])),
            "Envoy's level names"
        );
    }

    #[test]
    fn bad_levels_and_targets_are_refused_with_the_way_out() {
        let current = directives(&["info"]);
        let err = updated_directives(&current, "level=loud").expect_err("no such level");
        assert!(err.contains("`loud`") && err.contains("debug"), "{err}");
        assert!(updated_directives(&current, "a b=debug").is_err());
        assert!(updated_directives(&current, "debug").is_err());
    }

    #[test]
    fn a_refused_filter_leaves_the_levels_as_they_were() {
        let levels = LogLevels::new("info,access=warn", |f| {
            if f.contains("trace") {
                Err("refused".into())
            } else {
                Ok(())
            }
        });
        assert_eq!(
            levels.list(),
            "active loggers:\n  default: info\n  access: warn\n"
        );
        assert!(levels.update("level=trace").is_err());
        assert_eq!(
            levels.update("access=debug").as_deref(),
            Ok("active loggers:\n  default: info\n  access: debug\n")
        );
    }
}
