//! `omicron1 dataset check|setup` arguments, refused before any `zfs` runs
//! (the rules themselves are unit-tested against the fake and run on real ZFS
//! in `vm-tests/tests/delegated.rs`).

use std::process::{Command, Output};

fn omicron1(args: &[&str]) -> Output {
    let run = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_omicron1"))
        .args(args)
        .env("OMICRON1_RUN_DIR", run.path())
        .env("OMICRON1_ZONES_DIR", run.path().join("zones"))
        .output()
        .unwrap()
}

#[test]
fn bad_dataset_and_zone_names_are_usage_errors() {
    for verb in ["check", "setup"] {
        for args in [
            &[verb, "tp/a@snap"][..],
            &[verb, "-rf"][..],
            &[verb, "tp/../x"][..],
            &[verb, "tp/a", "--zone", "../../etc/passwd"][..],
            &[verb, "tp/a", "--zone", ""][..],
            &[verb][..],
        ] {
            let mut argv = vec!["dataset"];
            argv.extend_from_slice(args);
            let out = omicron1(&argv);
            assert_eq!(
                out.status.code(),
                Some(253),
                "{argv:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let out = omicron1(&["dataset", "check", "tp/a@snap"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid ZFS dataset name"));
}

#[test]
fn help_names_the_verbs() {
    let out = omicron1(&["dataset", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("check") && help.contains("setup"), "{help}");
    let out = omicron1(&["dataset", "setup", "--help"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("--apply"));
}
