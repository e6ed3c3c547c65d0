//! `meshctl bootstrap envoy`: the Envoy v3 bootstrap that connects a workload's Envoy
//! to the control plane over ADS, with Istio's node id and metadata, and (with
//! `--sds-socket`) to the workload's SDS server for its certificates, as Istio's
//! bootstrap connects Envoy to pilot-agent.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};

/// The static cluster Envoy reaches the control plane through (Istio's name).
const XDS_CLUSTER: &str = "xds-grpc";
/// The static cluster Envoy gets its certificates through (Istio's name); the
/// translator's SDS secret configs name it.
const SDS_CLUSTER: &str = "sds-grpc";
/// Istio's port for xDS (and the CA) over TLS.
const XDS_TLS_PORT: u16 = 15012;

/// Print proxy bootstraps.
#[derive(Debug, Args)]
pub(crate) struct BootstrapArgs {
    #[command(subcommand)]
    proxy: BootstrapProxy,
}

#[derive(Debug, Subcommand)]
enum BootstrapProxy {
    /// Print a complete Envoy v3 bootstrap for one workload: Istio's node id and
    /// metadata, ADS to the control plane, admin on localhost.
    #[command(
        after_help = "Examples:\n  meshctl bootstrap envoy --workload reviews-v1-0.bookinfo --ip 10.10.0.21 \\\n      --xds-address 127.0.0.1:15010 --labels app=reviews,version=v1 > envoy.json\n  envoy -c envoy.json\n\n  # mTLS: certificates from `mesh-proxy agent --sds-socket`, xDS over TLS on 15012\n  meshctl bootstrap envoy --workload reviews-v1-0.bookinfo --ip 10.10.0.21 \\\n      --xds-address 10.0.0.5:15012 --service-account bookinfo-reviews \\\n      --sds-socket /var/run/mesh/sds.sock > envoy.json"
    )]
    Envoy(EnvoyBootstrapArgs),
}

#[derive(Debug, Args)]
struct EnvoyBootstrapArgs {
    /// The workload as POD.NAMESPACE (e.g. reviews-v1-0.bookinfo).
    #[arg(long, value_name = "NAME.NAMESPACE")]
    workload: String,

    /// The workload's IP address (the second field of the node id).
    #[arg(long)]
    ip: IpAddr,

    /// The control plane's xDS address: 15010 plain text, 15012 TLS (see --xds-tls).
    #[arg(long, env = "MESH_XDS_ADDRESS", value_name = "HOST:PORT")]
    xds_address: String,

    /// Unix socket of the workload's SDS server (`mesh-proxy agent --sds-socket`):
    /// adds the `sds-grpc` cluster from which Envoy gets its certificate (`default`)
    /// and trust bundle (`ROOTCA`) for mTLS between workloads.
    #[arg(long, env = "MESH_SDS_SOCKET", value_name = "PATH")]
    sds_socket: Option<String>,

    /// TLS to the control plane, authenticated by the workload certificate from SDS
    /// and verifying the control plane against ROOTCA (needs --sds-socket). `auto`:
    /// TLS when the xDS port is 15012.
    #[arg(long, value_enum, default_value_t = XdsTls::Auto)]
    xds_tls: XdsTls,

    /// A name (or IP) the control plane's certificate must carry, when TLS; may be
    /// repeated. Default: the host of --xds-address.
    #[arg(long, value_name = "NAME")]
    xds_san: Vec<String>,

    /// Use incremental (Delta) xDS instead of State-of-the-World.
    #[arg(long)]
    xds_delta: bool,

    /// Port of Envoy's admin interface, bound on 127.0.0.1.
    #[arg(long, default_value_t = 15000)]
    admin_port: u16,

    /// The workload's labels, as k=v,k2=v2 (used for subsets and policy selectors).
    #[arg(long, value_name = "K=V,...")]
    labels: Option<String>,

    /// The workload's service account.
    #[arg(long, value_name = "SA", default_value = "default")]
    service_account: String,

