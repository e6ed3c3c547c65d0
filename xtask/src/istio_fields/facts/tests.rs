use serde_json::json;

use super::*;

fn exclusive(names: &[&str]) -> Value {
    let each: Vec<Value> = names.iter().map(|n| json!({"required": [n]})).collect();
    let mut alternatives = vec![json!({"not": {"anyOf": each.clone()}})];
    alternatives.extend(each);
    Value::Array(alternatives)
}

#[test]
fn every_node_gets_a_line_with_its_path_type_and_facts_in_a_fixed_order() {
    let schema = json!({
        "type": "object",
        "description": "prose the table leaves out",
        "required": ["spec"],
        "properties": {
            "spec": {
                "type": "object",
                "oneOf": exclusive(&["fixedDelay", "exponentialDelay"]),
                "properties": {
                    "weight": {"type": "integer", "format": "int32", "minimum": 0, "maximum": 100},
                    "mode": {"type": "string", "enum": ["UNSET", "STRICT"], "maxLength": 9},
                    "timeout": {"type": "string", "x-kubernetes-validations": [
                        {"rule": "duration(self) >= duration('1ms')", "message": "prose"}
                    ]},
                    "hosts": {"type": "array", "items": {"type": "string"}},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "generation": {
                        "anyOf": [{"type": "integer"}, {"type": "string"}],
                        "x-kubernetes-int-or-string": true
                    },
                    "flag": {"type": "object", "additionalProperties": true}
                }
            }
        }
    });
    assert_eq!(
        lines("Thing", &schema).expect("reduces"),
        [
            "<root> object required=spec",
            "spec object at-most-one-of=fixedDelay,exponentialDelay",
            "spec.config object preserve-unknown-fields",
            "spec.flag object",
            "spec.generation int-or-string",
            "spec.hosts array",
            "spec.hosts[] string",
            "spec.labels object",
            "spec.labels{} string",
            "spec.mode string enum=UNSET,STRICT",
            "spec.timeout string duration",
            "spec.weight integer format=int32 min=0 max=100",
        ]
    );
}

#[test]
fn several_exclusive_groups_under_all_of_give_one_fact_each() {
    let schema = json!({
        "type": "object",
        "allOf": [
            {"oneOf": exclusive(&["httpHeaderName", "useSourceIp"])},
            {"oneOf": exclusive(&["ringHash", "maglev"])}
        ]
    });
    assert_eq!(
        lines("DestinationRule", &schema).expect("reduces"),
        ["<root> object at-most-one-of=httpHeaderName,useSourceIp at-most-one-of=ringHash,maglev"]
    );
}

#[test]
fn a_keyword_the_table_does_not_know_stops_the_generator() {
    let schema = json!({"type": "object", "properties": {
        "port": {"type": "integer", "exclusiveMaximum": true}
    }});
    let err = format!("{:#}", lines("Thing", &schema).expect_err("refused"));
    assert!(
        err.contains("port: keyword `exclusiveMaximum` is new"),
        "{err}"
    );
}

#[test]
fn a_one_of_of_another_shape_is_refused_rather_than_simplified() {
    let schema = json!({"type": "object", "oneOf": [{"required": ["a"]}, {"required": ["b"]}]});
    let err = format!("{:#}", lines("Thing", &schema).expect_err("refused"));
    assert!(err.contains("is not \"at most one of\""), "{err}");
}

#[test]
fn values_that_would_break_a_line_are_refused() {
    let schema = json!({"type": "string", "enum": ["TWO WORDS"]});
    assert!(lines("Thing", &schema).is_err());
    let schema = json!({"type": "object", "properties": {"a.b": {"type": "string"}}});
    assert!(lines("Thing", &schema).is_err());
}
