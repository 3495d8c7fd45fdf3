//! The binary as zoneadm and administrators call it: verbs, exit codes, messages.

use std::process::{Command, Output};

fn omicron1(args: &[&str]) -> Output {
    let run = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_omicron1"))
        .args(args)
        .env("OMICRON1_RUN_DIR", run.path())
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn help_lists_every_verb_of_the_contract() {
    let out = omicron1(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    let verbs = [
        "install",
        "uninstall",
        "verify_cfg",
        "verify_adm",
        "query",
        "prestatechange",
        "poststatechange",
        "clone",
        "attach",
        "detach",
        "template",
        "dataset",
        "image",
        "baseline",
    ];
    for verb in verbs {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(verb)),
            "{verb} missing:\n{help}"
        );
    }
    let template = String::from_utf8_lossy(&omicron1(&["template", "--help"]).stdout).into_owned();
    for sub in ["build", "list", "gc"] {
        assert!(
            template.contains(sub),
            "template {sub} missing:\n{template}"
        );
    }
}

#[test]
fn usage_errors_exit_253() {
    for args in [
        &["bogus"][..],
        &["install"][..],
        &["-z", "z1", "install"][..],
        &["-z", "bad name", "-R", "/zones/z", "install"][..],
        &["-z", "z1", "-R", "relative", "install"][..],
        &["-z", "z1", "-R", "/zones/z1", "prestatechange", "9", "0"][..],
        &["-z", "z1", "-R", "/zones/z1", "prestatechange", "x", "0"][..],
        &["verify_cfg", "/nonexistent/zone.xml"][..],
    ] {
        let out = omicron1(args);
        assert_eq!(out.status.code(), Some(253), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn state_hooks_accept_what_zoneadm_passes() {
    for state in 2..=7 {
        for cmd in ["0", "1", "4"] {
            let s = state.to_string();
            for hook in ["prestatechange", "poststatechange"] {
                let out = omicron1(&["-z", "z1", "-R", "/zones/z1", hook, &s, cmd]);
                assert_eq!(
                    out.status.code(),
                    Some(0),
                    "{hook} {s} {cmd}: {}",
                    stderr(&out)
                );
            }
        }
    }
    let out = omicron1(&[
        "-z",
        "z1",
        "-R",
        "/zones/z1",
        "poststatechange",
        "3",
        "1",
        "/a",
    ]);
    assert_eq!(out.status.code(), Some(0), "with an altroot");
}

#[test]
fn query_datasets_prints_no_implicit_datasets() {
    let out = omicron1(&["-z", "z1", "-R", "/zones/z1", "query", "datasets"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
}

#[test]
fn query_of_an_unknown_question_prints_nothing_and_succeeds() {
    // brand.dtd.1: a hook does nothing for what it does not support.
    let out = omicron1(&["-z", "z1", "-R", "/zones/z1", "query", "nonsense"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}

#[test]
fn verify_adm_takes_zoneadms_raw_argv() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("image.tar.gz");
    std::fs::write(&image, b"").unwrap();
    let image = image.to_str().unwrap();
    let z = ["-z", "z1", "-R", "/zones/z1", "verify_adm"];
    for (args, code) in [
        (&["install", "-x", "nodataset", image][..], 0),
        (&["install", image, "-x", "nodataset"][..], 0),
        (&["install"][..], 0),
        (&["install", "-q", image][..], 253),
        (&["install", "/nonexistent/image.tar.gz"][..], 254),
        (&["clone", "-s", "tp/z@snap", "src"][..], 0),
        (&["detach", "-n"][..], 0),
    ] {
        let argv: Vec<&str> = z.iter().chain(args).copied().collect();
        let out = omicron1(&argv);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
    }
    // `zoneadm attach -n PATH` runs verify_adm with `-z - -R -`.
    let out = omicron1(&[
        "-z",
        "-",
        "-R",
        "-",
        "verify_adm",
        "attach",
        "-n",
        "/tmp/m.xml",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn every_call_is_logged_with_its_outcome() {
    let run = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_omicron1"))
        .args(["-z", "z1", "-R", "/zones/z1", "prestatechange", "99", "0"])
        .env("OMICRON1_RUN_DIR", run.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(253));
    let log = std::fs::read_to_string(run.path().join("omicron1.log")).unwrap();
    assert!(
        log.contains("\"exit\":253") && log.contains("unknown zone state 99"),
        "{log}"
    );
}
