//! The Twisted side of interop tests: a Python that can import Twisted, and
//! the Twisted server of `tests/interop/`.

use std::path::PathBuf;
use std::process;
use std::sync::OnceLock;

use super::{require, Server, STEP};

/// A Python interpreter that can import Twisted, found once per test binary:
/// `POETRY_TWISTED_PYTHON`, or else `python3` when it can import it. Missing,
/// it skips the test (and fails it under `CI=true`).
pub fn python() -> Option<&'static str> {
    static PYTHON: OnceLock<Option<String>> = OnceLock::new();
    let python = PYTHON.get_or_init(|| {
        if let Some(python) = std::env::var_os("POETRY_TWISTED_PYTHON").filter(|v| !v.is_empty()) {
            let python = python.to_string_lossy().into_owned();
            // A configured interpreter that cannot import Twisted is a broken
            // setup, not a missing tool: fail instead of skipping.
            assert!(
                imports_twisted(&python),
                "POETRY_TWISTED_PYTHON={python} cannot import twisted"
            );
            return Some(python);
        }
        imports_twisted("python3").then(|| "python3".to_owned())
    });
    let python = python.as_deref();
    require(
        "Twisted (POETRY_TWISTED_PYTHON or python3 with twisted)",
        python.is_some(),
    )
    .then_some(python)
    .flatten()
}

fn imports_twisted(python: &str) -> bool {
    assert_cmd::Command::new(python)
        .args(["-c", "import twisted"])
        .timeout(STEP)
        .output()
        .is_ok_and(|out| out.status.success())
}

/// The path of a script in `tests/interop/`.
pub fn script(name: &str) -> PathBuf {
    [env!("CARGO_MANIFEST_DIR"), "tests", "interop", name]
        .iter()
        .collect()
}

/// Starts the Twisted server on a free port and waits for its address line.
pub fn server(python: &str) -> Server {
    let mut command = process::Command::new(python);
    command
        .arg("-u")
        .arg(script("twisted_server.py"))
        .args(["--port", "0"]);
    let server = Server::start(command);
    assert_eq!(server.banner, format!("Serving transforms on {}.", server.addr()));
    server
}

/// Starts a Twisted poetry server of `tests/interop/` (`slow_poetry.py` or
/// `netstring_poetry.py`) reciting `poem` on a free port, and waits for its
/// `Reciting POEM on HOST:PORT.` line.
pub fn poetry_server(python: &str, script_name: &str, poem: &std::path::Path, args: &[&str]) -> Server {
    let mut command = process::Command::new(python);
    command
        .arg("-u")
        .arg(script(script_name))
        .args(["--port", "0"])
        .args(args)
        .arg(poem);
    let server = Server::start(command);
    assert_eq!(
        server.banner,
        format!("Reciting {} on {}.", poem.display(), server.addr())
    );
    server
}

/// The Part 13 style Twisted client of `tests/interop/get_poetry.py`, bounded by `STEP`.
pub fn get_poetry(python: &str) -> assert_cmd::Command {
    let mut command = assert_cmd::Command::new(python);
    command.arg("-u").arg(script("get_poetry.py")).timeout(STEP);
    command
}
