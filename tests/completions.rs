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

/// TAB after `poetry transform cumm` in bash offers `cummingsify`: the
/// committed script run by bash itself, as a shell would on TAB.
#[test]
fn bash_completes_transform_names() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/completions/poetry.bash");
    let complete = |line: &str| {
        let words: Vec<&str> = line.split(' ').collect();
        let program = format!(
            "source '{script}'; COMP_WORDS=({}); COMP_CWORD={}; COMP_LINE='{line}'; \
             COMP_POINT=${{#COMP_LINE}}; _poetry poetry '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            words.join(" "),
            words.len() - 1,
            words[words.len() - 1],
            words[words.len() - 2],
        );
        let out = assert_cmd::Command::new("bash")
            .args(["-c", &program])
            .timeout(common::STEP)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(complete("poetry transform cumm"), "cummingsify\n");
    let offered = complete("poetry transform r");
    assert!(
        offered.contains("reverse-lines\n") && offered.contains("rot13\n"),
        "{offered}"
    );
}
