//! Transparent capture with real iptables: in a network namespace, a nat REDIRECT rule
//! sends an app's connections to a service VIP into Envoy's `virtualOutbound` (15001),
//! which hands them by original destination to the `0.0.0.0_<port>` listener and its
//! routes, exactly as in an Istio pod. The other suites reach Envoy through bound
//! listeners; this one proves the captured path the control plane emits for every pod.
//!
//! Needs root, `ip`, iptables, curl, python3 and Envoy (CI runs as root and installs
//! them); run by hand without them it prints why it skipped.
//! The upstreams are `python3 -m http.server` processes inside the namespace.

use std::process::Command;
use std::time::{Duration, Instant};

use e2e::control_plane::dedent;
use e2e::fixtures::CAPTURED_WEB;
use e2e::netns::TestNamespace;
use e2e::prerequisites::{self, CURL, IP, IPTABLES, PYTHON3, Prerequisite};
use e2e::tools;

#[test]
fn captured_traffic_to_a_service_vip_is_routed_by_virtual_outbound() {
    let needs = [
        Prerequisite::Root,
        Prerequisite::Envoy,
        IP,
        IPTABLES,
        CURL,
        PYTHON3,
    ];
    if !prerequisites::met(&needs) {
        return;
    }
    let envoy = tools::envoy().expect("Envoy is a prerequisite checked above");
    let mut ns = TestNamespace::create(&format!("mesh-e2e-{}", std::process::id()));
    // Pod networking: loopback with the workload addresses, a default route (so a
    // connection to the VIP gets as far as the nat table) and Istio's outbound rule.
    ns.run(&["ip", "link", "set", "lo", "up"]);
    for ip in ["10.99.0.2", "10.99.0.10", "10.99.0.11"] {
        ns.run(&["ip", "addr", "add", &format!("{ip}/32"), "dev", "lo"]);
    }
    ns.run(&[
        "ip", "link", "add", "mesh0", "type", "veth", "peer", "name", "mesh1",
    ]);
    ns.run(&["ip", "addr", "add", "10.99.1.1/24", "dev", "mesh0"]);
    ns.run(&["ip", "link", "set", "mesh0", "up"]);
    ns.run(&["ip", "link", "set", "mesh1", "up"]);
    ns.run(&["ip", "route", "add", "default", "dev", "mesh0"]);
    ns.run(&[
        "iptables",
        "-t",
        "nat",
        "-A",
        "OUTPUT",
        "-p",
        "tcp",
        "-d",
        "10.96.0.0/16",
        "-j",
        "REDIRECT",
        "--to-ports",
        "15001",
    ]);

    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let config_dir = root.join("config");
    std::fs::create_dir_all(&config_dir).expect("config dir");
    std::fs::write(config_dir.join("web.yaml"), dedent(CAPTURED_WEB)).expect("config");
    for (version, ip) in [("v1", "10.99.0.10"), ("v2", "10.99.0.11")] {
        let site = root.join(version);
        std::fs::create_dir_all(&site).expect("site dir");
        std::fs::write(site.join("index.html"), format!("web-{version}\n")).expect("page");
        let log = root.join(format!("{version}.log"));
        ns.spawn(
            &["python3", "-m", "http.server", "9080", "--bind", ip],
            &site,
            &log,
        );
    }
    let config = config_dir.to_str().expect("utf-8 path");
    let control = tools::mesh_control();
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
    let bootstrap = Command::new(tools::meshctl())
        .args([
            "bootstrap",
            "envoy",
            "--workload",
            "client-0.demo",
            "--ip",
            "10.99.0.2",
            "--xds-address",
            "127.0.0.1:15010",
            "--labels",
            "app=client",
        ])
        .output()
        .expect("meshctl runs");
    assert!(bootstrap.status.success(), "{bootstrap:?}");
    std::fs::write(root.join("envoy.json"), &bootstrap.stdout).expect("bootstrap");
    let bootstrap_path = root.join("envoy.json");
    let bootstrap_arg = bootstrap_path.to_str().expect("utf-8 path");
    ns.spawn(
        &[
            envoy.to_str().expect("utf-8 path"),
            "-c",
            bootstrap_arg,
            "--disable-hot-restart",
            "-l",
            "warn",
        ],
        root,
        &root.join("envoy.log"),
    );

    // The app knows nothing of the mesh: it dials the VIP, as Kubernetes DNS would give it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let first = loop {
        match ns.curl(&[], "http://10.96.0.50:9080/") {
            Some((200, body)) => break body,
            last if Instant::now() > deadline => panic!(
                "no routed answer through virtualOutbound; last: {last:?}\nenvoy log:\n{}\ncontrol plane log:\n{}",
                e2e::control_plane::log_tail(&root.join("envoy.log"), 20),
                e2e::control_plane::log_tail(&root.join("control-plane.log"), 20),
            ),
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    assert_eq!(first, "web-v1");
    let cases: [(&[&str], &str); 4] = [
        (&[], "web-v1"),
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
}
