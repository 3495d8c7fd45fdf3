//! What "this boot" is: the identity templates are built for.
//!
//! `OMICRON1_BOOT_ID` wins when set. Otherwise Linux has a random per-boot UUID
//! in `/proc/sys/kernel/random/boot_id`. illumos has nothing like it (the
//! `boot_time` kstat repeats on an Oxide sled, which boots believing it is
//! December 1986), so there the first call of a boot makes a random id in the
//! run directory (`OMICRON1_RUN_DIR/boot-id`; `/var/run` is memory, gone at
//! reboot) and every later call reads it ([`run_dir_boot_id`]).

use std::io;
use std::path::Path;

/// Why this boot's identity could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// Linux's boot id could not be read.
    #[error("cannot read /proc/sys/kernel/random/boot_id")]
    Read(#[source] io::Error),
    /// The run directory's boot id could not be made or read.
    #[error("cannot make or read the boot id {}", path.display())]
    RunDir {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// This platform has no boot identity to read.
    #[error("set OMICRON1_BOOT_ID on this platform")]
    Unsupported,
}

/// The file holding this boot's id on systems without one of their own.
pub const BOOT_ID_FILE: &str = "boot-id";

/// The running system's boot identity.
#[cfg(target_os = "linux")]
pub fn system_boot_id(_run_dir: &Path) -> Result<String, BootError> {
    Ok(std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map_err(BootError::Read)?
        .trim()
        .to_string())
}

/// The running system's boot identity.
#[cfg(target_os = "illumos")]
pub fn system_boot_id(run_dir: &Path) -> Result<String, BootError> {
    run_dir_boot_id(run_dir)
}

/// The running system's boot identity.
#[cfg(not(any(target_os = "linux", target_os = "illumos")))]
pub fn system_boot_id(_run_dir: &Path) -> Result<String, BootError> {
    Err(BootError::Unsupported)
}

/// The setting if given, else the system's identity.
pub fn boot_id(setting: Option<&str>, run_dir: &Path) -> Result<String, BootError> {
    match setting {
        Some(id) => Ok(id.to_string()),
        None => system_boot_id(run_dir),
    }
}

/// This boot's id from `run_dir/boot-id`, made by the first call: a random
/// id written whole to a file of this call's own, then hard-linked to
/// `boot-id`. `link` never replaces, so of racing first calls exactly one
/// link wins and all of them read the winner's id.
pub fn run_dir_boot_id(run_dir: &Path) -> Result<String, BootError> {
    let path = run_dir.join(BOOT_ID_FILE);
    let err = |source: io::Error| BootError::RunDir {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_string()),
        Ok(_) => {} // cannot happen: the file is linked only once written
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    std::fs::create_dir_all(run_dir).map_err(err)?;
    let mut bytes = [0u8; 16];
    {
        use std::io::Read;
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut bytes))
            .map_err(err)?;
    }
    let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mine = run_dir.join(format!("{BOOT_ID_FILE}.{}.{id}", std::process::id()));
    std::fs::write(&mine, format!("{id}\n")).map_err(err)?;
    let linked = std::fs::hard_link(&mine, &path);
    let _ = std::fs::remove_file(&mine);
    match linked {
        Ok(()) => Ok(id),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(std::fs::read_to_string(&path)
            .map_err(err)?
            .trim()
            .to_string()),
        Err(e) => Err(err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setting_wins_and_the_system_has_one() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(boot_id(Some("b1"), dir.path()).unwrap(), "b1");
        let id = boot_id(None, dir.path()).unwrap();
        assert!(!id.is_empty());
        assert_eq!(
            id,
            boot_id(None, dir.path()).unwrap(),
            "stable within a boot"
        );
    }

    #[test]
    fn racing_first_calls_agree_and_a_new_run_dir_is_a_new_boot() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let ids: Vec<String> = std::thread::scope(|s| {
            let calls: Vec<_> = (0..16)
                .map(|_| s.spawn(|| run_dir_boot_id(&run).unwrap()))
                .collect();
            calls.into_iter().map(|c| c.join().unwrap()).collect()
        });
        assert_eq!(ids[0].len(), 32, "{ids:?}");
        assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
        assert_eq!(run_dir_boot_id(&run).unwrap(), ids[0]);
        let leftovers: Vec<_> = std::fs::read_dir(&run).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "only boot-id stays");
        // A reboot empties /var/run: the next boot gets another id.
        std::fs::remove_dir_all(&run).unwrap();
        assert_ne!(run_dir_boot_id(&run).unwrap(), ids[0]);
    }
}
