//! Upstream connections of a cluster: a keep-alive connection pool, and the choice of
//! endpoint by the cluster's load balancer (`crate::balance`, Envoy's policies).

mod connector;
mod dns;
mod h2;
mod transport;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::net::TcpSocket;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::balance::{self, Health, LoadBalancer, RandomGenerator};
use crate::config::{Cluster, ClusterConfig, ClusterKind, ConnectionLimits, Endpoint, PoolOptions};
use crate::outlier::{OutlierDetectionConfig, OutlierDetector, UpstreamResult};
use crate::proxy::ProxyBody;
use crate::stats::Stats;
use crate::tls::TlsContexts;
use crate::transport::BoxedIo;
use crate::worker::PerWorker;
use connector::{Connector, RequestsPerConnection};
use transport::UpstreamTransport;

/// Idle pooled connections are closed after this long.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Envoy's `host_selection_retry_max_attempts` as Istio sets it: how often a retry
/// looks for a host other than the previous one.
const HOST_SELECTION_ATTEMPTS: usize = 5;

/// The connection pool of one cluster. Lives across config snapshots while the
/// cluster's connection settings stay the same, so that pooled connections survive
/// unrelated pushes.
#[derive(Debug)]
pub struct ClusterRuntime {
    pub connect_timeout: Duration,
    pub http2: bool,
    pub source_address: Option<IpAddr>,
    pub limits: ConnectionLimits,
    pub pool: PoolOptions,
    /// HTTP/1.1: each worker's keep-alive pool (a pooled connection is a task of the
    /// worker that opened it).
    clients: PerWorker<Client<Connector, ProxyBody>>,
    /// How the clients connect.
    connector: Connector,
    /// Plaintext or TLS, per endpoint.
    transport: Arc<UpstreamTransport>,
    builder: hyper_util::client::legacy::Builder,
    /// The circuit breakers' counts, shared by every request to the cluster.
    breakers: Arc<Breakers>,
    outlier_config: Option<OutlierDetectionConfig>,
    /// Ejections outlive config pushes, as Envoy's detector does.
    outlier: Option<Mutex<OutlierState>>,
    /// HTTP/2 clusters: each worker's clients, one per endpoint.
    h2: PerWorker<h2::H2Clients>,
    /// A DNS cluster's resolved addresses (and what it resolves, to tell when the
    /// cluster changed).
    dns: Option<(ClusterKind, Arc<dns::DnsEndpoints>)>,
}

/// A cluster's outlier detector and when it last ran its interval.
#[derive(Debug)]
struct OutlierState {
    detector: OutlierDetector<SocketAddr>,
    last_interval: Duration,
    /// Bumped whenever the set of ejected hosts may have changed.
    generation: u64,
}

impl OutlierState {
    /// Runs the detector's interval work if an interval has passed (lazily, at the
    /// next pick: un-ejection only matters to a pick).
    fn tick(&mut self, now: Duration, interval: Duration) {
        if now.saturating_sub(self.last_interval) >= interval {
            self.last_interval = now;
            if !self.detector.on_interval(now).is_empty() {
                self.generation += 1;
            }
        }
    }
}

/// A TCP connection to `endpoint` from `source` (if set), within `timeout`; the
/// cluster's transport socket wraps it ([`UpstreamTransport::wrap`]).
async fn connect(
    endpoint: SocketAddr,
    timeout: Duration,
    source: Option<IpAddr>,
) -> io::Result<BoxedIo> {
    let socket = if endpoint.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = tokio::time::timeout(timeout, socket.connect(endpoint))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timeout"))??;
    stream.set_nodelay(true)?;
    Ok(Box::pin(stream))
}

/// Monotonic time since the proxy started, the detector's clock.
fn since_start() -> Duration {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed()
}

/// What the circuit breakers count.
#[derive(Debug)]
struct Breakers {
    /// HTTP/1.1: a permit per request on the wire (one connection each).
    connections: Arc<Semaphore>,
    pending: AtomicU32,
    active: AtomicU32,
    retries: AtomicU32,
}

