//! The binary prints the committed completion scripts (which a unit test of
//! the binary keeps current with the CLI definition).

mod common;

const SCRIPTS: &[(&str, &str)] = &[
    ("bash", "poetry.bash"),
    ("zsh", "_poetry"),
    ("fish", "poetry.fish"),
    ("elvish", "poetry.elv"),
    ("powershell", "_poetry.ps1"),
];

#[test]
fn the_binary_prints_the_committed_scripts() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    for &(shell, file) in SCRIPTS {
        let out = common::poetry().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let committed = std::fs::read(dir.join(file)).unwrap();
        assert!(
            out.stdout == committed,
            "`poetry completions {shell}` differs from completions/{file}"
        );
    }
}
