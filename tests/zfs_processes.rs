//! How many `zfs` processes uninstall and template builds start, counted by
//! the fake (one per command the CLI backend would run), and what they still
//! do with fewer: a `zfs` process costs 0.2–0.5 s under emulation
//! (BENCHMARKS.md, hot spots 3 and 4). These are the fake's calls, a quick
//! check of the logic; the proof is `vm-tests/tests/processes.rs`, which counts
//! the real `zfs` processes of the same paths on real ZFS with `strace`.

use std::fs;
use std::path::PathBuf;

use omicron1::props;
use omicron1::rootfs::replicate::Mode;
use omicron1::rootfs::{baseline_archive, SourcePlaces};
use omicron1::template::{self, identity, Ready, Site, Template};
use omicron1::zone::Zone;
use omicron1::zone_root::uninstall;
use omicron1_zfs::{CreateOptions, DatasetName, FakeZfs, ObjectName, PoolName, SnapshotName, Zfs};

/// A pool mounted in a temporary folder, with system trees and a baseline to
/// build templates from.
struct World {
    _dir: tempfile::TempDir,
    root: PathBuf,
    zfs: FakeZfs,
    /// The zonepath datasets' parent: templates go in its container.
    parent: DatasetName,
}

fn write(path: PathBuf, contents: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, contents).unwrap();
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(dir.path()).unwrap();
    let src = root.join("src");
    write(src.join("usr/bin/true"), b"true\n");
    write(src.join("lib/libc.so.1"), b"libc\n");
    write(src.join("lib/svc/manifest/site.xml"), b"<gz/>\n");
    write(src.join("sbin/init"), b"init\n");
    let tree = root.join("baseline-tree");
    write(tree.join("etc/motd"), b"baseline motd\n");
    let include = root.join("include");
    fs::write(&include, "etc\n").unwrap();
    baseline_archive::create(&tree, &include, None, &root.join("baseline")).unwrap();

    let zfs = FakeZfs::new();
    let pool: PoolName = "tp".parse().unwrap();
    zfs.add_pool(&pool, &root.join("pool"));
    let parent: DatasetName = "tp/zone".parse().unwrap();
    zfs.create(&parent, &CreateOptions::default()).unwrap();
    World {
        _dir: dir,
        root,
        zfs,
        parent,
    }
}

impl World {
    /// What templates know of this host in `boot`.
    fn site(&self, boot: &str) -> Site {
        Site {
            run_dir: self.root.join("run"),
            boot_id: Some(boot.to_string()),
            baseline_dirs: vec![self.root.join("baseline")],
        }
    }

    /// The system trees and baseline, copied (the fake has no `/system`).
    fn sources(&self) -> SourcePlaces {
        SourcePlaces {
            source_root: self.root.join("src"),
            baseline_dirs: vec![self.root.join("baseline")],
            mode: Mode::CopyAll,
            threads: None,
        }
    }

    /// Where the fake mounts a dataset (below the pool's mountpoint).
    fn path_of(&self, dataset: &DatasetName) -> PathBuf {
        let rel = dataset.as_str().strip_prefix("tp/").unwrap();
        self.root.join("pool").join(rel)
    }

    /// This boot's template for the parent, where it is or would be.
    fn template(&self, boot: &str) -> Template {
        let sources = self.sources().find().unwrap();
        let identity = identity::identity(&self.site(boot), &sources.baseline).unwrap();
        Template::locate(&self.parent, &identity).unwrap()
    }

    /// `template::ensure` as an install in `boot` runs it, and the commands it ran.
    fn ensure(&self, boot: &str) -> (Ready, Vec<&'static str>) {
        let site = self.site(boot);
        let sources = self.sources().find().unwrap();
        let identity = identity::identity(&site, &sources.baseline).unwrap();
        // The fake only flips a flag on mount: make the folder a mount would show.
        let dataset = Template::locate(&self.parent, &identity).unwrap().dataset;
        fs::create_dir_all(self.path_of(&dataset)).unwrap();
        self.zfs.take_commands();
        let ready = template::ensure(&self.zfs, &site, &self.parent, &identity, &sources)
            .unwrap_or_else(|e| panic!("ensure in {boot}: {e}"));
        (ready, self.zfs.take_commands())
    }

    /// A zone installed on `origin`, as the install hook clones it.
    fn zone_on(&self, origin: &SnapshotName, name: &str) -> Zone {
        let dataset = self.parent.child(name).unwrap();
        self.zfs
            .create(&dataset, &CreateOptions::default())
            .unwrap();
        let zonepath = self.path_of(&dataset);
        fs::create_dir_all(&zonepath).unwrap();
        let origin_text = origin.to_string();
        let properties = [
            (props::KIND, "zone-root"),
            (props::STATE, "installed"),
            (props::ZONE, name),
            (props::ORIGIN, origin_text.as_str()),
        ];
        let root = dataset.child("root").unwrap();
        self.zfs.clone_snapshot(origin, &root, &properties).unwrap();
        Zone {
            name: name.parse().unwrap(),
            zonepath,
        }
    }

    /// `uninstall` as the hook runs it in `boot`, and the commands it ran.
    fn uninstall(&self, boot: &str, zone: &Zone) -> Vec<&'static str> {
        self.zfs.take_commands();
        uninstall::uninstall(&self.zfs, &self.site(boot), zone, false)
            .unwrap_or_else(|e| panic!("uninstall of {} in {boot}: {e}", zone.name));
        self.zfs.take_commands()
    }

    fn exists(&self, object: ObjectName<'_>) -> bool {
        let found = self.zfs.exists(object).unwrap();
        self.zfs.take_commands();
        found
    }

    /// The templates in the container, by name.
    fn templates(&self) -> Vec<DatasetName> {
        let container = self.parent.child(template::CONTAINER).unwrap();
        let found = self.zfs.children(&container).unwrap();
        self.zfs.take_commands();
        found
    }
}

