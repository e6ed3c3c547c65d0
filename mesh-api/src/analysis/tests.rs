use super::cases::{Case, NOW, check, messages_for};
use super::*;

/// Reading the input: documents that do not make an object, objects defined twice.
pub(crate) const CASES: &[Case] = &[
    Case::new(
        "schema errors name the object; an unreadable document its place",
        "apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews.example.com
  trafficPolicy: {outlierDetection: {interval: 5 seconds}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: g}
spec: {selector: {istio: ingressgateway}, servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*'], tls: {mode: SIMPLER}}]}
---
kind: VirtualService
metadata: {name: headless}
",
        &[
            "IST0106 DestinationRule default/reviews: invalid duration \"5 seconds\": unknown unit \" seconds\"; write a number followed by a unit (h, m, s, ms, us or ns), e.g. \"1.5s\", \"100ms\" or \"1m30s\"",
            "IST0174 DestinationRule default/reviews: The host reviews.example.com defined in the DestinationRule does not match any services in the mesh.",
            "IST0106 Gateway default/g: unknown variant `SIMPLER`, expected one of `PASSTHROUGH`, `SIMPLE`, `MUTUAL`, `AUTO_PASSTHROUGH`, `ISTIO_MUTUAL`, `OPTIONAL_MUTUAL`",
            "IST0106 document 3 of input.yaml: missing apiVersion",
        ],
    ),
    Case::new(
        "an object defined twice: the later one is reported, and both are analyzed",
        "apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec: {hosts: [api.example.com], addresses: [240.0.0.1], ports: [{number: 80, name: http, protocol: HTTP}]}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec: {hosts: [api.example.com], ports: [{number: 81, name: tcp, protocol: TCP}]}
",
        &[
            "MSH0001 ServiceEntry default/api: ServiceEntry default/api is also defined at input.yaml:1; the first definition is the one applied, both are analyzed",
            "IST0134 ServiceEntry default/api: ServiceEntry addresses are required for this protocol.",
        ],
    ),
];

#[test]
fn input_cases() {
    check(CASES);
}

fn options() -> AnalysisOptions {
    AnalysisOptions {
        now: NOW,
        ..AnalysisOptions::default()
    }
}

fn analyze(text: &str) -> Analysis {
    analyze_files(&[("extra.yaml".to_string(), text.to_string())], &options())
}

#[test]
fn messages_point_at_the_line_of_the_field() {
    let analysis = analyze(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a}\nspec:\n  hosts: [a]\n  http:\n  - route:\n    - destination:\n        host: nowhere\n",
    );
    let m = &analysis.messages[0];
    assert_eq!(m.code, "IST0101");
    assert_eq!(m.reference.as_deref(), Some("extra.yaml:9"));
    assert_eq!(
        m.field.as_deref(),
        Some("spec.http[0].route[0].destination.host")
    );
    assert!(
        m.documentation_url.ends_with("/ist0101/"),
        "{}",
        m.documentation_url
    );
    assert!(!m.fix.is_empty());
}

#[test]
fn an_object_with_a_schema_error_is_still_analyzed() {
    let found = messages_for(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a}\nspec:\n  hosts: [a]\n  http:\n  - route: [{destination: {host: nowhere}, weight: x}]\n",
        &options(),
    );
    assert_eq!(
        found,
        [
            "IST0101 VirtualService default/a: Referenced host not found: \"nowhere\"",
            "IST0106 VirtualService default/a: invalid type: string \"x\", expected i32",
        ]
    );
}

#[test]
fn every_definition_of_a_duplicate_is_analyzed() {
    let vs = |host: &str| {
        format!(
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: a}}\nspec:\n  hosts: [a]\n  http:\n  - route: [{{destination: {{host: {host}}}}}]\n---\n"
        )
    };
    let analysis = analyze(&format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: good}}\nspec: {{ports: [{{name: http, port: 80}}]}}\n---\n{}{}",
        vs("good"),
        vs("bad")
    ));
    let found: Vec<(&str, Option<&str>)> = analysis
        .messages
        .iter()
        .map(|m| (m.code, m.reference.as_deref()))
        .collect();
    assert_eq!(
        found,
        [
            ("IST0101", Some("extra.yaml:20")),
            ("MSH0001", Some("extra.yaml:14"))
        ]
    );
    assert_eq!(analysis.objects, 3);
}

#[test]
fn unreadable_documents_and_skipped_kinds_are_counted() {
    let analysis = analyze(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: a}\n---\nkind: Pod\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: kube-system}\n",
    );
    assert_eq!(analysis.skipped, 2);
    assert_eq!(analysis.objects, 0);
    assert_eq!(analysis.messages.len(), 1);
    assert_eq!(analysis.messages[0].code, "IST0106");
    assert_eq!(analysis.messages[0].origin, "document 2 of extra.yaml");
}

#[test]
fn messages_are_ordered_by_level_then_file_and_numeric_line() {
    assert!(reference_order(Some("a.yaml:9")) < reference_order(Some("a.yaml:12")));
    assert!(reference_order(Some("a.yaml:12")) < reference_order(Some("b.yaml:1")));
}
