//! Running the suite: which cases (glob patterns over ids), how strictly,
//! and the results with their timing.

use std::time::Duration;

use glob::Pattern;
use tokio::time::Instant;

use super::cases::{Case, Finding, Target, Verdict, CASES};
use super::wire::{connect, ConnectError};

/// Which cases to run: those matching any `--case` pattern (all when there
/// is none), less those matching a `--skip` pattern.
#[derive(Debug, Default)]
pub struct Selection {
    cases: Vec<Pattern>,
    skips: Vec<Pattern>,
}

/// Why a selection is unusable.
#[derive(Debug, thiserror::Error)]
pub enum SelectionError {
    /// Not a glob pattern.
    #[error("{pattern:?} is not a valid pattern: {why}")]
    BadPattern {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        why: String,
    },
    /// A `--case` pattern that names no case: most likely a typo.
    #[error("--case {0:?} matches no case (see `poetry test --list`)")]
    NoMatch(String),
    /// Every case was skipped.
    #[error("no case is left to run")]
    Empty,
}

fn patterns(texts: &[String]) -> Result<Vec<Pattern>, SelectionError> {
    texts
        .iter()
        .map(|text| {
            Pattern::new(text).map_err(|e| SelectionError::BadPattern {
                pattern: text.clone(),
                why: e.msg.to_owned(),
            })
        })
        .collect()
}

impl Selection {
    /// A selection from `--case` and `--skip` patterns (`*`, `?`, `[...]`).
    pub fn new(cases: &[String], skips: &[String]) -> Result<Self, SelectionError> {
        let selection = Selection {
            cases: patterns(cases)?,
            skips: patterns(skips)?,
        };
        if let Some(unmatched) = selection
            .cases
            .iter()
            .find(|p| !CASES.iter().any(|case| p.matches(case.id)))
        {
            return Err(SelectionError::NoMatch(unmatched.as_str().to_owned()));
        }
        if selection.picked().next().is_none() {
            return Err(SelectionError::Empty);
        }
        Ok(selection)
    }

    /// The cases selected, in the order they run.
    pub fn picked(&self) -> impl Iterator<Item = &'static Case> + '_ {
        CASES.iter().filter(|case| {
            (self.cases.is_empty() || self.cases.iter().any(|p| p.matches(case.id)))
                && !self.skips.iter().any(|p| p.matches(case.id))
        })
    }
}

/// One case's outcome.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The case.
    pub case: &'static Case,
    /// What it found (a DIFFERS already turned into a FAIL under `--strict`).
    pub finding: Finding,
    /// How long it took.
    pub elapsed: Duration,
}

/// Runs one case; under `strict`, a behaviour the protocol leaves open but
/// that is not the one expected fails.
pub async fn run_case(case: &'static Case, target: &Target, strict: bool) -> CaseResult {
    let started = Instant::now();
    let mut finding = case.run(target).await;
    if strict && finding.verdict == Verdict::Differs {
        finding.verdict = Verdict::Fail;
        finding.detail = format!("{} (open behaviour, failed under --strict)", finding.detail);
    }
    CaseResult {
        case,
        finding,
        elapsed: started.elapsed(),
    }
}

/// Checks that something listens at `addr` at all, within `timeout`.
pub async fn reachable(addr: &str, timeout: Duration) -> Result<(), ConnectError> {
    connect(addr, Instant::now() + timeout).await.map(drop)
}

/// A whole run.
#[derive(Debug, Clone)]
pub struct Report {
    /// The server and the limits it was tested with.
    pub target: Target,
    /// Whether DIFFERS counted as FAIL.
    pub strict: bool,
    /// Every case run, in order.
    pub results: Vec<CaseResult>,
}

/// Counts of verdicts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Tally {
    /// Cases that passed.
    pub passed: usize,
    /// Cases that failed.
    pub failed: usize,
    /// Cases where the server took another path the protocol leaves open.
    pub differ: usize,
    /// Cases run.
    pub total: usize,
}

impl Tally {
    /// `N passed, N failed`, and `, N differ` when some did.
    pub fn line(&self) -> String {
        let mut line = format!("{} passed, {} failed", self.passed, self.failed);
        if self.differ > 0 {
            line.push_str(&format!(", {} differ", self.differ));
        }
        line
    }
}

impl Report {
    /// The verdicts counted.
    pub fn tally(&self) -> Tally {
        let count = |verdict| {
            self.results
                .iter()
                .filter(|r| r.finding.verdict == verdict)
                .count()
        };
        Tally {
            passed: count(Verdict::Pass),
            failed: count(Verdict::Fail),
            differ: count(Verdict::Differs),
            total: self.results.len(),
        }
    }

    /// True when no case failed.
    pub fn passed(&self) -> bool {
        self.tally().failed == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(selection: &Selection) -> Vec<&'static str> {
        selection.picked().map(|case| case.id).collect()
    }

    fn strings(texts: &[&str]) -> Vec<String> {
        texts.iter().map(|t| (*t).to_owned()).collect()
    }

    #[test]
    fn globs_pick_and_skip_cases_by_id() {
        let all = Selection::new(&[], &[]).unwrap();
        assert_eq!(ids(&all).len(), CASES.len());
        let frames = Selection::new(&strings(&["frame.*"]), &strings(&["frame.split-*"])).unwrap();
        let picked = ids(&frames);
        assert!(picked
            .iter()
            .all(|id| id.starts_with("frame.") && !id.contains("split")));
        assert!(picked.contains(&"frame.leading-zeros"));
        let two = Selection::new(&strings(&["classic.round-trip", "limit.at-max"]), &[]).unwrap();
        assert_eq!(ids(&two), ["classic.round-trip", "limit.at-max"]);
    }

    #[test]
    fn a_selection_that_names_nothing_is_refused() {
        assert!(matches!(
            Selection::new(&strings(&["frame.leading-zero"]), &[]),
            Err(SelectionError::NoMatch(_))
        ));
        assert!(matches!(
            Selection::new(&strings(&["[frame"]), &[]),
            Err(SelectionError::BadPattern { .. })
        ));
        assert!(matches!(
            Selection::new(&[], &strings(&["*"])),
            Err(SelectionError::Empty)
        ));
    }

    #[test]
    fn the_tally_names_differences_only_when_there_are_some() {
        let tally = |passed, failed, differ| Tally {
            passed,
            failed,
            differ,
            total: passed + failed + differ,
        };
        assert_eq!(tally(2, 0, 0).line(), "2 passed, 0 failed");
        assert_eq!(tally(1, 1, 2).line(), "1 passed, 1 failed, 2 differ");
    }
}
