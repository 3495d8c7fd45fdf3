//! Cross-process locks on files in the run directory.
//!
//! POSIX record locks (`fcntl(F_SETLKW)`) work the same on illumos and Linux and
//! are released by the kernel when the holder dies, so a killed install never
//! leaves a lock behind. Shared locks let many installs clone a template at
//! once while an exclusive one keeps builders and collectors apart from them.
//!
//! A wait says who it waits for: the holder's pid (`F_GETLK`) when it starts,
//! then a line every [`REPORT_EVERY`] with the time waited; and it gives up
//! after the `OMICRON1_LOCK_TIMEOUT` setting, if one is set
//! ([`set_wait_timeout`]).

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::fcntl::{fcntl, FcntlArg};
use nix::libc;

use crate::support::output::info;

/// How often a waiting call says it is still waiting.
pub const REPORT_EVERY: Duration = Duration::from_secs(10);

/// How often a waiting call tries the lock again.
const POLL: Duration = Duration::from_millis(100);

static WAIT_TIMEOUT: OnceLock<Option<Duration>> = OnceLock::new();

/// Sets, once per process, how long a lock wait may last (the
/// `OMICRON1_LOCK_TIMEOUT` setting, read by the verbs); unset, or `None`,
/// waits as long as it takes.
pub fn set_wait_timeout(timeout: Option<Duration>) {
    let _ = WAIT_TIMEOUT.set(timeout);
}

fn wait_timeout() -> Option<Duration> {
    WAIT_TIMEOUT.get().copied().flatten()
}

/// A held lock; released when dropped (or when the process exits).
#[derive(Debug)]
pub struct Lock {
    _file: File,
    path: PathBuf,
}

/// Why a lock could not be taken (a wait that timed out has the
/// [`std::io::ErrorKind::TimedOut`] kind and names the holder).
#[derive(Debug, thiserror::Error)]
#[error("cannot lock {}", path.display())]
pub struct LockError {
    /// The lock file.
    pub path: PathBuf,
    /// The system's reason.
    #[source]
    pub source: std::io::Error,
}

/// Whether others may hold the lock at the same time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Many holders at once (readers: installs cloning a template).
    Shared,
    /// One holder, no shared ones (writers: building or destroying a template).
    Exclusive,
}

fn whole_file_lock(mode: LockMode) -> libc::flock {
    // SAFETY: flock is a plain C struct for which all-zero is a valid value.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = match mode {
        LockMode::Shared => libc::F_RDLCK as _,
        LockMode::Exclusive => libc::F_WRLCK as _,
    };
    fl.l_whence = libc::SEEK_SET as _;
    fl
}

/// The pid of a process holding a lock that conflicts with `mode` on
/// `file`, if one does (`F_GETLK`).
fn holder(file: &File, mode: LockMode) -> Option<i32> {
    let mut fl = whole_file_lock(mode);
    fcntl(file.as_raw_fd(), FcntlArg::F_GETLK(&mut fl)).ok()?;
    (i64::from(fl.l_type) != libc::F_UNLCK as i64).then_some(fl.l_pid)
}

fn open_lock_file(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Read and write, so both shared (read) and exclusive (write) locks are allowed.
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
}

impl Lock {
    /// Takes the lock at `path` in `mode` (creating the file and its folder),
    /// calling `on_wait` once, with the holder's pid if known, if another
    /// process holds it and this call must wait.
    pub fn acquire(
        path: &Path,
        mode: LockMode,
        on_wait: impl FnOnce(Option<i32>),
    ) -> Result<Lock, LockError> {
        let err = |source| LockError {
            path: path.to_path_buf(),
            source,
        };
        let file = open_lock_file(path).map_err(err)?;
        let fl = whole_file_lock(mode);
        match fcntl(file.as_raw_fd(), FcntlArg::F_SETLK(&fl)) {
            Ok(_) => {}
            Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EACCES) => {
                on_wait(holder(&file, mode));
                wait(&file, mode, wait_timeout()).map_err(err)?;
            }
            Err(e) => return Err(err(e.into())),
        }
        Ok(Lock {
            _file: file,
            path: path.to_path_buf(),
        })
    }

    /// Takes the lock if nobody holds it in a conflicting mode; `None` if they do.
    pub fn try_acquire(path: &Path, mode: LockMode) -> Result<Option<Lock>, LockError> {
        let err = |source| LockError {
            path: path.to_path_buf(),
            source,
        };
        let file = open_lock_file(path).map_err(err)?;
        match fcntl(file.as_raw_fd(), FcntlArg::F_SETLK(&whole_file_lock(mode))) {
            Ok(_) => Ok(Some(Lock {
                _file: file,
                path: path.to_path_buf(),
            })),
            Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EACCES) => Ok(None),
            Err(e) => Err(err(e.into())),
        }
    }

    /// Changes the mode of a held lock (waiting if needed). Going from shared to
    /// exclusive can deadlock with another upgrader, so callers release and
    /// re-acquire instead; this is for exclusive to shared.
    pub fn downgrade(&self) -> Result<(), LockError> {
        let fl = whole_file_lock(LockMode::Shared);
        fcntl(self._file.as_raw_fd(), FcntlArg::F_SETLK(&fl))
            .map(drop)
            .map_err(|e| LockError {
                path: self.path.clone(),
                source: e.into(),
            })
    }
}

