//! The one error of the template folder: its parts' errors folded with `#[from]`.

use omicron1_zfs::DatasetName;

use super::lock::LockError;
use crate::rootfs::baseline::BaselineError;
use crate::rootfs::RootfsError;
use crate::support::boot::BootError;
use crate::support::signals;

/// Why a template could not be found or built.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// A ZFS operation failed.
    #[error(transparent)]
    Zfs(#[from] omicron1_zfs::Error),
    /// A generated dataset name was invalid (a parent name too long).
    #[error(transparent)]
    Name(#[from] omicron1_zfs::NameError),
    /// The build lock could not be taken.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The template's contents could not be made.
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    /// The baseline could not be found or read.
    #[error(transparent)]
    Baseline(#[from] BaselineError),
    /// The boot identity could not be read.
    #[error("cannot tell which boot this is (set OMICRON1_BOOT_ID)")]
    BootId(#[source] BootError),
    /// A signal arrived.
    #[error(transparent)]
    Interrupted(#[from] signals::Interrupted),
    /// A filesystem operation failed.
    #[error(transparent)]
    Io(#[from] crate::support::pathio::PathIoError),
    /// The template dataset has no mountpoint to build in.
    #[error("template dataset {0} has no usable mountpoint (mountpoint=none or legacy?)")]
    NoMountpoint(DatasetName),
}
