//! A pool on the in-memory fake with a zonepath dataset, system trees and a
//! baseline, for the install pipeline's host tests.

#![allow(dead_code)] // each test binary uses its own part of the world

use std::fs;
use std::path::{Path, PathBuf};

use omicron1::rootfs::replicate::Mode;
use omicron1::rootfs::{baseline_archive, SourcePlaces};
use omicron1::template::{self, identity, Base, Site, Template};
use omicron1::zone::Zone;
use omicron1::zone_root::install::{self, Host};
use omicron1::zone_root::Failed;
use omicron1_zfs::{
    CreateOptions, DatasetName, Depth, DestroyOptions, FakeZfs, ListKind, ListRow, ObjectName,
    PoolName, Properties, SnapshotName, Zfs,
};

/// The fake, and the one thing its mounts do not do: a clone mounted at the
/// zonepath shows the template's `root/` (empty here: the images fill it).
pub(crate) struct Mounting<'a> {
    fake: &'a FakeZfs,
    zonepath_ds: DatasetName,
    zonepath: PathBuf,
}

impl Zfs for Mounting<'_> {
    fn create(&self, d: &DatasetName, o: &CreateOptions<'_>) -> omicron1_zfs::Result<()> {
        self.fake.create(d, o)
    }
    fn snapshot(&self, s: &SnapshotName, p: &[(&str, &str)]) -> omicron1_zfs::Result<()> {
        self.fake.snapshot(s, p)
    }
    fn clone_snapshot(
        &self,
        o: &SnapshotName,
        t: &DatasetName,
        p: &[(&str, &str)],
    ) -> omicron1_zfs::Result<()> {
        self.fake.clone_snapshot(o, t, p)?;
        if *t == self.zonepath_ds {
            fs::create_dir_all(self.zonepath.join("root")).unwrap();
        }
        Ok(())
    }
    fn destroy(&self, o: ObjectName<'_>, d: DestroyOptions) -> omicron1_zfs::Result<()> {
        self.fake.destroy(o, d)?;
        if o.as_str() == self.zonepath_ds.as_str() {
            let _ = fs::remove_dir_all(self.zonepath.join("root"));
        }
        Ok(())
    }
    fn get(&self, o: ObjectName<'_>, p: &[&str]) -> omicron1_zfs::Result<Properties> {
        self.fake.get(o, p)
    }
    fn local_properties(&self, d: &DatasetName) -> omicron1_zfs::Result<Properties> {
        self.fake.local_properties(d)
    }
    fn set(&self, o: ObjectName<'_>, p: &[(&str, &str)]) -> omicron1_zfs::Result<()> {
        self.fake.set(o, p)
    }
    fn list(
        &self,
        r: &DatasetName,
        k: ListKind,
        d: Depth,
        p: &[&str],
    ) -> omicron1_zfs::Result<Vec<ListRow>> {
        self.fake.list(r, k, d, p)
    }
    fn children(&self, d: &DatasetName) -> omicron1_zfs::Result<Vec<DatasetName>> {
        self.fake.children(d)
    }
    fn mounted_at(&self, p: &Path, props: &[&str]) -> omicron1_zfs::Result<Option<ListRow>> {
        self.fake.mounted_at(p, props)
    }
    fn mount(&self, d: &DatasetName) -> omicron1_zfs::Result<()> {
        self.fake.mount(d)
    }
    fn unmount(&self, d: &DatasetName) -> omicron1_zfs::Result<()> {
        self.fake.unmount(d)
    }
    fn pools(&self) -> omicron1_zfs::Result<Vec<PoolName>> {
        self.fake.pools()
    }
}

/// A pool mounted in a temporary folder, the zone `z1` on it.
pub(crate) struct World {
    /// The temporary folder.
    pub(crate) dir: tempfile::TempDir,
    /// Its canonical path.
    top: PathBuf,
    /// The fake.
    pub(crate) zfs: FakeZfs,
    /// The zone installed.
    pub(crate) zone: Zone,
    /// The zone's dataset: the zonepath dataset, which an install replaces
    /// with a clone.
    pub(crate) root: DatasetName,
    /// What the install reads of the host.
    host: Host,
    /// Where the templates go: the (unencrypted) pool's root dataset.
    base: Base,
}

fn write(path: &Path, contents: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, contents).unwrap();
}

