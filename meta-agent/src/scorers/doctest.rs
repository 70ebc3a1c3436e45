//! Public tests from the examples in a HumanEval-style prompt's docstring.
//!
//! A code task's hidden tests must stay hidden from the agents, but most
//! prompts show a few examples, and those are fair game: they let a
//! generate → test → revise loop check its answers against what the task
//! itself promises. Recognised forms:
//!
//! ```text
//! >>> f(1, 2)            f(1, 2) == 3        f(1, 2) ➞ 3
//! 3                      f(1, 2) ==> 3       f(1, 2) => 3
//!                        f(1) # returns 3    For x = 1 the output should be 3
//! Input: [1, 2]
//! Output: 3
//! ```
//!
//! The last two name no function, so they are read as one-argument calls
//! of the entry point, and only when the input is one value (no `name =`
//! of a second argument).
//!
//! The result is Python source defining `check(candidate)`, for the
//! [sandbox](super::sandbox) like any HumanEval test. Each example is
//! evaluated at run time with the entry point bound to the candidate and the
//! program's other functions in scope; an expected output that is not a
//! Python value (printed text, a traceback) is skipped rather than failed,
//! and floats are compared with a tolerance, as the examples round them.

/// Separators of the one-line forms, longest first so `==>` is not read as
/// `==` followed by `>`.
const ARROWS: &[&str] = &["# returns", "==>", "==", "➞", "=>", "->"];

/// The prompt's examples of `entry_point` as a Python `check(candidate)`,
/// or `None` when it shows none (or `entry_point` is not an identifier).
pub fn public_tests(prompt: &str, entry_point: &str) -> Option<String> {
    let identifier = entry_point
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && entry_point.chars().all(|c| c.is_alphanumeric() || c == '_');
    if !identifier {
        return None;
    }
    let examples = examples(prompt, entry_point);
    if examples.is_empty() {
        return None;
    }
    let mut source = String::from(CHECK_HEAD);
    for (expr, expected) in &examples {
        source.push_str(&format!("        ({}, {}),\n", py_str(expr), py_str(expected)));
    }
    source.push_str(&CHECK_TAIL.replace("ENTRY_POINT", entry_point));
    Some(source)
}

const CHECK_HEAD: &str = "def check(candidate):
    import math

    def same(got, want):
        if isinstance(got, float) or isinstance(want, float):
            try:
                return math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-6)
            except TypeError:
                return False
        return got == want

    examples = [
";

const CHECK_TAIL: &str = "    ]
    import ast, builtins
    scope = dict(globals())
    scope['ENTRY_POINT'] = candidate
    for source, expected in examples:
        try:
            want = eval(expected, scope)
            names = {n.id for n in ast.walk(ast.parse(source, mode='eval')) if isinstance(n, ast.Name)}
        except Exception:
            continue  # the docstring shows output that is not a Python value
        if any(n not in scope and not hasattr(builtins, n) for n in names):
            continue  # an example written loosely, e.g. `f(abc)` for `f('abc')`
        got = eval(source, scope)
        assert same(got, want), f'{source} returned {got!r}, expected {expected}'
";

/// `(expression, expected output)` pairs, in prompt order.
fn examples(prompt: &str, entry_point: &str) -> Vec<(String, String)> {
    let call = format!("{entry_point}(");
    let lines: Vec<&str> = prompt.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if let Some(first) = line.strip_prefix(">>>") {
            let mut expr = first.trim().to_string();
            i += 1;
            while let Some(more) = lines.get(i).and_then(|l| l.trim().strip_prefix("...")) {
                expr.push('\n');
                expr.push_str(more.trim());
                i += 1;
            }
            let mut expected = Vec::new();
            while let Some(out) = lines.get(i).map(|l| l.trim()) {
                if out.is_empty() || out.starts_with(">>>") || out.contains("\"\"\"") {
                    break;
                }
                expected.push(out);
                i += 1;
            }
            if expr.contains(&call) && !expected.is_empty() {
                found.push((expr, expected.join("\n")));
            }
            continue;
        }
        if let Some(example) = arrow_example(line, &call) {
            found.push(example);
        } else if let Some((input, expected)) = for_example(line) {
            found.push((format!("{entry_point}({input})"), expected));
        } else if let Some(input) = labelled(line, "input:") {
            let output = lines.get(i + 1).and_then(|next| labelled(next.trim(), "output:"));
            if let Some(expected) = output.filter(|_| single_value(input)) {
                found.push((format!("{entry_point}({input})"), expected.to_string()));
                i += 1;
            }
        }
        i += 1;
    }
    found
}

