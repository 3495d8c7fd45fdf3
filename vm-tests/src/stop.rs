//! Running the installer until it stops itself at a named fault point
//! (`OMICRON1_STOP_AT=POINT[#N]`, `src/faults.rs`), so that a test acts at an
//! exact step instead of on an output line or after a sleep.
//!
//! The installer prints one line to stderr and raises `SIGSTOP` on reaching the
//! point; [`run_until`] sees it stopped with `waitpid(WUNTRACED)` — the kernel's
//! word that it is there, not a guess from its output. A stopped process keeps
//! every other signal pending until it is continued, so [`Stopped::signal`]
//! delivers SIGINT, SIGTERM or SIGHUP exactly at the point: the handler runs
//! when `SIGCONT` resumes it, and the next signal check after the point (the
//! next entry, the next step) sees it.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// How long an installer may take to reach a point or to finish (emulation is slow).
pub const DEADLINE: Duration = Duration::from_secs(600);

/// A file's text, or nothing if it cannot be read.
pub fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// A started installer whose output goes to two files.
#[derive(Debug)]
pub struct Running {
    /// Its process.
    pub pid: Pid,
    /// Where its stdout goes.
    pub stdout: PathBuf,
    /// Where its stderr goes.
    pub stderr: PathBuf,
}

/// How a process ended.
#[derive(Debug)]
pub struct Finished {
    /// Its exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// What it printed to stdout.
    pub stdout: String,
    /// What it printed to stderr.
    pub stderr: String,
}

/// Starts `cmd` with stdout and stderr into `DIR/LABEL.stdout` and `.stderr`,
/// not waiting for it. Reap it with [`Running::wait`] (by pid, not through a
/// `Child` handle).
#[allow(clippy::zombie_processes)] // reaped by pid in `Running::wait`
pub fn spawn(mut cmd: Command, dir: &Path, label: &str) -> Running {
    let stdout = dir.join(format!("{label}.stdout"));
    let stderr = dir.join(format!("{label}.stderr"));
    let child = cmd
        .stdin(Stdio::null())
        .stdout(File::create(&stdout).unwrap())
        .stderr(File::create(&stderr).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("{label}: cannot start {:?}: {e}", cmd.get_program()));
    Running {
        pid: Pid::from_raw(child.id() as i32),
        stdout,
        stderr,
    }
}

