//! What a command and every process it starts really did, seen by the kernel:
//! the command runs under `strace -f`, which records each `execve` and each
//! mount system call of the whole process tree, with its arguments and result.
//!
//! This is how the VM suite counts real `zfs`/`zpool` processes (not the
//! installer's own count, nor the fake's) and proves that `dataset setup`
//! never mounts a dataset (not a poll of the mount table, which can miss a
//! mount shorter than its interval).
//!
//! What a trace cannot see: processes that are not descendants of the traced
//! command (the VM runs no `zed`, automounter or systemd, so nothing else
//! mounts ZFS datasets there), and mounts the kernel makes on its own (ZFS
//! does that only for `.zfs/snapshot` directories, which nothing here visits).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The system calls traced: `execve`, and every way to attach a mount.
const SYSCALLS: &str =
    "trace=execve,mount,umount2,fsopen,fsconfig,fsmount,move_mount,open_tree,mount_setattr";

/// A successful `execve`: the program and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exec {
    /// The path executed.
    pub path: String,
    /// Its argv, `argv[0]` first.
    pub argv: Vec<String>,
}

/// A successful mount system call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    /// `mount(SOURCE, TARGET, ...)`: for ZFS the source is the dataset's name.
    Mount {
        /// The source (a dataset name for ZFS).
        source: String,
        /// Where it was mounted.
        target: String,
        /// The whole line, for messages.
        line: String,
    },
    /// `umount2(TARGET, ...)`.
    Unmount {
        /// What was unmounted.
        target: String,
    },
    /// A call of the newer mount API (`fsmount`, `move_mount`, ...): the trace
    /// cannot tell which dataset it concerns, so tests treat any as a failure.
    Other {
        /// The whole line.
        line: String,
    },
}

/// Everything a traced command's process tree did that a test looks at.
#[derive(Debug, Default)]
pub struct Trace {
    /// Successful `execve`s, in the order the processes were started
    /// (by pid, which the VM hands out in increasing order).
    pub execs: Vec<Exec>,
    /// Successful mount calls, per process in pid order.
    pub mounts: Vec<Mount>,
}

impl Trace {
    /// The `zfs` and `zpool` processes started, as `zfs VERB` (argv[1]).
    pub fn zfs_processes(&self) -> Vec<String> {
        self.execs
            .iter()
            .filter(|e| e.path == "/usr/sbin/zfs" || e.path == "/usr/sbin/zpool")
            .map(|e| {
                let program = Path::new(&e.path).file_name().unwrap().to_string_lossy();
                match e.argv.get(1) {
                    Some(verb) => format!("{program} {verb}"),
                    None => program.into_owned(),
                }
            })
            .collect()
    }

    /// Every `mount` whose source is `dataset`.
    pub fn mounts_of(&self, dataset: &str) -> Vec<&Mount> {
        self.mounts
            .iter()
            .filter(|m| matches!(m, Mount::Mount { source, .. } if source == dataset))
            .collect()
    }

    /// Calls of the newer mount API, which the trace cannot attribute.
    pub fn unattributed_mounts(&self) -> Vec<&Mount> {
        self.mounts
            .iter()
            .filter(|m| matches!(m, Mount::Other { .. }))
            .collect()
    }
}

/// Runs `cmd` (its program, arguments, environment and folder) under
/// `strace -f`, writing the trace into `dir` (one file per process, named
/// `LABEL.PID`), and returns its output and the parsed trace.
pub fn traced(cmd: &Command, dir: &Path, label: &str) -> (Output, Trace) {
    let prefix = dir.join(label);
    let mut strace = Command::new("strace");
    strace
        .args([
            "-f",
            "-ff",
            "-qq",
            "-s",
            "4096",
            "-e",
            SYSCALLS,
            "-e",
            "signal=none",
            "-o",
        ])
        .arg(&prefix)
        .arg("--")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => strace.env(k, v),
            None => strace.env_remove(k),
        };
    }
    if let Some(d) = cmd.get_current_dir() {
        strace.current_dir(d);
    }
    let out = strace
        .output()
        .unwrap_or_else(|e| panic!("cannot run strace (vm-tests/setup.sh installs it): {e}"));
    let trace = read_trace(dir, label);
    assert!(
        !trace.execs.is_empty(),
        "strace recorded nothing for {label}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out, trace)
}

/// Reads the per-process files `DIR/LABEL.PID` of one trace.
fn read_trace(dir: &Path, label: &str) -> Trace {
    let mut files: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            let name = e.file_name().into_string().ok()?;
            let pid = name.strip_prefix(label)?.strip_prefix('.')?.parse().ok()?;
            Some((pid, e.path()))
        })
        .collect();
    files.sort();
    let mut trace = Trace::default();
    for (_, file) in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for line in text.lines() {
            parse_line(line, &mut trace);
        }
    }
    trace
}

