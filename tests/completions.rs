//! The committed shell completions in `completions/` must match the CLI.
//! Regenerate them with `POETRY_UPDATE_COMPLETIONS=1 cargo test --test completions`.

use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;
use poetry::cli::Cli;

const SCRIPTS: &[(Shell, &str)] = &[
    (Shell::Bash, "poetry.bash"),
    (Shell::Zsh, "_poetry"),
    (Shell::Fish, "poetry.fish"),
    (Shell::Elvish, "poetry.elv"),
    (Shell::PowerShell, "_poetry.ps1"),
];

#[test]
fn committed_completions_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    let update = std::env::var_os("POETRY_UPDATE_COMPLETIONS").is_some();
    let mut stale = Vec::new();
    for &(shell, file) in SCRIPTS {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "poetry", &mut script);
        let path = dir.join(file);
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &script).unwrap();
        } else if std::fs::read(&path).ok().as_deref() != Some(script.as_slice()) {
            stale.push(file);
        }
    }
    assert!(
        stale.is_empty(),
        "stale completions in completions/: {stale:?}; regenerate with \
         `POETRY_UPDATE_COMPLETIONS=1 cargo test --test completions` and commit them"
    );
}

#[test]
fn the_binary_prints_the_same_scripts() {
    let out = assert_cmd::Command::cargo_bin("poetry")
        .unwrap()
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut script = Vec::new();
    clap_complete::generate(Shell::Bash, &mut Cli::command(), "poetry", &mut script);
    assert_eq!(out.stdout, script);
}
