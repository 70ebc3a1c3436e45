//! Scores output that must be JSON of a given shape, with a small JSON
//! Schema validator.
//!
//! It implements the keywords structured output is constrained with:
//! `type`, `required`, `properties`, `enum` and `items` (one schema for every
//! element), plus boolean schemas and the annotations that constrain nothing
//! (`title`, `description`, `$schema`, …). Any other keyword is an error
//! ([`MetaAgentError::InvalidSchema`]), never skipped: a schema relying on
//! `minimum` or `$ref` would otherwise pass outputs it means to reject.
//!
//! Why not the `jsonschema` crate: with default features off it still adds
//! about 40 crates (fancy-regex, referencing, fraction/num, uuid-simd, …), and
//! on this project's two-core builders, with dependencies optimised in dev
//! builds, `jsonschema` alone took over two minutes to compile. Scoring needs
//! only the keywords above; when workflows need more of the standard, that
//! trade changes.

use serde_json::{Map, Value};

use super::{Score, clip};
use crate::MetaAgentError;

/// Keywords that describe but never constrain; accepted and ignored.
const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "title",
    "description",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
];

const TYPES: &[&str] = &[
    "null", "boolean", "object", "array", "number", "integer", "string",
];

/// 1 when `output` is JSON valid against `schema`, else 0 with the first
/// problem's path (`$.items[2]`) and how many more there are.
///
/// The schema is checked first: a malformed schema or an unsupported
/// keyword is an error, not a score, since no output could be judged by it.
pub fn json_schema(schema: &Value, output: &str) -> Result<Score, MetaAgentError> {
    check_schema(schema, "")?;
    let value: Value = match serde_json::from_str(output.trim()) {
        Ok(value) => value,
        Err(e) => return Ok(Score::fail(format!("not JSON: {e}"))),
    };
    let mut problems = Vec::new();
    validate(schema, &value, "$", &mut problems);
    Ok(match problems.split_first() {
        None => Score::pass("valid against the schema"),
        Some((first, [])) => Score::fail(first.clone()),
        Some((first, rest)) => Score::fail(format!("{first} (and {} more problems)", rest.len())),
    })
}

fn invalid(pointer: &str, message: impl Into<String>) -> MetaAgentError {
    MetaAgentError::InvalidSchema {
        path: if pointer.is_empty() {
            "/".into()
        } else {
            pointer.into()
        },
        message: message.into(),
    }
}

/// Checks that `schema` uses only supported keywords, each well formed.
fn check_schema(schema: &Value, pointer: &str) -> Result<(), MetaAgentError> {
    let map = match schema {
        Value::Bool(_) => return Ok(()),
        Value::Object(map) => map,
        _ => return Err(invalid(pointer, "a schema must be an object or a boolean")),
    };
    for (keyword, value) in map {
        let at = format!("{pointer}/{}", escape_pointer(keyword));
        match keyword.as_str() {
            "type" => {
                let names: Vec<&Value> = match value {
                    Value::Array(list) if !list.is_empty() => list.iter().collect(),
                    Value::Array(_) => return Err(invalid(&at, "must list at least one type")),
                    single => vec![single],
                };
                for name in names {
                    if !name.as_str().is_some_and(|n| TYPES.contains(&n)) {
                        return Err(invalid(
                            &at,
                            format!("{name} is not a type; use one of {TYPES:?}"),
                        ));
                    }
                }
            }
            "required" => {
                if !value.as_array().is_some_and(|l| l.iter().all(Value::is_string)) {
                    return Err(invalid(&at, "must be an array of property names"));
                }
            }
            "properties" => {
                let Some(properties) = value.as_object() else {
                    return Err(invalid(&at, "must be an object of schemas"));
                };
                for (name, sub) in properties {
                    check_schema(sub, &format!("{at}/{}", escape_pointer(name)))?;
                }
            }
            "enum" => {
                if !value.is_array() {
                    return Err(invalid(&at, "must be an array of values"));
                }
            }
            "items" => {
                if value.is_array() {
                    return Err(invalid(
                        &at,
                        "the array form (tuples) is not supported; give one schema",
                    ));
                }
                check_schema(value, &at)?;
            }
            k if ANNOTATIONS.contains(&k) => {}
            other => {
                return Err(invalid(
                    &at,
                    format!(
                        "keyword `{other}` is not supported (supported: type, required, properties, enum, items)"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Records every way `value` breaks `schema`, at its `$`-rooted path.
fn validate(schema: &Value, value: &Value, path: &str, problems: &mut Vec<String>) {
    let map = match schema {
        Value::Bool(true) => return,
        Value::Bool(false) => {
            problems.push(format!("`{path}`: no value is allowed here"));
            return;
        }
        Value::Object(map) => map,
        // check_schema admitted only booleans and objects.
        _ => return,
    };
    if let Some(types) = map.get("type") {
        let allowed: Vec<&str> = match types {
            Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
            single => single.as_str().into_iter().collect(),
        };
        if !allowed.iter().any(|t| has_type(value, t)) {
            problems.push(format!(
                "`{path}`: expected {}, found {}",
                allowed.join(" or "),
                type_name(value)
            ));
            // The other keywords would only repeat the mismatch.
            return;
        }
    }
    if let Some(Value::Array(options)) = map.get("enum")
        && !options.iter().any(|o| same_json(o, value))
    {
        let listed = clip(&Value::Array(options.clone()).to_string(), 100);
        problems.push(format!("`{path}`: must be one of {listed}"));
    }
    if let Value::Object(object) = value {
        object_keywords(map, object, path, problems);
    }
    if let (Some(items), Value::Array(elements)) = (map.get("items"), value) {
        for (i, element) in elements.iter().enumerate() {
            validate(items, element, &format!("{path}[{i}]"), problems);
        }
    }
}

fn object_keywords(
    schema: &Map<String, Value>,
    object: &Map<String, Value>,
    path: &str,
    problems: &mut Vec<String>,
) {
    if let Some(Value::Array(required)) = schema.get("required") {
        for name in required.iter().filter_map(Value::as_str) {
            if !object.contains_key(name) {
                problems.push(format!("`{path}`: missing required property `{name}`"));
            }
        }
    }
    if let Some(Value::Object(properties)) = schema.get("properties") {
        for (name, sub) in properties {
            if let Some(v) = object.get(name) {
                validate(sub, v, &child_path(path, name), problems);
            }
        }
    }
}

fn has_type(value: &Value, name: &str) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        // JSON Schema counts 1.0 as an integer.
        "integer" => {
            value.as_i64().is_some()
                || value.as_u64().is_some()
                || value.as_f64().is_some_and(|f| f.is_finite() && f.fract() == 0.0)
        }
        _ => false,
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// JSON equality as JSON Schema defines it: numbers by value, so `1` equals
/// `1.0`.
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
            (Some(x), Some(y), _, _) => x == y,
            (_, _, Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_json(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

/// `$.name` for identifier-like keys, `$["odd key"]` otherwise.
fn child_path(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && !key.starts_with(|c: char| c.is_ascii_digit())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        format!("{path}.{key}")
    } else {
        format!("{path}[{}]", Value::String(key.to_string()))
    }
}

/// RFC 6901 escaping of one pointer segment.
fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}
