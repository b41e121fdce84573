//! `poetry transform` batches lose no poem: clashing outputs are refused
//! before anything is sent, results replace old ones by rename, what is
//! skipped is said, and `--recursive` keeps the tree.

mod common;

use std::path::{Path, PathBuf};

use common::{poetry, Server};
use predicates::prelude::*;

/// A fresh directory for one test, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("batch-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// Writes `text` to `relative` (making its directories).
    fn poem(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.0.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.0.join(relative)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A port that takes connections (in the kernel's backlog) and never
/// answers; `connections()` says how many came.
struct Listener(std::net::TcpListener);

impl Listener {
    fn new() -> Listener {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        Listener(listener)
    }

    fn port(&self) -> String {
        self.0.local_addr().unwrap().port().to_string()
    }

    fn connections(&self) -> usize {
        std::iter::from_fn(|| self.0.accept().ok()).count()
    }
}

#[test]
fn two_poems_onto_one_name_are_refused_before_anything_is_sent() {
    let dir = Scratch::new("clash");
    let a = dir.poem("a/x.txt", "FROM A\n");
    let b = dir.poem("b/x.txt", "FROM B\n");
    let listener = Listener::new();
    common::transform_cummingsify(&listener.port())
        .arg("--out-dir")
        .arg(dir.path("out"))
        .args([&a, &b])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("this batch would lose poems, so nothing was sent (1 clash)").and(
                predicate::str::contains(format!(
                    "{} and {} would both be written to {}",
                    a.display(),
                    b.display(),
                    dir.path("out/x.txt").display()
                )),
            ),
        );
    assert_eq!(listener.connections(), 0);
    assert!(!dir.path("out").exists());
}

#[test]
fn an_out_dir_onto_the_poems_is_refused_and_they_stay() {
    let dir = Scratch::new("onto");
    dir.poem("poems/a.txt", "FIRST\n");
    dir.poem("poems/b.txt", "SECOND\n");
    let listener = Listener::new();
    common::transform_cummingsify(&listener.port())
        .arg("--out-dir")
        .arg(dir.path("poems"))
        .arg(dir.path("poems"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("would overwrite the poem").count(2));
    assert_eq!(listener.connections(), 0);
    assert_eq!(read(&dir.path("poems/a.txt")), "FIRST\n");
}

#[test]
fn what_is_not_a_poem_is_skipped_and_said() {
    let server = Server::poetry(&[]);
    let dir = Scratch::new("skipped");
    dir.poem("poems/a.txt", "ONLY ONE\n");
    dir.poem("poems/sub/deeper.txt", "DEEPER\n");
    std::os::unix::fs::symlink(dir.path("nowhere"), dir.path("poems/broken.txt")).unwrap();
    common::transform_cummingsify(&server.port.to_string())
        .arg("--out-dir")
        .arg(dir.path("out"))
        .arg(dir.path("poems"))
        .assert()
        .success()
        .stderr(
            predicate::str::contains(format!(
                "skipped: {}: a broken link",
                dir.path("poems/broken.txt").display()
            ))
            .and(predicate::str::contains(format!(
                "skipped: {}: a directory (--recursive takes its poems too)",
                dir.path("poems/sub").display()
            )))
            .and(predicate::str::contains(
                "1 of 1 poem transformed, 0 written unchanged, 0 failed, 2 skipped",
            )),
        );
    assert_eq!(read(&dir.path("out/a.txt")), "only one\n");
    assert!(!dir.path("out/sub").exists());
}

#[test]
fn recursive_keeps_the_tree_and_skips_its_own_output() {
    let server = Server::poetry(&[]);
    let dir = Scratch::new("recursive");
    dir.poem("poems/top.txt", "TOP\n");
    dir.poem("poems/sub/mid.txt", "MID\n");
    dir.poem("poems/sub/deeper/low.txt", "LOW\n");
    let port = server.port.to_string();
    let run = || {
        let mut cmd = common::transform_cummingsify(&port);
        cmd.arg("--recursive")
            .arg("--out-dir")
            .arg(dir.path("poems/lowered"))
            .arg(dir.path("poems"));
        cmd
    };
    run()
        .assert()
        .success()
        .stderr(predicate::str::contains("3 of 3 poems transformed"));
    for (path, text) in [
        ("top.txt", "top\n"),
        ("sub/mid.txt", "mid\n"),
        ("sub/deeper/low.txt", "low\n"),
    ] {
        assert_eq!(read(&dir.path("poems/lowered").join(path)), text);
    }
    // Run again: the results of the first run are not poems of the second.
    run().assert().success().stderr(
        predicate::str::contains("the output directory itself")
            .and(predicate::str::contains("3 of 3 poems transformed")),
    );
    assert!(!dir.path("poems/lowered/lowered").exists());
}

#[test]
fn results_replace_old_ones_by_rename_and_leave_no_temporary_file() {
    let server = Server::poetry(&[]);
    let dir = Scratch::new("rename");
    let poem = dir.poem("poems/a.txt", "NEW POEM\n");
    let old = dir.poem("out/a.txt", "old result\n");
    // A link to the old result: a write in place would change it too; a
    // rename leaves it with the old file.
    std::fs::hard_link(&old, dir.path("kept.txt")).unwrap();
    common::transform_cummingsify(&server.port.to_string())
        .arg("--out-dir")
        .arg(dir.path("out"))
        .arg(&poem)
        .arg(dir.poem("poems/b.txt", "B\n"))
        .assert()
        .success();
    assert_eq!(read(&old), "new poem\n");
    assert_eq!(read(&dir.path("kept.txt")), "old result\n");
    let mut left: Vec<String> = std::fs::read_dir(dir.path("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["a.txt", "b.txt"]);
}

#[test]
fn a_batch_all_refused_exits_with_the_refusal_code() {
    let server = Server::poetry(&[]);
    let dir = Scratch::new("refused");
    poetry()
        .args([
            "transform",
            "cummingsfy",
            "--port",
            &server.port.to_string(),
            "--out-dir",
        ])
        .arg(dir.path("out"))
        .arg(dir.poem("a.txt", "A\n"))
        .arg(dir.poem("b.txt", "B\n"))
        .assert()
        .code(4)
        .stderr(
            predicate::str::contains("does not know the transform \"cummingsfy\"")
                .count(2)
                .and(predicate::str::contains(
                    "0 of 2 poems transformed, 0 written unchanged, 2 failed",
                )),
        );
}
