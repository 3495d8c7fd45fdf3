//! The operator's and the control plane's view (issue 12), through the
//! binary: settings validated in one place, JSON parsed back field by field,
//! one voice on stderr, the call log, the version, help. What needs ZFS is in
//! `vm-tests/tests/operator.rs`.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// Runs the binary with a private run folder and no defaults file, plus `env`.
fn run(args: &[&str], env: &[(&str, &str)]) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_omicron1"));
    cmd.args(args)
        .env("OMICRON1_RUN_DIR", dir.path().join("run"))
        .env("OMICRON1_DEFAULTS_FILE", dir.path().join("no-defaults"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    (cmd.output().unwrap(), dir)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every line on stderr is in the installer's voice: no timestamps, no other
/// prefixes.
fn assert_one_voice(stderr: &str) {
    for line in stderr.lines() {
        assert!(
            line.starts_with("omicron1: ") || line.starts_with("INFO: omicron: "),
            "a line not in the installer's voice: {line:?}\n{stderr}"
        );
    }
}

/// Each bad value is refused before anything is done: exit 253, one error
/// line naming the variable, where it came from and what it accepts.
#[test]
fn every_bad_setting_is_refused_naming_the_variable_and_the_accepted_values() {
    let cases = [
        ("OMICRON1_REPLICATE", "foo", "split, copy"),
        ("OMICRON1_COPY_THREADS", "0", "an integer from 1 to 256"),
        ("OMICRON1_COPY_THREADS", "many", "an integer from 1 to 256"),
        ("OMICRON1_LOCK_TIMEOUT", "-5", "a whole number of seconds"),
        ("OMICRON1_LOG", "chatty", "error, warn, info, debug, trace"),
        ("OMICRON1_SOURCE_ROOT", "relative", "an absolute path"),
        ("OMICRON1_BASELINE_DIR", "relative", "an absolute path"),
        ("OMICRON1_ZONES_DIR", "relative", "an absolute path"),
        ("OMICRON1_RUN_DIR", "relative", "an absolute path"),
        ("OMICRON1_BOOT_ID", "a\u{1}b", "no control characters"),
    ];
    for (name, value, accepted) in cases {
        let (out, _dir) = run(&["image", "inspect", "/nonexistent.tgz"], &[(name, value)]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(253), "{name}={value}: {err}");
        assert!(out.stdout.is_empty(), "{name}: nothing done");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with(&format!("omicron1: error: {name}="))
                && err.contains("the environment")
                && err.contains(accepted),
            "{err}"
        );
    }
}

#[test]
fn the_defaults_file_is_read_and_the_environment_wins() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("omicron1");
    let from_file = dir.path().join("file-run");
    let from_env = dir.path().join("env-run");
    std::fs::write(
        &file,
        format!(
            "# /etc/default/omicron1\nOMICRON1_RUN_DIR={}\nOMICRON1_UNKNOWN=1\n",
            from_file.display()
        ),
    )
    .unwrap();
    let call = |env_run: Option<&Path>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_omicron1"));
        cmd.args(["image", "inspect", "/nonexistent.tgz"])
            .env_remove("OMICRON1_RUN_DIR")
            .env("OMICRON1_DEFAULTS_FILE", &file);
        if let Some(r) = env_run {
            cmd.env("OMICRON1_RUN_DIR", r);
        }
        cmd.output().unwrap()
    };
    let out = call(None);
    assert_eq!(out.status.code(), Some(254), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("omicron1: warning:")
            && err.contains("line 3: unknown setting OMICRON1_UNKNOWN"),
        "{err}"
    );
    assert_one_voice(&err);
    assert!(
        from_file.join("omicron1.log").exists(),
        "the file's run folder is used"
    );
    let out = call(Some(&from_env));
    assert_eq!(out.status.code(), Some(254));
    assert!(
        from_env.join("omicron1.log").exists(),
        "the environment wins"
    );

    // A bad value in the file names the file and the line.
    std::fs::write(&file, "OMICRON1_REPLICATE=sideways\n").unwrap();
    let out = call(Some(&from_env));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(253), "{err}");
    assert!(
        err.contains("OMICRON1_REPLICATE=\"sideways\"")
            && err.contains(&format!("{} line 1", file.display()))
            && err.contains("split, copy"),
        "{err}"
    );
}

