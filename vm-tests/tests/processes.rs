//! The `zfs`/`zpool` process counts that README.md and BENCHMARKS.md state,
//! counted as real processes: every call runs under `strace -f`
//! (`omicron1_vm_tests::trace`) and each successful `execve` of
//! `/usr/sbin/zfs` or `/usr/sbin/zpool` by the installer is one.
//!
//! The host test `tests/zfs_processes.rs` counts the same paths on the fake;
//! this file is the proof on real ZFS. It also checks the two counts the
//! benchmark reports come from — the installer's own count in its
//! `OMICRON1_TIMINGS` line and the argv lines of `OMICRON1_LOG=debug` — against
//! the kernel's, so the numbers in BENCHMARKS.md count what they say.
//!
//! The claims (BENCHMARKS.md, "zfs/zpool processes of ..." and targets 5 and 9):
//! - a cold install that builds the template in a new container: 11;
//! - a warm install: 4 (`list`, `get`, `clone`, `set`);
//! - an uninstall of a zone on the current template: 3 (`list`, `get`, `destroy`);
//! - `template build` into a new container: 8.
//!
//! And what `template::ensure`'s documentation says a build costs beside other
//! templates (no container to make; a `list` and a `destroy` to collect a stale
//! one), and an uninstall of the last zone on a stale template (a `list` and a
//! `destroy` more).

use std::path::Path;
use std::process::{Command, Output};

use omicron1_vm_tests::fixture::{Entry, Fixture, Layer};
use omicron1_vm_tests::trace::{traced, Trace};
use omicron1_zfs::{CreateOptions, Zfs};

fn ok(label: &str, out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{label}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `cmd` traced; returns the `zfs VERB` list and the trace.
fn run(f: &Fixture, label: &str, cmd: &Command) -> (Vec<String>, Trace, Output) {
    let (out, trace) = traced(cmd, &f.dir, label);
    ok(label, &out);
    let procs = trace.zfs_processes();
    eprintln!("{label}: {} zfs/zpool processes: {procs:?}", procs.len());
    for e in &trace.execs {
        eprintln!("  exec {:?}", e.argv);
    }
    (procs, trace, out)
}

/// A hook call as zoneadm makes it, with `OMICRON1_LOG=debug` (the argv
/// lines the benchmark reads) and `OMICRON1_TIMINGS` (its process count).
fn hook(f: &Fixture, boot: &str, zone: &str, zp: &Path, args: &[&str]) -> Command {
    let mut c = f.command();
    c.env("OMICRON1_BOOT_ID", boot)
        .env("OMICRON1_LOG", "debug")
        .env("OMICRON1_TIMINGS", f.dir.join("timings.jsonl"))
        .arg("-z")
        .arg(zone)
        .arg("-R")
        .arg(zp)
        .args(args);
    c
}

/// The `argv=` lines `OMICRON1_LOG=debug` prints, one per process started, as
/// the benchmark reads them, reduced to `zfs VERB`.
fn debug_argv(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| l.split_once("argv=").map(|(_, a)| a.trim().to_string()))
        .map(|a| {
            let mut words = a.split(' ');
            let program = words.next().unwrap_or_default();
            let program = Path::new(program).file_name().unwrap().to_string_lossy();
            format!("{program} {}", words.next().unwrap_or_default())
        })
        .collect()
}

