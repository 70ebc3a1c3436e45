//! The pure parts of the ops: what each asks of its agent in words, and how
//! outputs are read back (candidates, votes, choices, scores, code).

use serde_json::Value;
use switchyard_schemas::workflow::{NodeParams, Op};

/// What a step asks of its agent: `op` is `review`, `revise`, `select`,
/// `judge` or, for anything that generates an answer, `generate`.
pub(crate) fn instruction(op: Op, params: &NodeParams, has_inputs: bool) -> String {
    let criteria = params
        .criteria
        .as_deref()
        .map(|c| format!(" by these criteria: {c}"))
        .unwrap_or_default();
    let mut text = match op {
        Op::Review => "Review the answers to the task given as inputs: point out every mistake and how to \
                       fix it. Do not rewrite the answers."
            .to_string(),
        Op::Revise => "Revise the first input, an answer to the task, using the other inputs (reviews, \
                       test reports) as feedback. Reply with the complete revised answer only."
            .to_string(),
        Op::Select => format!(
            "Pick the best of the candidate answers to the task{criteria}. The candidates are the inputs \
             in order, lists flattened, numbered from 0. Reply with the number of the best candidate only."
        ),
        Op::Judge => format!(
            "Score how well the inputs answer the task{criteria}. Reply with a number from 0 (worst) to 1 \
             (best) only."
        ),
        // `generate`, and an ensemble's members.
        _ if has_inputs => {
            "Answer the task. The inputs are earlier work on it (answers, reviews, test reports): use them."
                .to_string()
        }
        _ => "Answer the task.".to_string(),
    };
    if let Some(prompt) = &params.prompt {
        text.push_str("\n\n");
        text.push_str(prompt);
    }
    text
}

/// The candidates among inputs: each input's output, with lists (an
/// ensemble's output) flattened.
pub(crate) fn candidates(inputs: &[(String, Value)]) -> Vec<Value> {
    inputs
        .iter()
        .flat_map(|(_, v)| match v {
            Value::Array(items) => items.clone(),
            other => vec![other.clone()],
        })
        .collect()
}

/// The comparison key of an answer: text with whitespace runs collapsed,
/// anything else as compact JSON.
fn normalized(v: &Value) -> String {
    match v {
        Value::String(s) => s.split_whitespace().collect::<Vec<_>>().join(" "),
        other => other.to_string(),
    }
}

/// The most common candidate after whitespace normalisation; on a tie, the
/// one that appears first. `None` without candidates.
pub(crate) fn vote(candidates: &[Value]) -> Option<Value> {
    let mut tally: Vec<(String, usize, usize)> = Vec::new();
    for (i, c) in candidates.iter().enumerate() {
        let key = normalized(c);
        match tally.iter_mut().find(|(k, _, _)| *k == key) {
            Some(entry) => entry.1 += 1,
            None => tally.push((key, 1, i)),
        }
    }
    // `max_by_key` keeps the last maximum; iterate in reverse to keep the first.
    tally
        .iter()
        .rev()
        .max_by_key(|(_, count, _)| *count)
        .map(|&(_, _, first)| candidates[first].clone())
}

/// The candidate a `select` agent chose: one its answer equals (after
/// normalisation), or the one its answer numbers.
pub(crate) fn choice(answer: &Value, candidates: &[Value]) -> Option<Value> {
    let key = normalized(answer);
    if let Some(c) = candidates.iter().find(|c| normalized(c) == key) {
        return Some(c.clone());
    }
    let index = match answer {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s
            .trim()
            .trim_start_matches(|c: char| !c.is_ascii_digit())
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .filter(|digits| !digits.is_empty() && s.trim().len() <= 40)
            .and_then(|digits| digits.parse().ok()),
        _ => None,
    }?;
    candidates.get(usize::try_from(index).ok()?).cloned()
}

/// A `judge` agent's score: a number in [0, 1], bare, as text, or as
/// `{"score": …}`.
pub(crate) fn score(answer: &Value) -> Option<f64> {
    let x = match answer {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Object(map) => map.get("score").and_then(|s| match s {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }),
        _ => None,
    }?;
    (x.is_finite() && (0.0..=1.0).contains(&x)).then_some(x)
}

/// The code in an answer: the first fenced block of a text answer (models
/// often wrap code in Markdown), else the whole text. `None` for anything
/// but text.
pub(crate) fn code(answer: &Value) -> Option<String> {
    let text = answer.as_str()?;
    let Some((_, after)) = text.split_once("```") else {
        return Some(text.to_string());
    };
    // Drop the info string (`python`) on the fence's line.
    let body = after.split_once('\n').map_or("", |(_, rest)| rest);
    let block = body.split_once("```").map_or(body, |(block, _)| block);
    Some(block.to_string())
}

/// An answer as text: strings as they are, anything else as JSON.
pub(crate) fn text(answer: &Value) -> String {
    match answer {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn votes_count_normalised_answers_and_ties_go_to_the_first() {
        let c = [json!("a  b"), json!("c"), json!("a b\n"), json!("c")];
        assert_eq!(vote(&c), Some(json!("a  b")));
        assert_eq!(vote(&[json!("x"), json!("y")]), Some(json!("x")));
        assert_eq!(vote(&[json!(1), json!("1"), json!(1)]), Some(json!(1)));
        assert_eq!(vote(&[]), None);
    }

    #[test]
    fn candidates_flatten_ensembles() {
        let inputs = vec![
            ("e".to_string(), json!(["a", "b"])),
            ("g".to_string(), json!("c")),
        ];
        assert_eq!(candidates(&inputs), [json!("a"), json!("b"), json!("c")]);
    }

    #[test]
    fn choices_are_read_as_a_candidate_or_its_number() {
        let c = [json!("zero"), json!("one"), json!("2")];
        assert_eq!(choice(&json!(1), &c), Some(json!("one")));
        assert_eq!(choice(&json!("Candidate 1."), &c), Some(json!("one")));
        assert_eq!(choice(&json!(" zero "), &c), Some(json!("zero")));
        assert_eq!(
            choice(&json!("2"), &c),
            Some(json!("2")),
            "a candidate before an index"
        );
        assert_eq!(choice(&json!(7), &c), None);
        assert_eq!(choice(&json!("no idea"), &c), None);
    }

    #[test]
    fn scores_must_be_between_0_and_1() {
        assert_eq!(score(&json!(0.5)), Some(0.5));
        assert_eq!(score(&json!(" 1 ")), Some(1.0));
        assert_eq!(score(&json!({"score": "0.25"})), Some(0.25));
        assert_eq!(score(&json!(7)), None);
        assert_eq!(score(&json!("NaN")), None);
        assert_eq!(score(&json!("good")), None);
    }

    #[test]
    fn code_is_taken_from_the_first_fence() {
        assert_eq!(code(&json!("def f(): pass")).as_deref(), Some("def f(): pass"));
        let fenced = "Here:\n```python\ndef f():\n    return 1\n```\nDone.";
        assert_eq!(code(&json!(fenced)).as_deref(), Some("def f():\n    return 1\n"));
        assert_eq!(code(&json!(["x"])), None);
    }
}