    /// The cluster's DNS domain.
    #[arg(long, default_value = "cluster.local")]
    cluster_domain: String,

    /// The cluster id reported in the node metadata (Istio's CLUSTER_ID).
    #[arg(long, default_value = "Kubernetes")]
    cluster_id: String,

    /// `sidecar` for a workload's proxy, `router` for a gateway.
    #[arg(long, value_enum, default_value_t = ProxyType::Sidecar)]
    proxy_type: ProxyType,

    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Json)]
    output: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum XdsTls {
    Auto,
    On,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ProxyType {
    Sidecar,
    Router,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Json,
    Yaml,
}

/// Where the control plane is: an IP is a STATIC cluster, a name a STRICT_DNS one.
#[derive(Debug, PartialEq, Eq)]
struct XdsAddress {
    host: String,
    port: u16,
    is_ip: bool,
}

pub(crate) fn run(args: &BootstrapArgs) -> anyhow::Result<ExitCode> {
    let BootstrapProxy::Envoy(args) = &args.proxy;
    let bootstrap = envoy_bootstrap(args)?;
    let text = match args.output {
        Format::Json => serde_json::to_string_pretty(&bootstrap)?,
        Format::Yaml => serde_norway::to_string(&bootstrap)?,
    };
    crate::proxy_status::write_stdout(&format!("{}\n", text.trim_end()))?;
    Ok(ExitCode::SUCCESS)
}

fn envoy_bootstrap(args: &EnvoyBootstrapArgs) -> anyhow::Result<Value> {
    let (pod, namespace) = parse_workload(&args.workload)?;
    let labels = parse_labels(args.labels.as_deref().unwrap_or(""))?;
    let xds = parse_xds_address(&args.xds_address)?;
    let kind = match args.proxy_type {
        ProxyType::Sidecar => "sidecar",
        ProxyType::Router => "router",
    };
    let ip = args.ip.to_string();
    let node_id = format!(
        "{kind}~{ip}~{pod}.{namespace}~{namespace}.svc.{}",
        args.cluster_domain
    );
    // Istio's service cluster: the app label (or the pod) in its namespace.
    let app = labels.get("app").map_or(pod, String::as_str);
    let api_type = if args.xds_delta { "DELTA_GRPC" } else { "GRPC" };
    let xds_tls = match args.xds_tls {
        XdsTls::On => true,
        XdsTls::Off => false,
        XdsTls::Auto => xds.port == XDS_TLS_PORT,
    };
    let mut clusters = vec![xds_cluster(&xds)];
    if xds_tls {
        if args.sds_socket.is_none() {
            bail!(
                "TLS to the control plane at {} needs the workload certificate: add \
                 --sds-socket PATH (where `mesh-proxy agent --sds-socket PATH` serves it), \
                 or use the plain-text port 15010 (or --xds-tls off)",
                args.xds_address
            );
        }
        let sans = if args.xds_san.is_empty() {
            vec![xds.host.clone()]
        } else {
            args.xds_san.clone()
        };
        clusters[0]["transport_socket"] = xds_tls_socket(&xds, &sans);
    }
    if let Some(path) = &args.sds_socket {
        if path.is_empty() {
            bail!("--sds-socket is empty; give the path of the SDS server's Unix socket");
        }
        clusters.push(sds_cluster(path));
    }
    Ok(json!({
        "node": {
            "id": node_id,
            "cluster": format!("{app}.{namespace}"),
            "metadata": {
                "NAMESPACE": namespace,
                "LABELS": labels,
                "SERVICE_ACCOUNT": args.service_account,
                "INSTANCE_IPS": ip,
                "WORKLOAD_NAME": pod,
                "CLUSTER_ID": args.cluster_id,
                "DNS_DOMAIN": args.cluster_domain,
                "MESH_VERSION": env!("CARGO_PKG_VERSION"),
                // The control plane emits mTLS only to proxies that can fetch their
                // certificate (the `sds-grpc` cluster below).
                "SDS": if args.sds_socket.is_some() { "true" } else { "false" },
            },
        },
        "admin": {
            "address": socket_address("127.0.0.1", args.admin_port),
        },
        "dynamic_resources": {
            "lds_config": { "ads": {}, "resource_api_version": "V3" },
            "cds_config": { "ads": {}, "resource_api_version": "V3" },
            "ads_config": {
                "api_type": api_type,
                "transport_api_version": "V3",
                "set_node_on_first_message_only": true,
                "grpc_services": [{ "envoy_grpc": { "cluster_name": XDS_CLUSTER } }],
            },
        },
        "static_resources": {
            "clusters": clusters,
        },
        // Istio's bootstrap runtime: RE2 programs up to 32768 (Envoy's default limit of
        // 100 rejects ordinary VirtualService regexes Istio accepts), and no global cap
        // on downstream connections.
        "layered_runtime": {
            "layers": [{
                "name": "global config",
                "static_layer": {
                    "re2.max_program_size.error_level": "32768",
                    "overload.global_downstream_max_connections": "2147483647",
                },
            }, {
                "name": "admin",
                "admin_layer": {},
            }],
        },
    }))
}

/// The HTTP/2 cluster to the control plane, with keepalives so that a dead control
/// plane is noticed and Envoy reconnects.
fn xds_cluster(xds: &XdsAddress) -> Value {
    let mut cluster = json!({
        "name": XDS_CLUSTER,
        "type": if xds.is_ip { "STATIC" } else { "STRICT_DNS" },
        "connect_timeout": "1s",
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": {
            "cluster_name": XDS_CLUSTER,
            "endpoints": [{
                "lb_endpoints": [{
                    "endpoint": { "address": socket_address(&xds.host, xds.port) },
                }],
            }],
        },
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {
                    "http2_protocol_options": {
                        "connection_keepalive": { "interval": "30s", "timeout": "10s" },
                    },
                },
            },
        },
        "upstream_connection_options": {
            "tcp_keepalive": { "keepalive_time": 300 },
        },
    });
    if !xds.is_ip {
        cluster["dns_lookup_family"] = json!("V4_PREFERRED");
    }
    cluster
}

