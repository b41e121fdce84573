use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::Cli;

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
    std::io::Write::write_all(&mut std::io::stdout(), &script(shell))?;
    Ok(ExitCode::SUCCESS)
}

/// The completion script for `shell`, generated from the one CLI definition.
pub fn script(shell: clap_complete::Shell) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "poetry", &mut script);
    script
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regenerate with `POETRY_UPDATE_COMPLETIONS=1 cargo test --bin poetry completions`.
    #[test]
    fn committed_completions_are_current() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
        let update = std::env::var_os("POETRY_UPDATE_COMPLETIONS").is_some();
        let mut stale = Vec::new();
        for &(shell, file) in SCRIPTS {
            let script = script(shell);
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
             `POETRY_UPDATE_COMPLETIONS=1 cargo test --bin poetry completions` and commit them"
        );
    }
}
