//! What the mTLS tests share: a CA that issues workload certificates, an app that
//! echoes the request head, and proxies built from hand-written xDS in Istio's TLS
//! shape, served as mesh-proxy serves what it accepted over ADS.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster};
use envoy_types::pb::envoy::config::core::v3::{
    Address, ApiConfigSource, ConfigSource, GrpcService, Metadata, SocketAddress, TransportSocket,
    address, api_config_source, config_source, grpc_service, socket_address, transport_socket,
};
use envoy_types::pb::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, Endpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint,
};
use envoy_types::pb::envoy::config::listener::v3::{Filter, FilterChain, Listener, filter};
use envoy_types::pb::envoy::config::route::v3::{
    Route, RouteAction, RouteConfiguration, RouteMatch, VirtualHost, route, route_action,
    route_match,
};
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter, http_connection_manager, http_filter,
};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, DownstreamTlsContext, SdsSecretConfig,
    UpstreamTlsContext, common_tls_context,
};
use envoy_types::pb::envoy::service::discovery::v3::{DeltaDiscoveryResponse, Resource};
use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher};
use envoy_types::pb::google::protobuf::{Any, BoolValue, Struct, Value, value};
use mesh_api::identity::SpiffeId;
use mesh_api::xds::type_url::{CLUSTER, LISTENER};
use mesh_proxy::config::Snapshot;
use mesh_proxy::proxy::Shared;
use mesh_proxy::stats::Stats;
use mesh_proxy::tls::{TlsContexts, WorkloadTls};
use mesh_proxy::xds::XdsState;
use prost::{Message, Name};
use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A root CA that signs workload certificates directly.
pub(crate) struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    root: CertificateDer<'static>,
}

impl TestCa {
    pub(crate) fn new(name: &str) -> TestCa {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let root = params.self_signed(&key).expect("self-signed").der().clone();
        TestCa {
            issuer: Issuer::new(params, key),
            root,
        }
    }

    /// A workload certificate for `id`, valid from an hour ago for a day.
    pub(crate) fn workload(&self, id: &str) -> WorkloadTls {
        self.workload_valid(id, Duration::from_secs(3600), Duration::from_secs(86_400))
    }

    /// A certificate valid from `started_ago` before now, for `lifetime`.
    pub(crate) fn workload_valid(
        &self,
        id: &str,
        started_ago: Duration,
        lifetime: Duration,
    ) -> WorkloadTls {
        self.issue(id, started_ago, lifetime, std::slice::from_ref(&self.root))
    }

    /// A certificate of this CA, trusting `other`'s root instead of this one.
    pub(crate) fn workload_trusting(&self, id: &str, other: &TestCa) -> WorkloadTls {
        let day = Duration::from_secs(86_400);
        self.issue(
            id,
            Duration::from_secs(60),
            day,
            std::slice::from_ref(&other.root),
        )
    }

    fn issue(
        &self,
        id: &str,
        started_ago: Duration,
        lifetime: Duration,
        roots: &[CertificateDer<'static>],
    ) -> WorkloadTls {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.subject_alt_names = vec![SanType::URI(id.try_into().expect("ia5"))];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::try_from(started_ago).expect("fits");
        params.not_after = params.not_before + time::Duration::try_from(lifetime).expect("fits");
        let leaf = params.signed_by(&key, &self.issuer).expect("signs");
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let identity: SpiffeId = id.parse().expect("a SPIFFE ID");
        WorkloadTls::new(identity, vec![leaf.der().clone()], key_der, roots.to_vec())
            .expect("usable material")
    }
}

/// An HTTP/1.1 app that answers each request with its head.
pub(crate) async fn app(ip: &str) -> SocketAddr {
    let listener = TcpListener::bind((ip, 0)).await.expect("bind app");
    let address = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let body = String::from_utf8_lossy(&head).into_owned();
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    address
}

/// One request through `proxy`: its status (0: no answer) and the whole answer.
pub(crate) async fn get(proxy: SocketAddr) -> (u16, String) {
    let answer = raw_request(
        proxy,
        b"GET / HTTP/1.1\r\nhost: server.demo\r\nconnection: close\r\n\r\n",
    )
    .await;
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, answer)
}

