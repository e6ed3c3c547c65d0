//! What `meshctl install` and `uninstall` run, as plain data: the helm commands of
//! each step, in order. No I/O here, so the order and the arguments are unit-tested.

use std::path::PathBuf;

/// The charts, their releases and their namespaces, in install order.
pub(crate) const BASE: ChartRelease = ChartRelease {
    release: "mesh-base",
    chart: "mesh-base",
    short: "base",
};
pub(crate) const CONTROL: ChartRelease = ChartRelease {
    release: "mesh-control",
    chart: "mesh-control",
    short: "control",
};
pub(crate) const GATEWAY: ChartRelease = ChartRelease {
    release: "mesh-ingress",
    chart: "mesh-gateway",
    short: "gateway",
};

/// One of our charts and the release it is installed as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChartRelease {
    pub(crate) release: &'static str,
    /// The directory under the charts directory.
    pub(crate) chart: &'static str,
    /// The prefix of `--set` keys and `-f` files meant for this chart.
    pub(crate) short: &'static str,
}

/// What the user asked for, already resolved (paths found, flags read).
#[derive(Debug, Clone, Default)]
pub(crate) struct InstallRequest {
    pub(crate) charts: PathBuf,
    pub(crate) mesh_namespace: String,
    pub(crate) gateway_namespace: String,
    pub(crate) with_gateway: bool,
    /// `--set` as given: `[base.|control.|gateway.|global.]KEY=VALUE`.
    pub(crate) sets: Vec<String>,
    /// `-f` as given: `[base=|control=|gateway=]FILE`.
    pub(crate) values_files: Vec<String>,
    pub(crate) kubeconfig: Option<PathBuf>,
    pub(crate) context: Option<String>,
    /// helm's `--timeout` for the waiting step, e.g. `5m`.
    pub(crate) timeout: String,
}

/// One helm invocation and what it does, for the progress line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HelmStep {
    pub(crate) chart: ChartRelease,
    /// e.g. "mesh-control into mesh-system (waits until it is ready)".
    pub(crate) title: String,
    /// The arguments after `helm`.
    pub(crate) args: Vec<String>,
    /// The same render as `helm template`, for `--dry-run`; empty for uninstall.
    pub(crate) template_args: Vec<String>,
}

/// A request meshctl cannot turn into helm commands.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum PlanError {
    #[error(
        "--set {0:?} does not say which chart it is for; write base.KEY=VALUE, \
         control.KEY=VALUE, gateway.KEY=VALUE or global.KEY=VALUE (all charts)"
    )]
    UnscopedSet(String),
    #[error("--set {0:?} is not KEY=VALUE")]
    NotKeyValue(String),
    #[error("-f {0:?}: the chart before `=` must be base, control or gateway")]
    UnknownChart(String),
    #[error("values are given for the gateway ({0}) but it is not installed; add --with-gateway")]
    GatewayValuesWithoutGateway(String),
}

/// Values for one chart, as helm arguments, in the order given.
#[derive(Debug, Default)]
struct ChartValues {
    args: Vec<String>,
    /// The first value given for this chart alone (not `global.*`).
    own: Option<String>,
}

/// The helm commands of `meshctl install`: mesh-base (creating the namespace),
/// mesh-control (waiting until it is ready, so the webhooks answer before anything
/// is injected), then the gateway if asked for. `upgrade --install` makes a rerun
/// finish a half-done install instead of failing on the first release.
pub(crate) fn install_plan(request: &InstallRequest) -> Result<Vec<HelmStep>, PlanError> {
    let (values, gateway_asked) = route_values(request)?;
    let with_gateway = request.with_gateway || gateway_asked;
    if !with_gateway && let Some(given) = &values[2].own {
        return Err(PlanError::GatewayValuesWithoutGateway(given.clone()));
    }
    let mut steps = Vec::new();
    let mut charts = vec![(BASE, &request.mesh_namespace, false, &values[0])];
    charts.push((CONTROL, &request.mesh_namespace, true, &values[1]));
    if with_gateway {
        charts.push((GATEWAY, &request.gateway_namespace, false, &values[2]));
    }
    for (chart, namespace, wait, values) in charts {
        let path = request.charts.join(chart.chart).display().to_string();
        let mut common = vec![chart.release.to_string(), path, ns(namespace)];
        if chart == GATEWAY && request.mesh_namespace != "mesh-system" {
            // The gateway finds mesh-control through its namespace.
            common.push("--set".to_string());
            common.push(format!("global.namespace={}", request.mesh_namespace));
        }
        common.extend(values.args.iter().cloned());
        let mut args = vec!["upgrade".to_string(), "--install".to_string()];
        args.extend(common.iter().cloned());
        args.push("--create-namespace".to_string());
        if wait {
            args.extend([
                "--wait".to_string(),
                format!("--timeout={}", request.timeout),
            ]);
        }
        args.extend(kube_flags(request));
        let mut template_args = vec!["template".to_string()];
        template_args.extend(common);
        if chart == BASE {
            // `helm template` leaves crds/ out unless asked; install applies them.
            template_args.push("--include-crds".to_string());
        }
        let title = format!(
            "{} into {namespace}{}",
            chart.release,
            if wait {
                " (waits until it is ready)"
            } else {
                ""
            }
        );
        steps.push(HelmStep {
            chart,
            title,
            args,
            template_args,
        });
    }
    Ok(steps)
}

