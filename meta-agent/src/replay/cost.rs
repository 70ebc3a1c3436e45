//! What a replayed answer costs and how long it takes.
//!
//! Cost is tokens times the model's list price from `prices.json`: input
//! price × prompt tokens + output price × completion tokens. Tokens come from
//! the best record available ([`TokenSource`]):
//!
//! 1. `prompt_tokens` and `completion_tokens`, when both were recorded;
//! 2. else `tokens_total` (LDB's count of the debugging conversation): the
//!    completion's share is estimated from its length, capped at the total,
//!    and the rest is prompt. A total of 0 means the run made no model call
//!    for the task, so it costs nothing;
//! 3. else an estimate of one token per [`CHARS_PER_TOKEN`] characters: the
//!    problem prompt (plus, for a revise run, the code it was given) in, the
//!    completion out.
//!
//! A model missing from `prices.json` is charged the median input and the
//! median output price of the listed models, and says so ([`PriceSource`]).
//!
//! Latency is not recorded by any source, so it is modelled from tokens
//! ([`LatencyModel`]).

use super::{ModelPrice, RunTask};

/// Characters per token for estimates, as `prices.json` advises.
pub const CHARS_PER_TOKEN: usize = 4;

/// Where a run's price comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceSource {
    /// The model's own entry in `prices.json`.
    Listed,
    /// The model is not in `prices.json`: the median of the listed prices.
    Median,
}

/// The price a run's tokens are charged at, US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub input_per_1m: f64,
    pub output_per_1m: f64,
    pub source: PriceSource,
}

impl Price {
    pub fn listed(price: ModelPrice) -> Price {
        Price {
            input_per_1m: price.input,
            output_per_1m: price.output,
            source: PriceSource::Listed,
        }
    }

    /// The median input and the median output price of `prices` (each the
    /// mean of the middle two for an even count); `None` when there are none.
    pub fn median<'a>(prices: impl IntoIterator<Item = &'a ModelPrice>) -> Option<Price> {
        let (mut inputs, mut outputs): (Vec<f64>, Vec<f64>) =
            prices.into_iter().map(|p| (p.input, p.output)).unzip();
        Some(Price {
            input_per_1m: median(&mut inputs)?,
            output_per_1m: median(&mut outputs)?,
            source: PriceSource::Median,
        })
    }
}

fn median(xs: &mut [f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let mid = xs.len() / 2;
    Some(if xs.len() % 2 == 1 {
        xs[mid]
    } else {
        (xs[mid - 1] + xs[mid]) / 2.0
    })
}

/// How a task's token counts were obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// Both counts recorded.
    Recorded,
    /// Only the total recorded; split by the completion's estimated length.
    RecordedTotal,
    /// Nothing recorded; both estimated from text length.
    Estimated,
}

/// Tokens and dollars of one recorded answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TaskCost {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub tokens: TokenSource,
    pub usd: f64,
}

/// Tokens in `text` by the [`CHARS_PER_TOKEN`] rule, rounded up.
pub fn estimate_tokens(text: &str) -> u64 {
    text.chars().count().div_ceil(CHARS_PER_TOKEN) as u64
}

/// The cost of `task` at `price`. `prompt` is the problem prompt;
/// `revised_code` the code a revise run was given (its seed's completion),
/// which the run read as part of its prompt.
pub fn task_cost(price: &Price, task: &RunTask, prompt: &str, revised_code: Option<&str>) -> TaskCost {
    let (prompt_tokens, completion_tokens, tokens) =
        match (task.prompt_tokens, task.completion_tokens, task.tokens_total) {
            (Some(p), Some(c), _) => (p, c, TokenSource::Recorded),
            (_, _, Some(total)) => {
                let completion = estimate_tokens(&task.completion).min(total);
                (total - completion, completion, TokenSource::RecordedTotal)
            }
            _ => {
                let read = estimate_tokens(prompt) + revised_code.map_or(0, estimate_tokens);
                (read, estimate_tokens(&task.completion), TokenSource::Estimated)
            }
        };
    let usd =
        (prompt_tokens as f64 * price.input_per_1m + completion_tokens as f64 * price.output_per_1m) / 1e6;
    TaskCost {
        prompt_tokens,
        completion_tokens,
        tokens,
        usd,
    }
}

