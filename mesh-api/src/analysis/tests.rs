use super::*;

const SERVICES: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: bookinfo}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-v1, namespace: bookinfo}
spec: {address: 10.0.0.1, labels: {app: reviews, version: v1}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: bookinfo}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
"#;

fn run(extra: &str) -> Analysis {
    analyze_files(
        &[
            ("services.yaml".to_string(), SERVICES.to_string()),
            ("extra.yaml".to_string(), extra.to_string()),
        ],
        MeshSettings::default(),
    )
}

fn codes_of(analysis: &Analysis) -> Vec<(&'static str, Option<&str>)> {
    analysis
        .messages
        .iter()
        .map(|m| (m.code, m.field.as_deref()))
        .collect()
}

const VS_HEAD: &str = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews, namespace: bookinfo}\nspec:\n  hosts: [reviews]\n";

#[test]
fn clean_config_has_no_messages() {
    let analysis = run(&format!(
        "{VS_HEAD}  http:\n  - match: [{{headers: {{end-user: {{exact: jason}}}}}}]\n    route: [{{destination: {{host: reviews, subset: v2}}}}]\n  - route:\n    - {{destination: {{host: reviews.bookinfo.svc.cluster.local, subset: v1}}, weight: 75}}\n    - {{destination: {{host: reviews.bookinfo, subset: v2}}, weight: 25}}\n"
    ));
    assert!(analysis.messages.is_empty(), "{:#?}", analysis.messages);
    assert!(!analysis.fails(Level::Error));
    assert_eq!(analysis.objects, 4);
}

#[test]
fn referenced_host_not_found_is_an_error_at_the_destination() {
    let analysis = run(&format!(
        "{VS_HEAD}  http:\n  - route: [{{destination: {{host: reviewz}}}}]\n"
    ));
    assert_eq!(
        codes_of(&analysis),
        [("IST0101", Some("spec.http[0].route[0].destination.host"))]
    );
    let m = &analysis.messages[0];
    assert_eq!(m.level, Level::Error);
    assert_eq!(m.origin, "VirtualService bookinfo/reviews");
    assert_eq!(m.reference.as_deref(), Some("extra.yaml:1"));
    assert!(m.message.contains("\"reviewz\""));
    assert!(analysis.fails(Level::Error));
}

#[test]
fn undefined_subset_is_an_error() {
    let analysis = run(&format!(
        "{VS_HEAD}  http:\n  - route: [{{destination: {{host: reviews, subset: v3}}}}]\n    mirror: {{host: reviews, subset: v9}}\n"
    ));
    assert_eq!(
        codes_of(&analysis),
        [
            ("IST0101", Some("spec.http[0].mirror.subset")),
            ("IST0101", Some("spec.http[0].route[0].destination.subset")),
        ]
    );
    assert!(analysis.messages[1].message.contains("reviews+v3"));
}

#[test]
fn missing_gateway_is_an_error() {
    let analysis = run(&format!(
        "{VS_HEAD}  gateways: [mesh, edge/public]\n  http:\n  - route: [{{destination: {{host: reviews}}}}]\n"
    ));
    assert_eq!(codes_of(&analysis), [("IST0101", Some("spec.gateways[1]"))]);
}

#[test]
fn rule_after_catch_all_is_unreachable() {
    let analysis = run(&format!(
        "{VS_HEAD}  http:\n  - route: [{{destination: {{host: reviews}}}}]\n  - match: [{{uri: {{prefix: /api}}}}]\n    route: [{{destination: {{host: reviews}}}}]\n"
    ));
    assert_eq!(codes_of(&analysis), [("IST0130", Some("spec.http[1]"))]);
    assert_eq!(analysis.messages[0].level, Level::Warning);
    let prefix_slash = run(&format!(
        "{VS_HEAD}  http:\n  - match: [{{uri: {{prefix: /}}}}]\n    route: [{{destination: {{host: reviews}}}}]\n  - route: [{{destination: {{host: reviews}}}}]\n"
    ));
    assert_eq!(codes_of(&prefix_slash), [("IST0130", Some("spec.http[1]"))]);
}

#[test]
fn duplicate_match_is_ineffective() {
    let analysis = run(&format!(
        "{VS_HEAD}  http:\n  - match: [{{uri: {{prefix: /a}}, name: first}}]\n    route: [{{destination: {{host: reviews}}}}]\n  - match: [{{uri: {{exact: /b}}}}, {{uri: {{prefix: /a}}}}]\n    route: [{{destination: {{host: reviews}}}}]\n  - route: [{{destination: {{host: reviews}}}}]\n"
    ));
    assert_eq!(
        codes_of(&analysis),
        [("IST0131", Some("spec.http[1].match[1]"))]
    );
}

