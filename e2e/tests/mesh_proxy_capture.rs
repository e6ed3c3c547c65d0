//! Transparent capture with real iptables, served by mesh-proxy (the same scenario
//! as `envoy_capture.rs` for Envoy). In a network namespace, Istio-style nat rules
//! send the app's connections to service VIPs into `virtualOutbound` (15001), which
//! hands them by SO_ORIGINAL_DST to the `0.0.0.0_<port>` listener: HTTP routed per
//! VirtualService, TCP through `tcp_proxy`, unknown destinations through
//! PassthroughCluster (TCP, and HTTP through the `allow_any` route). Connections from outside to the pod IP are redirected to
//! `virtualInbound` (15006) and reach the app through `inbound|<port>||`.
//!
//! mesh-proxy runs as uid 1337 and the OUTPUT rules exempt that uid, as Istio's do,
//! so that its own upstream connections are not captured again.
//! Needs root, `ip netns`, iptables, setpriv, curl and python3; else it skips.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::control_plane::{dedent, log_tail};
use e2e::fixtures::CAPTURED_WEB;
use e2e::netns::{TestNamespace, curl};
use e2e::prerequisites::{self, CURL, IP, IPTABLES, PYTHON3, Prerequisite, SETPRIV};
use e2e::tcp_echo::TcpEchoServer;
use e2e::tools;

const POD_IP: &str = "10.99.1.1";
const HOST_IP: &str = "10.99.1.2";
const PROXY_UID: &str = "1337";

/// Beyond `CAPTURED_WEB`: the TCP echo service and the client workload.
const TCP_AND_CLIENT: &str = "
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: tcp-echo, namespace: demo}
    spec:
      clusterIP: 10.96.0.60
      selector: {app: tcp-echo}
      ports: [{name: tcp, port: 9000}]
    ---
    apiVersion: networking.istio.io/v1
    kind: WorkloadEntry
    metadata: {name: tcp-echo-0, namespace: demo}
    spec: {address: 10.99.1.2, labels: {app: tcp-echo}}
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: client, namespace: demo}
    spec:
      selector: {app: client}
      ports: [{name: http, port: 8080}]
    ---
    apiVersion: networking.istio.io/v1
    kind: WorkloadEntry
    metadata: {name: client-0, namespace: demo}
    spec: {address: 10.99.1.1, labels: {app: client}}
";

/// One line through a TCP connection from inside the namespace (python3: the
/// namespace has no netcat): the answer, or the error.
fn tcp_line(ns: &TestNamespace, addr: &str, line: &str) -> String {
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    let script = format!(
        "import socket\ns=socket.create_connection(('{host}',{port}),timeout=3)\n\
         s.sendall(b'{line}\\n')\nprint(s.makefile().readline().strip())"
    );
    let out = ns
        .command()
        .args(["python3", "-c", &script])
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() {
        text
    } else {
        format!("error: {}", String::from_utf8_lossy(&out.stderr).trim())
    }
}

fn iptables(ns: &TestNamespace, rule: &str) {
    let args: Vec<&str> = ["iptables", "-t", "nat"]
        .into_iter()
        .chain(rule.split_whitespace())
        .collect();
    ns.run(&args);
}