/// `For x = 1 the output should be 3` (one argument, named).
fn for_example(line: &str) -> Option<(String, String)> {
    let lower = line.to_ascii_lowercase();
    let rest = lower.strip_prefix("for ")?;
    let at = rest.find(" the output should be ")?;
    let (assign, _) = rest.split_at(at);
    // Cut the original text (the value's case matters) at the same offsets.
    let value_start = 4 + assign.find('=')? + 1;
    let value = line.get(value_start..4 + at)?.trim().trim_end_matches(',').trim();
    let expected_start = 4 + at + " the output should be ".len();
    let expected = line.get(expected_start..)?.trim().trim_end_matches('.').trim();
    (!value.is_empty() && !expected.is_empty() && single_value(value) && !value.contains(" and "))
        .then(|| (value.to_string(), expected.to_string()))
}

/// The text after `label` (case-insensitive) at the start of a line.
fn labelled<'l>(line: &'l str, label: &str) -> Option<&'l str> {
    let head = line.get(..label.len())?;
    head.eq_ignore_ascii_case(label)
        .then(|| line[label.len()..].trim())
        .filter(|rest| !rest.is_empty())
}

/// Whether `text` is one value rather than several named arguments
/// (`arr = [1], k = 2`).
fn single_value(text: &str) -> bool {
    let bytes = text.as_bytes();
    !bytes.iter().enumerate().any(|(i, &b)| {
        b == b'='
            && bytes.get(i + 1) != Some(&b'=')
            && i > 0
            && !matches!(bytes[i - 1], b'=' | b'!' | b'<' | b'>')
    })
}

/// `f(args) <arrow> expected` anywhere in a line.
fn arrow_example(line: &str, call: &str) -> Option<(String, String)> {
    let start = line.find(call)?;
    // Only where the call starts a name: `is_f(` is not a call of `f`.
    if line[..start]
        .chars()
        .next_back()
        .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
    {
        return None;
    }
    let end = start + call_length(&line[start..])?;
    let rest = line[end..].trim_start();
    let arrow = ARROWS.iter().find(|a| rest.starts_with(**a))?;
    let expected = rest[arrow.len()..].trim().trim_end_matches([',', ';']).trim();
    // A trailing full stop ends a sentence, not a value (`3.` would be a float,
    // but examples write `3.0`).
    let expected = expected.strip_suffix('.').unwrap_or(expected).trim();
    if expected.is_empty() {
        return None;
    }
    Some((line[start..end].to_string(), expected.to_string()))
}

