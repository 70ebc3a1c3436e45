//! Budgets as ledgers with reserve-and-settle, so a run never spends more
//! than it was given, whatever its agents do.
//!
//! Before a call, its expected cost is reserved; the call is made only if the
//! reservation fits. When the call ends the reservation is settled: to the
//! cost the agent reported, capped at the reservation (an agent cannot
//! overspend a budget by reporting more), or, when the call failed, timed
//! out or was abandoned, to the whole reservation, since the agent may have
//! spent it. Hence `spent + reserved ≤ limit` always holds, and so does
//! `spent ≤ limit`.
//!
//! Ledgers nest: a step's budget is a child of its run's, and a run's may be
//! the child of a caller's (a benchmark's total, say); a reservation must fit
//! every level. Amounts are kept in whole nanodollars so the invariant is
//! exact arithmetic, not floating-point luck.

use std::sync::{Arc, Mutex, PoisonError};

const NANOS_PER_USD: f64 = 1e9;
/// Ceiling on any amount (about 4.6 billion dollars), so sums cannot overflow.
const MAX_NANOS: u64 = 1 << 62;

/// A budget and what has been spent and reserved from it.
#[derive(Debug)]
pub struct Ledger {
    limit: u64,
    parent: Option<Arc<Ledger>>,
    state: Mutex<State>,
}

#[derive(Debug, Default, Clone, Copy)]
struct State {
    spent: u64,
    reserved: u64,
}

impl Ledger {
    /// A root budget of `limit_usd` (negative or NaN counts as 0).
    pub fn new(limit_usd: f64) -> Arc<Ledger> {
        Arc::new(Ledger {
            limit: limit_nanos(limit_usd),
            parent: None,
            state: Mutex::default(),
        })
    }

    /// A budget of at most `limit_usd` within this one: what it reserves and
    /// spends counts here too.
    pub fn child(self: &Arc<Self>, limit_usd: f64) -> Arc<Ledger> {
        Arc::new(Ledger {
            limit: limit_nanos(limit_usd),
            parent: Some(self.clone()),
            state: Mutex::default(),
        })
    }

    pub fn limit_usd(&self) -> f64 {
        usd(self.limit)
    }

    /// Settled spending.
    pub fn spent_usd(&self) -> f64 {
        usd(self.state().spent)
    }

    /// Held by calls in flight.
    pub fn reserved_usd(&self) -> f64 {
        usd(self.state().reserved)
    }

    /// What a new reservation may take, here and in every enclosing budget.
    pub fn available_usd(&self) -> f64 {
        usd(self.available())
    }

    fn available(&self) -> u64 {
        let s = self.state();
        let here = self.limit.saturating_sub(s.spent + s.reserved);
        match &self.parent {
            Some(parent) => here.min(parent.available()),
            None => here,
        }
    }

    fn state(&self) -> State {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reserves `amount_usd` at this level and every enclosing one, or
    /// nothing when it does not fit somewhere.
    pub(crate) fn reserve(self: &Arc<Self>, amount_usd: f64) -> Option<Reservation> {
        let amount = cost_nanos(amount_usd);
        let mut taken: Vec<&Ledger> = Vec::new();
        let mut level: Option<&Ledger> = Some(self.as_ref());
        while let Some(ledger) = level {
            let fits = {
                let mut s = ledger.state.lock().unwrap_or_else(PoisonError::into_inner);
                let fits = s.spent + s.reserved + amount <= ledger.limit;
                if fits {
                    s.reserved += amount;
                }
                fits
            };
            if !fits {
                for ledger in taken {
                    ledger
                        .state
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .reserved -= amount;
                }
                return None;
            }
            taken.push(ledger);
            level = ledger.parent.as_deref();
        }
        Some(Reservation {
            ledger: self.clone(),
            amount,
            settled: false,
        })
    }
}

/// Money held for one call. Dropped unsettled (a call abandoned mid-flight),
/// it is settled to its whole amount.
#[derive(Debug)]
pub(crate) struct Reservation {
    ledger: Arc<Ledger>,
    amount: u64,
    settled: bool,
}

/// What settling charged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Charge {
    pub usd: f64,
    /// The cost asked for was more than the reservation, which was charged.
    pub capped: bool,
}

