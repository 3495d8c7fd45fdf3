//! Cross-process locks on files in the run directory.
//!
//! POSIX record locks (`fcntl(F_SETLKW)`) work the same on illumos and Linux and
//! are released by the kernel when the holder dies, so a killed install never
//! leaves a lock behind.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::fcntl::{fcntl, FcntlArg};
use nix::libc;

/// A held lock; released when dropped (or when the process exits).
#[derive(Debug)]
pub struct Lock {
    _file: File,
    path: PathBuf,
}

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
#[error("cannot lock {path}: {source}")]
pub struct LockError {
    /// The lock file.
    pub path: PathBuf,
    /// The system's reason.
    #[source]
    pub source: std::io::Error,
}

fn whole_file_write_lock() -> libc::flock {
    // SAFETY: flock is a plain C struct for which all-zero is a valid value.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as _;
    fl.l_whence = libc::SEEK_SET as _;
    fl
}

impl Lock {
    /// Takes the lock at `path` (creating the file and its folder), calling
    /// `on_wait` once if another process holds it and this call must wait.
    pub fn acquire(path: &Path, on_wait: impl FnOnce()) -> Result<Lock, LockError> {
        let err = |source| LockError { path: path.to_path_buf(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let file = OpenOptions::new().create(true).truncate(false).write(true).open(path).map_err(err)?;
        let fl = whole_file_write_lock();
        match fcntl(file.as_raw_fd(), FcntlArg::F_SETLK(&fl)) {
            Ok(_) => {}
            Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EACCES) => {
                on_wait();
                loop {
                    match fcntl(file.as_raw_fd(), FcntlArg::F_SETLKW(&fl)) {
                        Ok(_) => break,
                        Err(nix::errno::Errno::EINTR) => continue,
                        Err(e) => return Err(err(e.into())),
                    }
                }
            }
            Err(e) => return Err(err(e.into())),
        }
        Ok(Lock { _file: file, path: path.to_path_buf() })
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn a_second_process_waits_until_the_first_releases() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locks/t.lock");
        let lock = Lock::acquire(&path, || panic!("nobody holds it yet")).unwrap();
        // flock(1) is not portable; a child process using fcntl via python shows
        // the lock is held across processes.
        let probe = format!(
            "import fcntl,sys\nf=open('{}','w')\ntry:\n fcntl.lockf(f, fcntl.LOCK_EX|fcntl.LOCK_NB)\n sys.exit(0)\nexcept OSError:\n sys.exit(7)",
            path.display()
        );
        let held = Command::new("python3").args(["-c", &probe]).status().unwrap();
        assert_eq!(held.code(), Some(7), "another process must not get the lock");
        drop(lock);
        let free = Command::new("python3").args(["-c", &probe]).status().unwrap();
        assert_eq!(free.code(), Some(0), "the lock is free once dropped");
    }
}