/// Adds what one strace line records, if it is a successful call we trace.
fn parse_line(line: &str, trace: &mut Trace) {
    let Some((call, rest)) = line.split_once('(') else {
        return;
    };
    let ok = match call {
        "execve" => line.ends_with(" = 0"),
        _ => succeeded(line),
    };
    if !ok {
        return;
    }
    match call {
        "execve" => {
            let mut p = Parser { s: rest };
            let path = p.string();
            p.expect(", [");
            let mut argv = Vec::new();
            while !p.s.starts_with(']') {
                argv.push(p.string());
                if p.s.starts_with(", ") {
                    p.expect(", ");
                }
            }
            trace.execs.push(Exec { path, argv });
        }
        "mount" => {
            let mut p = Parser { s: rest };
            let source = p.string();
            p.expect(", ");
            let target = p.string();
            trace.mounts.push(Mount::Mount {
                source,
                target,
                line: line.to_string(),
            });
        }
        "umount2" => {
            let mut p = Parser { s: rest };
            trace.mounts.push(Mount::Unmount { target: p.string() });
        }
        "fsopen" | "fsconfig" | "open_tree" => {
            // Preparing a mount attaches nothing; fsmount/move_mount would.
        }
        _ => trace.mounts.push(Mount::Other {
            line: line.to_string(),
        }),
    }
}

/// Whether a call returned a non-negative result (file descriptors for `fsmount`).
fn succeeded(line: &str) -> bool {
    line.rsplit_once(" = ")
        .and_then(|(_, r)| r.split_whitespace().next())
        .and_then(|r| r.parse::<i64>().ok())
        .is_some_and(|r| r >= 0)
}

/// Reads strace's C-style quoted strings.
struct Parser<'a> {
    s: &'a str,
}

impl Parser<'_> {
    fn expect(&mut self, what: &str) {
        self.s = self
            .s
            .strip_prefix(what)
            .unwrap_or_else(|| panic!("strace line: expected {what:?} at {:?}", self.s));
    }

    /// A `"..."` string with strace's escapes (`\n`, `\t`, `\"`, `\\`, octal),
    /// possibly followed by `...` when strace shortened it.
    fn string(&mut self) -> String {
        self.expect("\"");
        let bytes = self.s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        loop {
            match bytes[i] {
                b'"' => break,
                b'\\' => {
                    i += 1;
                    match bytes[i] {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'v' => out.push(0x0b),
                        b'f' => out.push(0x0c),
                        d @ b'0'..=b'7' => {
                            let mut v = u32::from(d - b'0');
                            for _ in 0..2 {
                                match bytes.get(i + 1) {
                                    Some(n @ b'0'..=b'7') => {
                                        v = v * 8 + u32::from(n - b'0');
                                        i += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push(v as u8);
                        }
                        other => out.push(other),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        self.s = &self.s[i + 1..];
        if let Some(rest) = self.s.strip_prefix("...") {
            self.s = rest;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_execs_and_mounts() {
        let mut t = Trace::default();
        for line in [
            r#"execve("/usr/sbin/zfs", ["/usr/sbin/zfs", "list", "-Hp", "a \"b\"\n"], 0x7ffc /* 3 vars */) = 0"#,
            r#"execve("/usr/bin/nope", ["nope"], 0x7ffc /* 3 vars */) = -1 ENOENT (No such file or directory)"#,
            r#"mount("tp/a/b", "/tmp/tp/a/b", "zfs", MS_NOATIME, "zfsutil,mntpoint=/tmp/tp/a/b") = 0"#,
            r#"mount("tp/c", "/c", "zfs", 0, "") = -1 EBUSY (Device or resource busy)"#,
            r#"umount2("/tmp/tp/a/b", 0) = 0"#,
            r#"fsmount(3, FSMOUNT_CLOEXEC, 0) = 4"#,
        ] {
            parse_line(line, &mut t);
        }
        assert_eq!(
            t.execs,
            vec![Exec {
                path: "/usr/sbin/zfs".into(),
                argv: vec![
                    "/usr/sbin/zfs".into(),
                    "list".into(),
                    "-Hp".into(),
                    "a \"b\"\n".into()
                ],
            }]
        );
        assert_eq!(t.zfs_processes(), ["zfs list"]);
        assert_eq!(t.mounts_of("tp/a/b").len(), 1);
        assert!(t.mounts_of("tp/c").is_empty(), "a failed mount is not one");
        assert_eq!(t.unattributed_mounts().len(), 1);
        assert_eq!(t.mounts.len(), 3);
    }
}