#[test]
fn weights_that_do_not_add_up_warn_and_all_zero_fails() {
    let analysis = run(&format!(
        "{VS_HEAD}  http:\n  - route:\n    - {{destination: {{host: reviews, subset: v1}}, weight: 60}}\n    - {{destination: {{host: reviews, subset: v2}}, weight: 30}}\n"
    ));
    assert_eq!(
        codes_of(&analysis),
        [("MSH0002", Some("spec.http[0].route"))]
    );
    assert!(analysis.messages[0].message.contains("add up to 90"));
    let zero = run(&format!(
        "{VS_HEAD}  http:\n  - route:\n    - {{destination: {{host: reviews, subset: v1}}, weight: 0}}\n    - {{destination: {{host: reviews, subset: v2}}}}\n"
    ));
    assert_eq!(codes_of(&zero), [("MSH0003", Some("spec.http[0].route"))]);
    assert!(zero.fails(Level::Error));
}

#[test]
fn two_namespace_wide_peer_authentications_conflict() {
    let pa = |name: &str, mode: &str| {
        format!(
            "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {{name: {name}, namespace: bookinfo}}\nspec: {{mtls: {{mode: {mode}}}}}\n---\n"
        )
    };
    let analysis = run(&format!("{}{}", pa("a", "STRICT"), pa("b", "PERMISSIVE")));
    assert_eq!(codes_of(&analysis), [("MSH0004", None)]);
    assert_eq!(analysis.messages[0].origin, "PeerAuthentication bookinfo/b");
    let one_each = run(&format!(
        "{}apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {{name: root, namespace: istio-system}}\nspec: {{mtls: {{mode: STRICT}}}}\n",
        pa("a", "STRICT")
    ));
    assert!(one_each.messages.is_empty(), "{:#?}", one_each.messages);
}

#[test]
fn peer_authentications_selecting_the_same_workload_conflict() {
    let pa = |name: &str, labels: &str| {
        format!(
            "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {{name: {name}, namespace: bookinfo}}\nspec: {{selector: {{matchLabels: {labels}}}, mtls: {{mode: STRICT}}}}\n---\n"
        )
    };
    let analysis = run(&format!(
        "{}{}",
        pa("by-app", "{app: reviews}"),
        pa("by-version", "{version: v1}")
    ));
    assert_eq!(codes_of(&analysis), [("MSH0004", Some("spec.selector"))]);
}

#[test]
fn port_names_outside_the_convention_are_reported() {
    let analysis = run(
        "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: bookinfo}\nspec:\n  ports:\n  - {name: web, port: 80}\n  - {name: web2, port: 81, appProtocol: http}\n  - {name: http-alt, port: 82}\n",
    );
    assert_eq!(
        codes_of(&analysis),
        [("IST0118", Some("spec.ports[0].name"))]
    );
    assert_eq!(analysis.messages[0].level, Level::Info);
}

#[test]
fn authorization_policy_selecting_nothing_is_reported() {
    let analysis = run(
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: ratings, namespace: bookinfo}\nspec:\n  selector: {matchLabels: {app: ratings}}\n  rules: [{}]\n---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: reviews, namespace: bookinfo}\nspec:\n  selector: {matchLabels: {app: reviews}}\n",
    );
    assert_eq!(
        codes_of(&analysis),
        [("IST0127", Some("spec.selector.matchLabels"))]
    );
    assert_eq!(
        analysis.messages[0].origin,
        "AuthorizationPolicy bookinfo/ratings"
    );
}

#[test]
fn schema_errors_are_errors_and_duplicates_warnings() {
    let analysis = run(&format!(
        "{VS_HEAD}  http:\n  - route: [{{destination: {{host: reviews}}, weight: x}}]\n---\n{SERVICES}"
    ));
    let found = codes_of(&analysis);
    assert!(
        found.contains(&("IST0106", Some("spec.http[0].route[0].weight"))),
        "{found:?}"
    );
    assert_eq!(
        found.iter().filter(|(c, _)| *c == "MSH0001").count(),
        3,
        "{found:?}"
    );
    let duplicate = analysis
        .messages
        .iter()
        .find(|m| m.code == "MSH0001")
        .unwrap();
    assert_eq!(duplicate.level, Level::Warning);
    assert_eq!(duplicate.reference.as_deref(), Some("extra.yaml:10"));
}

#[test]
fn messages_are_ordered_by_file_then_numeric_line() {
    assert!(reference_order(Some("a.yaml:9")) < reference_order(Some("a.yaml:12")));
    assert!(reference_order(Some("a.yaml:12")) < reference_order(Some("b.yaml:1")));
}
