//! Stopping a hook at a fault point (`OMICRON1_STOP_AT`), changing the world
//! while it waits, and letting it go on: for failures that only a race with
//! something else can cause, such as a mount over a folder that is no longer
//! empty.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::fixture::Fixture;

/// How long a hook may take to reach its point (emulation is slow).
const DEADLINE: Duration = Duration::from_secs(600);

/// A hook stopped at its fault point.
pub struct Stopped {
    pid: Pid,
    stdout: PathBuf,
    stderr: PathBuf,
}

/// What a resumed hook did.
#[derive(Debug)]
pub struct Finished {
    /// Its exit code.
    pub code: i32,
    /// What it printed, stdout then stderr.
    pub output: String,
}

/// Runs `omicron1 -z ZONE -R ZONEPATH ARGS...` with `OMICRON1_STOP_AT=point`
/// until it stops there.
#[allow(clippy::zombie_processes)] // reaped by pid in `resume`
pub fn hook_until(f: &Fixture, zone: &str, zonepath: &Path, args: &[&str], point: &str) -> Stopped {
    let stdout = f.dir.join(format!("{zone}.stop.stdout"));
    let stderr = f.dir.join(format!("{zone}.stop.stderr"));
    let child = f
        .command()
        .env("OMICRON1_STOP_AT", point)
        .arg("-z")
        .arg(zone)
        .arg("-R")
        .arg(zonepath)
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(&stdout).unwrap())
        .stderr(File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let pid = Pid::from_raw(child.id() as i32);
    let started = Instant::now();
    loop {
        match waitpid(pid, Some(WaitPidFlag::WUNTRACED | WaitPidFlag::WNOHANG)).unwrap() {
            WaitStatus::StillAlive if started.elapsed() < DEADLINE => {
                std::thread::sleep(Duration::from_millis(20))
            }
            WaitStatus::Stopped(_, Signal::SIGSTOP) => break,
            other => {
                let _ = kill(pid, Signal::SIGKILL);
                panic!(
                    "{zone}: the hook did not stop at {point} ({other:?}):\n{}{}",
                    std::fs::read_to_string(&stdout).unwrap_or_default(),
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                );
            }
        }
    }
    Stopped {
        pid,
        stdout,
        stderr,
    }
}

impl Stopped {
    /// Lets the hook go on (SIGCONT) and waits for it to exit.
    pub fn resume(self) -> Finished {
        kill(self.pid, Signal::SIGCONT).unwrap();
        let code = loop {
            match waitpid(self.pid, None).unwrap() {
                WaitStatus::Exited(_, code) => break code,
                WaitStatus::Continued(_) => continue,
                other => panic!("{other:?}"),
            }
        };
        let output = format!(
            "{}{}",
            std::fs::read_to_string(&self.stdout).unwrap_or_default(),
            std::fs::read_to_string(&self.stderr).unwrap_or_default()
        );
        eprintln!("resumed hook exited {code}:\n{output}");
        Finished { code, output }
    }
}
