//! Collection never destroys a template that an install or a build holds: the
//! holder keeps the template's lock (`Site::lock_path`), and `template gc` and
//! a build's own collection skip a template whose lock they cannot take.
//!
//! The holder here is another process (a POSIX record lock does not conflict
//! with its own process's locks): `python3` holding the lock shared, as an
//! install does while it clones, or exclusively, as a build does.

mod pipeline;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use omicron1::template::collect::{collect, Collected};
use omicron1::template::Current;
use omicron1_zfs::{ObjectName, Zfs};
use pipeline::World;

/// Another process holding a lock on a file until dropped.
struct Holder {
    child: Child,
}

impl Holder {
    /// Takes the lock at `path` (`LOCK_SH` or `LOCK_EX`) and returns once it holds it.
    fn hold(path: &Path, how: &str) -> Holder {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let code = format!(
            "import fcntl,sys\nf=open({:?},'a+')\nfcntl.lockf(f, fcntl.{how})\n\
             print('held', flush=True)\nsys.stdin.read()\n",
            path.to_str().unwrap()
        );
        let mut child = Command::new("python3")
            .args(["-c", &code])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "held\n", "the holder took the lock");
        Holder { child }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.stdin.take().map(|mut s| s.flush());
        let _ = self.child.wait();
    }
}

/// boot-1's template is built and, in boot-2, stale and unused.
fn stale_world() -> (World, omicron1_zfs::DatasetName, Current) {
    let w = World::new();
    let old = w.ensure_in("boot-1").unwrap();
    let dataset = old.template.dataset.clone();
    drop(old);
    let current = Current {
        boot_id: "boot-2".into(),
        baseline_sha256: None,
    };
    (w, dataset, current)
}

#[test]
fn gc_keeps_a_stale_template_an_install_or_build_holds() {
    let (w, old, current) = stale_world();
    let container = old.parent().unwrap();
    for how in ["LOCK_SH", "LOCK_EX"] {
        let holder = Holder::hold(&w.site().lock_path(&old), how);
        for dry_run in [true, false] {
            let outcomes = collect(&w.zfs, w.site(), &container, &current, dry_run).unwrap();
            assert_eq!(
                outcomes,
                [Collected::Kept(
                    old.clone(),
                    "stale, but in use by an install or build".into()
                )],
                "{how}, dry run {dry_run}"
            );
            assert!(w.zfs.exists(ObjectName::from(&old)).unwrap(), "{how}");
        }
        drop(holder);
    }
    // Released: a dry run says it would go and leaves it; then it is collected.
    let outcomes = collect(&w.zfs, w.site(), &container, &current, true).unwrap();
    assert_eq!(outcomes, [Collected::Destroyed(old.clone())]);
    assert!(
        w.zfs.exists(ObjectName::from(&old)).unwrap(),
        "a dry run destroys nothing"
    );
    let outcomes = collect(&w.zfs, w.site(), &container, &current, false).unwrap();
    assert_eq!(outcomes, [Collected::Destroyed(old.clone())]);
    assert!(!w.zfs.exists(ObjectName::from(&old)).unwrap());
}

#[test]
fn a_builds_collection_keeps_a_stale_template_an_install_holds() {
    let (w, old, _) = stale_world();
    let holder = Holder::hold(&w.site().lock_path(&old), "LOCK_SH");
    // A build in boot-2 collects the unused stale templates beside its own,
    // but not one held.
    let new = w.ensure_in("boot-2").unwrap();
    assert!(
        w.zfs.exists(ObjectName::from(&old)).unwrap(),
        "the held template survives the build's collection"
    );
    drop(new);
    drop(holder);
    // The next build's collection takes it (a third boot's build: boot-2's
    // template is then stale and unused too).
    let newest = w.ensure_in("boot-3").unwrap();
    assert!(!w.zfs.exists(ObjectName::from(&old)).unwrap());
    drop(newest);
}
