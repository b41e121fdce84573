//! Running `poetry test` as a person or a CI job would, and measuring it:
//! its exit code, its output (the JSON report parsed), how long it took, and
//! its peak resident memory (`VmHWM` in /proc, sampled until it exits).

use std::collections::BTreeSet;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest any run may take before it is killed and the test fails: far
/// above what a run needs, it only bounds a hang.
pub const LIMIT: Duration = Duration::from_secs(120);

/// A finished `poetry test` run.
pub struct Run {
    /// The exit code.
    pub code: i32,
    /// Everything on stdout.
    pub stdout: String,
    /// Everything on stderr.
    pub stderr: String,
    /// Wall-clock time.
    pub elapsed: Duration,
    /// Peak resident set size, in KiB, as last sampled before the exit.
    pub peak_rss_kib: u64,
}

/// Runs `poetry test ARGS` with none of the developer's POETRY_* settings.
pub fn poetry_test(args: &[&str]) -> Run {
    poetry_test_with(args, &[])
}

/// Like [`poetry_test`], with these environment variables set.
pub fn poetry_test_with(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("poetry"));
    command
        .arg("test")
        .args(args)
        .env_remove("POETRY_HOST")
        .env_remove("POETRY_PORT")
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command.spawn().expect("start poetry test");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            String::from_utf8(text).expect("UTF-8 output")
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let pid = child.id();
    let status_file = format!("/proc/{pid}/status");
    // The kernel's own peak for the process image (ru_maxrss would count
    // the test binary it was spawned from); it only grows, so the last
    // sample before the exit is the peak within a few milliseconds.
    let mut peak_rss_kib = 0;
    let status = loop {
        if let Some(hwm) = std::fs::read_to_string(&status_file)
            .ok()
            .as_deref()
            .and_then(high_water_mark)
        {
            peak_rss_kib = hwm;
        }
        if let Some(status) = child.try_wait().expect("wait for poetry test") {
            break status;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("poetry test {args:?} ran longer than {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
        elapsed: started.elapsed(),
        peak_rss_kib,
    }
}

/// `VmHWM` of a /proc status file, in KiB.
fn high_water_mark(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl Run {
    /// The JSON report on stdout.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\n{}", self.stdout, self.stderr))
    }

    /// The ids of the cases with `verdict` (`pass`, `fail`, `differs`) in the JSON report.
    pub fn ids(&self, verdict: &str) -> BTreeSet<String> {
        self.json()["cases"]
            .as_array()
            .expect("a cases array")
            .iter()
            .filter(|case| case["verdict"] == verdict)
            .map(|case| case["id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The JSON object of the case `id`.
    pub fn case(&self, id: &str) -> serde_json::Value {
        self.json()["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|case| case["id"] == id)
            .unwrap_or_else(|| panic!("no case {id} in {}", self.stdout))
            .clone()
    }
}

/// The given ids as a set, for comparisons.
pub fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|id| (*id).to_owned()).collect()
}