/// Modelled wall-clock time of one answer:
/// `base_ms + prompt_tokens × per_input_token_ms + completion_tokens ×
/// per_output_token_ms`.
///
/// The defaults are typical of the hosted chat models these runs used: about
/// half a second to the first token, prefill at about 5,000 tokens/s, and
/// generation at about 50 tokens/s. Multi-call strategies (MapCoder,
/// Reflexion) pay the base once here, though they made several calls: their
/// summed tokens dominate anyway.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyModel {
    pub base_ms: f64,
    pub per_input_token_ms: f64,
    pub per_output_token_ms: f64,
}

impl Default for LatencyModel {
    fn default() -> Self {
        LatencyModel {
            base_ms: 500.0,
            per_input_token_ms: 0.2,
            per_output_token_ms: 20.0,
        }
    }
}

impl LatencyModel {
    /// Milliseconds for one answer. Every answer pays the base, even one
    /// that needed no model call: the agent is still called and replies.
    pub fn millis(&self, cost: &TaskCost) -> f64 {
        self.base_ms
            + cost.prompt_tokens as f64 * self.per_input_token_ms
            + cost.completion_tokens as f64 * self.per_output_token_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(prompt: Option<u64>, completion: Option<u64>, total: Option<u64>, code: &str) -> RunTask {
        RunTask {
            task_id: "T/0".into(),
            completion: code.into(),
            prompt_tokens: prompt,
            completion_tokens: completion,
            tokens_total: total,
            recorded_passed: true,
            prompt_prepended: false,
        }
    }

    const PRICE: Price = Price {
        input_per_1m: 10.0,
        output_per_1m: 30.0,
        source: PriceSource::Listed,
    };

    #[test]
    fn recorded_tokens_are_priced_per_direction() {
        let c = task_cost(&PRICE, &task(Some(1000), Some(200), Some(1200), "x"), "p", None);
        assert_eq!(
            (c.prompt_tokens, c.completion_tokens, c.tokens),
            (1000, 200, TokenSource::Recorded)
        );
        assert!((c.usd - (1000.0 * 10.0 + 200.0 * 30.0) / 1e6).abs() < 1e-12);
    }

    #[test]
    fn a_total_alone_is_split_by_the_completion_length() {
        // 40 characters: 10 completion tokens, the other 990 are prompt.
        let c = task_cost(&PRICE, &task(None, None, Some(1000), &"a".repeat(40)), "p", None);
        assert_eq!(
            (c.prompt_tokens, c.completion_tokens, c.tokens),
            (990, 10, TokenSource::RecordedTotal)
        );
        // No model call, no cost.
        let c = task_cost(&PRICE, &task(None, None, Some(0), &"a".repeat(40)), "p", None);
        assert_eq!((c.prompt_tokens, c.completion_tokens, c.usd), (0, 0, 0.0));
    }

    #[test]
    fn estimates_count_what_the_run_read_and_wrote() {
        let c = task_cost(
            &PRICE,
            &task(None, None, None, &"b".repeat(9)),
            &"p".repeat(8),
            Some("cccc"),
        );
        // 8/4 prompt + 4/4 revised code in; 9/4 rounded up out.
        assert_eq!(
            (c.prompt_tokens, c.completion_tokens, c.tokens),
            (3, 3, TokenSource::Estimated)
        );
    }

    #[test]
    fn median_price_of_an_even_count_averages_the_middle_two() {
        let prices = [
            ModelPrice {
                input: 1.0,
                output: 2.0,
            },
            ModelPrice {
                input: 30.0,
                output: 60.0,
            },
            ModelPrice {
                input: 0.5,
                output: 1.5,
            },
            ModelPrice {
                input: 10.0,
                output: 30.0,
            },
        ];
        let m = Price::median(&prices).unwrap();
        assert_eq!(
            (m.input_per_1m, m.output_per_1m, m.source),
            (5.5, 16.0, PriceSource::Median)
        );
        assert_eq!(Price::median(&[]), None);
    }

    #[test]
    fn latency_grows_with_tokens_from_a_base() {
        let model = LatencyModel::default();
        let small = TaskCost {
            prompt_tokens: 100,
            completion_tokens: 10,
            tokens: TokenSource::Recorded,
            usd: 0.0,
        };
        let large = TaskCost {
            completion_tokens: 1000,
            ..small
        };
        assert_eq!(model.millis(&small), 500.0 + 20.0 + 200.0);
        assert!(model.millis(&large) > model.millis(&small));
        let none = TaskCost {
            prompt_tokens: 0,
            completion_tokens: 0,
            ..small
        };
        assert_eq!(model.millis(&none), 500.0);
    }
}
