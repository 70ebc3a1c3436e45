//! The JSON Schema scorer: valid and invalid outputs with the path of the
//! problem, and schemas it must refuse rather than half-apply.

use serde_json::json;
use switchyard_meta_agent::MetaAgentError;
use switchyard_meta_agent::scorers::json_schema;

fn person() -> serde_json::Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Person",
        "type": "object",
        "required": ["name", "age"],
        "properties": {
            "name": { "type": "string" },
            "age": { "type": "integer" },
            "role": { "enum": ["admin", "user"] },
            "tags": { "type": "array", "items": { "type": "string" } },
            "manager": { "type": ["object", "null"], "required": ["name"] },
            "odd key": { "type": "boolean" }
        }
    })
}

#[test]
fn valid_output_scores_one() {
    let out = r#"{"name": "Ada", "age": 36, "role": "admin", "tags": ["x"], "manager": null, "extra": 1}"#;
    let s = json_schema(&person(), out).unwrap();
    assert_eq!((s.value, s.reason.as_str()), (1.0, "valid against the schema"));
    // Integers may be written with a zero fraction.
    assert_eq!(
        json_schema(&person(), r#"{"name": "Ada", "age": 36.0}"#)
            .unwrap()
            .value,
        1.0
    );
}

#[test]
fn invalid_output_names_the_path_and_the_rule() {
    let cases = [
        (r#"{"name": "Ada"}"#, "`$`: missing required property `age`"),
        (
            r#"{"name": "Ada", "age": 36.5}"#,
            "`$.age`: expected integer, found number",
        ),
        (
            r#"{"name": "Ada", "age": 1, "role": "root"}"#,
            r#"`$.role`: must be one of ["admin","user"]"#,
        ),
        (
            r#"{"name": "Ada", "age": 1, "tags": ["a", 2]}"#,
            "`$.tags[1]`: expected string, found integer",
        ),
        (
            r#"{"name": "Ada", "age": 1, "manager": {}}"#,
            "`$.manager`: missing required property `name`",
        ),
        (
            r#"{"name": "Ada", "age": 1, "manager": 7}"#,
            "`$.manager`: expected object or null, found integer",
        ),
        (
            r#"{"name": "Ada", "age": 1, "odd key": 0}"#,
            r#"`$["odd key"]`: expected boolean, found integer"#,
        ),
        (r#"[1, 2]"#, "`$`: expected object, found array"),
    ];
    for (output, reason) in cases {
        let s = json_schema(&person(), output).unwrap();
        assert_eq!((s.value, s.reason.as_str()), (0.0, reason), "{output}");
    }
    let s = json_schema(&person(), r#"{"age": "old", "tags": [1]}"#).unwrap();
    assert_eq!(
        s.reason,
        "`$`: missing required property `name` (and 2 more problems)"
    );
}

#[test]
fn output_that_is_not_json_scores_zero() {
    let s = json_schema(&person(), "Sure! Here is the JSON: {").unwrap();
    assert_eq!(s.value, 0.0);
    assert!(s.reason.starts_with("not JSON: expected value"), "{}", s.reason);
}

#[test]
fn boolean_schemas() {
    assert_eq!(json_schema(&json!(true), "[1]").unwrap().value, 1.0);
    let s = json_schema(&json!({ "properties": { "x": false } }), r#"{"x": 1}"#).unwrap();
    assert_eq!(s.reason, "`$.x`: no value is allowed here");
}

#[test]
fn unsupported_or_malformed_schemas_are_errors() {
    let cases = [
        (
            json!({ "type": "integer", "minimum": 0 }),
            "/minimum",
            "keyword `minimum` is not supported",
        ),
        (
            json!({ "properties": { "a/b": { "$ref": "#/x" } } }),
            "/properties/a~1b/$ref",
            "keyword `$ref` is not supported",
        ),
        (json!({ "type": "int" }), "/type", "\"int\" is not a type"),
        (
            json!({ "required": "name" }),
            "/required",
            "must be an array of property names",
        ),
        (
            json!({ "items": [{}, {}] }),
            "/items",
            "the array form (tuples) is not supported",
        ),
        (json!(42), "/", "a schema must be an object or a boolean"),
    ];
    for (schema, at, message) in cases {
        match json_schema(&schema, "{}") {
            Err(MetaAgentError::InvalidSchema { path, message: m }) => {
                assert_eq!(path, at, "{schema}");
                assert!(m.contains(message), "{schema}: {m}");
            }
            other => panic!("{schema}: expected InvalidSchema, got {other:?}"),
        }
    }
}