/// The request went over a circuit breaker threshold: 503 `UO`, never retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

/// A request admitted by the circuit breakers; its counts are released on drop
/// (keep it with the response body: the connection is busy until the body ends).
#[derive(Debug)]
pub struct Admission {
    breakers: Arc<Breakers>,
    _connection: Option<OwnedSemaphorePermit>,
}

/// A retry counted against `max_retries` while it runs.
#[derive(Debug)]
pub struct RetryAdmission {
    breakers: Arc<Breakers>,
}

impl ClusterRuntime {
    /// The pool of `config`; a DNS cluster starts resolving, and `dns_changed` is
    /// told when its addresses change. TLS contexts come from `tls`.
    pub fn new(
        config: &ClusterConfig,
        dns_changed: &Arc<Notify>,
        tls: &Arc<TlsContexts>,
        stats: &Arc<Stats>,
    ) -> ClusterRuntime {
        let (connect_timeout, http2) = (config.connect_timeout, config.http2);
        let transport = Arc::new(UpstreamTransport::new(
            config.transport_socket.clone(),
            config.transport_socket_matches.clone(),
            tls.clone(),
            stats.clone(),
        ));
        let connector = Connector {
            endpoint: None,
            connect_timeout,
            source_address: config.source_address,
            count_requests: config.pool.counted_requests_per_connection().is_some(),
            transport: transport.clone(),
        };
        // HTTP/1.1 only: HTTP/2 clusters go through a client per endpoint (`h2`).
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .pool_idle_timeout(config.pool.idle_timeout.unwrap_or(POOL_IDLE_TIMEOUT))
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .set_host(false);
        // One request per connection: nothing to keep.
        if config.pool.max_requests_per_connection == Some(1) {
            builder.pool_max_idle_per_host(0);
        }
        let limits = config.limits;
        ClusterRuntime {
            connect_timeout,
            http2,
            source_address: config.source_address,
            limits,
            pool: config.pool,
            clients: PerWorker::default(),
            connector,
            transport,
            builder,
            breakers: Arc::new(Breakers {
                connections: Arc::new(Semaphore::new(
                    usize::try_from(limits.max_connections)
                        .unwrap_or(Semaphore::MAX_PERMITS)
                        .min(Semaphore::MAX_PERMITS),
                )),
                pending: AtomicU32::new(0),
                active: AtomicU32::new(0),
                retries: AtomicU32::new(0),
            }),
            h2: PerWorker::default(),
            dns: match &config.kind {
                ClusterKind::Dns {
                    targets,
                    refresh,
                    logical,
                } => Some((
                    config.kind.clone(),
                    dns::DnsEndpoints::start(
                        targets.clone(),
                        *refresh,
                        *logical,
                        dns_changed.clone(),
                    ),
                )),
                _ => None,
            },
            outlier_config: config.outlier,
            outlier: config.outlier.map(|c| {
                Mutex::new(OutlierState {
                    detector: OutlierDetector::new(c, [], crate::proxy::random()),
                    last_interval: since_start(),
                    generation: 0,
                })
            }),
        }
    }

    /// The cluster's endpoints changed (EDS): the outlier detector watches them, and
    /// each gets its transport socket.
    pub fn set_endpoints(&self, endpoints: &[Endpoint]) {
        self.transport.set_endpoints(endpoints);
        self.watch_hosts(endpoints.iter().map(|e| e.address));
    }

    /// The hosts the outlier detector watches.
    fn watch_hosts(&self, hosts: impl IntoIterator<Item = SocketAddr>) {
        if let Some(state) = &self.outlier {
            let mut st = state.lock().unwrap_or_else(PoisonError::into_inner);
            st.detector.set_hosts(hosts);
            st.generation += 1;
        }
    }

    /// An upstream result for the outlier detector.
    pub fn record(&self, host: SocketAddr, result: UpstreamResult) {
        if let Some(state) = &self.outlier {
            let mut st = state.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(why) = st.detector.put_result(&host, result, since_start()) {
                tracing::info!(%host, reason = ?why, "outlier detection ejected a host");
                st.generation += 1;
            }
        }
    }

