//! When each request of an open loop is due. Every load thread has a schedule
//! of its own, with its share of the rate: evenly spaced and interleaved with
//! the other threads' (so that the whole load is evenly spaced too), or a
//! Poisson process (exponential gaps; the threads' processes add up to one
//! Poisson process at the whole rate).

use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Exp, Poisson};
use serde::Serialize;

/// How the requests of an open loop are spaced in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arrivals {
    /// One every 1/rate seconds.
    Uniform,
    /// Independent arrivals at the rate on average: exponential gaps, with
    /// the bursts and lulls of many independent clients.
    Poisson,
}

impl Arrivals {
    /// The name the command line and the report use.
    pub fn name(self) -> &'static str {
        match self {
            Arrivals::Uniform => "uniform",
            Arrivals::Poisson => "poisson",
        }
    }
}

/// One thread's due times, from `start` until (not including) `end`.
#[derive(Debug)]
pub struct Schedule {
    start: Instant,
    /// Seconds from `start` to the end: nothing is due at or after it.
    end: f64,
    /// Seconds from `start` to the last due time handed out (or to `start`).
    last: f64,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// Due at `(phase + k) / rate` seconds after the start.
    Uniform { rate: f64, phase: f64, k: u64 },
    /// Due after exponential gaps at `rate` per second.
    Poisson {
        rate: f64,
        gaps: Exp<f64>,
        rng: SmallRng,
    },
}

impl Schedule {
    /// Thread `index` of `threads`' share of `rate` requests a second, due
    /// from `start` until `end`. `seed` makes Poisson arrivals repeatable.
    pub fn new(
        arrivals: Arrivals,
        rate: f64,
        (index, threads): (usize, usize),
        (start, end): (Instant, Instant),
        seed: u64,
    ) -> Self {
        let threads = threads.max(1);
        let share = rate / threads as f64;
        let kind = match arrivals {
            Arrivals::Uniform => Kind::Uniform {
                rate: share,
                // Thread i takes the i-th of every `threads` slots of the whole
                // load, so the threads' requests do not bunch up together.
                phase: index as f64 / threads as f64,
                k: 0,
            },
            Arrivals::Poisson => Kind::Poisson {
                rate: share,
                gaps: Exp::new(share).unwrap_or_else(|_| Exp::new(1.0).expect("1 is a valid rate")),
                rng: SmallRng::seed_from_u64(seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            },
        };
        Schedule {
            start,
            end: end.saturating_duration_since(start).as_secs_f64(),
            last: 0.0,
            kind,
        }
    }

    /// The next due time, or `None` once they reach the end.
    pub fn next_due(&mut self) -> Option<Instant> {
        let offset = match &mut self.kind {
            Kind::Uniform { rate, phase, k } => {
                let offset = (*phase + *k as f64) / *rate;
                *k += 1;
                offset
            }
            Kind::Poisson { gaps, rng, .. } => self.last + gaps.sample(rng),
        };
        if offset >= self.end {
            self.last = self.end;
            return None;
        }
        self.last = offset;
        Some(self.start + Duration::from_secs_f64(offset))
    }

    /// How many due times after those handed out fall within `[from, to)`,
    /// without handing them out: the exact count for even spacing, and for
    /// Poisson arrivals a draw from the law of that count (by the process's
    /// lack of memory), so that a long stretch costs no more than a short one.
    pub fn count_ahead(&mut self, from: Instant, to: Instant) -> u64 {
        let offset = |t: Instant| t.saturating_duration_since(self.start).as_secs_f64();
        let (from, to) = (offset(from).max(self.last), offset(to).min(self.end));
        if to <= from {
            return 0;
        }
        match &mut self.kind {
            Kind::Uniform { rate, phase, k } => {
                let first = ((from * *rate - *phase).ceil().max(0.0) as u64).max(*k);
                let past = (to * *rate - *phase).ceil().max(0.0) as u64;
                past.saturating_sub(first)
            }
            Kind::Poisson { rate, rng, .. } => match Poisson::new(*rate * (to - from)) {
                Ok(count) => count.sample(rng) as u64,
                Err(_) => 0,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(mut schedule: Schedule) -> Vec<Instant> {
        std::iter::from_fn(|| schedule.next_due()).collect()
    }

    #[test]
    fn even_spacing_interleaves_the_threads() {
        let start = Instant::now();
        let end = start + Duration::from_secs(1);
        let mut due: Vec<Instant> = (0..4)
            .flat_map(|i| all(Schedule::new(Arrivals::Uniform, 100.0, (i, 4), (start, end), 0)))
            .collect();
        assert_eq!(due.len(), 100);
        due.sort();
        for (n, pair) in due.windows(2).enumerate() {
            let gap = pair[1] - pair[0];
            assert!(
                gap.abs_diff(Duration::from_millis(10)) < Duration::from_micros(1),
                "gap {n}: {gap:?}"
            );
        }
        assert_eq!(due[0], start);
    }

    #[test]
    fn poisson_arrivals_keep_the_rate_with_exponential_gaps() {
        let start = Instant::now();
        let end = start + Duration::from_secs(100);
        let due = all(Schedule::new(Arrivals::Poisson, 100.0, (0, 1), (start, end), 7));
        // 10,000 expected; the standard deviation is 100.
        assert!((9_600..=10_400).contains(&due.len()), "{}", due.len());
        let gaps: Vec<f64> = due.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        assert!((0.0095..0.0105).contains(&mean), "{mean}");
        // Exponential, not even: about e^-1 of the gaps exceed the mean.
        let long = gaps.iter().filter(|&&g| g > mean).count() as f64 / gaps.len() as f64;
        assert!((0.33..0.40).contains(&long), "{long}");
        assert!(due.windows(2).all(|w| w[0] <= w[1]) && due.iter().all(|&d| d < end));
    }

    #[test]
    fn counting_ahead_hands_nothing_out() {
        let start = Instant::now();
        let end = start + Duration::from_secs(1);
        let at = |ms| start + Duration::from_millis(ms);
        let mut schedule = Schedule::new(Arrivals::Uniform, 100.0, (0, 1), (start, end), 0);
        assert_eq!(schedule.count_ahead(start, end), 100);
        assert_eq!(schedule.next_due(), Some(start));
        assert_eq!(schedule.count_ahead(start, end), 99);
        // Due at 10, 20, ..., 490 ms, and no later than the end.
        assert_eq!(schedule.count_ahead(at(5), at(495)), 49);
        assert_eq!(schedule.count_ahead(at(500), at(5_000)), 50);
        assert_eq!(schedule.count_ahead(at(600), at(600)), 0);
        assert_eq!(schedule.next_due(), Some(at(10)));

        let mut poisson = Schedule::new(Arrivals::Poisson, 1_000.0, (0, 1), (start, end), 3);
        let ahead = poisson.count_ahead(start, end);
        assert!((850..=1_150).contains(&ahead), "{ahead}");
    }
}
