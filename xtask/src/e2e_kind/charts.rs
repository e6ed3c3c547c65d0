//! The charts installed as a user installs them (the seed's flow with our names), with
//! the images the run loaded, and the wait for the webhooks to be callable.

use anyhow::{Context, Result, bail};

use super::kind_cluster::KindCluster;
use crate::command::{output, run};
use crate::workspace::Workspace;

pub(super) const CONTROL_PLANE_NAMESPACE: &str = "mesh-system";
const GATEWAY_NAMESPACE: &str = "mesh-ingress";

/// A chart installed by the run, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ChartInstall {
    pub(super) release: &'static str,
    pub(super) chart: &'static str,
    pub(super) namespace: &'static str,
    /// `helm --wait`: not for the gateway, whose LoadBalancer Service never gets an
    /// address on kind (its Deployment is waited for instead).
    pub(super) wait: bool,
}

/// The seed's flow with our names: mesh-base, mesh-control --wait, then the ingress
/// gateway in its own namespace.
pub(super) const CHARTS: [ChartInstall; 3] = [
    ChartInstall {
        release: "mesh-base",
        chart: "mesh-base",
        namespace: CONTROL_PLANE_NAMESPACE,
        wait: true,
    },
    ChartInstall {
        release: "mesh-control",
        chart: "mesh-control",
        namespace: CONTROL_PLANE_NAMESPACE,
        wait: true,
    },
    ChartInstall {
        release: "mesh-ingress",
        chart: "mesh-gateway",
        namespace: GATEWAY_NAMESPACE,
        wait: false,
    },
];

/// `helm install` arguments for `install`, with the images the run loaded.
pub(super) fn helm_install_args(
    ws: &Workspace,
    install: &ChartInstall,
    hub: &str,
    tag: &str,
) -> Vec<String> {
    let chart = ws.charts_dir().join(install.chart);
    let values = ws
        .root()
        .join("e2e/kind/values")
        .join(format!("{}.yaml", install.chart));
    let mut args: Vec<String> = vec![
        "install".into(),
        install.release.into(),
        chart.to_string_lossy().into_owned(),
        "--namespace".into(),
        install.namespace.into(),
        "--create-namespace".into(),
        "--values".into(),
        values.to_string_lossy().into_owned(),
        "--set".into(),
        format!("global.hub={hub}"),
        "--set".into(),
        format!("global.tag={tag}"),
    ];
    if install.wait {
        args.extend(["--wait".into(), "--timeout".into(), "5m".into()]);
    }
    args
}

pub(super) fn install_charts(
    ws: &Workspace,
    cluster: &KindCluster,
    hub: &str,
    tag: &str,
) -> Result<()> {
    for install in &CHARTS {
        println!(
            "    helm install {} ({} in {})",
            install.release, install.chart, install.namespace
        );
        run(&mut cluster.helm(&helm_install_args(ws, install, hub, tag)))
            .with_context(|| format!("installing the {} chart failed", install.chart))?;
    }
    wait_for_ca_bundles(cluster)?;
    run(&mut cluster.kubectl(&[
        "wait",
        "--for=condition=Available",
        "deployment",
        "--all",
        "-n",
        GATEWAY_NAMESPACE,
        "--timeout=300s",
    ]))
    .context("the gateway's Deployment did not become available")?;
    for install in &CHARTS {
        let status = ["status", install.release, "-n", install.namespace].map(String::from);
        run(&mut cluster.helm(&status))?;
    }
    run(&mut cluster.kubectl(&["get", "pods", "-n", CONTROL_PLANE_NAMESPACE, "-o", "wide"]))
}

/// The webhook configurations the control plane keeps the `caBundle` of (the chart
/// leaves it empty): until it is filled in, the API server cannot call the injector
/// and the first pods would be created without a sidecar or refused.
const WEBHOOK_CONFIGURATIONS: [(&str, &str); 2] = [
    ("mutatingwebhookconfiguration", "mesh-sidecar-injector"),
    ("validatingwebhookconfiguration", "mesh-validator"),
];

/// Waits (up to two minutes) until every webhook of both configurations has a
/// `caBundle`.
fn wait_for_ca_bundles(cluster: &KindCluster) -> Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    for (kind, name) in WEBHOOK_CONFIGURATIONS {
        let object = format!("{kind}/{name}");
        loop {
            let mut get = cluster.kubectl(&[
                "get",
                &object,
                "-o",
                "jsonpath={range .webhooks[*]}{.clientConfig.caBundle}{\"\\n\"}{end}",
            ]);
            let bundles = output(&mut get)
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            if all_filled(&bundles) {
                println!("    {object}: caBundle set by mesh-control");
                break;
            }
            if std::time::Instant::now() > deadline {
                bail!(
                    "{object} has no caBundle two minutes after mesh-control started: \
                     the control plane patches it (see its log for the webhook's \
                     serving certificate)"
                );
            }
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }
    Ok(())
}

/// One `caBundle` per line (kubectl's jsonpath output): at least one, none empty.
pub(super) fn all_filled(bundles: &str) -> bool {
    let lines: Vec<&str> = bundles.lines().collect();
    !lines.is_empty() && lines.iter().all(|l| !l.trim().is_empty())
}
