use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use colored::Colorize;
use futures_util::stream::{FuturesOrdered, StreamExt};
use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::GetArgs;
use crate::exit::Exit;
use poetry::client::{self, ClientError};
use poetry::get::{self, FailureClass, GetError, Transform, Transformed};

/// One server's poem, ready to be written.
struct Fetched {
    poem: Bytes,
    took: Duration,
    /// Why the transform failed, when the original was kept.
    kept: Option<ClientError>,
}

pub fn run(args: GetArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let options = get::Options {
        timeout: args.timeout,
        max_size: args.max_size,
        netstring: args.netstring,
    };
    let transform = args.transform.as_ref().map(|name| Transform {
        name: name.clone(),
        via: args.via.clone(),
        options: client::Options {
            connect_timeout: get::CONNECT_TIMEOUT,
            timeout: args.timeout,
            // Room for a transform that lengthens the poem.
            max_reply: args.max_size.saturating_mul(4),
        },
    });
    if let Some(dir) = &args.out_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let lines = progress_lines(&args.servers, quiet);
    let started = Instant::now();
    let runtime = super::client_runtime()?;
    let (got, exit) = runtime.block_on(async {
        // Polled together, yielded in the order given: poem 1 is written as
        // soon as it is here, poem 2 as soon as both 1 and 2 are.
        let mut downloads: FuturesOrdered<_> = args
            .servers
            .iter()
            .zip(&lines.bars)
            .map(|(addr, bar)| fetch(addr, &options, transform.as_ref(), bar))
            .collect();
        let (mut got, mut exit) = (0, Exit::Ok);
        let mut first_failure = |class: Exit| {
            if exit == Exit::Ok {
                exit = class;
            }
        };
        let mut place = 0;
        while let Some(result) = downloads.next().await {
            place += 1;
            let addr = &args.servers[place - 1];
            let fetched = match result {
                Ok(fetched) => fetched,
                Err(err) => {
                    lines.say(|| eprintln!("{} {}", "error:".red().bold(), explain(&err)));
                    first_failure(exit_class(err.class()));
                    continue;
                }
            };
            if let (Some(why), Some(transform)) = (&fetched.kept, &transform) {
                lines.say(|| {
                    eprintln!(
                        "{} {addr}: {} failed ({why}); kept the original poem",
                        "warning:".yellow().bold(),
                        transform.name
                    )
                });
            }
            // Suspended too: on a terminal, stdout and the progress lines share the screen.
            let written = lines.suspend(|| write_poem(args.out_dir.as_deref(), place, addr, &fetched.poem));
            if let Err(err) = written {
                lines.say(|| eprintln!("{} {err:#}", "error:".red().bold()));
                first_failure(Exit::Failure);
                continue;
            }
            got += 1;
            if lines.hidden && !quiet {
                eprintln!(
                    "{addr}: {} bytes of poetry in {:.2} s",
                    fetched.poem.len(),
                    fetched.took.as_secs_f64()
                );
            }
        }
        (got, exit)
    });
    if !quiet {
        eprintln!(
            "Got {got} of {} poems in {:.2} s.",
            args.servers.len(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(exit.into())
}

/// Downloads one poem, transforms it when asked, and keeps its progress line current.
async fn fetch(
    addr: &str,
    options: &get::Options,
    transform: Option<&Transform>,
    bar: &ProgressBar,
) -> Result<Fetched, GetError> {
    let started = Instant::now();
    let downloaded = get::download(addr, options, |received| {
        bar.set_message(format!("{} received", HumanBytes(received as u64)));
    })
    .await;
    let poem = match downloaded {
        Ok(poem) => poem,
        Err(err) => {
            finish(bar, format!("{}", "failed".red()));
            return Err(err);
        }
    };
    let size = HumanBytes(poem.len() as u64);
    let (poem, kept, how) = match transform {
        None => (poem, None, String::new()),
        Some(transform) => {
            bar.set_message(format!("{size}, transforming"));
            match get::transform_or_keep(poem, transform).await {
                Transformed::Done(poem) => (poem, None, format!(", {}", transform.name)),
                Transformed::Kept { poem, why } => (poem, Some(why), ", original kept".yellow().to_string()),
            }
        }
    };
    let took = started.elapsed();
    finish(bar, format!("done, {size} in {:.1} s{how}", took.as_secs_f64()));
    Ok(Fetched { poem, took, kept })
}

fn finish(bar: &ProgressBar, message: String) {
    bar.set_style(ProgressStyle::with_template("{prefix} {msg}").expect("a valid template"));
    bar.finish_with_message(message);
}

/// One progress line per server on stderr, drawn only on a terminal.
struct ProgressLines {
    lines: MultiProgress,
    bars: Vec<ProgressBar>,
    hidden: bool,
}

impl ProgressLines {
    /// Says something on stderr without tearing the progress lines.
    fn say(&self, print: impl FnOnce()) {
        self.suspend(print);
    }

    /// Runs `write` with the progress lines cleared, then redraws them.
    fn suspend<T>(&self, write: impl FnOnce() -> T) -> T {
        self.lines.suspend(write)
    }
}

fn progress_lines(servers: &[String], quiet: bool) -> ProgressLines {
    let hidden = quiet || !std::io::stderr().is_terminal();
    let target = if hidden {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    };
    let lines = MultiProgress::with_draw_target(target);
    let width = servers.iter().map(String::len).max().unwrap_or(0);
    let style = ProgressStyle::with_template("{prefix} {spinner} {msg}").expect("a valid template");
    let bars = servers
        .iter()
        .map(|addr| {
            let bar = lines.add(ProgressBar::new_spinner());
            bar.set_style(style.clone());
            bar.set_prefix(format!("{addr:<width$}"));
            bar.set_message("connecting");
            if !hidden {
                bar.enable_steady_tick(Duration::from_millis(100));
            }
            bar
        })
        .collect();
    ProgressLines { lines, bars, hidden }
}

/// Writes a poem to stdout, or to its own file under `out_dir`.
fn write_poem(out_dir: Option<&Path>, place: usize, addr: &str, poem: &[u8]) -> anyhow::Result<()> {
    let Some(dir) = out_dir else {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(poem).context("cannot write to stdout")?;
        return stdout.flush().context("cannot write to stdout");
    };
    let path = dir.join(file_name(place, addr));
    std::fs::write(&path, poem).with_context(|| format!("cannot write {}", path.display()))
}

/// `N_HOST_PORT.txt`: the place in the list keeps the same server given
/// twice apart, and anything but letters, digits, `.` and `-` becomes `_`.
fn file_name(place: usize, addr: &str) -> PathBuf {
    let plain: String = addr
        .chars()
        .filter(|c| !matches!(c, '[' | ']'))
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{place}_{plain}.txt").into()
}

fn exit_class(class: FailureClass) -> Exit {
    match class {
        FailureClass::Connect => Exit::Connect,
        FailureClass::Timeout => Exit::Timeout,
        FailureClass::BadPoem => Exit::BadReply,
    }
}

/// The error, with what to try when the server could not be reached.
fn explain(err: &GetError) -> String {
    match err.class() {
        FailureClass::Connect => format!(
            "{err}\n  is a poetry server running there? Start one with `poetry recite POEM --port PORT`."
        ),
        _ => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_keep_place_host_and_port() {
        assert_eq!(
            file_name(1, "127.0.0.1:10001"),
            PathBuf::from("1_127.0.0.1_10001.txt")
        );
        assert_eq!(file_name(12, "[::1]:10001"), PathBuf::from("12___1_10001.txt"));
        assert_eq!(file_name(2, "../etc:1"), PathBuf::from("2_.._etc_1.txt"));
    }
}