/// Polls `probe` for up to 30 s until it gives `expected`; panics with the logs.
fn wait_for<T: PartialEq + std::fmt::Debug>(
    what: &str,
    expected: &T,
    root: &Path,
    mut probe: impl FnMut() -> T,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = probe();
        if &got == expected {
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "{what}: got {got:?}, want {expected:?}\nmesh-proxy log:\n{}\ncontrol plane log:\n{}",
                log_tail(&root.join("mesh-proxy.log"), 30),
                log_tail(&root.join("control-plane.log"), 20),
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn mesh_proxy_serves_captured_outbound_http_tcp_passthrough_and_inbound() {
    let needs = [Prerequisite::Root, IP, IPTABLES, CURL, PYTHON3, SETPRIV];
    if !prerequisites::met(&needs) {
        return;
    }
    let id = std::process::id() % 100_000;
    let mut ns = TestNamespace::create(&format!("mesh-mp-{id}"));
    let (pod_if, host_if) = (format!("mpp{id}"), format!("mph{id}"));
    // Pod networking: workload addresses on loopback, a veth to the host (the pod IP
    // on the pod side), a default route through it.
    ns.run(&["ip", "link", "set", "lo", "up"]);
    for ip in ["10.99.0.10", "10.99.0.11"] {
        ns.run(&["ip", "addr", "add", &format!("{ip}/32"), "dev", "lo"]);
    }
    let host_ip = |args: &[&str]| {
        let out = Command::new("ip").args(args).output().expect("ip runs");
        assert!(out.status.success(), "ip {args:?}: {out:?}");
    };
    host_ip(&[
        "link", "add", &pod_if, "type", "veth", "peer", "name", &host_if,
    ]);
    host_ip(&["link", "set", &pod_if, "netns", ns.name()]);
    host_ip(&["addr", "add", &format!("{HOST_IP}/24"), "dev", &host_if]);
    host_ip(&["link", "set", &host_if, "up"]);
    ns.run(&["ip", "addr", "add", &format!("{POD_IP}/24"), "dev", &pod_if]);
    ns.run(&["ip", "link", "set", &pod_if, "up"]);
    ns.run(&["ip", "route", "add", "default", "dev", &pod_if]);
    // Istio's rules, reduced: the proxy's own traffic (uid 1337) and 127.0.0.6 are
    // exempt; the app's TCP to VIPs and to the host goes to 15001; TCP from outside
    // to the pod goes to 15006.
    iptables(
        &ns,
        &format!("-A OUTPUT -p tcp -m owner --uid-owner {PROXY_UID} -j RETURN"),
    );
    iptables(&ns, "-A OUTPUT -p tcp -s 127.0.0.6/32 -j RETURN");
    iptables(
        &ns,
        "-A OUTPUT -p tcp -d 10.96.0.0/16 -j REDIRECT --to-ports 15001",
    );
    iptables(
        &ns,
        &format!("-A OUTPUT -p tcp -d {HOST_IP}/32 -j REDIRECT --to-ports 15001"),
    );
    iptables(
        &ns,
        &format!("-A PREROUTING -p tcp -i {pod_if} -j REDIRECT --to-ports 15006"),
    );

    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let _tcp_echo = runtime
        .block_on(TcpEchoServer::start(
            "tcp-echo-0",
            format!("{HOST_IP}:9000").parse().expect("addr"),
        ))
        .expect("tcp echo on the host");
    // Not a service: reached only through PassthroughCluster.
    let _outside = runtime
        .block_on(TcpEchoServer::start(
            "outside",
            format!("{HOST_IP}:9100").parse().expect("addr"),
        ))
        .expect("second tcp echo on the host");

    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let config_dir = root.join("config");
    std::fs::create_dir_all(&config_dir).expect("config dir");
    std::fs::write(
        config_dir.join("mesh.yaml"),
        format!("{}{}", dedent(CAPTURED_WEB), dedent(TCP_AND_CLIENT)),
    )
    .expect("config");
    for (site, ip, port) in [
        ("web-v1", "10.99.0.10", "9080"),
        ("web-v2", "10.99.0.11", "9080"),
        ("client-app", POD_IP, "8080"),
    ] {
        let dir = root.join(site);
        std::fs::create_dir_all(&dir).expect("site dir");
        std::fs::write(dir.join("index.html"), format!("{site}\n")).expect("page");
        let log = root.join(format!("{site}.log"));
        ns.spawn(
            &["python3", "-m", "http.server", port, "--bind", ip],
            &dir,
            &log,
        );
    }
    // An HTTP server on the host that no service names: reached from the pod only
    // through the `allow_any` route to PassthroughCluster.
    let outside = root.join("outside-http");
    std::fs::create_dir_all(&outside).expect("site dir");
    std::fs::write(outside.join("index.html"), "outside-http\n").expect("page");
    let log = std::fs::File::create(root.join("outside-http.log")).expect("log file");
    let server = Command::new("python3")
        .args(["-m", "http.server", "9080", "--bind", HOST_IP])
        .current_dir(&outside)
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .spawn()
        .expect("python3 starts");
    ns.adopt(server);
    let control = tools::mesh_control();
    let config = config_dir.to_str().expect("utf-8 path");
    ns.spawn(
        &[
            control.to_str().expect("utf-8 path"),
            "--config-dir",
            config,
            "--xds-address",
            "127.0.0.1:15010",
        ],
        root,
        &root.join("control-plane.log"),
    );
    let proxy = tools::mesh_proxy();
    let uid = format!("--reuid={PROXY_UID}");
    let gid = format!("--regid={PROXY_UID}");
    ns.spawn(
        &[
            "setpriv",
            &uid,
            &gid,
            "--clear-groups",
            "env",
            "MESH_LOG=info,mesh_proxy=debug",
            proxy.to_str().expect("utf-8 path"),
            "run",
            "--xds-address",
            "127.0.0.1:15010",
            "--workload",
            "client-0.demo",
            "--ip",
            POD_IP,
            "--labels",
            "app=client",
        ],
        root,
        &root.join("mesh-proxy.log"),
    );

    // Outbound HTTP: the app dials the VIP; iptables sends it to virtualOutbound.
    wait_for(
        "HTTP to the VIP",
        &Some((200, "web-v1".to_string())),
        root,
        || ns.curl(&[], "http://10.96.0.50:9080/"),
    );
    let cases: [(&[&str], &str); 3] = [
        (&["end-user: jason"], "web-v2"),
        (&["Host: web.demo"], "web-v1"),
        (
            &["Host: web.demo.svc.cluster.local:9080", "end-user: jason"],
            "web-v2",
        ),
    ];
    for (headers, expected) in cases {
        let reply = ns.curl(headers, "http://10.96.0.50:9080/");
        assert_eq!(
            reply,
            Some((200, expected.to_string())),
            "headers {headers:?}"
        );
    }
    // Outbound TCP: the VIP's tcp_proxy chain, to the service's endpoint.
    wait_for(
        "TCP to the VIP",
        &"tcp-echo-0 hello".to_string(),
        root,
        || tcp_line(&ns, "10.96.0.60:9000", "hello"),
    );
    // An address no service has: virtualOutbound's catch-all, PassthroughCluster.
    wait_for("TCP passthrough", &"outside hi".to_string(), root, || {
        tcp_line(&ns, &format!("{HOST_IP}:9100"), "hi")
    });
    // HTTP to an address no service has, on a port that has a listener: the HTTP
    // chain's `allow_any` virtual host, PassthroughCluster, the original destination.
    wait_for(
        "HTTP passthrough",
        &Some((200, "outside-http".to_string())),
        root,
        || ns.curl(&[], &format!("http://{HOST_IP}:9080/")),
    );
    // Inbound: from the host to the pod IP, redirected to virtualInbound.
    wait_for(
        "inbound HTTP",
        &Some((200, "client-app".to_string())),
        root,
        || curl(Command::new("env"), &[], &format!("http://{POD_IP}:8080/")),
    );
    let app_log = std::fs::read_to_string(root.join("client-app.log")).unwrap_or_default();
    assert!(
        app_log.contains("127.0.0.6"),
        "the app sees the inbound cluster's source 127.0.0.6:\n{app_log}"
    );
}
