//! What "this boot" is: the identity templates are built for.
//!
//! `OMICRON1_BOOT_ID` wins when set. Otherwise Linux has a random per-boot UUID
//! in `/proc/sys/kernel/random/boot_id`; illumos has the boot time in the
//! `unix:0:system_misc:boot_time` kstat, which together with the host name
//! names the boot.

use std::io;

/// The running system's boot identity.
#[cfg(target_os = "linux")]
pub fn system_boot_id() -> io::Result<String> {
    Ok(std::fs::read_to_string("/proc/sys/kernel/random/boot_id")?
        .trim()
        .to_string())
}

/// The running system's boot identity.
#[cfg(target_os = "illumos")]
pub fn system_boot_id() -> io::Result<String> {
    let out = std::process::Command::new("/usr/bin/kstat")
        .args(["-p", "unix:0:system_misc:boot_time"])
        .env("LC_ALL", "C")
        .output()?;
    if !out.status.success() {
        return Err(io::Error::new(
            io::ErrorKind::Other,
            "kstat boot_time failed",
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let boot_time = text.split_whitespace().nth(1).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidData, "no boot_time in kstat output")
    })?;
    let host = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(format!("{host}-{boot_time}"))
}

/// The running system's boot identity.
#[cfg(not(any(target_os = "linux", target_os = "illumos")))]
pub fn system_boot_id() -> io::Result<String> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "set OMICRON1_BOOT_ID on this platform",
    ))
}

/// The setting if given, else the system's identity.
pub fn boot_id(setting: Option<&str>) -> io::Result<String> {
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
