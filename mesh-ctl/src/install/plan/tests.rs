use std::path::PathBuf;

use super::*;

fn request() -> InstallRequest {
    InstallRequest {
        charts: PathBuf::from("/repo/charts"),
        mesh_namespace: "mesh-system".to_string(),
        gateway_namespace: "mesh-ingress".to_string(),
        timeout: "5m".to_string(),
        ..InstallRequest::default()
    }
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

#[test]
fn install_runs_base_then_control_waiting() {
    let steps = install_plan(&request()).unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(
        steps[0].args,
        words(
            "upgrade --install mesh-base /repo/charts/mesh-base --namespace=mesh-system \
             --create-namespace"
        )
    );
    assert_eq!(
        steps[1].args,
        words(
            "upgrade --install mesh-control /repo/charts/mesh-control --namespace=mesh-system \
             --create-namespace --wait --timeout=5m"
        )
    );
    assert_eq!(
        steps[1].template_args,
        words("template mesh-control /repo/charts/mesh-control --namespace=mesh-system")
    );
}

#[test]
fn with_gateway_adds_the_ingress_release_last() {
    let steps = install_plan(&InstallRequest {
        with_gateway: true,
        ..request()
    })
    .unwrap();
    let releases: Vec<_> = steps.iter().map(|s| s.chart.release).collect();
    assert_eq!(releases, ["mesh-base", "mesh-control", "mesh-ingress"]);
    assert_eq!(
        steps[2].args,
        words(
            "upgrade --install mesh-ingress /repo/charts/mesh-gateway --namespace=mesh-ingress \
             --create-namespace"
        )
    );
}

#[test]
fn set_gateway_enabled_installs_the_gateway_and_is_not_passed_to_helm() {
    let steps = install_plan(&InstallRequest {
        sets: vec!["gateway.enabled=true".to_string()],
        ..request()
    })
    .unwrap();
    assert_eq!(steps.len(), 3);
    assert!(
        steps
            .iter()
            .all(|s| !s.args.iter().any(|a| a.contains("enabled")))
    );
}

#[test]
fn values_go_to_their_chart_and_global_to_all() {
    let steps = install_plan(&InstallRequest {
        with_gateway: true,
        sets: words("global.tag=0.2.0 control.replicaCount=2 base.istioCRDs.enabled=true"),
        values_files: words("prod.yaml gateway=gw.yaml"),
        ..request()
    })
    .unwrap();
    let tail = |i: usize| steps[i].template_args[4..].join(" ");
    assert_eq!(
        tail(0),
        "--set global.tag=0.2.0 --set istioCRDs.enabled=true --include-crds"
    );
    assert_eq!(
        tail(1),
        "--set global.tag=0.2.0 --set replicaCount=2 --values prod.yaml"
    );
    assert_eq!(tail(2), "--set global.tag=0.2.0 --values gw.yaml");
}

#[test]
fn global_values_do_not_ask_for_the_gateway() {
    let steps = install_plan(&InstallRequest {
        sets: words("global.tag=0.1.0"),
        ..request()
    })
    .unwrap();
    assert_eq!(steps.len(), 2);
}

#[test]
fn another_mesh_namespace_is_told_to_the_gateway() {
    let steps = install_plan(&InstallRequest {
        mesh_namespace: "mesh".to_string(),
        with_gateway: true,
        ..request()
    })
    .unwrap();
    assert!(steps[0].args.contains(&"--namespace=mesh".to_string()));
    assert!(
        steps[2]
            .args
            .windows(2)
            .any(|w| w == ["--set", "global.namespace=mesh"])
    );
}

#[test]
fn kube_flags_reach_every_helm_command_but_not_template() {
    let request = InstallRequest {
        kubeconfig: Some(PathBuf::from("/k/config")),
        context: Some("kind-mesh".to_string()),
        ..request()
    };
    for step in install_plan(&request)
        .unwrap()
        .iter()
        .chain(&uninstall_plan(&request))
    {
        assert!(step.args.contains(&"--kubeconfig=/k/config".to_string()));
        assert!(step.args.contains(&"--kube-context=kind-mesh".to_string()));
        assert!(!step.template_args.iter().any(|a| a.starts_with("--kube")));
    }
}

#[test]
fn unscoped_or_malformed_values_are_refused_with_the_fix() {
    let plan = |sets: &str, files: &str| {
        install_plan(&InstallRequest {
            sets: words(sets),
            values_files: words(files),
            ..request()
        })
    };
    let err = plan("replicaCount=2", "").unwrap_err();
    assert_eq!(err, PlanError::UnscopedSet("replicaCount=2".to_string()));
    assert!(err.to_string().contains("control.KEY=VALUE"));
    assert_eq!(
        plan("control.replicaCount", "").unwrap_err(),
        PlanError::NotKeyValue("control.replicaCount".to_string())
    );
    assert_eq!(
        plan("", "proxy=x.yaml").unwrap_err(),
        PlanError::UnknownChart("proxy=x.yaml".to_string())
    );
    assert!(matches!(
        plan("gateway.replicaCount=2", "").unwrap_err(),
        PlanError::GatewayValuesWithoutGateway(_)
    ));
}

#[test]
fn uninstall_runs_in_reverse_and_tolerates_missing_releases() {
    let steps = uninstall_plan(&request());
    let releases: Vec<_> = steps.iter().map(|s| s.chart.release).collect();
    assert_eq!(releases, ["mesh-ingress", "mesh-control", "mesh-base"]);
    assert_eq!(
        steps[0].args,
        words("uninstall mesh-ingress --namespace=mesh-ingress --ignore-not-found")
    );
    assert_eq!(
        steps[1].args,
        words(
            "uninstall mesh-control --namespace=mesh-system --ignore-not-found --wait --timeout=5m"
        )
    );
}