/// Writes `request` and reads until the peer closes (or 5 s pass).
pub(crate) async fn raw_request(to: SocketAddr, request: &[u8]) -> String {
    let Ok(mut stream) = TcpStream::connect(to).await else {
        return String::new();
    };
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// A proxy serving hand-written xDS.
pub(crate) struct Proxy {
    pub(crate) address: SocketAddr,
    stats: Arc<Stats>,
    workload: watch::Sender<Option<Arc<WorkloadTls>>>,
    _snapshots: watch::Sender<Arc<Snapshot>>,
}

impl Proxy {
    /// The server side: TLS terminated on `ip` (a client certificate required,
    /// XFCC appended), then to `app`.
    pub(crate) async fn server(ip: &str, material: WorkloadTls, app: SocketAddr) -> Proxy {
        let address = free_port(ip).await;
        let tls = DownstreamTlsContext {
            common_tls_context: Some(istio_common(&["h2", "http/1.1"], &[])),
            require_client_certificate: Some(BoolValue { value: true }),
            ..Default::default()
        };
        let hcm = HttpConnectionManager {
            forward_client_cert_details:
                http_connection_manager::ForwardClientCertDetails::AppendForward as i32,
            set_current_client_cert_details: Some(
                http_connection_manager::SetCurrentClientCertDetails {
                    subject: Some(BoolValue { value: true }),
                    dns: true,
                    uri: true,
                    ..Default::default()
                },
            ),
            ..hcm("inbound", "app")
        };
        let listener = Listener {
            name: "inbound".into(),
            address: socket(address),
            filter_chains: vec![FilterChain {
                filters: vec![hcm_filter(&hcm)],
                transport_socket: Some(transport(
                    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                    tls.encode_to_vec(),
                )),
                ..Default::default()
            }],
            ..Default::default()
        };
        let cluster = static_cluster("app", app, None, Vec::new());
        Proxy::start(address, Some(material), listener, cluster).await
    }

    /// The client side: plaintext in on `ip`, Istio's mTLS to `server`, expecting
    /// the SPIFFE ID `server_id`.
    pub(crate) async fn client(
        ip: &str,
        material: WorkloadTls,
        server: SocketAddr,
        server_id: &str,
    ) -> Proxy {
        Proxy::client_with(ip, Some(material), server, server_id).await
    }

    /// A client whose workload has no certificate yet.
    pub(crate) async fn client_without_certificate(
        ip: &str,
        server: SocketAddr,
        server_id: &str,
    ) -> Proxy {
        Proxy::client_with(ip, None, server, server_id).await
    }

    async fn client_with(
        ip: &str,
        material: Option<WorkloadTls>,
        server: SocketAddr,
        server_id: &str,
    ) -> Proxy {
        let address = free_port(ip).await;
        let upstream = UpstreamTlsContext {
            common_tls_context: Some(istio_common(
                &["istio-peer-exchange", "istio"],
                &[server_id],
            )),
            sni: "outbound_.80_._.server.demo.svc.cluster.local".into(),
            ..Default::default()
        };
        let matches = vec![
            cluster::TransportSocketMatch {
                name: "tlsMode-istio".into(),
                r#match: Some(tls_mode()),
                transport_socket: Some(transport(
                    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                    upstream.encode_to_vec(),
                )),
            },
            cluster::TransportSocketMatch {
                name: "tlsMode-disabled".into(),
                r#match: None,
                transport_socket: Some(transport(
                    "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer",
                    Vec::new(),
                )),
            },
        ];
        let listener = Listener {
            name: "outbound".into(),
            address: socket(address),
            filter_chains: vec![FilterChain {
                filters: vec![hcm_filter(&hcm("outbound", "server"))],
                ..Default::default()
            }],
            ..Default::default()
        };
        let cluster = static_cluster("server", server, Some(tls_mode()), matches);
        Proxy::start(address, material, listener, cluster).await
    }

    async fn start(
        address: SocketAddr,
        material: Option<WorkloadTls>,
        listener: Listener,
        cluster: Cluster,
    ) -> Proxy {
        let (workload, workload_rx) = watch::channel(material.map(Arc::new));
        let tls = Arc::new(TlsContexts::new(workload_rx));
        let stats = Arc::new(Stats::default());
        let mut state = XdsState::default();
        state.tls = tls.clone();
        state.stats = stats.clone();
        for (type_url, name, any) in [
            (CLUSTER, cluster.name.clone(), any(&cluster)),
            (LISTENER, listener.name.clone(), any(&listener)),
        ] {
            let response = DeltaDiscoveryResponse {
                type_url: type_url.into(),
                resources: vec![Resource {
                    name,
                    version: "1".into(),
                    resource: Some(any),
                    ..Default::default()
                }],
                ..Default::default()
            };
            state
                .apply(&response)
                .expect("the proxy accepts Istio's TLS shape");
        }
        let snapshot = state.snapshot(&Snapshot::default());
        let (snapshots, rx) = watch::channel(Arc::new(snapshot));
        let shared = Shared {
            snapshots: rx,
            stats: stats.clone(),
            drain: Default::default(),
            tls: tls.clone(),
            certificates: watch::channel(None).1,
        };
        tokio::spawn(mesh_proxy::proxy::listeners::run(shared));
        wait_listening(address).await;
        Proxy {
            address,
            stats,
            workload,
            _snapshots: snapshots,
        }
    }

    /// A counter of `/stats`.
    pub(crate) fn stat(&self, name: &str) -> u64 {
        self.stats
            .globals()
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(0, |(_, v)| *v)
    }

    /// Publishes new workload material, as the identity manager does on rotation.
    pub(crate) fn rotate(&self, material: WorkloadTls) {
        self.workload.send_replace(Some(Arc::new(material)));
    }
}

fn istio_common(alpn: &[&str], sans: &[&str]) -> CommonTlsContext {
    let sds = |name: &str| SdsSecretConfig {
        name: name.into(),
        sds_config: Some(ConfigSource {
            config_source_specifier: Some(config_source::ConfigSourceSpecifier::ApiConfigSource(
                ApiConfigSource {
                    api_type: api_config_source::ApiType::Grpc as i32,
                    grpc_services: vec![GrpcService {
                        target_specifier: Some(grpc_service::TargetSpecifier::EnvoyGrpc(
                            grpc_service::EnvoyGrpc {
                                cluster_name: "sds-grpc".into(),
                                ..Default::default()
                            },
                        )),
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            )),
            ..Default::default()
        }),
    };
    CommonTlsContext {
        alpn_protocols: alpn.iter().map(|a| a.to_string()).collect(),
        tls_certificate_sds_secret_configs: vec![sds("default")],
        validation_context_type: Some(
            common_tls_context::ValidationContextType::CombinedValidationContext(
                common_tls_context::CombinedCertificateValidationContext {
                    default_validation_context: Some(CertificateValidationContext {
                        #[allow(deprecated)]
                        match_subject_alt_names: sans
                            .iter()
                            .map(|s| StringMatcher {
                                match_pattern: Some(string_matcher::MatchPattern::Exact(
                                    s.to_string(),
                                )),
                                ignore_case: false,
                            })
                            .collect(),
                        ..Default::default()
                    }),
                    validation_context_sds_secret_config: Some(sds("ROOTCA")),
                    ..Default::default()
                },
            ),
        ),
        ..Default::default()
    }
}

fn tls_mode() -> Struct {
    Struct {
        fields: [(
            "tlsMode".to_string(),
            Value {
                kind: Some(value::Kind::StringValue("istio".into())),
            },
        )]
        .into(),
    }
}

fn hcm(prefix: &str, cluster: &str) -> HttpConnectionManager {
    HttpConnectionManager {
        stat_prefix: prefix.into(),
        route_specifier: Some(http_connection_manager::RouteSpecifier::RouteConfig(
            RouteConfiguration {
                name: prefix.into(),
                virtual_hosts: vec![VirtualHost {
                    name: "all".into(),
                    domains: vec!["*".into()],
                    routes: vec![Route {
                        r#match: Some(RouteMatch {
                            path_specifier: Some(route_match::PathSpecifier::Prefix("/".into())),
                            ..Default::default()
                        }),
                        action: Some(route::Action::Route(RouteAction {
                            cluster_specifier: Some(route_action::ClusterSpecifier::Cluster(
                                cluster.into(),
                            )),
                            ..Default::default()
                        })),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            },
        )),
        http_filters: vec![HttpFilter {
            name: "envoy.filters.http.router".into(),
            config_type: Some(http_filter::ConfigType::TypedConfig(
                any(&Router::default()),
            )),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn hcm_filter(hcm: &HttpConnectionManager) -> Filter {
    Filter {
        name: "envoy.filters.network.http_connection_manager".into(),
        config_type: Some(filter::ConfigType::TypedConfig(any(hcm))),
    }
}

fn static_cluster(
    name: &str,
    endpoint: SocketAddr,
    labels: Option<Struct>,
    matches: Vec<cluster::TransportSocketMatch>,
) -> Cluster {
    let metadata = labels.map(|labels| Metadata {
        filter_metadata: [("envoy.transport_socket_match".to_string(), labels)].into(),
        ..Default::default()
    });
    Cluster {
        name: name.into(),
        cluster_discovery_type: Some(cluster::ClusterDiscoveryType::Type(
            cluster::DiscoveryType::Static as i32,
        )),
        connect_timeout: Some(envoy_types::pb::google::protobuf::Duration {
            seconds: 1,
            nanos: 0,
        }),
        load_assignment: Some(ClusterLoadAssignment {
            cluster_name: name.into(),
            endpoints: vec![LocalityLbEndpoints {
                lb_endpoints: vec![LbEndpoint {
                    host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(Endpoint {
                        address: socket(endpoint),
                        ..Default::default()
                    })),
                    metadata,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }),
        transport_socket_matches: matches,
        ..Default::default()
    }
}

fn transport(type_url: &str, value: Vec<u8>) -> TransportSocket {
    TransportSocket {
        name: "envoy.transport_sockets.tls".into(),
        config_type: Some(transport_socket::ConfigType::TypedConfig(Any {
            type_url: type_url.into(),
            value,
        })),
    }
}

fn any<T: Message + Name>(m: &T) -> Any {
    Any {
        type_url: T::type_url(),
        value: m.encode_to_vec(),
    }
}

fn socket(addr: SocketAddr) -> Option<Address> {
    Some(Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: addr.ip().to_string(),
            port_specifier: Some(socket_address::PortSpecifier::PortValue(u32::from(
                addr.port(),
            ))),
            ..Default::default()
        })),
    })
}

async fn free_port(ip: &str) -> SocketAddr {
    let l = TcpListener::bind((ip, 0)).await.expect("bind");
    l.local_addr().expect("addr")
}

async fn wait_listening(address: SocketAddr) {
    for _ in 0..100 {
        if TcpStream::connect(address).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{address} is not listening");
}