/// Istio's bootstrap cluster to the SDS server: HTTP/2 over the Unix socket.
fn sds_cluster(path: &str) -> Value {
    json!({
        "name": SDS_CLUSTER,
        "type": "STATIC",
        "connect_timeout": "1s",
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": {
            "cluster_name": SDS_CLUSTER,
            "endpoints": [{
                "lb_endpoints": [{ "endpoint": { "address": { "pipe": { "path": path } } } }],
            }],
        },
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": { "http2_protocol_options": {} },
            },
        },
    })
}

/// An SDS secret from `sds-grpc`, in the translator's (Istio's) form.
fn sds_secret(name: &str) -> Value {
    json!({
        "name": name,
        "sds_config": {
            "api_config_source": {
                "api_type": "GRPC",
                "transport_api_version": "V3",
                "set_node_on_first_message_only": true,
                "grpc_services": [{ "envoy_grpc": { "cluster_name": SDS_CLUSTER } }],
            },
            "initial_fetch_timeout": "0s",
            "resource_api_version": "V3",
        },
    })
}

/// TLS to the control plane: the workload certificate as client certificate (15012
/// serves a proxy only as the identity it proves), the control plane verified against
/// the mesh's trust bundle and one of `sans`.
fn xds_tls_socket(xds: &XdsAddress, sans: &[String]) -> Value {
    let matchers: Vec<Value> = sans
        .iter()
        .map(|san| {
            let san_type = if san.parse::<IpAddr>().is_ok() {
                "IP_ADDRESS"
            } else {
                "DNS"
            };
            json!({ "san_type": san_type, "matcher": { "exact": san } })
        })
        .collect();
    let mut context = json!({
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        "common_tls_context": {
            "tls_params": {
                "tls_minimum_protocol_version": "TLSv1_2",
                "tls_maximum_protocol_version": "TLSv1_3",
            },
            "alpn_protocols": ["h2"],
            "tls_certificate_sds_secret_configs": [sds_secret("default")],
            "combined_validation_context": {
                "default_validation_context": { "match_typed_subject_alt_names": matchers },
                "validation_context_sds_secret_config": sds_secret("ROOTCA"),
            },
        },
    });
    // SNI is a name; an IP address is not sent as one.
    if !xds.is_ip {
        context["sni"] = json!(xds.host);
    }
    json!({ "name": "envoy.transport_sockets.tls", "typed_config": context })
}

