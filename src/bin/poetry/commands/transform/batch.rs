//! Batch mode: many poems into `--out-dir`. Every output name is settled
//! before anything is sent, so that a batch that would lose a poem (two
//! inputs onto one output, an output onto an input) is refused whole; each
//! result is written to a temporary file renamed into place, so a reader
//! never sees half a poem.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use colored::Colorize;
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{check_utf8, explain};
use crate::cli::TransformArgs;
use crate::exit::{fail, Exit};
use crate::term;
use poetry::client::{self, Client};

/// One poem to transform, and where its result goes.
#[derive(Debug)]
struct Job {
    input: PathBuf,
    output: PathBuf,
}

/// An entry of a directory that is not transformed, and why.
#[derive(Debug)]
struct Skipped {
    path: PathBuf,
    why: String,
}

/// What a batch will do, settled before anything is sent.
#[derive(Debug, Default)]
struct Plan {
    jobs: Vec<Job>,
    skipped: Vec<Skipped>,
}

/// How one poem of a batch ended.
enum Outcome {
    Done,
    FellBack(String),
    Failed(Exit, String),
}

/// Transforms every poem into `--out-dir`, up to `--jobs` at once; a failed
/// poem is reported and the others go on.
pub fn run(args: &TransformArgs, client: &Client, quiet: u8) -> anyhow::Result<ExitCode> {
    let Some(out_dir) = &args.out_dir else {
        return Err(fail(
            Exit::Usage,
            "several poems need --out-dir DIR to write the results to",
        ));
    };
    let plan = plan(&args.files, out_dir, args.recursive)?;
    check_outputs(&plan.jobs)?;
    // Skipped entries are warnings: -q keeps them, -qq hides them.
    if quiet < 2 {
        for skipped in &plan.skipped {
            term::say(
                "skipped:".yellow().bold(),
                &format!("{}: {}", skipped.path.display(), skipped.why),
            );
        }
    }
    if plan.jobs.is_empty() {
        return Err(fail(Exit::Usage, "no poems to transform"));
    }
    std::fs::create_dir_all(out_dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", out_dir.display()))?;
    let jobs = args.jobs.map_or_else(
        || 4 * std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n as usize,
    );
    let total_bytes: u64 = plan
        .jobs
        .iter()
        .filter_map(|job| job.input.metadata().ok())
        .map(|m| m.len())
        .sum();
    let bar = progress_bar(plan.jobs.len() as u64, total_bytes, quiet > 0);
    let started = Instant::now();

    let runtime = super::super::client_runtime()?;
    let bar_ref = &bar;
    let outcomes: Vec<(&Job, Outcome)> = runtime.block_on(async {
        futures_util::stream::iter(&plan.jobs)
            .map(|job| async move {
                let bar = bar_ref;
                let outcome = transform_file(args, client, job).await;
                bar.inc(1);
                (job, outcome)
            })
            .buffer_unordered(jobs)
            .collect()
            .await
    });
    bar.finish_and_clear();

    let (mut done, mut fell_back, mut failed) = (0u64, 0u64, Vec::new());
    for (job, outcome) in &outcomes {
        match outcome {
            Outcome::Done => done += 1,
            Outcome::FellBack(why) => {
                fell_back += 1;
                if quiet == 0 {
                    term::say(
                        term::warning_label(),
                        &format!("{}: {why}; wrote it unchanged (--fallback)", job.input.display()),
                    );
                }
            }
            Outcome::Failed(exit, why) => {
                failed.push(*exit);
                term::say(term::error_label(), &format!("{}: {why}", job.input.display()));
            }
        }
    }
    if quiet == 0 {
        let skipped = match plan.skipped.len() {
            0 => String::new(),
            n => format!(", {n} skipped"),
        };
        eprintln!(
            "{done} of {} transformed, {fell_back} written unchanged, {} failed{skipped}, in {:.2} s, into {}",
            term::plural(plan.jobs.len() as u64, "poem"),
            failed.len(),
            started.elapsed().as_secs_f64(),
            out_dir.display()
        );
    }
    Ok(match Exit::common(failed) {
        Exit::Ok => ExitCode::SUCCESS,
        exit => exit.into(),
    })
}

/// The poems the arguments name, each with its output under `out_dir`: a
/// file by its name; a directory's files by their path under it (its
/// subdirectories too with `recursive`). What is not a poem is skipped.
fn plan(args: &[PathBuf], out_dir: &Path, recursive: bool) -> anyhow::Result<Plan> {
    let mut plan = Plan::default();
    // The output directory may sit among the poems, holding a previous run.
    let out_id = identity(out_dir);
    for arg in args {
        if arg == Path::new("-") {
            return Err(fail(
                Exit::Usage,
                "stdin (`-`) cannot be part of a batch; give file names",
            ));
        }
        if !arg.is_dir() {
            let Some(name) = arg.file_name() else {
                return Err(fail(Exit::Usage, format!("{} names no file", arg.display())));
            };
            plan.jobs.push(Job {
                input: arg.clone(),
                output: out_dir.join(name),
            });
            continue;
        }
        let depth = if recursive { usize::MAX } else { 1 };
        let walk = walkdir::WalkDir::new(arg)
            .min_depth(1)
            .max_depth(depth)
            .sort_by_file_name();
        let mut entries = walk.into_iter();
        while let Some(entry) = entries.next() {
            let entry = match entry {
                Ok(entry) => entry,
                Err(err) => {
                    let path = err.path().unwrap_or(arg).to_owned();
                    let why = err
                        .io_error()
                        .map_or_else(|| err.to_string(), ToString::to_string);
                    plan.skipped.push(Skipped {
                        path,
                        why: format!("cannot be read ({why})"),
                    });
                    continue;
                }
            };
            let path = entry.path();
            let skip = |why: &str| Skipped {
                path: path.to_owned(),
                why: why.to_owned(),
            };
            let kind = entry.file_type();
            if kind.is_dir() {
                if out_id.is_some() && identity(path) == out_id {
                    plan.skipped.push(skip("the output directory itself"));
                    entries.skip_current_dir();
                } else if !recursive {
                    plan.skipped
                        .push(skip("a directory (--recursive takes its poems too)"));
                }
                continue;
            }
            if kind.is_symlink() {
                match std::fs::metadata(path) {
                    Err(_) => {
                        plan.skipped.push(skip("a broken link"));
                        continue;
                    }
                    Ok(target) if target.is_dir() => {
                        plan.skipped.push(skip("a link to a directory (not followed)"));
                        continue;
                    }
                    Ok(target) if !target.is_file() => {
                        plan.skipped.push(skip("a link to something that is not a file"));
                        continue;
                    }
                    Ok(_) => {}
                }
            } else if !kind.is_file() {
                plan.skipped.push(skip("not a regular file"));
                continue;
            }
            let relative = path.strip_prefix(arg).unwrap_or(path);
            plan.jobs.push(Job {
                input: path.to_owned(),
                output: out_dir.join(relative),
            });
        }
    }
    Ok(plan)
}

/// Device and inode: the same file, whatever path leads to it.
fn identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Refuses, before anything is sent, a batch that would lose a poem: two
/// poems written to one output, or an output written over a poem.
fn check_outputs(jobs: &[Job]) -> anyhow::Result<()> {
    let inputs: HashMap<(u64, u64), &Path> = jobs
        .iter()
        .filter_map(|job| Some((identity(&job.input)?, job.input.as_path())))
        .collect();
    let mut outputs: HashMap<&Path, &Path> = HashMap::new();
    let mut clashes = Vec::new();
    for job in jobs {
        if let Some(first) = outputs.insert(&job.output, &job.input) {
            clashes.push(format!(
                "{} and {} would both be written to {}",
                first.display(),
                job.input.display(),
                job.output.display()
            ));
        }
        if let Some(poem) = identity(&job.output).and_then(|id| inputs.get(&id)) {
            clashes.push(format!(
                "the result of {} would overwrite the poem {}",
                job.input.display(),
                poem.display()
            ));
        }
    }
    if clashes.is_empty() {
        return Ok(());
    }
    const SHOWN: usize = 10;
    let count = match clashes.len() {
        1 => "1 clash".to_owned(),
        n => format!("{n} clashes"),
    };
    let mut message = format!("this batch would lose poems, so nothing was sent ({count}):");
    for clash in clashes.iter().take(SHOWN) {
        message.push_str("\n  ");
        message.push_str(clash);
    }
    if clashes.len() > SHOWN {
        message.push_str(&format!("\n  and {} more", clashes.len() - SHOWN));
    }
    message.push_str(
        "\n  choose an --out-dir apart from the poems, or transform the poems of one name in separate runs.",
    );
    Err(fail(Exit::Usage, message))
}

async fn transform_file(args: &TransformArgs, client: &Client, job: &Job) -> Outcome {
    let poem = match tokio::fs::read(&job.input).await {
        Ok(poem) => poem,
        Err(_) if job.input.is_symlink() && !job.input.exists() => {
            return Outcome::Failed(Exit::Failure, "a broken link".into())
        }
        Err(e) => return Outcome::Failed(Exit::Failure, format!("cannot read it: {e}")),
    };
    if let Err(e) = check_utf8(&poem) {
        return Outcome::Failed(Exit::Failure, e.to_string());
    }
    let (bytes, outcome) = match client.transform(&args.name, &poem, |_| {}).await {
        Ok(reply) => (reply.to_vec(), Outcome::Done),
        Err(failures) => {
            let len = client::request_bytes(&args.name, &poem).len();
            let report = explain::report(&failures, &args.name, len);
            if !args.fallback {
                return Outcome::Failed(report.exit, report.headline);
            }
            (poem, Outcome::FellBack(report.headline))
        }
    };
    let input = job.input.clone();
    let output = job.output.clone();
    let written = tokio::task::spawn_blocking(move || write_atomically(&output, &bytes, &input)).await;
    match written {
        Ok(Ok(())) => outcome,
        Ok(Err(e)) => Outcome::Failed(
            Exit::Failure,
            format!("cannot write {}: {e}", job.output.display()),
        ),
        Err(e) => Outcome::Failed(Exit::Failure, format!("writing failed: {e}")),
    }
}

/// Writes `bytes` to `target` through a temporary file beside it, renamed
/// into place: `target` holds the old result or the new, never a part. The
/// result takes the permissions of the poem it came from.
fn write_atomically(target: &Path, bytes: &[u8], poem: &Path) -> std::io::Result<()> {
    let dir = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::Builder::new()
        .prefix(".poetry-")
        .suffix(".part")
        .tempfile_in(dir)?;
    temp.write_all(bytes)?;
    if let Ok(meta) = std::fs::metadata(poem) {
        temp.as_file().set_permissions(meta.permissions())?;
    }
    temp.persist(target).map_err(|e| e.error)?;
    Ok(())
}

/// Files done of total, with an ETA; drawn on stderr only when it is a terminal.
fn progress_bar(files: u64, bytes: u64, quiet: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(files), ProgressDrawTarget::hidden());
    if !quiet && std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(&format!(
                "{{bar:30}} {{pos}}/{{len}} poems ({} in all), ETA {{eta}}",
                indicatif::HumanBytes(bytes)
            ))
            .expect("a valid template"),
        );
        bar.enable_steady_tick(Duration::from_millis(100));
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_onto_one_name_or_onto_a_poem_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(a.join("x.txt"), "A").unwrap();
        std::fs::write(b.join("x.txt"), "B").unwrap();
        let out = dir.path().join("out");
        let two = plan(&[a.join("x.txt"), b.join("x.txt")], &out, false).unwrap();
        let err = check_outputs(&two.jobs).unwrap_err().to_string();
        assert!(err.contains("would both be written to"), "{err}");

        let onto_itself = plan(std::slice::from_ref(&a), &a, false).unwrap();
        let err = check_outputs(&onto_itself.jobs).unwrap_err().to_string();
        assert!(err.contains("would overwrite the poem"), "{err}");

        let one = plan(&[a.join("x.txt")], &out, false).unwrap();
        assert!(check_outputs(&one.jobs).is_ok());
    }
}
