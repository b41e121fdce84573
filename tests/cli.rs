//! End-to-end tests of the `poetry` binary: real server, real client.

mod common;

use assert_cmd::Command;
use common::Server;
use predicates::prelude::*;

fn poetry() -> Command {
    let mut cmd = Command::cargo_bin("poetry").unwrap();
    cmd.timeout(common::STEP).env_remove("POETRY_HOST").env_remove("POETRY_PORT");
    cmd
}

#[test]
fn serve_transform_and_test_end_to_end() {
    let server = Server::poetry(&[]);
    assert!(server.banner.starts_with("Serving transforms on 127.0.0.1:"), "{}", server.banner);
    let port = server.port.to_string();
    poetry()
        .args(["transform", "cummingsify", "--port", &port])
        .write_stdin("HERE IS MY POEM")
        .assert()
        .success()
        .stdout("here is my poem");
    poetry()
        .args(["test", &port])
        .assert()
        .success()
        .stdout("15:here is my poem,\n")
        .stderr(predicate::str::contains("PASS"));
}
