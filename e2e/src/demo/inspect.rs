//! The local cluster seen from outside: `meshctl proxy-status` against its control
//! plane, and the commands a user types to look around while it keeps running.

use std::process::Command;

use super::app::{Bookinfo, FRONTEND_URL};
use crate::cluster::spec::PodRef;
use crate::cluster::{LocalCluster, SAMPLE_APP};
use crate::tools;

/// The output of the real `meshctl proxy-status`, run in the bridge's namespace where
/// the control plane's debug endpoint listens.
pub(super) fn proxy_status(cluster: &LocalCluster) -> Result<String, String> {
    let argv = proxy_status_argv(cluster);
    let out = Command::new("ip")
        .args(&argv)
        .output()
        .map_err(|e| format!("cannot run `ip {}`: {e}", argv.join(" ")))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!(
            "`meshctl proxy-status` failed ({}): {}{}",
            out.status,
            text,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn proxy_status_argv(cluster: &LocalCluster) -> Vec<String> {
    let bridge = cluster.netns_names().into_iter().next().unwrap_or_default();
    vec![
        "netns".into(),
        "exec".into(),
        bridge,
        tools::meshctl().to_string_lossy().into_owned(),
        "proxy-status".into(),
        "--control-plane".into(),
        cluster.debug_address().to_string(),
    ]
}

/// What to type to use the mesh while `--keep` holds it up.
pub(super) fn keep_instructions(cluster: &LocalCluster, app: &Bookinfo) -> String {
    let netns = |pod: &PodRef| cluster.pod_netns(pod).unwrap_or_default();
    let client = netns(&app.client);
    let frontend = netns(&app.frontend);
    let sample = tools::meshctl().with_file_name(SAMPLE_APP);
    let sample = sample.display();
    let meshctl = tools::meshctl().to_string_lossy().into_owned();
    let bridge = cluster.netns_names().into_iter().next().unwrap_or_default();
    format!(
        "The mesh keeps running. In another terminal, as root:\n\
         \n  # send requests from the client pod (through its sidecar)\n\
         \x20 ip netns exec {client} {sample} request {FRONTEND_URL} -n 20 -H end-user:jason\n\
         \n  # a sidecar's admin interface and its metrics\n\
         \x20 ip netns exec {frontend} curl -s 127.0.0.1:15000/config_dump\n\
         \x20 ip netns exec {frontend} curl -s 127.0.0.1:15000/stats\n\
         \x20 ip netns exec {frontend} curl -s 127.0.0.1:15090/stats/prometheus\n\
         \x20 ip netns exec {frontend} {meshctl} proxy-config secret {frontend_pod}.bookinfo\n\
         \n  # the control plane's view\n\
         \x20 ip netns exec {bridge} {meshctl} proxy-status --control-plane {debug}\n\
         \x20 ip netns exec {bridge} {meshctl} proxy-config routes {frontend_pod}.bookinfo --control-plane {debug}\n\
         \n  # change the routing: edit or add YAML here (hot-reloaded)\n\
         \x20 {config}\n\
         \n  # logs of the control plane, every app and every sidecar\n\
         \x20 {logs}\n\
         \nPress Ctrl-C to stop; everything is removed.",
        debug = cluster.debug_address(),
        frontend_pod = app.frontend.name,
        config = cluster.config_dir().display(),
        logs = cluster.logs_dir().display(),
    )
}