/// The helm commands of `meshctl uninstall`: the reverse order; a release that is
/// not there is skipped, so a partial install uninstalls too.
pub(crate) fn uninstall_plan(request: &InstallRequest) -> Vec<HelmStep> {
    [
        (GATEWAY, &request.gateway_namespace),
        (CONTROL, &request.mesh_namespace),
        (BASE, &request.mesh_namespace),
    ]
    .into_iter()
    .map(|(chart, namespace)| {
        let mut args = vec![
            "uninstall".to_string(),
            chart.release.to_string(),
            ns(namespace),
            "--ignore-not-found".to_string(),
        ];
        if chart == CONTROL {
            args.extend([
                "--wait".to_string(),
                format!("--timeout={}", request.timeout),
            ]);
        }
        args.extend(kube_flags(request));
        HelmStep {
            chart,
            title: format!("{} from {namespace}", chart.release),
            args,
            template_args: Vec::new(),
        }
    })
    .collect()
}

fn ns(namespace: &str) -> String {
    format!("--namespace={namespace}")
}

fn kube_flags(request: &InstallRequest) -> Vec<String> {
    let mut flags = Vec::new();
    if let Some(path) = &request.kubeconfig {
        flags.push(format!("--kubeconfig={}", path.display()));
    }
    if let Some(context) = &request.context {
        flags.push(format!("--kube-context={context}"));
    }
    flags
}

/// Sends every `--set` and `-f` to its chart(s); `gateway.enabled=…` is meshctl's
/// own and says whether the gateway is installed.
fn route_values(request: &InstallRequest) -> Result<([ChartValues; 3], bool), PlanError> {
    let mut values: [ChartValues; 3] = Default::default();
    let mut gateway = false;
    let index = |short: &str| {
        [BASE, CONTROL, GATEWAY]
            .iter()
            .position(|c| c.short == short)
    };
    for set in &request.sets {
        let (key, value) = set
            .split_once('=')
            .ok_or_else(|| PlanError::NotKeyValue(set.clone()))?;
        if key == "gateway.enabled" {
            gateway = value == "true";
            continue;
        }
        if key.starts_with("global.") {
            for chart in &mut values {
                chart.args.extend(["--set".to_string(), set.clone()]);
            }
            continue;
        }
        let (short, rest) = key
            .split_once('.')
            .ok_or_else(|| PlanError::UnscopedSet(set.clone()))?;
        let i = index(short).ok_or_else(|| PlanError::UnscopedSet(set.clone()))?;
        values[i].own.get_or_insert_with(|| format!("--set {set}"));
        values[i]
            .args
            .extend(["--set".to_string(), format!("{rest}={value}")]);
    }
    for file in &request.values_files {
        // A plain FILE is for mesh-control, the chart most settings are about.
        let (i, path) = match file.split_once('=') {
            Some((short, path)) => (
                index(short).ok_or_else(|| PlanError::UnknownChart(file.clone()))?,
                path,
            ),
            None => (1, file.as_str()),
        };
        values[i].own.get_or_insert_with(|| format!("-f {file}"));
        values[i]
            .args
            .extend(["--values".to_string(), path.to_string()]);
    }
    Ok((values, gateway))
}

#[cfg(test)]
mod tests;