    /// Whether this pool can serve `config` (same connection settings and limits).
    pub fn fits(&self, config: &ClusterConfig) -> bool {
        self.connect_timeout == config.connect_timeout
            && self.http2 == config.http2
            && self.source_address == config.source_address
            && self.limits == config.limits
            && self.pool == config.pool
            && self.outlier_config == config.outlier
            && self
                .transport
                .is(&config.transport_socket, &config.transport_socket_matches)
            && self.dns.as_ref().map(|(kind, _)| kind)
                == matches!(config.kind, ClusterKind::Dns { .. }).then_some(&config.kind)
    }

    /// A DNS cluster's addresses as last resolved (none before the first answer).
    pub fn dns_endpoints(&self) -> Vec<Endpoint> {
        self.dns
            .as_ref()
            .map(|(_, d)| d.current())
            .unwrap_or_default()
    }

    /// Envoy's circuit breakers for one request: over `max_requests` in flight, or
    /// (HTTP/1.1) with every connection busy and `max_pending_requests` already
    /// waiting, it overflows; otherwise it waits for a connection if it must.
    pub async fn admit(&self) -> Result<Admission, Overflow> {
        let b = &self.breakers;
        if b.active.load(Ordering::Relaxed) >= self.limits.max_requests {
            return Err(Overflow);
        }
        let connection = if self.http2 {
            None
        } else {
            match b.connections.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    if b.pending.fetch_add(1, Ordering::AcqRel) >= self.limits.max_pending_requests
                    {
                        b.pending.fetch_sub(1, Ordering::AcqRel);
                        return Err(Overflow);
                    }
                    let permit = b.connections.clone().acquire_owned().await;
                    b.pending.fetch_sub(1, Ordering::AcqRel);
                    Some(permit.map_err(|_| Overflow)?)
                }
            }
        };
        b.active.fetch_add(1, Ordering::AcqRel);
        Ok(Admission {
            breakers: b.clone(),
            _connection: connection,
        })
    }

    /// A retry, unless `max_retries` retries are already in flight (Envoy's
    /// `upstream_rq_retry_overflow`: the last answer stands).
    pub fn admit_retry(&self) -> Option<RetryAdmission> {
        let b = &self.breakers;
        if b.retries.fetch_add(1, Ordering::AcqRel) >= self.limits.max_retries {
            b.retries.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(RetryAdmission {
            breakers: b.clone(),
        })
    }

    /// A connection to `endpoint` for the TCP proxy, from the cluster's source
    /// address, within its connect timeout.
    pub async fn connect(&self, endpoint: SocketAddr) -> io::Result<BoxedIo> {
        let tcp = connect(endpoint, self.connect_timeout, self.source_address).await?;
        self.transport.wrap(endpoint, tcp).await
    }

    /// Sends `request` to `endpoint`: HTTP/1.1 from the cluster's keep-alive pool
    /// (the URI names the endpoint), or HTTP/2 through the endpoint's own client, so
    /// that the URI's authority (the request's Host) is the `:authority` sent.
    pub async fn request(
        &self,
        endpoint: SocketAddr,
        mut request: hyper::Request<ProxyBody>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, hyper_util::client::legacy::Error> {
        let per_connection = self
            .pool
            .counted_requests_per_connection()
            .map(|limit| RequestsPerConnection::watch(&mut request, limit));
        let response = if self.http2 {
            let idle_timeout = self.pool.idle_timeout.unwrap_or(POOL_IDLE_TIMEOUT);
            let client = self.h2.get_or_init(Default::default).client(
                endpoint,
                &self.connector,
                idle_timeout,
            );
            client.request(request).await
        } else {
            self.clients
                .get_or_init(|| self.builder.build(self.connector.clone()))
                .request(request)
                .await
        }?;
        if let Some(per_connection) = &per_connection {
            per_connection.count(&response);
        }
        Ok(response)
    }
}

impl Cluster {
    /// Gives ejected hosts to the balancer as unhealthy (healthy panic may still use
    /// them, as in Envoy) once the detector's ejections changed.
    fn apply_ejections(&self, lb: &mut LoadBalancer) {
        let (Some(state), Some(config)) = (&self.runtime.outlier, &self.runtime.outlier_config)
        else {
            return;
        };
        let mut st = state.lock().unwrap_or_else(PoisonError::into_inner);
        st.tick(since_start(), config.interval);
        if self.ejections_seen.load(Ordering::Acquire) == st.generation {
            return;
        }
        let hosts = self
            .endpoints
            .iter()
            .zip(lb.endpoints())
            .map(|(e, current)| balance::Endpoint {
                health: if e.healthy && !st.detector.is_ejected(&e.address) {
                    Health::Healthy
                } else {
                    Health::Unhealthy
                },
                ..current.clone()
            })
            .collect();
        lb.update(hosts);
        self.ejections_seen.store(st.generation, Ordering::Release);
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.breakers.active.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for RetryAdmission {
    fn drop(&mut self) {
        self.breakers.retries.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The balancer of one cluster in one snapshot.
pub fn load_balancer(config: &ClusterConfig, endpoints: &[Endpoint]) -> Mutex<LoadBalancer> {
    let hosts = endpoints
        .iter()
        .map(|e| balance::Endpoint {
            address: e.address.to_string(),
            weight: e.weight.max(1),
            health: if e.healthy {
                Health::Healthy
            } else {
                Health::Unhealthy
            },
            active_requests: 0,
        })
        .collect();
    Mutex::new(LoadBalancer::new(config.lb_config, hosts))
}

/// A request in flight to one endpoint; least request counts it until it is dropped.
#[derive(Debug)]
pub struct ActiveRequest {
    cluster: Arc<Cluster>,
    index: usize,
    pub address: SocketAddr,
}

impl Cluster {
    /// The endpoint for the next attempt, or `None` (503 `UH`). A retry avoids the
    /// previous host when another is available (Envoy's `previous_hosts` predicate).
    /// An ORIGINAL_DST cluster's one host is the connection's restored original
    /// destination; without one (not captured) it has none, as in Envoy.
    pub fn pick(
        self: &Arc<Self>,
        avoid: Option<SocketAddr>,
        original_dst: Option<SocketAddr>,
        hash: Option<u64>,
    ) -> Option<ActiveRequest> {
        if self.config.kind == ClusterKind::OriginalDst {
            return Some(ActiveRequest {
                cluster: self.clone(),
                // No balancer entry: nothing to count.
                index: usize::MAX,
                address: original_dst?,
            });
        }
        let mut lb = self.balancer.lock().unwrap_or_else(PoisonError::into_inner);
        self.apply_ejections(&mut lb);
        let mut index = lb.choose_host(hash, &mut ThreadRandom)?;
        for attempt in 1..HOST_SELECTION_ATTEMPTS {
            if Some(self.endpoints.get(index)?.address) != avoid {
                break;
            }
            // A hashed retry looks a little further along the ring or table, as
            // Envoy's does, rather than landing on the same host again.
            let hash = hash.map(|h| h.wrapping_add(attempt as u64));
            index = lb.choose_host(hash, &mut ThreadRandom)?;
        }
        let active = lb.endpoints().get(index)?.active_requests;
        lb.set_active_requests(index, active + 1);
        Some(ActiveRequest {
            cluster: self.clone(),
            index,
            address: self.endpoints.get(index)?.address,
        })
    }
}

impl Drop for ActiveRequest {
    fn drop(&mut self) {
        let mut lb = self
            .cluster
            .balancer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(active) = lb.endpoints().get(self.index).map(|e| e.active_requests) {
            lb.set_active_requests(self.index, active.saturating_sub(1));
        }
    }
}

/// The proxy's per-thread random numbers, for the balancers.
struct ThreadRandom;

impl RandomGenerator for ThreadRandom {
    fn random(&mut self) -> u64 {
        crate::proxy::random()
    }
}
