use std::io::Write;
use std::process::ExitCode;

use colored::Colorize;

use crate::cli::TestArgs;
use crate::conformance::{self, CLASSIC_REQUEST};

pub fn run(args: TestArgs) -> anyhow::Result<ExitCode> {
    let addr = format!("{}:{}", args.host, args.port);
    let runtime = super::client_runtime()?;
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
