//! What "this boot" is: the identity templates are built for.
//!
//! `OMICRON1_BOOT_ID` wins when set. Otherwise Linux has a random per-boot UUID
//! in `/proc/sys/kernel/random/boot_id`; illumos has the boot time in the
//! `unix:0:system_misc:boot_time` kstat, which together with the host name
//! names the boot.

use std::io;

/// Why this boot's identity could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// Linux's boot id could not be read.
    #[error("cannot read /proc/sys/kernel/random/boot_id")]
    Read(#[source] io::Error),
    /// `kstat` failed.
    #[error(transparent)]
    Kstat(#[from] super::command::CommandError),
    /// `kstat` printed no boot time.
    #[error("no boot_time in kstat output")]
    NoBootTime,
    /// This platform has no boot identity to read.
    #[error("set OMICRON1_BOOT_ID on this platform")]
    Unsupported,
}

/// The running system's boot identity.
#[cfg(target_os = "linux")]
pub fn system_boot_id() -> Result<String, BootError> {
    Ok(std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map_err(BootError::Read)?
        .trim()
        .to_string())
}

/// The running system's boot identity.
#[cfg(target_os = "illumos")]
pub fn system_boot_id() -> Result<String, BootError> {
    let text = super::command::run(
        std::path::Path::new("/usr/bin/kstat"),
        ["-p", "unix:0:system_misc:boot_time"],
    )?;
    let boot_time = text
        .split_whitespace()
        .nth(1)
        .ok_or(BootError::NoBootTime)?;
    let host = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(format!("{host}-{boot_time}"))
}

/// The running system's boot identity.
#[cfg(not(any(target_os = "linux", target_os = "illumos")))]
pub fn system_boot_id() -> Result<String, BootError> {
    Err(BootError::Unsupported)
}

/// The setting if given, else the system's identity.
pub fn boot_id(setting: Option<&str>) -> Result<String, BootError> {
    match setting {
        Some(id) => Ok(id.to_string()),
        None => system_boot_id(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setting_wins_and_the_system_has_one() {
        assert_eq!(boot_id(Some("b1")).unwrap(), "b1");
        let id = boot_id(None).unwrap();
        assert!(!id.is_empty());
        assert_eq!(id, boot_id(None).unwrap(), "stable within a boot");
    }
}
