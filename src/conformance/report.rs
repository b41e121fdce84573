//! The suite's report in three forms: a table for people, one JSON object
//! for scripts, and JUnit XML for CI systems; and the list of cases.

use std::fmt::Write as _;

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
use serde::Serialize;

use super::cases::{Evidence, Level, Verdict, CASES};
use super::suite::{Report, Tally};

/// The table: one line per case, what was sent and came back under each
/// case that did not pass, and the tally last.
pub fn text(report: &Report) -> String {
    let width = report.results.iter().map(|r| r.case.id.len()).max().unwrap_or(0);
    let mut out = format!(
        "Conformance suite against {} (maximum length {} bytes, {} s a case{}):\n",
        report.target.addr,
        report.target.max_length,
        report.target.timeout.as_secs_f64(),
        if report.strict { ", strict" } else { "" }
    );
    for result in &report.results {
        let finding = &result.finding;
        let _ = writeln!(
            out,
            "{:<7}  {:<width$}  {}",
            finding.verdict.label(),
            result.case.id,
            finding.detail
        );
        if finding.verdict != Verdict::Pass {
            let _ = writeln!(
                out,
                "         rule       {} ({})",
                result.case.rule,
                result.case.level.label()
            );
            if let Some(evidence) = &finding.evidence {
                for (label, value) in evidence_lines(evidence) {
                    let _ = writeln!(out, "         {label:<10} {value}");
                }
            }
        }
    }
    out.push_str(&report.tally().line());
    out.push('\n');
    out
}

fn evidence_lines(evidence: &Evidence) -> [(&'static str, &str); 4] {
    [
        ("sent", &evidence.sent),
        ("expected", &evidence.expected),
        ("got", &evidence.got),
        ("reproduce", &evidence.reproduce),
    ]
}

#[derive(Serialize)]
struct JsonReport<'a> {
    target: &'a str,
    max_length: usize,
    timeout_secs: f64,
    strict: bool,
    cases: Vec<JsonCase<'a>>,
    tally: Tally,
}

#[derive(Serialize)]
struct JsonCase<'a> {
    id: &'a str,
    rule: &'a str,
    level: Level,
    verdict: Verdict,
    detail: &'a str,
    millis: u128,
    evidence: Option<&'a Evidence>,
}

/// One JSON object: the target, every case (id, rule, level, verdict,
/// detail, timing, and what was sent and came back unless it passed), and
/// the tally.
pub fn json(report: &Report) -> String {
    let cases = report
        .results
        .iter()
        .map(|r| JsonCase {
            id: r.case.id,
            rule: r.case.rule,
            level: r.case.level,
            verdict: r.finding.verdict,
            detail: &r.finding.detail,
            millis: r.elapsed.as_millis(),
            evidence: r.finding.evidence.as_deref(),
        })
        .collect();
    let object = JsonReport {
        target: &report.target.addr,
        max_length: report.target.max_length,
        timeout_secs: report.target.timeout.as_secs_f64(),
        strict: report.strict,
        cases,
        tally: report.tally(),
    };
    serde_json::to_string_pretty(&object).expect("a report always serializes")
}

/// JUnit XML: one test suite, one test case per case (class name
/// `poetry.conformance.GROUP`), a failure element with the evidence for each
/// that failed; a DIFFERS passes with the difference on its system-out.
pub fn junit(report: &Report) -> String {
    let mut suite = TestSuite::new(format!("poetry conformance against {}", report.target.addr));
    suite.add_property(("max_length", report.target.max_length.to_string().as_str()));
    suite.add_property(("strict", report.strict.to_string().as_str()));
    let mut total = std::time::Duration::ZERO;
    for result in &report.results {
        let finding = &result.finding;
        let evidence = finding.evidence.as_ref().map(|e| {
            evidence_lines(e)
                .iter()
                .map(|(label, value)| format!("{label}: {value}\n"))
                .collect::<String>()
        });
        let status = match finding.verdict {
            Verdict::Pass | Verdict::Differs => TestCaseStatus::success(),
            Verdict::Fail => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status
                    .set_message(finding.detail.as_str())
                    .set_type(result.case.level.label())
                    .set_description(format!(
                        "rule: {}\n{}",
                        result.case.rule,
                        evidence.clone().unwrap_or_default()
                    ));
                status
            }
        };
        let mut case = TestCase::new(result.case.id, status);
        case.set_classname(format!("poetry.conformance.{}", result.case.group()))
            .set_time(result.elapsed);
        if finding.verdict == Verdict::Differs {
            case.set_system_out(format!(
                "DIFFERS: {}\n{}",
                finding.detail,
                evidence.unwrap_or_default()
            ));
        }
        total += result.elapsed;
        suite.add_test_case(case);
    }
    suite.set_time(total);
    let mut junit = quick_junit::Report::new("poetry conformance suite");
    junit.add_test_suite(suite);
    junit.to_string().expect("a report always serializes")
}

/// Every case: id, MUST or open, and its rule, one a line.
pub fn list_text() -> String {
    let width = CASES.iter().map(|c| c.id.len()).max().unwrap_or(0);
    CASES
        .iter()
        .map(|c| format!("{:<width$}  {:<4}  {}\n", c.id, c.level.label(), c.rule))
        .collect()
}

#[derive(Serialize)]
struct JsonListed {
    id: &'static str,
    level: Level,
    rule: &'static str,
}

/// Every case as a JSON array of `{id, level, rule}`.
pub fn list_json() -> String {
    let cases: Vec<JsonListed> = CASES
        .iter()
        .map(|c| JsonListed {
            id: c.id,
            level: c.level,
            rule: c.rule,
        })
        .collect();
    serde_json::to_string_pretty(&cases).expect("a listing always serializes")
}