/// What a cold build runs in a new container: probe, probe again under the
/// exclusive lock (one `list`), create the container and the template, mount,
/// read its mountpoint and encryption root, unmount, snapshot.
const COLD_BUILD: [&str; 8] = [
    "zfs get",
    "zfs list",
    "zfs create",
    "zfs create",
    "zfs mount",
    "zfs get",
    "zfs unmount",
    "zfs snapshot",
];

#[test]
fn a_cold_build_starts_eight_zfs_processes_and_a_warm_one_one() {
    let w = world();
    let (ready, commands) = w.ensure("boot-1");
    assert_eq!(commands, COLD_BUILD);
    assert_eq!(ready.encryption_root, None, "an unencrypted pool");
    let dir = w.path_of(&ready.template.dataset);
    assert_eq!(fs::read(dir.join("etc/motd")).unwrap(), b"baseline motd\n");
    assert!(dir.join("usr/bin/true").is_file() && !dir.join("lib/svc/manifest").exists());
    assert!(w.exists((&ready.template.snapshot).into()));
    drop(ready);

    let before = w.zfs.processes_started();
    let (warm, commands) = w.ensure("boot-1");
    assert_eq!(commands, ["zfs get"], "a warm install probes once");
    assert_eq!(w.zfs.processes_started(), before + 1);
    assert_eq!(warm.encryption_root, None);
}

#[test]
fn a_build_collects_the_unused_stale_templates_beside_it() {
    let w = world();
    let (old, _) = w.ensure("boot-1");
    drop(old);
    // A new boot: the container is there, with boot-1's unused template in it.
    let (new, commands) = w.ensure("boot-2");
    assert_eq!(
        commands,
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
        "no container to make; one scan to collect, one destroy"
    );
    assert_eq!(w.templates(), vec![new.template.dataset.clone()]);
}

#[test]
fn a_build_that_died_is_destroyed_and_redone() {
    let w = world();
    // A build that died: the template's dataset, without `@ready`.
    let template = w.template("boot-1");
    let unfinished = CreateOptions {
        parents: true,
        properties: &[("canmount", "noauto")],
    };
    w.zfs.create(&template.dataset, &unfinished).unwrap();
    let (ready, commands) = w.ensure("boot-1");
    assert_eq!(
        commands,
        [
            "zfs get",
            "zfs list",
            "zfs destroy",
            "zfs create",
            "zfs mount",
            "zfs get",
            "zfs unmount",
            "zfs snapshot",
        ],
        "only its own dead build beside it: nothing to collect"
    );
    assert!(w.exists((&ready.template.snapshot).into()));
}

#[test]
fn uninstalling_a_zone_on_the_current_template_starts_three_zfs_processes() {
    let w = world();
    let (ready, _) = w.ensure("boot-1");
    let zone = w.zone_on(&ready.template.snapshot, "z1");
    drop(ready);
    let commands = w.uninstall("boot-1", &zone);
    assert_eq!(
        commands,
        ["zfs list", "zfs get", "zfs destroy"],
        "no scan of the templates"
    );
    let root = w.parent.child("z1").unwrap().child("root").unwrap();
    assert!(!w.exists((&root).into()));
    assert_eq!(
        w.templates(),
        vec![w.template("boot-1").dataset],
        "the current template stays"
    );

    // Again: the root is gone, and the `get` that would read its origin says so.
    assert_eq!(w.uninstall("boot-1", &zone), ["zfs list", "zfs get"]);
}

#[test]
fn uninstalling_the_last_zone_on_a_stale_template_takes_the_template_with_it() {
    let w = world();
    let (old, _) = w.ensure("boot-1");
    let a = w.zone_on(&old.template.snapshot, "a");
    let b = w.zone_on(&old.template.snapshot, "b");
    drop(old);
    // A reboot: a new template; the old one is stale, and kept for its zones.
    let (new, _) = w.ensure("boot-2");
    let c = w.zone_on(&new.template.snapshot, "c");
    drop(new);
    let (old, new) = (w.template("boot-1").dataset, w.template("boot-2").dataset);
    assert_eq!(w.templates().len(), 2);

    let commands = w.uninstall("boot-2", &a);
    assert_eq!(
        commands,
        ["zfs list", "zfs get", "zfs destroy", "zfs list"],
        "b still uses it"
    );
    assert!(w.exists((&old).into()));
    let commands = w.uninstall("boot-2", &b);
    assert_eq!(
        commands,
        [
            "zfs list",
            "zfs get",
            "zfs destroy",
            "zfs list",
            "zfs destroy"
        ]
    );
    assert!(
        !w.exists((&old).into()),
        "the last zone took the stale template"
    );
    assert_eq!(
        w.uninstall("boot-2", &c),
        ["zfs list", "zfs get", "zfs destroy"]
    );
    assert_eq!(w.templates(), vec![new], "the current template stays");
}

#[test]
fn without_a_baseline_uninstall_still_collects_a_template_of_another_boot() {
    let w = world();
    let (old, _) = w.ensure("boot-1");
    let a = w.zone_on(&old.template.snapshot, "a");
    drop(old);
    fs::remove_dir_all(w.root.join("baseline")).unwrap();
    // The key cannot be worked out, so collection runs and compares boots.
    let commands = w.uninstall("boot-2", &a);
    assert_eq!(
        commands,
        [
            "zfs list",
            "zfs get",
            "zfs destroy",
            "zfs list",
            "zfs destroy"
        ]
    );
    assert!(w.templates().is_empty());
}
