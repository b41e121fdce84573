use std::io::Write;
use std::process::ExitCode;

use crate::cli;

/// The committed scripts under `completions/`, by shell.
#[cfg_attr(not(test), allow(dead_code))]
pub const SCRIPTS: &[(clap_complete::Shell, &str)] = &[
    (clap_complete::Shell::Bash, "poetry.bash"),
    (clap_complete::Shell::Zsh, "_poetry"),
    (clap_complete::Shell::Fish, "poetry.fish"),
    (clap_complete::Shell::Elvish, "poetry.elv"),
    (clap_complete::Shell::PowerShell, "_poetry.ps1"),
];

pub fn run(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&script(shell))?;
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The completion script for `shell`, generated from the one CLI definition.
pub fn script(shell: clap_complete::Shell) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cli::command(), "poetry", &mut script);
    script
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Writes `files` under `dir` when `POETRY_UPDATE_COMPLETIONS` is set;
    /// otherwise fails naming each committed file that differs from them.
    fn check_committed(dir: &str, files: Vec<(String, Vec<u8>)>) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let update = std::env::var_os("POETRY_UPDATE_COMPLETIONS").is_some();
        let mut stale = Vec::new();
        for (file, content) in files {
            let path = dir.join(&file);
            if update {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &content).unwrap();
            } else if std::fs::read(&path).ok().as_deref() != Some(content.as_slice()) {
                stale.push(file);
            }
        }
        assert!(
            stale.is_empty(),
            "stale files in {}: {stale:?}; regenerate them with \
             `POETRY_UPDATE_COMPLETIONS=1 cargo test --bin poetry completions` and commit them",
            dir.display()
        );
    }

    /// Regenerate with `POETRY_UPDATE_COMPLETIONS=1 cargo test --bin poetry completions`.
    #[test]
    fn committed_completions_are_current() {
        let scripts = SCRIPTS
            .iter()
            .map(|&(shell, file)| (file.to_owned(), script(shell)))
            .collect();
        check_committed("completions", scripts);
    }
}