/// Waits for the lock on `file`, trying it every [`POLL`]; says every
/// [`REPORT_EVERY`] how long it has waited and for whom; gives up after
/// `timeout`, or when a signal arrives.
fn wait(file: &File, mode: LockMode, timeout: Option<Duration>) -> std::io::Result<()> {
    let fl = whole_file_lock(mode);
    let started = Instant::now();
    let mut next_report = REPORT_EVERY;
    loop {
        crate::support::signals::check()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::Interrupted, e))?;
        match fcntl(file.as_raw_fd(), FcntlArg::F_SETLK(&fl)) {
            Ok(_) => return Ok(()),
            Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EACCES) => {}
            Err(e) => return Err(e.into()),
        }
        let waited = started.elapsed();
        let who = match holder(file, mode) {
            Some(pid) => format!("pid {pid}"),
            None => "another process".into(),
        };
        if timeout.is_some_and(|t| waited >= t) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "held by {who}; gave up after {} s (OMICRON1_LOCK_TIMEOUT)",
                    waited.as_secs()
                ),
            ));
        }
        if waited >= next_report {
            info(format_args!(
                "still waiting for the lock held by {who}: {} s so far",
                waited.as_secs()
            ));
            next_report += REPORT_EVERY;
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn a_second_process_waits_until_the_first_releases() {
        use std::io::{BufRead, BufReader, Write};
        use std::process::Stdio;
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locks/t.lock");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let released = dir.path().join("released");
        // The first process: holds the lock until told to go, and notes that it
        // is letting go before it does (its exit releases the lock).
        let first = format!(
            "import fcntl,sys\nf=open({:?},'a+')\nfcntl.lockf(f, fcntl.LOCK_EX)\n\
             print('held', flush=True)\nsys.stdin.readline()\nopen({:?},'w').close()\n",
            path.to_str().unwrap(),
            released.to_str().unwrap()
        );
        let mut child = Command::new("python3")
            .args(["-c", &first])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "held\n");
        let mut stdin = child.stdin.take().unwrap();
        // Let it go a little after this process has started to wait.
        let go = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            stdin.write_all(b"go\n").unwrap();
        });
        let waited = AtomicBool::new(false);
        let lock = Lock::acquire(&path, LockMode::Exclusive, |_| {
            waited.store(true, Ordering::SeqCst)
        })
        .unwrap();
        assert!(waited.load(Ordering::SeqCst), "it saw the lock taken");
        assert!(
            released.exists(),
            "it returned only once the first process let go"
        );
        go.join().unwrap();
        assert!(child.wait().unwrap().success());
        drop(lock);
    }

    #[test]
    fn another_process_cannot_take_a_held_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locks/t.lock");
        let lock = Lock::acquire(&path, LockMode::Exclusive, |_| {
            panic!("nobody holds it yet")
        })
        .unwrap();
        // flock(1) is not portable; a child process using fcntl via python shows
        // the lock is held across processes.
        let probe = format!(
            "import fcntl,sys\nf=open('{}','w')\ntry:\n fcntl.lockf(f, fcntl.LOCK_EX|fcntl.LOCK_NB)\n sys.exit(0)\nexcept OSError:\n sys.exit(7)",
            path.display()
        );
        let held = Command::new("python3")
            .args(["-c", &probe])
            .status()
            .unwrap();
        assert_eq!(
            held.code(),
            Some(7),
            "another process must not get the lock"
        );
        drop(lock);
        let free = Command::new("python3")
            .args(["-c", &probe])
            .status()
            .unwrap();
        assert_eq!(free.code(), Some(0), "the lock is free once dropped");
    }

    #[test]
    fn shared_holders_exclude_an_exclusive_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.lock");
        let shared = Lock::acquire(&path, LockMode::Shared, |_| panic!("free")).unwrap();
        // Another process may share it but not take it exclusively.
        let probe = |flag: &str| {
            let code = format!(
                "import fcntl,sys\nf=open('{}','r+')\ntry:\n fcntl.lockf(f, fcntl.{flag}|fcntl.LOCK_NB)\n sys.exit(0)\nexcept OSError:\n sys.exit(7)",
                path.display()
            );
            Command::new("python3")
                .args(["-c", &code])
                .status()
                .unwrap()
                .code()
        };
        assert_eq!(probe("LOCK_SH"), Some(0), "shared with another reader");
        assert_eq!(
            probe("LOCK_EX"),
            Some(7),
            "no writer while a reader holds it"
        );
        drop(shared);
        let exclusive = Lock::try_acquire(&path, LockMode::Exclusive)
            .unwrap()
            .expect("free now");
        assert_eq!(
            probe("LOCK_SH"),
            Some(7),
            "no reader while a writer holds it"
        );
        exclusive.downgrade().unwrap();
        assert_eq!(probe("LOCK_SH"), Some(0), "downgraded to shared");
    }

    /// A lock held by another process: the waiter learns its pid, and a wait
    /// with a timeout gives up naming it.
    #[test]
    fn a_wait_names_the_holder_and_can_time_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("held.lock");
        std::fs::write(&path, "").unwrap();
        let script = format!(
            "import fcntl,sys,time\nf=open('{}','r+')\nfcntl.lockf(f, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(30)",
            path.display()
        );
        let mut child = Command::new("python3")
            .args(["-c", &script])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "held");
        let file = open_lock_file(&path).unwrap();
        assert_eq!(
            holder(&file, LockMode::Shared),
            Some(child.id() as i32),
            "F_GETLK names the holder"
        );
        let started = Instant::now();
        let e = wait(&file, LockMode::Exclusive, Some(Duration::from_millis(300))).unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        assert!(
            e.to_string().contains(&format!("pid {}", child.id())),
            "{e}"
        );
        child.kill().unwrap();
        child.wait().unwrap();
        // Once the holder is gone, the wait ends.
        wait(&file, LockMode::Exclusive, Some(Duration::from_secs(5))).unwrap();
        assert_eq!(
            holder(&open_lock_file(&path).unwrap(), LockMode::Exclusive),
            None
        );
    }
}
