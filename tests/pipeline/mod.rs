//! A pool on the in-memory fake with a zonepath dataset, system trees and a
//! baseline, for the install pipeline's host tests.

#![allow(dead_code)] // each test binary uses its own part of the world

use std::fs;
use std::path::{Path, PathBuf};

use omicron1::rootfs::replicate::Mode;
use omicron1::rootfs::{baseline_archive, SourcePlaces};
use omicron1::template::{self, identity, Site, Template};
use omicron1::zone::Zone;
use omicron1::zone_root::install::{self, Host, InstallFailure};
use omicron1_zfs::{CreateOptions, DatasetName, FakeZfs, ObjectName, PoolName, Zfs};

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
    /// The zone root dataset an install clones.
    pub(crate) root: DatasetName,
    /// What the install reads of the host.
    host: Host,
    /// The zonepath datasets' parent: templates go in its container.
    parent: DatasetName,
}

fn write(path: &Path, contents: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, contents).unwrap();
}

impl World {
    pub(crate) fn new() -> World {
        World::with_zonepath(&[])
    }

    /// A world whose zonepath dataset is created with `properties`.
    pub(crate) fn with_zonepath(properties: &[(&str, &str)]) -> World {
        let dir = tempfile::tempdir().unwrap();
        let top = fs::canonicalize(dir.path()).unwrap();
        let src = top.join("src");
        write(&src.join("usr/bin/true"), b"true\n");
        write(&src.join("lib/libc.so.1"), b"libc\n");
        write(&src.join("sbin/init"), b"init\n");
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
        zfs.create(&parent, &opts).unwrap();
        let opts = CreateOptions {
            parents: false,
            properties,
        };
        zfs.create(&zonepath_ds, &opts).unwrap();
        // The fake only flips a flag on mount: make the folders a mount would show.
        let zonepath = top.join("pool/zone/z1");
        fs::create_dir_all(zonepath.join("root")).unwrap();
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
            root: zonepath_ds.child("root").unwrap(),
            host,
            parent,
        };
        fs::create_dir_all(w.path_of(&w.template().dataset)).unwrap();
        w.zfs.take_commands();
        w
    }

    /// Where zone configurations (`ZONE.xml`) are read.
    pub(crate) fn zones_dir(&self) -> &Path {
        &self.host.zones_dir
    }

    /// Another zone on the same parent: its zonepath dataset made, as zoneadm
    /// makes it, and its configuration written.
    pub(crate) fn another_zone(&self, name: &str) -> Zone {
        let dataset = self.parent.child(name).unwrap();
        self.zfs
            .create(&dataset, &CreateOptions::default())
            .unwrap();
        let zonepath = self.path_of(&dataset);
        fs::create_dir_all(zonepath.join("root")).unwrap();
        let zone = Zone {
            name: name.parse().unwrap(),
            zonepath,
        };
        self.write_config(&zone);
        zone
    }

    /// Writes `ZONE.xml` for `zone` into the zones folder.
    pub(crate) fn write_config(&self, zone: &Zone) {
        fs::create_dir_all(&self.host.zones_dir).unwrap();
        let xml = format!(
            "<?xml version=\"1.0\"?>\n<zone name=\"{}\" zonepath=\"{}\" brand=\"omicron1\" \
             ip-type=\"exclusive\"></zone>\n",
            zone.name,
            zone.zonepath.display()
        );
        fs::write(self.host.zones_dir.join(format!("{}.xml", zone.name)), xml).unwrap();
    }

    /// What templates know of the host.
    pub(crate) fn site(&self) -> &Site {
        &self.host.site
    }

    /// The zonepath datasets' parent.
    pub(crate) fn parent(&self) -> &DatasetName {
        &self.parent
    }

    /// `template::ensure` for the zone's parent as it runs in `boot`.
    pub(crate) fn ensure_in(&self, boot: &str) -> Result<template::Ready, template::TemplateError> {
        let site = Site {
            boot_id: Some(boot.to_string()),
            ..self.host.site.clone()
        };
        let sources = self.host.sources.find()?;
        let identity = identity::identity(&site, &sources.baseline)?;
        let dataset = Template::locate(&self.parent, &identity)?.dataset;
        fs::create_dir_all(self.path_of(&dataset)).unwrap();
        template::ensure(&self.zfs, &site, &self.parent, &identity, &sources)
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
        Template::locate(&self.parent, &identity).unwrap()
    }

    /// Builds this boot's template ahead of the install.
    pub(crate) fn build_template(&self) {
        let sources = self.host.sources.find().unwrap();
        let identity = identity::identity(&self.host.site, &sources.baseline).unwrap();
        template::ensure(
            &self.zfs,
            &self.host.site,
            &self.parent,
            &identity,
            &sources,
        )
        .unwrap();
        self.zfs.take_commands();
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

    /// Installs another zone with `images`.
    pub(crate) fn install_zone(
        &self,
        zone: &Zone,
        images: &[PathBuf],
    ) -> Result<(), InstallFailure> {
        install::install(&self.zfs, &self.host, zone, images)
    }

    /// Installs the zone with `images`.
    pub(crate) fn install(&self, images: &[PathBuf]) -> Result<(), InstallFailure> {
        install::install(&self.zfs, &self.host, &self.zone, images)
    }
}