/// Length in bytes of the call at the start of `s` (`name(...)`), through
/// its balanced closing parenthesis, skipping brackets inside string
/// literals.
fn call_length(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (at, c) in s.char_indices() {
        if let Some(q) = quote {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                _ if c == q => quote = None,
                _ => {}
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(at + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// A Python string literal of `s` (JSON's escapes are all valid Python).
fn py_str(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::Problem;
    use crate::scorers::sandbox::{Sandbox, SandboxConfig};

    fn problems() -> Vec<Problem> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/humaneval/problems.jsonl"
        );
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn reads_the_doctest_examples_of_real_prompts() {
        let problems = problems();
        let p = |id: &str| problems.iter().find(|p| p.task_id == id).unwrap();
        let same_chars = p("HumanEval/54");
        let found = examples(&same_chars.prompt, &same_chars.entry_point);
        assert_eq!(found.len(), 6);
        assert_eq!(
            found[0],
            (
                "same_chars('eabcdzzzz', 'dddzzzzzzzddeddabc')".to_string(),
                "True".to_string()
            )
        );
        let find_zero = p("HumanEval/32");
        let found = examples(&find_zero.prompt, &find_zero.entry_point);
        assert_eq!(
            found,
            [
                ("round(find_zero([1, 2]), 2) # f(x) = 1 + 2x".to_string(), "-0.5".to_string()),
                (
                    "round(find_zero([-6, 11, -6, 1]), 2) # (x - 1) * (x - 2) * (x - 3) = -6 + 11x - 6x^2 + x^3"
                        .to_string(),
                    "1.0".to_string()
                ),
            ]
        );
        // `poly` has no examples of `find_zero`'s form and is not a match.
        assert!(examples(&find_zero.prompt, "poly").is_empty());
    }

    #[test]
    fn reads_the_one_line_forms() {
        let prompt = "def any_int(x, y, z):\n    '''\n    Examples\n    any_int(5, 2, 7) ➞ True\n    \
                      any_int(3, -2, 1) ➞ True\n    any_int(3.6, -2.2, 2) ➞ False\n    '''\n";
        let found = examples(prompt, "any_int");
        assert_eq!(found.len(), 3);
        assert_eq!(
            found[2],
            ("any_int(3.6, -2.2, 2)".to_string(), "False".to_string())
        );
        let prompt = "def solution(lst):\n    \"\"\"Examples\n    solution([5, 8, 7, 1]) ==> 12\n    \
                      solution([30, 13, 24, 321]) ==>0\n    For example: f(\"a)\") == 'x'.\n    \"\"\"\n";
        assert_eq!(
            examples(prompt, "solution"),
            [
                ("solution([5, 8, 7, 1])".to_string(), "12".to_string()),
                ("solution([30, 13, 24, 321])".to_string(), "0".to_string()),
            ]
        );
        assert_eq!(
            examples(prompt, "f"),
            [("f(\"a)\")".to_string(), "'x'".to_string())]
        );
        assert!(public_tests("def g():\n    \"\"\"No examples.\"\"\"\n", "g").is_none());
        assert!(public_tests(prompt, "not an identifier").is_none());
    }

    #[test]
    fn reads_the_returns_for_and_input_output_forms() {
        let prompt = "def d(n):\n    \"\"\"\n    Examples:\n    d(15)   # returns \"db1111db\"\n    \
                      For num = \"AB\" the output should be 1.\n    For arr = [1], k = 2 the output should be 3\n    \
                      Example 1:\n        Input: [4,2,3]\n        Output: [2, 1]\n    \
                      Example 2:\n        Input: arr = [1], k = 2\n        Output: 5\n    \"\"\"\n";
        assert_eq!(
            examples(prompt, "d"),
            [
                ("d(15)".to_string(), "\"db1111db\"".to_string()),
                ("d(\"AB\")".to_string(), "1".to_string()),
                ("d([4,2,3])".to_string(), "[2, 1]".to_string()),
            ]
        );
    }

    #[tokio::test]
    async fn the_reference_solutions_pass_and_wrong_ones_fail() {
        let sandbox = Sandbox::new(SandboxConfig::default())
            .await
            .expect("python3 runs here");
        for p in problems() {
            let tests = public_tests(&p.prompt, &p.entry_point).expect(&p.task_id);
            let good = sandbox
                .run_tests(&p.canonical_program(), &tests, &p.entry_point)
                .await
                .unwrap();
            assert!(good.passed, "{}: {:?}\n{tests}", p.task_id, good.score());
            let wrong = format!("{}    return None\n", p.prompt);
            let bad = sandbox.run_tests(&wrong, &tests, &p.entry_point).await.unwrap();
            assert!(!bad.passed, "{}", p.task_id);
        }
    }
}
