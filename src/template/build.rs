//! Building a template from scratch: the container, the dataset with its
//! properties, the contents, and `@ready` last, with a rollback that destroys
//! an unfinished dataset.

use std::path::Path;
use std::time::Instant;

use omicron1_zfs::{CreateOptions, DestroyOptions, ErrorKind, Zfs};

use super::{Identity, Template, TemplateError};
use crate::props;
use crate::rootfs::{self, Sources};
use crate::support::output::{info, ms};
use crate::support::revert::Revert;
use crate::support::{faults, signals};

/// Builds a template from scratch, making the container first unless it
/// exists; on any failure the dataset is destroyed. Returns the template's
/// encryption root, which its `@ready` snapshot and every clone of it share.
pub(super) fn build(
    zfs: &dyn Zfs,
    template: &Template,
    identity: &Identity,
    sources: &Sources,
    container_exists: bool,
) -> Result<Option<String>, TemplateError> {
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
    let properties = [
        ("canmount", "noauto"),
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
    // The mountpoint is inherited, so known only now; the encryption root comes along.
    let mut found = zfs.get(
        (&template.dataset).into(),
        &["mountpoint", "encryptionroot"],
    )?;
    let mut value = |name: &str| found.remove(name).and_then(|p| p.value);
    let encryption_root = value("encryptionroot");
    let mountpoint = value("mountpoint")
        .filter(|m| m.starts_with('/'))
        .ok_or_else(|| TemplateError::NoMountpoint(template.dataset.clone()))?;
    rootfs::populate(Path::new(&mountpoint), sources)?;
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
    Ok(encryption_root)
}
