//! The one place a `zfs` or `zpool` process is started.
//!
//! Commands run by absolute path with `LC_ALL=C`, so the messages that
//! [`crate::error`] classifies are stable. A failure carries the whole story:
//! argv, exit status, stdout and stderr.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// Where `zfs` lives on illumos and on Debian (merged `/usr`) alike.
pub const ZFS: &str = "/usr/sbin/zfs";
/// Where `zpool` lives on illumos and on Debian (merged `/usr`) alike.
pub const ZPOOL: &str = "/usr/sbin/zpool";

/// A command that ran and did not exit 0, or that could not be started.
#[derive(Debug, thiserror::Error)]
pub struct CommandFailure {
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// The exit status, if the process ran.
    pub status: Option<ExitStatus>,
    /// What it printed on stdout.
    pub stdout: String,
    /// What it printed on stderr (trimmed).
    pub stderr: String,
    /// Why it could not be started, if it was not.
    #[source]
    pub spawn_error: Option<std::io::Error>,
}

impl fmt::Display for CommandFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`", self.argv.join(" "))?;
        match (&self.status, &self.spawn_error) {
            // The reason is the `source()`, printed after this by whoever prints the chain.
            (_, Some(_)) => write!(f, " could not be started"),
            (Some(status), None) => {
                write!(f, " failed ({status})")?;
                if !self.stderr.is_empty() {
                    write!(f, ": {}", self.stderr)?;
                }
                Ok(())
            }
            (None, None) => write!(f, " failed"),
        }
    }
}

/// Runs `zfs` and `zpool` and counts how many processes it started.
#[derive(Debug)]
pub struct Runner {
    zfs: PathBuf,
    zpool: PathBuf,
    started: AtomicU64,
}

impl Default for Runner {
    fn default() -> Self {
        Runner::new(ZFS, ZPOOL)
    }
}

impl Runner {
    /// A runner using the given binaries (absolute paths).
    pub fn new(zfs: impl Into<PathBuf>, zpool: impl Into<PathBuf>) -> Self {
        Runner {
            zfs: zfs.into(),
            zpool: zpool.into(),
            started: AtomicU64::new(0),
        }
    }

    /// How many processes this runner has started; benchmarks report it.
    pub fn processes_started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    /// Runs `zfs ARGS`, returning stdout on success.
    pub fn zfs<I, S>(&self, args: I) -> Result<String, CommandFailure>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.run(&self.zfs, args)
    }

    /// Runs `zpool ARGS`, returning stdout on success.
    pub fn zpool<I, S>(&self, args: I) -> Result<String, CommandFailure>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.run(&self.zpool, args)
    }

    fn run<I, S>(&self, program: &Path, args: I) -> Result<String, CommandFailure>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let argv: Vec<String> = std::iter::once(program.as_os_str())
            .chain(args.iter().map(|a| a.as_os_str()))
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        tracing::debug!(argv = %argv.join(" "), "running");
        self.started.fetch_add(1, Ordering::Relaxed);
        let output = Command::new(program)
            .args(&args)
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .output();
        let output = match output {
            Ok(o) => o,
            Err(e) => {
                return Err(CommandFailure {
                    argv,
                    status: None,
                    stdout: String::new(),
                    stderr: String::new(),
                    spawn_error: Some(e),
                })
            }
        };
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success() {
            return Ok(stdout);
        }
        Err(CommandFailure {
            argv,
            status: Some(output.status),
            stdout,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            spawn_error: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_tells_the_whole_story() {
        let r = Runner::new("/bin/sh", "/bin/false");
        let err = r
            .zfs(["-c", "echo out; echo 'cannot open: boom' >&2; exit 3"])
            .unwrap_err();
        assert_eq!(err.argv[0], "/bin/sh");
        assert_eq!(err.stdout, "out\n");
        assert_eq!(err.stderr, "cannot open: boom");
        assert_eq!(err.status.and_then(|s| s.code()), Some(3));
        let text = err.to_string();
        assert!(
            text.contains("/bin/sh -c") && text.contains("cannot open: boom"),
            "{text}"
        );
        assert_eq!(r.processes_started(), 1);
    }

    #[test]
    fn locale_is_c() {
        let r = Runner::new("/bin/sh", "/bin/false");
        assert_eq!(r.zfs(["-c", "echo $LC_ALL"]).unwrap(), "C\n");
    }

    #[test]
    fn missing_binary_is_a_spawn_error() {
        let r = Runner::new("/nonexistent/zfs", "/nonexistent/zpool");
        let err = r.zpool(["list"]).unwrap_err();
        assert!(err.spawn_error.is_some());
        assert!(err.to_string().contains("could not be started"));
        // The reason is the source, printed once by whoever walks the chain.
        assert!(!err.to_string().contains("os error"), "{err}");
        assert!(std::error::Error::source(&err).is_some());
    }
}
