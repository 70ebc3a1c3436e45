//! How a replayed run answers: only with what it was recorded doing.
//!
//! A generate run answers a task with its recorded completion, whatever else
//! it is given. A revise run was recorded repairing one specific program, its
//! seed run's completion; it returns its repair only when asked to revise
//! that program (equal after [`normalize_code`]), and otherwise returns the
//! code it was given unchanged, since what it would have done with other
//! code was never observed. Inventing a repair would make replay scores lie.

use super::RunTask;

/// Where an answer's code comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerSource {
    /// The run's recorded completion for the task.
    Recorded,
    /// The code the revise run was given, returned as it was: the run never
    /// saw that code.
    UnchangedInput,
}

/// A replayed answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer<'a> {
    pub code: &'a str,
    pub source: AnswerSource,
}

/// A generate run's answer: its recorded completion.
pub fn generate(task: &RunTask) -> Answer<'_> {
    Answer {
        code: &task.completion,
        source: AnswerSource::Recorded,
    }
}

/// A revise run's answer to `code`: its recorded repair `revised` when `code`
/// is the seed run's completion `seed`, else `code` itself.
pub fn revise<'a>(revised: &'a RunTask, seed: &RunTask, code: &'a str) -> Answer<'a> {
    if same_code(code, &seed.completion) {
        Answer {
            code: &revised.completion,
            source: AnswerSource::Recorded,
        }
    } else {
        Answer {
            code,
            source: AnswerSource::UnchangedInput,
        }
    }
}

/// Code with whitespace that cannot change a Python program's meaning taken
/// out: line endings become `\n`, trailing whitespace is cut from each line
/// and blank lines are dropped. Indentation stays: it is syntax.
pub fn normalize_code(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    for line in code.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(line);
    }
    out
}

/// Whether two programs are equal after [`normalize_code`].
pub fn same_code(a: &str, b: &str) -> bool {
    normalize_code(a) == normalize_code(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_keeps_indentation_and_drops_blank_lines() {
        let code = "def f():\r\n    return 1   \n\n\n\t\nprint(f())\n";
        assert_eq!(normalize_code(code), "def f():\n    return 1\nprint(f())");
        assert!(same_code(code, "def f():\n    return 1\nprint(f())"));
        // Indentation is syntax in Python.
        assert!(!same_code("if x:\n    y()", "if x:\ny()"));
    }
}
