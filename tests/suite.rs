//! `poetry test --suite` as people and CI jobs use it: against our server
//! (every case passes), the Twisted original (only DIFFERS), a server with a
//! larger cap than the suite was told (the failure shows its evidence, and
//! its reproduction line reproduces it); its JSON and JUnit reports read by
//! a parser; case selection, listing, exit codes, and how the server is named.
//!
//! Twisted comes from `POETRY_TWISTED_PYTHON` or else a `python3` that can
//! import it; without it the Twisted test skips locally and fails under `CI=true`.

mod common;

use std::collections::BTreeSet;

use common::suite::{poetry_test, poetry_test_with, Run};
use common::{closed_port, Server};

/// Our server, with the cap the suite assumes by default (Twisted's).
fn our_server() -> Server {
    Server::poetry(&["--max-length", "99999"])
}

/// The ids of every case, from `--list --json`.
fn listed_ids() -> Vec<String> {
    let run = poetry_test(&["--list", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.json()
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|case| case["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A file under the temporary directory that no other test uses.
fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("poetry-suite-{}-{name}", std::process::id()))
}

/// A JUnit test case: its name, and its failure's message and text if it failed.
type JunitCase = (String, Option<String>);

/// `(tests, failures)` of the one test suite in a JUnit document, and its
/// test cases.
fn read_junit(xml: &str) -> ((usize, usize), Vec<JunitCase>) {
    let doc = roxmltree::Document::parse(xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root.children().filter(|n| n.has_tag_name("testsuite")).collect();
    assert_eq!(suites.len(), 1, "{xml}");
    let count = |attr| suites[0].attribute(attr).unwrap().parse::<usize>().unwrap();
    let cases = suites[0]
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .map(|case| {
            assert!(case
                .attribute("classname")
                .is_some_and(|c| c.starts_with("poetry.conformance.")));
            assert!(case.attribute("time").is_some_and(|t| t.parse::<f64>().is_ok()));
            let failure = case.children().find(|n| n.has_tag_name("failure")).map(|f| {
                format!(
                    "{} | {}",
                    f.attribute("message").unwrap_or(""),
                    f.text().unwrap_or("")
                )
            });
            (case.attribute("name").unwrap().to_owned(), failure)
        })
        .collect();
    ((count("tests"), count("failures")), cases)
}

#[test]
fn our_server_passes_every_case_and_the_json_and_junit_reports_say_so() {
    let server = our_server();
    let junit = temp_path("pass.xml");
    let run = poetry_test(&[
        &server.addr(),
        "--suite",
        "--json",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.stderr, "", "no progress bar off a terminal");

    let ids = listed_ids();
    let json = run.json();
    assert_eq!(json["target"], server.addr());
    assert_eq!(json["max_length"], 99_999);
    let cases = json["cases"].as_array().unwrap();
    let reported: Vec<&str> = cases.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(reported, ids, "every case runs, in the listed order");
    for case in cases {
        assert_eq!(case["verdict"], "pass", "{case}");
        assert!(case["millis"].is_u64() && case["evidence"].is_null(), "{case}");
        assert!(
            ["must", "open"].contains(&case["level"].as_str().unwrap()),
            "{case}"
        );
        assert!(!case["rule"].as_str().unwrap().is_empty() && !case["detail"].as_str().unwrap().is_empty());
    }
    assert_eq!(json["tally"]["passed"], ids.len());
    assert_eq!(json["tally"]["failed"], 0);
    assert_eq!(json["tally"]["differ"], 0);

    let xml = std::fs::read_to_string(&junit).unwrap();
    std::fs::remove_file(&junit).unwrap();
    let ((tests, failures), junit_cases) = read_junit(&xml);
    assert_eq!((tests, failures), (ids.len(), 0), "{xml}");
    let names: Vec<&String> = junit_cases.iter().map(|(name, _)| name).collect();
    assert_eq!(names, ids.iter().collect::<Vec<_>>());
    assert!(junit_cases.iter().all(|(_, failure)| failure.is_none()));
}

#[test]
fn the_table_goes_to_stdout_one_row_a_case_and_the_tally_last() {
    let server = our_server();
    let run = poetry_test(&[&server.port.to_string(), "--host", "127.0.0.1", "--suite"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "Conformance suite against {} (maximum length 99999 bytes, 5 s a case):",
            server.addr()
        )
    );
    let ids = listed_ids();
    for (line, id) in lines[1..].iter().zip(&ids) {
        let mut words = line.split_whitespace();
        assert_eq!(
            (words.next(), words.next()),
            (Some("PASS"), Some(id.as_str())),
            "{line}"
        );
    }
    assert_eq!(lines.len(), ids.len() + 2, "{}", run.stdout);
    assert_eq!(*lines.last().unwrap(), format!("{} passed, 0 failed", ids.len()));
}

/// `poetry serve` accepts 1 MiB by default; told 99,999, the suite finds
/// that it answers (and waits for) longer requests, and says how to see it.
#[test]
fn a_failure_shows_what_was_sent_and_got_and_its_reproduction_reproduces_it() {
    let server = Server::poetry(&[]);
    let junit = temp_path("fail.xml");
    let run = poetry_test(&[
        &server.addr(),
        "--case",
        "limit.*",
        "--timeout",
        "1",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let rows: Vec<&str> = run.stdout.lines().filter(|l| !l.starts_with(' ')).collect();
    assert!(rows[1].starts_with("PASS     limit.at-max "), "{}", run.stdout);
    assert!(rows[2].starts_with("FAIL     limit.over-max "), "{}", run.stdout);
    assert!(
        rows[3].starts_with("FAIL     limit.over-max-header "),
        "{}",
        run.stdout
    );
    assert_eq!(*rows.last().unwrap(), "2 passed, 2 failed");
    let port = server.port;
    let reproduce = format!(
        "{{ printf '100000:cummingsify.'; head -c 99988 /dev/zero | tr '\\0' 'A'; printf ','; }} \
         | nc.traditional -q -1 127.0.0.1 {port}"
    );
    for expected in [
        "         rule       a payload one byte over the maximum length is refused (MUST)".to_owned(),
        "         sent       `100000:cummingsify.` + `A` × 99988 + `,`".to_owned(),
        "         expected   the connection closed without a byte".to_owned(),
        format!("         reproduce  {reproduce}"),
        "         sent       `100000:`".to_owned(),
        "         got        nothing; the connection was still open at the deadline".to_owned(),
    ] {
        assert!(
            run.stdout.lines().any(|line| line == expected),
            "no line {expected:?} in\n{}",
            run.stdout
        );
    }
    // What came back is cut to a line, read as a netstring, and not read to its end.
    assert!(
        run.stdout
            .lines()
            .any(|line| line.starts_with("         got        `99988:aaaa")
                && line.contains("(a netstring of 99988 bytes, not all of it read)")
                && line.ends_with("the server was still sending when the tester stopped reading")
                && line.len() < 250),
        "{}",
        run.stdout
    );

    let xml = std::fs::read_to_string(&junit).unwrap();
    std::fs::remove_file(&junit).unwrap();
    let ((tests, failures), cases) = read_junit(&xml);
    assert_eq!((tests, failures), (4, 2), "{xml}");
    let failure = cases
        .iter()
        .find(|(name, _)| name == "limit.over-max")
        .and_then(|(_, failure)| failure.clone())
        .expect("a failure element for limit.over-max");
    assert!(
        failure.contains("the server answered instead of closing without a byte")
            && failure.contains(&reproduce),
        "{failure}"
    );

    // The line is meant to be pasted: it shows the same reply.
    if common::require(
        "nc.traditional (netcat-traditional)",
        common::which("nc.traditional").is_some(),
    ) {
        let out = assert_cmd::Command::new("sh")
            .args(["-c", &reproduce])
            .timeout(common::STEP)
            .output()
            .unwrap();
        assert!(
            out.stdout.starts_with(b"99988:aaaa"),
            "{:?}",
            &out.stdout[..20.min(out.stdout.len())]
        );
        assert_eq!(out.stdout.len(), 99_995);
    }
}

#[test]
fn the_twisted_server_passes_with_only_open_behaviours_differing() {
    let Some(python) = common::twisted::python() else {
        return;
    };
    let server = common::twisted::server(python);
    let addr = server.addr();
    let run = poetry_test(&[&addr, "--suite", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.ids("fail").is_empty(), "{}", run.stdout);
    // Twisted's NetstringReceiver answers every frame it has buffered.
    let differs = run.ids("differs");
    assert!(differs.contains("conn.pipelined"), "{}", run.stdout);
    let pipelined = run.case("conn.pipelined");
    assert!(
        pipelined["detail"].as_str().unwrap().contains("answered both"),
        "{pipelined}"
    );
    let open: BTreeSet<String> = run.json()["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|case| case["level"] == "open")
        .map(|case| case["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        differs.is_subset(&open),
        "{differs:?} are not all open behaviours"
    );

    let strict = poetry_test(&[&addr, "--case", "conn.*", "--strict", "--json"]);
    assert_eq!(strict.code, 1, "{}", strict.stdout);
    assert!(strict.ids("fail").contains("conn.pipelined"), "{}", strict.stdout);
    assert!(strict.ids("differs").is_empty());
}

#[test]
fn cases_are_listed_and_picked_by_glob() {
    let list = poetry_test(&["--list"]);
    assert_eq!(list.code, 0);
    let ids = listed_ids();
    assert_eq!(list.stdout.lines().count(), ids.len());
    for (line, id) in list.stdout.lines().zip(&ids) {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[0], id);
        assert!(["MUST", "open"].contains(&words[1]), "{line}");
    }
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        ids.len(),
        "ids are unique"
    );
    assert!(ids.len() >= 30);

    let server = our_server();
    let run = poetry_test(&[
        &server.addr(),
        "--case",
        "frame.*",
        "--case",
        "classic.round-trip",
        "--skip",
        "frame.split-*",
        "--skip",
        "frame.one-byte-writes",
        "--json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let expected: BTreeSet<String> = ids
        .iter()
        .filter(|id| {
            (id.starts_with("frame.") && !id.starts_with("frame.split-") && *id != "frame.one-byte-writes")
                || *id == "classic.round-trip"
        })
        .cloned()
        .collect();
    assert_eq!(run.ids("pass"), expected);
    assert!(expected.contains("frame.leading-zeros") && expected.len() >= 8);
}

#[test]
fn usage_errors_exit_2_and_an_unreachable_server_exits_3() {
    let port = closed_port().to_string();
    for (args, says) in [
        (
            vec![port.as_str(), "--case", "frame.nothing-like-this"],
            "matches no case",
        ),
        (vec![port.as_str(), "--case", "[frame"], "is not a valid pattern"),
        (vec![port.as_str(), "--skip", "*"], "no case is left"),
        (vec![port.as_str(), "--max-length", "10"], "at least 256 bytes"),
        (vec!["localhost:port"], "is not a port"),
        (vec![":11000"], "no host before ':'"),
    ] {
        let run = poetry_test(&args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
        assert_eq!(run.stdout, "");
    }
    let run = poetry_test_with(&[], &[("POETRY_PORT", "eleven")]);
    assert_eq!(run.code, 2, "{}", run.stderr);

    for args in [
        vec![port.as_str(), "--host", "127.0.0.1", "--suite"],
        vec![port.as_str(), "--host", "127.0.0.1"],
    ] {
        let run = poetry_test(&args);
        assert_eq!(run.code, 3, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("connection refused"), "{}", run.stderr);
        assert_eq!(run.stdout, "");
    }
}

#[test]
fn the_server_is_named_as_host_port_port_or_by_environment() {
    let server = our_server();
    let port = server.port.to_string();
    let classic = |run: &Run| {
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(run.stdout, "15:here is my poem,\n");
    };
    classic(&poetry_test(&[&server.addr()]));
    classic(&poetry_test(&[&port, "--host", "127.0.0.1"]));
    classic(&poetry_test_with(
        &[],
        &[("POETRY_HOST", "127.0.0.1"), ("POETRY_PORT", &port)],
    ));
    // The argument wins over the environment.
    classic(&poetry_test_with(&[&server.addr()], &[("POETRY_PORT", "1")]));
    let suite = poetry_test_with(
        &["--case", "classic.*"],
        &[("POETRY_HOST", "127.0.0.1"), ("POETRY_PORT", &port)],
    );
    assert_eq!(suite.code, 0, "{}", suite.stdout);
    assert!(suite.stdout.ends_with("1 passed, 0 failed\n"), "{}", suite.stdout);
}