/// `zfs_processes` of the last `OMICRON1_TIMINGS` line (the installer's own count).
fn timings_count(f: &Fixture) -> u64 {
    let text = std::fs::read_to_string(f.dir.join("timings.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    last["zfs_processes"].as_u64().unwrap()
}

#[test]
fn installs_uninstalls_and_builds_start_the_stated_number_of_zfs_processes() {
    let f = Fixture::new("proc_counts");
    let img = f.image_path("app");
    let mut l = Layer::layer(&img, "app");
    l.entries(&[Entry::File("opt/app", b"app\n", 0o644)]);
    l.finish();
    let img = img.to_str().unwrap();
    let boot1 = f.boot_id.clone();

    // Cold: the first install on this parent builds the template and its container.
    let zp_a = f.zonepath("a");
    let (cold, _, out) = run(&f, "cold", &hook(&f, &boot1, "a", &zp_a, &["install", img]));
    assert_eq!(
        cold,
        [
            "zfs list",
            "zfs get",
            "zfs list",
            "zfs create",
            "zfs create",
            "zfs mount",
            "zfs get",
            "zfs unmount",
            "zfs snapshot",
            "zfs clone",
            "zfs set",
        ],
        "a cold install: 11 processes (BENCHMARKS.md)"
    );
    assert_eq!(
        debug_argv(&out),
        cold,
        "the debug argv lines are the processes"
    );
    assert_eq!(
        timings_count(&f),
        11,
        "the installer's own count is the real one"
    );

    // Warm: the template is there.
    let zp_b = f.zonepath("b");
    let (warm, _, out) = run(&f, "warm", &hook(&f, &boot1, "b", &zp_b, &["install", img]));
    assert_eq!(
        warm,
        ["zfs list", "zfs get", "zfs clone", "zfs set"],
        "a warm install: 4 processes (BENCHMARKS.md target 5)"
    );
    assert_eq!(debug_argv(&out), warm);
    assert_eq!(
        timings_count(&f),
        4,
        "the benchmark's count is the real one"
    );

    // Uninstall of a zone on the current template.
    let (uninstall, _, out) = run(
        &f,
        "uninstall",
        &hook(&f, &boot1, "b", &zp_b, &["uninstall"]),
    );
    assert_eq!(
        uninstall,
        ["zfs list", "zfs get", "zfs destroy"],
        "an uninstall: 3 processes (BENCHMARKS.md target 9)"
    );
    assert_eq!(debug_argv(&out), uninstall);

    // template build into a new container, as the benchmark times it.
    let other = f.dataset.child("other").unwrap();
    f.zfs.create(&other, &CreateOptions::default()).unwrap();
    let pool = f.dataset.pool().to_string();
    let build = |boot: &str| {
        let mut c = f.command();
        c.env("OMICRON1_BOOT_ID", boot)
            .env("OMICRON1_LOG", "debug")
            .args(["template", "build", "--pool", &pool, "--parent"])
            .arg(other.as_str());
        c
    };
    let (built, _, out) = run(&f, "build", &build(&boot1));
    assert_eq!(
        built,
        [
            "zfs get",
            "zfs list",
            "zfs create",
            "zfs create",
            "zfs mount",
            "zfs get",
            "zfs unmount",
            "zfs snapshot",
        ],
        "template build into a new container: 8 processes (BENCHMARKS.md)"
    );
    assert_eq!(debug_argv(&out), built);

    // A build in a new boot beside the last boot's unused template: no
    // container to make, and one list and one destroy to collect it.
    let boot2 = format!("{boot1}-2");
    let (beside, _, _) = run(&f, "build-beside", &build(&boot2));
    assert_eq!(
        beside,
        [
            "zfs get",
            "zfs list",
            "zfs create",
            "zfs mount",
            "zfs get",
            "zfs unmount",
            "zfs snapshot",
            "zfs list",
            "zfs destroy",
        ],
        "a build collecting one stale template"
    );
    assert_eq!(
        f.zfs
            .children(&other.child("omicron1-templates").unwrap())
            .unwrap()
            .len(),
        1,
        "the stale template was collected"
    );

    // Zone a is on boot 1's template; in boot 2 (another zone installed on its
    // new template), uninstalling a, the stale template's last zone, takes the
    // template with it: a list to see it unused, and its destroy.
    let zp_c = f.zonepath("c");
    let (_, _, _) = run(
        &f,
        "cold-2",
        &hook(&f, &boot2, "c", &zp_c, &["install", img]),
    );
    let (last, _, _) = run(
        &f,
        "uninstall-last",
        &hook(&f, &boot2, "a", &zp_a, &["uninstall"]),
    );
    assert_eq!(
        last,
        [
            "zfs list",
            "zfs get",
            "zfs destroy",
            "zfs list",
            "zfs destroy"
        ],
        "the last zone on a stale template"
    );
    assert_eq!(
        f.zfs.children(&f.templates()).unwrap().len(),
        1,
        "only boot 2's template is left"
    );
}