fn socket_address(address: &str, port: u16) -> Value {
    json!({ "socket_address": { "address": address, "port_value": port } })
}

/// Splits `POD.NAMESPACE` at its last dot (pod names may hold dots, namespaces not).
fn parse_workload(workload: &str) -> anyhow::Result<(&str, &str)> {
    match workload.rsplit_once('.') {
        Some((pod, ns)) if !pod.is_empty() && !ns.is_empty() && !workload.contains('~') => {
            Ok((pod, ns))
        }
        _ => bail!(
            "--workload {workload:?} is not NAME.NAMESPACE; write the pod (or WorkloadEntry) \
             name and its namespace joined by a dot, e.g. --workload reviews-v1-0.bookinfo"
        ),
    }
}

/// Parses `k=v,k2=v2`; an empty string is no labels.
fn parse_labels(text: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let mut labels = BTreeMap::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            bail!(
                "--labels: {pair:?} is not key=value; write e.g. --labels app=reviews,version=v1"
            );
        };
        if key.trim().is_empty() {
            bail!("--labels: {pair:?} has an empty key; write e.g. --labels app=reviews");
        }
        labels.insert(key.trim().to_string(), value.trim().to_string());
    }
    Ok(labels)
}

/// Parses `HOST:PORT`, `IP:PORT` or `[IPv6]:PORT`.
fn parse_xds_address(text: &str) -> anyhow::Result<XdsAddress> {
    let expected = || {
        format!(
            "--xds-address {text:?} is not HOST:PORT; write e.g. --xds-address 127.0.0.1:15010 \
             or --xds-address mesh-control.mesh-system.svc:15010"
        )
    };
    let (host, port) = text.rsplit_once(':').with_context(expected)?;
    let port: u16 = port.parse().ok().with_context(expected)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() || port == 0 {
        bail!(expected());
    }
    Ok(XdsAddress {
        host: host.to_string(),
        port,
        is_ip: host.parse::<IpAddr>().is_ok(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_is_split_at_the_last_dot() {
        assert_eq!(
            parse_workload("reviews-v1-0.bookinfo").ok(),
            Some(("reviews-v1-0", "bookinfo"))
        );
        assert_eq!(parse_workload("a.b.c").ok(), Some(("a.b", "c")));
        let err = parse_workload("reviews").unwrap_err().to_string();
        assert!(err.contains("NAME.NAMESPACE"), "{err}");
        assert!(parse_workload("reviews.").is_err());
    }

    #[test]
    fn xds_addresses_with_names_ips_and_ipv6() {
        let a = parse_xds_address("127.0.0.1:15010").unwrap();
        assert_eq!(
            (a.host.as_str(), a.port, a.is_ip),
            ("127.0.0.1", 15010, true)
        );
        let a = parse_xds_address("mesh-control.mesh-system.svc:15010").unwrap();
        assert!(!a.is_ip);
        let a = parse_xds_address("[::1]:15010").unwrap();
        assert_eq!((a.host.as_str(), a.is_ip), ("::1", true));
        assert!(parse_xds_address("127.0.0.1").is_err());
        assert!(parse_xds_address(":15010").is_err());
    }

    #[test]
    fn labels_parse_and_report_bad_pairs() {
        let labels = parse_labels("app=reviews, version=v1").unwrap();
        assert_eq!(labels["version"], "v1");
        assert!(parse_labels("").unwrap().is_empty());
        assert!(parse_labels("app").is_err());
    }
}