#[test]
fn help_shows_the_settings_the_exit_codes_and_hooks_under_their_heading() {
    let (out, _dir) = run(&["--help"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for needle in [
        "OMICRON1_REPLICATE",
        "OMICRON1_LOCK_TIMEOUT",
        "/etc/default/omicron1",
        "253 usage",
        "Administration:",
        "Brand hooks",
        "omicron1 -z ZONE -R ZONEPATH HOOK",
    ] {
        assert!(help.contains(needle), "{needle} missing:\n{help}");
    }
    // `help VERB` works, and a hook's usage line shows -z and -R.
    let (out, _dir) = run(&["help", "install"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("omicron1 -z ZONE -R ZONEPATH install [IMAGE]..."),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn zone_options_after_the_verb_get_the_missing_zone_message() {
    let (after, _d1) = run(&["install", "-z", "z1", "-R", "/zones/z1"], &[]);
    let (missing, _d2) = run(&["install"], &[]);
    assert_eq!(after.status.code(), Some(253));
    assert_eq!(missing.status.code(), Some(253));
    assert_eq!(text(&after.stderr), text(&missing.stderr));
    assert_eq!(
        text(&after.stderr),
        "omicron1: error: install needs -z ZONE and -R ZONEPATH before the verb\n"
    );
    // Any other argument error is one line in the same voice.
    let (out, _d3) = run(&["template", "list", "--bogus"], &[]);
    assert_eq!(out.status.code(), Some(253));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("omicron1: error: ") && err.contains("--bogus"),
        "{err}"
    );
}

#[test]
fn version_names_the_commit() {
    let (out, _dir) = run(&["--version"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let v = text(&out.stdout);
    assert!(
        v.starts_with(&format!("omicron1 {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{v}"
    );
    let commit = v.trim().rsplit(' ').next().unwrap().trim_end_matches(')');
    assert!(
        commit == "unknown" || (commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{v}"
    );
}

/// What install records in `omicron1:installer` is what `--version` prints.
#[test]
fn the_installer_property_is_the_version() {
    assert_eq!(omicron1::props::INSTALLER_VERSION, omicron1::cli::VERSION);
}

/// The call log is JSON lines with the fields the man page documents.
#[test]
fn the_call_log_is_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    for args in [
        &["image", "inspect", "/nonexistent.tgz"][..],
        &["-z", "z1", "-R", "/zones/z1", "query", "datasets"][..],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_omicron1"))
            .args(args)
            .env("OMICRON1_RUN_DIR", &run_dir)
            .env("OMICRON1_DEFAULTS_FILE", dir.path().join("none"))
            .output()
            .unwrap();
        assert!(out.status.code().is_some());
    }
    let log = std::fs::read_to_string(run_dir.join("omicron1.log")).unwrap();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 2, "{log}");
    let first = &lines[0];
    let time = first["time"].as_str().unwrap();
    assert!(
        time.len() == 20 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
        "RFC 3339: {time}"
    );
    assert!(first["pid"].as_u64().unwrap() > 0);
    assert_eq!(first["verb"], "image inspect");
    assert_eq!(first["zone"], Value::Null);
    assert_eq!(first["exit"], 254);
    assert!(first["ms"].is_u64());
    assert!(first["error"]
        .as_str()
        .unwrap()
        .contains("/nonexistent.tgz"));
    assert_eq!(first["argv"][1], "image");
    let second = &lines[1];
    assert_eq!(second["verb"], "query");
    assert_eq!(second["zone"], "z1");
    assert_eq!(second["exit"], 0);
    assert_eq!(second["error"], Value::Null);
}

/// `baseline create --json` and `image inspect --json`: stdout is the JSON
/// document alone (progress moves to stderr), every field as documented.
#[test]
fn baseline_create_and_image_inspect_print_their_json() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("etc/sub")).unwrap();
    std::fs::write(root.join("etc/motd"), b"hello\n").unwrap();
    std::fs::write(root.join("etc/sub/file"), vec![7u8; 2048]).unwrap();
    std::os::unix::fs::symlink("motd", root.join("etc/link")).unwrap();
    let include = dir.path().join("include");
    std::fs::write(&include, "etc\n").unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let (out, _run) = run(
        &[
            "baseline",
            "create",
            "--root",
            root.to_str().unwrap(),
            "--include",
            include.to_str().unwrap(),
            "--output",
            out_dir.to_str().unwrap(),
            "--json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let created: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)));
    let files = out_dir.join("files.tar.gz");
    assert_eq!(created["files"], files.to_str().unwrap());
    assert_eq!(
        created["gzonly"],
        out_dir.join("gzonly.txt").to_str().unwrap()
    );
    assert_eq!(
        created["entries"], 5,
        "etc, etc/motd, etc/sub, etc/sub/file, etc/link"
    );
    assert_eq!(created["bytes"], 6 + 2048);
    assert_eq!(created.as_object().unwrap().len(), 4, "{created}");
    assert!(
        text(&out.stderr).contains("INFO: omicron: wrote"),
        "progress on stderr"
    );

    let (out, _run) = run(
        &["image", "inspect", files.to_str().unwrap(), "--json"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let i: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(i["image"], files.to_str().unwrap());
    let sha = i["sha256"].as_str().unwrap();
    assert_eq!(sha.len(), 64);
    assert_eq!(i["metadata"]["t"], "baseline");
    assert_eq!(i["metadata"]["v"], "1");
    assert_eq!(i["files"], 2);
    assert_eq!(i["dirs"], 2);
    assert_eq!(i["symlinks"], 1);
    assert_eq!(i["hardlinks"], 0);
    assert_eq!(i["bytes"], 6 + 2048);
    assert!(i["ignored"].is_u64());
    assert_eq!(i.as_object().unwrap().len(), 9, "{i}");
    // The text form names the size as zfs does.
    let (out, _run) = run(&["image", "inspect", files.to_str().unwrap()], &[]);
    assert!(
        text(&out.stdout).contains("2 files (2.01K)"),
        "{}",
        text(&out.stdout)
    );
}

/// A dataset that cannot be checked is not a broken rule: exit 255 and
/// `result: unchecked`, the reason also on stderr.
#[test]
fn dataset_check_tells_could_not_check_from_a_broken_rule() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("zones");
    std::fs::write(&not_a_dir, "").unwrap();
    let (out, _run) = run(
        &["dataset", "check", "tp/delegated/z1", "--json"],
        &[("OMICRON1_ZONES_DIR", not_a_dir.to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(255), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["dataset"], "tp/delegated/z1");
    assert_eq!(report["zone"], Value::Null);
    assert_eq!(report["result"], "unchecked");
    assert_eq!(report["rules"], serde_json::json!([]));
    let error = report["error"].as_str().unwrap();
    assert!(error.contains(not_a_dir.to_str().unwrap()), "{error}");
    let err = text(&out.stderr);
    assert!(
        err.starts_with("omicron1: error: ") && err.contains(error),
        "{err}"
    );
}

/// Diagnostics carry no timestamps either.
#[test]
fn debug_diagnostics_have_no_timestamps() {
    let (out, _dir) = run(
        &["image", "inspect", "/nonexistent.tgz"],
        &[("OMICRON1_LOG", "trace")],
    );
    for line in text(&out.stderr).lines() {
        assert!(!line.trim_start().starts_with("20"), "a timestamp: {line}");
    }
}

/// A gzip tar with the given entries, in order.
fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (name, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, name, *data).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// The baseline archive is checked before anything is replicated: each way
/// of not being one is refused in milliseconds, named as the baseline archive.
#[test]
fn a_bad_baseline_archive_is_refused_before_replication() {
    use omicron1::rootfs::baseline::{self, Baseline};
    use omicron1::rootfs::{populate, replicate::Mode, Sources};
    let dir = tempfile::tempdir().unwrap();
    let base = br#"{"v":"1","t":"baseline"}"#;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("plain", b"not gzip at all".to_vec(), "not gzip data"),
        ("empty", Vec::new(), "not gzip"),
        (
            "layer",
            archive(&[("oxide.json", br#"{"v":"1","t":"layer"}"#)]),
            "oxide.json",
        ),
        (
            "root-first",
            archive(&[("root/etc/motd", b"x"), ("oxide.json", base)]),
            "is not its first entry",
        ),
        (
            "no-meta",
            archive(&[("other", b"x")]),
            "is not its first entry",
        ),
        ("bad-json", archive(&[("oxide.json", b"{")]), "oxide.json"),
    ];
    for (name, bytes, expected) in cases {
        let path = dir.path().join(format!("{name}.tar.gz"));
        std::fs::write(&path, bytes).unwrap();
        let e = baseline::check_archive(&path).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("baseline archive {}: ", path.display()))
                && e.contains(expected),
            "{name}: {e}"
        );
    }
    let good = dir.path().join("good.tar.gz");
    std::fs::write(
        &good,
        archive(&[("./", b""), ("oxide.json", base), ("root/a", b"a")]),
    )
    .unwrap();
    baseline::check_archive(&good).unwrap();

    // populate refuses it before replicating anything.
    let source = dir.path().join("source");
    for tree in ["usr", "lib", "sbin"] {
        std::fs::create_dir_all(source.join(tree)).unwrap();
        std::fs::write(source.join(tree).join("f"), b"f").unwrap();
    }
    let target = dir.path().join("target");
    std::fs::create_dir(&target).unwrap();
    let sources = Sources {
        source_root: source,
        baseline: Baseline {
            files: dir.path().join("layer.tar.gz"),
            gzonly: dir.path().join("gzonly.txt"),
        },
        mode: Mode::CopyAll,
        threads: 2,
    };
    let e = populate(&target, &sources).unwrap_err().to_string();
    assert!(e.contains("baseline archive"), "{e}");
    assert_eq!(
        std::fs::read_dir(&target).unwrap().count(),
        0,
        "nothing replicated"
    );
}

/// `verify_cfg` reports every problem in order: the brand's, then the
/// delegated datasets' (here one that cannot even be looked at: the pool
/// does not exist, or there is no ZFS on the host).
#[test]
fn verify_cfg_lists_every_problem_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let xml = dir.path().join("z1.xml");
    std::fs::write(
        &xml,
        r#"<?xml version="1.0"?>
<zone name="z1" zonepath="/zones/z1" brand="sparse" ip-type="shared">
  <dataset name="nosuchpool/delegated/z1"/>
</zone>
"#,
    )
    .unwrap();
    let zones = dir.path().join("zones");
    std::fs::create_dir(&zones).unwrap();
    let (out, _run) = run(
        &["verify_cfg", xml.to_str().unwrap()],
        &[("OMICRON1_ZONES_DIR", zones.to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(254));
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(lines[0].contains("brand \"sparse\""), "{err}");
    assert!(lines[1].contains("ip-type \"shared\""), "{err}");
    // The datasets' problems come after; on a host without ZFS, the reason
    // they could not be looked at.
    assert!(lines[2].starts_with("omicron1: error: "), "{err}");
    assert_one_voice(&err);
}

/// The verbs a text lists: each `omicron1 [-z ZONE -R ZONEPATH] WORD [WORD]`
/// it shows, as the words that are plain lowercase names.
fn verbs_after(text: &str) -> Vec<String> {
    text.split_whitespace()
        .take_while(|w| w.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .collect::<Vec<_>>()
        .join(" ")
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.retain(|x| x != "help");
    v.sort();
    v.dedup();
    v
}

/// What `--help` lists: the top level's verbs, and each group's.
fn help_verbs() -> Vec<String> {
    let (out, _d) = run(&["--help"], &[]);
    let help = text(&out.stdout);
    let mut verbs = Vec::new();
    let mut in_list = false;
    for line in help.lines() {
        if line.starts_with("Administration:") || line.starts_with("Brand hooks") {
            in_list = true;
            continue;
        }
        if line.trim().is_empty() || !line.starts_with("  ") {
            in_list = false;
            continue;
        }
        if in_list {
            let verb = line.split_whitespace().next().unwrap().to_string();
            let (group_help, _d) = run(&[&verb, "--help"], &[]);
            let group_help = text(&group_help.stdout);
            let mut subs = Vec::new();
            let mut in_commands = false;
            for l in group_help.lines() {
                if l.starts_with("Commands:") {
                    in_commands = true;
                } else if l.trim().is_empty() {
                    in_commands = false;
                } else if in_commands {
                    let sub = l.split_whitespace().next().unwrap();
                    if sub != "help" {
                        subs.push(format!("{verb} {sub}"));
                    }
                }
            }
            if subs.is_empty() {
                verbs.push(verb);
            } else {
                verbs.extend(subs);
            }
        }
    }
    sorted(verbs)
}

#[test]
fn readme_man_page_and_help_list_the_same_verbs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let help = help_verbs();
    assert!(help.len() >= 20, "{help:?}");

    let man = std::fs::read_to_string(root.join("brand/omicron1.8")).unwrap();
    let man_verbs = sorted(
        man.lines()
            .filter_map(|l| l.strip_prefix(".It Cm "))
            .map(|l| verbs_after(l).join(" "))
            .collect(),
    );
    assert_eq!(man_verbs, help, "brand/omicron1.8 against --help");

    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let readme_verbs = sorted(
        readme
            .lines()
            .filter_map(|l| l.strip_prefix("| `omicron1 "))
            .map(|l| {
                let l = l.strip_prefix("-z ZONE -R ZONEPATH ").unwrap_or(l);
                verbs_after(l).join(" ")
            })
            .collect(),
    );
    assert_eq!(readme_verbs, help, "README's command table against --help");

    // Every setting --help shows is in the man page and the README.
    let (out, _d) = run(&["--help"], &[]);
    for word in text(&out.stdout).split_whitespace() {
        if word.starts_with("OMICRON1_") {
            assert!(
                man.contains(&format!("Ev {word}")),
                "{word} not in the man page"
            );
            assert!(
                readme.contains(&format!("`{word}`")),
                "{word} not in the README"
            );
        }
    }
}

/// Every field of every JSON document (`src/verbs/schema.rs`) is documented
/// in the README and the man page.
#[test]
fn every_json_field_is_documented() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let schema = std::fs::read_to_string(root.join("src/verbs/schema.rs")).unwrap();
    let man = std::fs::read_to_string(root.join("brand/omicron1.8")).unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let fields: Vec<&str> = schema
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub "))
        .filter_map(|l| l.split_once(':').map(|(name, _)| name))
        .filter(|name| name.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .collect();
    assert!(fields.len() > 40, "{fields:?}");
    for field in fields {
        assert!(
            man.contains(&format!(".Sy {field}")),
            "{field} is not in brand/omicron1.8"
        );
        assert!(
            readme.contains(&format!("`{field}`")),
            "{field} is not in the README"
        );
    }
}
