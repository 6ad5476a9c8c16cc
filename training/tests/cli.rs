//! `civicast-train check` as a user runs it: exit codes, text and JSON.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::*;

fn train() -> Command {
    Command::new(env!("CARGO_BIN_EXE_civicast-train"))
}

#[test]
fn check_prints_a_summary_and_succeeds_on_valid_data() {
    let manifest = datasets().join("chicago_ridership/dataset.toml");
    let out = train().arg("check").arg(&manifest).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("series      20"), "{text}");
    assert!(text.contains("rows        113960"), "{text}");
    assert!(
        text.contains("span        2001-01-08 .. 2016-08-14"),
        "{text}"
    );
    assert!(text.contains("holidays_us_il.csv"), "{text}");
}

#[test]
fn check_fails_and_lists_problems_on_invalid_data() {
    let mut rows = rows(&["a"], 30);
    rows[3][2] = "abc".into();
    let fixture = Fixture::new(&manifest(), &csv(&rows));
    let out = train()
        .arg("check")
        .arg(fixture.manifest())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("INVALID"), "{text}");
    assert!(
        text.contains("line 5, series \"a\", column \"y\": expected a number, found \"abc\""),
        "{text}"
    );
}

#[test]
fn check_json_is_machine_readable_for_valid_and_invalid_data() {
    let valid = datasets().join("bikeshare_hourly/dataset.toml");
    let fixture = Fixture::new(&manifest().replace("horizon", "horizn"), "");
    let out = train()
        .args(["check", "--json"])
        .arg(&valid)
        .arg(fixture.manifest())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "one of the two is invalid");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["valid"], true);
    assert_eq!(json[0]["summary"]["rows"], 8760);
    assert_eq!(json[0]["summary"]["series"], 1);
    assert_eq!(json[1]["valid"], false);
    assert_eq!(json[1]["problems"][0]["kind"], "unknown_key");
    assert_eq!(json[1]["problems"][0]["location"]["key"]["key"], "horizn");
}

#[test]
fn help_explains_the_check_command() {
    let out = train().args(["check", "--help"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("dataset.toml") && text.contains("--json"),
        "{text}"
    );
}
