//! `mesh-proxy redirect` with real iptables, in a throwaway "pod" network namespace
//! wired by a veth pair to an "outside" one: the app's outbound TCP lands on 15001,
//! the proxy's own (uid 1337) does not, inbound TCP lands on 15006 except on the
//! proxy's ports, a second run changes nothing and `--clean` removes every rule.
//!
//! Needs root, `ip netns`, iptables, util-linux `setpriv` and python3 (CI runs as
//! root and installs them); run by hand without them it prints why it skipped. The listeners are tiny python3
//! servers that answer with their name; the clients are bash `/dev/tcp`.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use e2e::netns::add_namespace;
use e2e::prerequisites::{
    self, IP, IPTABLES, IPTABLES_RESTORE, PYTHON3, Prerequisite, SETPRIV, TIMEOUT,
};
use e2e::tools;

/// Listens on each `port=name` argument and answers every connection with `name`.
const SERVER: &str = r#"
import socket, sys, threading
def serve(port, name):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(16)
    while True:
        c, _ = s.accept()
        c.sendall(name.encode() + b"\n")
        c.close()
for arg in sys.argv[1:]:
    port, name = arg.split("=")
    threading.Thread(target=serve, args=(int(port), name)).start()
"#;

const POD_IP: &str = "10.201.0.1";
const OUTSIDE_IP: &str = "10.201.0.2";

/// Network namespaces and the processes started in them, removed on drop (also on
/// panic).
struct Namespaces {
    names: Vec<String>,
    children: Vec<Child>,
}

impl Namespaces {
    /// Creates the namespaces; panics with `ip`'s error when it cannot.
    fn create(names: &[String]) -> Namespaces {
        let mut created = Namespaces {
            names: Vec::new(),
            children: Vec::new(),
        };
        for name in names {
            add_namespace(name);
            created.names.push(name.clone());
        }
        created
    }

    /// Runs a command in namespace `ns` to completion.
    fn output(&self, ns: &str, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("ip netns exec runs")
    }

    /// Runs a command in `ns`; panics with its output on failure; returns stdout.
    fn run(&self, ns: &str, args: &[&str]) -> String {
        let out = self.output(ns, args);
        assert!(
            out.status.success(),
            "{args:?} in {ns} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts the answering server in `ns` on `port=name` pairs.
    fn serve(&mut self, ns: &str, listeners: &[&str]) {
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "python3", "-c", SERVER])
            .args(listeners)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("python3 starts");
        self.children.push(child);
    }

    /// Connects from `ns` (as uid/gid 1337 with `as_proxy`) and returns the first
    /// line the other end sends, or an empty string when the connection fails.
    fn connect(&self, ns: &str, as_proxy: bool, ip: &str, port: u16) -> String {
        let script = format!("exec 3<>/dev/tcp/{ip}/{port} && head -n1 <&3");
        let mut args = Vec::new();
        if as_proxy {
            args.extend([
                "setpriv",
                "--reuid",
                "1337",
                "--regid",
                "1337",
                "--clear-groups",
            ]);
        }
        args.extend(["timeout", "3", "bash", "-c", &script]);
        let out = self.output(ns, &args);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Retries [`Namespaces::connect`] until it answers `expected` (the servers take a
    /// moment to start), up to 10 s; returns the last answer.
    fn answer(&self, ns: &str, as_proxy: bool, ip: &str, port: u16, expected: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.connect(ns, as_proxy, ip, port);
            if got == expected || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for name in &self.names {
            let _ = Command::new("ip").args(["netns", "del", name]).output();
        }
    }
}

fn nat_rules(ns: &Namespaces, pod: &str) -> String {
    ns.run(pod, &["iptables", "-t", "nat", "-S"])
}

fn redirect(ns: &Namespaces, pod: &str, binary: &Path, extra: &[&str]) -> String {
    let binary = binary.to_str().expect("utf-8 path");
    let mut args = vec![binary, "redirect"];
    args.extend(extra);
    ns.run(pod, &args)
}

#[test]
fn redirect_captures_the_pods_tcp_except_the_proxys_own_and_cleans_up() {
    let needs = [
        Prerequisite::Root,
        IP,
        IPTABLES,
        IPTABLES_RESTORE,
        PYTHON3,
        SETPRIV,
        TIMEOUT,
    ];
    if !prerequisites::met(&needs) {
        return;
    }
    let pod = format!("mesh-redirect-test-{}", std::process::id());
    let outside = format!("{pod}-out");
    let mut ns = Namespaces::create(&[pod.clone(), outside.clone()]);
    let binary = tools::mesh_proxy();

    // The pod and the outside world, one veth pair apart.
    ns.run(&pod, &["ip", "link", "set", "lo", "up"]);
    ns.run(&outside, &["ip", "link", "set", "lo", "up"]);
    ns.run(
        &pod,
        &[
            "ip", "link", "add", "mrt0", "type", "veth", "peer", "name", "mrt1", "netns", &outside,
        ],
    );
    for (name, dev, ip) in [(&pod, "mrt0", POD_IP), (&outside, "mrt1", OUTSIDE_IP)] {
        ns.run(
            name,
            &["ip", "addr", "add", &format!("{ip}/24"), "dev", dev],
        );
        ns.run(name, &["ip", "link", "set", dev, "up"]);
    }
    ns.serve(&pod, &["15001=outbound", "15006=inbound", "15021=health"]);
    ns.serve(&outside, &["8080=outside"]);
    assert_eq!(
        ns.answer(&pod, false, OUTSIDE_IP, 8080, "outside"),
        "outside"
    );

    // Installed twice: the second run replaces, it does not add.
    redirect(&ns, &pod, &binary, &[]);
    let first = nat_rules(&ns, &pod);
    redirect(&ns, &pod, &binary, &[]);
    let second = nat_rules(&ns, &pod);
    assert_eq!(first, second, "a second run changes nothing");
    for jump in [
        "-A PREROUTING -p tcp -j ISTIO_INBOUND",
        "-A OUTPUT -j ISTIO_OUTPUT",
    ] {
        assert_eq!(second.lines().filter(|l| *l == jump).count(), 1, "{second}");
    }
    assert!(second.contains("--uid-owner 1337 -j RETURN"), "{second}");

    // The app's connection to the outside goes to 15001; the proxy's goes out.
    assert_eq!(
        ns.answer(&pod, false, OUTSIDE_IP, 8080, "outbound"),
        "outbound"
    );
    assert_eq!(
        ns.answer(&pod, true, OUTSIDE_IP, 8080, "outside"),
        "outside"
    );
    // Inbound to the app's port goes to 15006; to the proxy's health port, not.
    assert_eq!(
        ns.answer(&outside, false, POD_IP, 8080, "inbound"),
        "inbound"
    );
    assert_eq!(
        ns.answer(&outside, false, POD_IP, 15021, "health"),
        "health"
    );

    // --clean leaves nothing of ours, and traffic flows directly again.
    redirect(&ns, &pod, &binary, &["--clean"]);
    let cleaned = nat_rules(&ns, &pod);
    assert!(!cleaned.contains("ISTIO"), "{cleaned}");
    assert_eq!(
        ns.answer(&pod, false, OUTSIDE_IP, 8080, "outside"),
        "outside"
    );
    let again = redirect(&ns, &pod, &binary, &["--clean"]);
    assert!(again.contains("nothing to clean"), "{again}");
}
