//! `civicast-serve hash-key`: the key comes from standard input, never the command line, and a
//! short key is refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Stdio};

fn hash_key(stdin: &str, args: &[&str]) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_civicast-serve"))
        .arg("hash-key")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn hash_key_reads_the_key_from_standard_input() {
    let key = "a-key-of-twenty-four-chars";
    let output = hash_key(&format!("{key}\n"), &[]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8(output.stdout).unwrap().trim(),
        civicast_service::auth::hash_key(key)
    );
}

#[test]
fn hash_key_refuses_a_short_key_and_a_key_given_as_an_argument() {
    let output = hash_key("test\n", &[]);
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("at least 20"), "{stderr}");
    assert!(output.stdout.is_empty());
    let output = hash_key("", &["a-key-of-twenty-four-chars"]);
    assert!(!output.status.success(), "an argument is not accepted");
}