impl World {
    pub(crate) fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let top = fs::canonicalize(dir.path()).unwrap();
        let src = top.join("src");
        write(&src.join("usr/bin/true"), b"true\n");
        write(&src.join("lib/libc.so.1"), b"libc\n");
        write(&src.join("sbin/init"), b"init\n");
        write(&src.join("etc/default/init"), b"TZ=UTC\n");
        let tree = top.join("baseline-tree");
        write(&tree.join("etc/motd"), b"motd\n");
        fs::write(top.join("include"), "etc\n").unwrap();
        baseline_archive::create(&tree, &top.join("include"), None, &top.join("baseline")).unwrap();

        let zfs = FakeZfs::new();
        zfs.add_pool(&"tp".parse::<PoolName>().unwrap(), &top.join("pool"));
        let parent: DatasetName = "tp/zone".parse().unwrap();
        let zonepath_ds = parent.child("z1").unwrap();
        let opts = CreateOptions {
            parents: true,
            properties: &[],
        };
        zfs.create(&zonepath_ds, &opts).unwrap();
        // The fake only flips a flag on mount: make the folder a mount would show.
        let zonepath = top.join("pool/zone/z1");
        fs::create_dir_all(&zonepath).unwrap();
        let host = Host {
            zones_dir: top.join("zones"),
            site: Site {
                run_dir: top.join("run"),
                boot_id: Some("boot-1".into()),
                baseline_dirs: vec![top.join("baseline")],
            },
            sources: SourcePlaces {
                source_root: src,
                baseline_dirs: vec![top.join("baseline")],
                mode: Mode::CopyAll,
                threads: Some(1),
            },
        };
        let w = World {
            dir,
            top,
            zfs,
            zone: Zone {
                name: "z1".parse().unwrap(),
                zonepath,
            },
            base: Base::of(&zonepath_ds, None).unwrap(),
            root: zonepath_ds,
            host,
        };
        fs::create_dir_all(w.host.site.build_mountpoint(&w.template().dataset)).unwrap();
        w.zfs.take_commands();
        w
    }

    /// Where the fake mounts a dataset (below the pool's mountpoint).
    pub(crate) fn path_of(&self, dataset: &DatasetName) -> PathBuf {
        let rel = dataset.as_str().strip_prefix("tp/").unwrap();
        self.top.join("pool").join(rel)
    }

    /// This boot's template for the zone's parent.
    pub(crate) fn template(&self) -> Template {
        let sources = self.host.sources.find().unwrap();
        let identity = identity::identity(&self.host.site, &sources.baseline).unwrap();
        Template::locate(&self.base.dataset, &identity).unwrap()
    }

    /// Builds this boot's template ahead of the install.
    pub(crate) fn build_template(&self) {
        let sources = self.host.sources.find().unwrap();
        let identity = identity::identity(&self.host.site, &sources.baseline).unwrap();
        template::ensure(&self.zfs, &self.host.site, &self.base, &identity, &sources).unwrap();
        self.zfs.take_commands();
    }

    /// Whether the zone's dataset is a clone (the zone is installed or
    /// half-installed), rather than the empty zonepath dataset.
    pub(crate) fn is_clone(&self) -> bool {
        let origin = self.zfs.get_value((&self.root).into(), "origin").unwrap();
        self.zfs.take_commands();
        origin.is_some()
    }

    /// Whether the template's `@ready` snapshot exists.
    pub(crate) fn template_is_ready(&self) -> bool {
        self.zfs
            .exists(ObjectName::from(&self.template().snapshot))
            .unwrap()
    }

    /// A layer image holding one file.
    pub(crate) fn layer(&self, name: &str, path: &str, contents: &[u8]) -> PathBuf {
        let file = self.top.join(name);
        let gz = flate2::write::GzEncoder::new(
            fs::File::create(&file).unwrap(),
            flate2::Compression::fast(),
        );
        let mut tar = tar::Builder::new(gz);
        let meta = br#"{"v":"1","t":"layer"}"#;
        let file_header = |size: usize| {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(size as u64);
            header.set_mode(0o644);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(0);
            header
        };
        tar.append_data(&mut file_header(meta.len()), "oxide.json", &meta[..])
            .unwrap();
        let name = format!("root/{path}");
        tar.append_data(&mut file_header(contents.len()), name, contents)
            .unwrap();
        tar.into_inner().unwrap().finish().unwrap();
        file
    }

    /// Installs the zone with `images`.
    pub(crate) fn install(&self, images: &[PathBuf]) -> Result<(), Failed> {
        let zfs = Mounting {
            fake: &self.zfs,
            zonepath_ds: self.root.clone(),
            zonepath: self.zone.zonepath.clone(),
        };
        install::install(&zfs, &self.host, &self.zone, images)
    }
}
