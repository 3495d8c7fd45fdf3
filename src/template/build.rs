//! Building a template from scratch: the container, the dataset with its
//! properties at a mountpoint of its own, the contents under `root/`, and
//! `@ready` last, with a rollback that destroys an unfinished dataset.
//!
//! A template is what a zonepath dataset becomes: its top is the zonepath
//! (mode 0700) and its `root/` the zone root (mode 0755, owner root).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Instant;

use omicron1_zfs::{CreateOptions, DestroyOptions, ErrorKind, Zfs};

use super::{Identity, Template, TemplateError};
use crate::props;
use crate::rootfs::{self, Sources};
use crate::support::output::{info, ms};
use crate::support::pathio::PathIoError;
use crate::support::revert::Revert;
use crate::support::{faults, signals};

/// Builds a template from scratch at `mountpoint`, making the container
/// first unless it exists; on any failure the dataset is destroyed.
pub(super) fn build(
    zfs: &dyn Zfs,
    template: &Template,
    identity: &Identity,
    sources: &Sources,
    mountpoint: &Path,
    container_exists: bool,
) -> Result<(), TemplateError> {
    let started = Instant::now();
    info(format_args!("building template {}", template.dataset));
    if !container_exists {
        let opts = CreateOptions {
            parents: false,
            properties: &[("canmount", "off")],
        };
        // A builder of another baseline may have made it since the survey.
        match zfs.create(&template.container, &opts) {
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            other => other?,
        }
    }
    let created = props::now_rfc3339();
    let boot = props::escape(&identity.boot_id);
    let source = props::escape(&sources.source_root.to_string_lossy());
    // A mountpoint of its own: the build never depends on what it would
    // inherit, and `canmount=noauto` keeps it unmounted at every other time.
    let mountpoint = if mountpoint.is_absolute() {
        mountpoint.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(PathIoError::on("cannot resolve", mountpoint))?
            .join(mountpoint)
    };
    let mountpoint_value = mountpoint.display().to_string();
    let properties = [
        ("canmount", "noauto"),
        ("mountpoint", mountpoint_value.as_str()),
        (props::KIND, "template"),
        (props::BOOT_ID, boot.as_str()),
        (props::BASELINE, identity.baseline_sha256.as_str()),
        (props::SOURCE_ROOT, source.as_str()),
        (props::CREATED, created.as_str()),
    ];
    zfs.create(
        &template.dataset,
        &CreateOptions {
            parents: false,
            properties: &properties,
        },
    )?;
    let mut revert = Revert::new();
    revert.push(
        format!("destroy unfinished template {}", template.dataset),
        || zfs.destroy((&template.dataset).into(), DestroyOptions::RECURSIVE),
    );
    zfs.mount(&template.dataset)?;
    std::fs::set_permissions(&mountpoint, std::fs::Permissions::from_mode(0o700))
        .map_err(PathIoError::on("cannot set the mode of", &mountpoint))?;
    let root = mountpoint.join(crate::zone::ROOT);
    rootfs::make_root(&root)?;
    rootfs::populate(&root, sources)?;
    zfs.unmount(&template.dataset)?;
    signals::check()?;
    faults::point("before-snapshot");
    zfs.snapshot(&template.snapshot, &[])?;
    faults::point("after-snapshot");
    revert.disarm();
    info(format_args!(
        "template {} ready in {} msec",
        template.snapshot,
        ms(started.elapsed())
    ));
    Ok(())
}
