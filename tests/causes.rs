//! Every cause of an error is printed once: a failing verb prints one
//! `omicron1: error:` line in which the system's reason appears once, not
//! `... (os error 2): ... (os error 2)` as when an error both formatted its
//! source and returned it. (The third case, no `zfs` binary, is a unit test
//! of `verbs`: the binary always runs `/usr/sbin/zfs`.)

use std::process::{Command, Output};

fn omicron1(args: &[&str], env: &[(&str, &std::path::Path)]) -> Output {
    let run = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_omicron1"));
    cmd.args(args).env("OMICRON1_RUN_DIR", run.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// The one error line of a failed call.
fn error_line(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("omicron1: error: "))
        .collect();
    assert_eq!(lines.len(), 1, "one error line in:\n{stderr}");
    lines[0].to_string()
}

const ENOENT: &str = "No such file or directory";

#[test]
fn a_missing_image_names_it_and_the_reason_once() {
    let dir = tempfile::tempdir().unwrap();
    let zonepath = dir.path().join("z1");
    std::fs::create_dir(&zonepath).unwrap();
    let image = dir.path().join("missing.tar.gz");
    let out = omicron1(
        &[
            "-z",
            "z1",
            "-R",
            zonepath.to_str().unwrap(),
            "install",
            image.to_str().unwrap(),
        ],
        &[("OMICRON1_ZONES_DIR", dir.path())],
    );
    assert_eq!(out.status.code(), Some(254));
    let line = error_line(&out);
    assert!(line.contains(image.to_str().unwrap()), "{line}");
    assert_eq!(line.matches(ENOENT).count(), 1, "{line}");
}

#[test]
fn a_missing_zonepath_names_it_and_the_reason_once() {
    let dir = tempfile::tempdir().unwrap();
    let zonepath = dir.path().join("nowhere/z1");
    let out = omicron1(
        &["-z", "z1", "-R", zonepath.to_str().unwrap(), "install"],
        &[("OMICRON1_ZONES_DIR", dir.path())],
    );
    assert_eq!(out.status.code(), Some(254));
    let line = error_line(&out);
    assert_eq!(
        line,
        format!(
            "omicron1: error: zonepath {}: {ENOENT} (os error 2)",
            zonepath.display()
        )
    );
}
