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

/// Prints the completion script for `shell`.
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
    if shell == clap_complete::Shell::Fish {
        // clap_complete's fish script completes no positional argument, so
        // the transform names (which bash and zsh get from the definition)
        // come from the binary itself, with their descriptions.
        script.extend_from_slice(
            b"complete -c poetry -n \"__fish_poetry_using_subcommand transform\" \
              -a \"(poetry transforms 2>/dev/null | string replace -r '  +' \\t)\"\n",
        );
    }
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

    /// The manual pages: `poetry.1`, and `poetry-SUBCOMMAND.1` for each
    /// subcommand, as clap_mangen makes them from the one definition.
    fn man_pages() -> Vec<(String, Vec<u8>)> {
        fn render(command: clap::Command, pages: &mut Vec<(String, Vec<u8>)>) {
            for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
                render(sub.clone(), pages);
            }
            let man = clap_mangen::Man::new(command);
            let mut page = Vec::new();
            man.render(&mut page).expect("render a man page");
            pages.push((man.get_filename(), page));
        }
        let mut command = cli::command().disable_help_subcommand(true);
        command.build();
        let mut pages = Vec::new();
        render(command, &mut pages);
        pages
    }

    /// Regenerated with the completions (same command).
    #[test]
    fn committed_completions_man_pages_are_current() {
        let pages = man_pages();
        let names: Vec<&str> = pages.iter().map(|(name, _)| name.as_str()).collect();
        assert!(
            names.contains(&"poetry.1") && names.contains(&"poetry-transform.1"),
            "{names:?}"
        );
        let transform = &pages
            .iter()
            .find(|(name, _)| name == "poetry-transform.1")
            .unwrap()
            .1;
        let transform = String::from_utf8_lossy(transform);
        assert!(transform.contains("Exit codes"), "{transform}");
        check_committed("man", pages);
    }
}
