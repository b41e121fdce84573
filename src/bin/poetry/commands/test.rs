use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use colored::{ColoredString, Colorize};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::TestArgs;
use poetry::conformance::suite::{self, Case, Target, Verdict};
use poetry::conformance::{self, CLASSIC_REQUEST};

pub fn run(args: TestArgs) -> anyhow::Result<ExitCode> {
    let addr = format!("{}:{}", args.host, args.port);
    let runtime = super::client_runtime()?;
    if args.suite {
        return run_suite(
            &runtime,
            Target {
                addr,
                step: args.timeout,
            },
        );
    }
    let verdict = match runtime.block_on(conformance::exchange(&addr, CLASSIC_REQUEST, args.timeout)) {
        Ok(reply) => {
            if !reply.bytes.is_empty() {
                let mut stdout = std::io::stdout().lock();
                stdout.write_all(&reply.bytes)?;
                stdout.write_all(b"\n")?;
                stdout.flush()?;
            }
            conformance::judge_classic(&reply)
        }
        Err(err) => Err(err.to_string()),
    };
    match verdict {
        Ok(how) => {
            eprintln!("{} {addr}: {how}", "PASS".green().bold());
            Ok(ExitCode::SUCCESS)
        }
        Err(why) => {
            eprintln!("{} {addr}: {why}", "FAIL".red().bold());
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Runs every case in turn (a case may be concurrent inside), then prints the
/// table and the tally on stderr.
fn run_suite(runtime: &tokio::runtime::Runtime, target: Target) -> anyhow::Result<ExitCode> {
    let draw_target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(Case::ALL.len() as u64), draw_target);
    bar.set_style(ProgressStyle::with_template("{bar:24} {pos}/{len} {msg}")?);
    let mut verdicts = Vec::with_capacity(Case::ALL.len());
    for case in Case::ALL {
        bar.set_message(case.name());
        verdicts.push(runtime.block_on(case.run(&target)));
        bar.inc(1);
    }
    bar.finish_and_clear();

    let width = Case::ALL.iter().map(|case| case.name().len()).max().unwrap_or(0);
    let mut stderr = std::io::stderr().lock();
    writeln!(stderr, "Conformance suite against {}:", target.addr)?;
    for (case, verdict) in Case::ALL.iter().zip(&verdicts) {
        writeln!(
            stderr,
            "{}  {:<width$}  {}",
            label(verdict),
            case.name(),
            verdict.reason()
        )?;
    }
    writeln!(stderr, "{}", suite::summary(&verdicts))?;
    let failed = verdicts.iter().any(|v| matches!(v, Verdict::Fail(_)));
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The verdict's word, padded before colouring so escape codes don't skew the columns.
fn label(verdict: &Verdict) -> ColoredString {
    let padded = format!("{:<7}", verdict.label());
    match verdict {
        Verdict::Pass(_) => padded.green().bold(),
        Verdict::Fail(_) => padded.red().bold(),
        Verdict::Differs(_) => padded.yellow().bold(),
    }
}