impl Reservation {
    /// Settles to `cost_usd`, capped at the reservation.
    pub fn settle(mut self, cost_usd: f64) -> Charge {
        let wanted = cost_nanos(cost_usd);
        let charged = wanted.min(self.amount);
        self.finish(charged);
        Charge {
            usd: usd(charged),
            capped: wanted > self.amount,
        }
    }

    /// Settles to the whole reservation: the call failed and may have cost
    /// what was expected.
    pub fn forfeit(mut self) -> Charge {
        let amount = self.amount;
        self.finish(amount);
        Charge {
            usd: usd(amount),
            capped: false,
        }
    }

    fn finish(&mut self, charged: u64) {
        if std::mem::replace(&mut self.settled, true) {
            return;
        }
        let mut level: Option<&Ledger> = Some(self.ledger.as_ref());
        while let Some(ledger) = level {
            let mut s = ledger.state.lock().unwrap_or_else(PoisonError::into_inner);
            s.reserved -= self.amount;
            s.spent += charged;
            drop(s);
            level = ledger.parent.as_deref();
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let amount = self.amount;
        self.finish(amount);
    }
}

/// The largest whole number of nanodollars whose dollar value is at most
/// `limit_usd`, so a fully spent ledger never reports more than its limit.
fn limit_nanos(limit_usd: f64) -> u64 {
    if limit_usd.is_nan() || limit_usd <= 0.0 {
        return 0;
    }
    let mut n = (limit_usd * NANOS_PER_USD).floor().min(MAX_NANOS as f64) as u64;
    while n > 0 && usd(n) > limit_usd {
        n -= 1;
    }
    n
}

/// A cost in whole nanodollars, to the nearest: finer amounts are
/// floating-point noise (`0.1 × 1.5` is `0.15000000000000002`), and rounding
/// them up would make two such reservations not fit a budget of `0.3`.
fn cost_nanos(cost_usd: f64) -> u64 {
    if cost_usd.is_nan() || cost_usd <= 0.0 {
        return 0;
    }
    (cost_usd * NANOS_PER_USD).round().min(MAX_NANOS as f64) as u64
}

fn usd(nanos: u64) -> f64 {
    nanos as f64 / NANOS_PER_USD
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_fit_every_level_or_take_nothing() {
        let run = Ledger::new(1.0);
        let step = run.child(0.5);
        let a = step.reserve(0.4).unwrap();
        assert!(step.reserve(0.2).is_none(), "over the step's budget");
        assert_eq!(run.reserved_usd(), 0.4);
        let b = run.reserve(0.6).unwrap();
        assert!(run.reserve(0.01).is_none());
        assert_eq!(step.available_usd(), 0.0);
        assert_eq!(
            a.settle(0.1),
            Charge {
                usd: 0.1,
                capped: false
            }
        );
        assert_eq!(
            b.settle(5.0),
            Charge {
                usd: 0.6,
                capped: true
            }
        );
        assert_eq!((run.spent_usd(), run.reserved_usd()), (0.7, 0.0));
        assert_eq!((step.spent_usd(), step.available_usd()), (0.1, 0.3));
    }

    #[test]
    fn an_abandoned_reservation_is_charged_in_full() {
        let run = Ledger::new(0.3);
        drop(run.reserve(0.1).unwrap());
        assert_eq!(run.reserve(0.1).unwrap().forfeit().usd, 0.1);
        run.reserve(0.1).unwrap().settle(0.1);
        assert_eq!((run.spent_usd(), run.reserved_usd()), (0.3, 0.0));
        assert!(run.spent_usd() <= 0.3);
        assert!(run.reserve(1e-9).is_none());
        // Free calls always fit.
        assert!(run.reserve(0.0).is_some());
    }

    #[test]
    fn limits_round_down_and_costs_to_the_nearest_nanodollar() {
        for limit in [0.1, 0.3, 1.0 / 3.0, 0.7, 123.456_789_123_4] {
            assert!(usd(limit_nanos(limit)) <= limit, "{limit}");
        }
        assert_eq!(limit_nanos(f64::NAN), 0);
        assert_eq!(limit_nanos(-1.0), 0);
        assert_eq!(cost_nanos(0.1 * 1.5), 150_000_000);
        assert_eq!(cost_nanos(1e-12), 0);
        assert_eq!(cost_nanos(2e-9), 2);
        assert_eq!(cost_nanos(f64::INFINITY), MAX_NANOS);
    }
}