impl Running {
    /// Waits for it to end (up to [`DEADLINE`]).
    pub fn wait(self) -> Finished {
        let started = Instant::now();
        let status = loop {
            match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)).unwrap() {
                WaitStatus::StillAlive if started.elapsed() < DEADLINE => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                WaitStatus::StillAlive => {
                    let _ = kill(self.pid, Signal::SIGKILL);
                    panic!(
                        "pid {} did not finish within {DEADLINE:?}:\n{}{}",
                        self.pid,
                        read(&self.stdout),
                        read(&self.stderr)
                    );
                }
                other => break other,
            }
        };
        let code = match status {
            WaitStatus::Exited(_, code) => Some(code),
            WaitStatus::Signaled(..) => None,
            other => panic!("pid {}: unexpected status {other:?}", self.pid),
        };
        let finished = Finished {
            code,
            stdout: read(&self.stdout),
            stderr: read(&self.stderr),
        };
        eprintln!(
            "pid {} ended ({:?}):\n{}{}",
            self.pid, finished.code, finished.stdout, finished.stderr
        );
        finished
    }

    /// Waits for it to end like [`Running::wait`], but fails at once if it
    /// ever blocks on a lock (for a caller that must not wait for anyone).
    pub fn wait_never_blocking_on_a_lock(self) -> Finished {
        let started = Instant::now();
        loop {
            // Ended (a zombie until reaped): reap it.
            let stat = read(Path::new(&format!("/proc/{}/stat", self.pid)));
            let state = stat.rsplit_once(") ").and_then(|(_, r)| r.chars().next());
            if state == Some('Z') || state.is_none() {
                return self.wait();
            }
            if self.blocked_in_fcntl() {
                let _ = kill(self.pid, Signal::SIGKILL);
                let _ = waitpid(self.pid, None);
                panic!(
                    "pid {} blocked on a lock it must not wait for:\n{}{}",
                    self.pid,
                    read(&self.stdout),
                    read(&self.stderr)
                );
            }
            assert!(
                started.elapsed() < DEADLINE,
                "pid {} did not finish",
                self.pid
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// What it printed to stdout so far.
    pub fn stdout(&self) -> String {
        read(&self.stdout)
    }

    /// Whether it is blocked in `fcntl` (x86-64 syscall 72), as an install is
    /// while it waits for a template's lock (`F_SETLKW`): `/proc/PID/syscall`
    /// names the system call a blocked process sits in.
    pub fn blocked_in_fcntl(&self) -> bool {
        let text = read(Path::new(&format!("/proc/{}/syscall", self.pid)));
        text.split_whitespace().next() == Some("72")
    }

    /// Waits until it is blocked in `fcntl` (a lock wait), up to [`DEADLINE`].
    pub fn wait_until_blocked_in_fcntl(&self) {
        let started = Instant::now();
        while !self.blocked_in_fcntl() {
            assert!(
                started.elapsed() < DEADLINE,
                "pid {} never blocked on a lock:\n{}{}",
                self.pid,
                read(&self.stdout),
                read(&self.stderr)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// An installer stopped at its fault point.
#[derive(Debug)]
pub struct Stopped {
    /// The process, with its output files.
    pub process: Running,
    /// The point it stopped at, as given (`NAME` or `NAME#N`).
    pub point: String,
}

/// Starts `cmd` with `OMICRON1_STOP_AT=point` and waits until the kernel
/// reports it stopped by `SIGSTOP` and it has said where. Panics (killing it)
/// if it ends or takes longer than [`DEADLINE`] instead.
pub fn run_until(mut cmd: Command, point: &str, dir: &Path, label: &str) -> Stopped {
    cmd.env("OMICRON1_STOP_AT", point);
    let process = spawn(cmd, dir, label);
    let started = Instant::now();
    loop {
        match waitpid(
            process.pid,
            Some(WaitPidFlag::WUNTRACED | WaitPidFlag::WNOHANG),
        )
        .unwrap()
        {
            WaitStatus::StillAlive if started.elapsed() < DEADLINE => {
                std::thread::sleep(Duration::from_millis(20))
            }
            WaitStatus::Stopped(_, Signal::SIGSTOP) => break,
            other => {
                let _ = kill(process.pid, Signal::SIGKILL);
                panic!(
                    "{label}: the installer did not stop at {point} ({other:?} after {:?}):\n{}{}",
                    started.elapsed(),
                    read(&process.stdout),
                    read(&process.stderr)
                );
            }
        }
    }
    let name = point.split('#').next().unwrap();
    let said = read(&process.stderr);
    assert!(
        said.contains(&format!("stopping at {name}#")),
        "{label}: stopped, but not at {point}: {said}"
    );
    eprintln!("{label}: stopped at {point} after {:?}", started.elapsed());
    Stopped {
        process,
        point: point.to_string(),
    }
}

impl Stopped {
    /// SIGKILL, then reap; returns what it printed to stdout.
    pub fn kill(self) -> String {
        kill(self.process.pid, Signal::SIGKILL).unwrap();
        match waitpid(self.process.pid, None).unwrap() {
            WaitStatus::Signaled(_, Signal::SIGKILL, _) => {}
            other => panic!("{}: {other:?}", self.point),
        }
        let out = read(&self.process.stdout);
        eprintln!(
            "killed at {}:\n{out}{}",
            self.point,
            read(&self.process.stderr)
        );
        out
    }

    /// Sends `signal` while it is stopped at the point, then `SIGCONT`, and
    /// waits for it to end.
    pub fn signal(self, signal: Signal) -> Finished {
        kill(self.process.pid, signal).unwrap();
        self.resume()
    }

    /// `SIGCONT`, and waits for it to end.
    pub fn resume(self) -> Finished {
        kill(self.process.pid, Signal::SIGCONT).unwrap();
        self.process.wait()
    }

    /// What it printed to stdout so far.
    pub fn stdout(&self) -> String {
        self.process.stdout()
    }
}
