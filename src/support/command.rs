//! Running a system command other than `zfs` (`kstat`, `zonecfg`), the way
//! `omicron1-zfs`'s runner runs `zfs`: by absolute path, with `LC_ALL=C`, and
//! on failure the whole story — argv, exit status and stderr.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

/// A command that could not be started, or did not exit 0.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The program could not be started (the system's reason is the source).
    #[error("`{}` could not be started", argv.join(" "))]
    Spawn {
        /// The program and its arguments.
        argv: Vec<String>,
        /// Why it could not be started.
        #[source]
        source: std::io::Error,
    },
    /// The program ran and failed.
    #[error("`{}` failed ({status}){}", argv.join(" "), stderr_text(stderr))]
    Failed {
        /// The program and its arguments.
        argv: Vec<String>,
        /// Its exit status.
        status: ExitStatus,
        /// What it printed on stderr (trimmed).
        stderr: String,
    },
}

fn stderr_text(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!(": {stderr}")
    }
}

/// Runs `program ARGS` and returns its stdout.
pub fn run<I, S>(program: &Path, args: I) -> Result<String, CommandError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().into()).collect();
    let argv: Vec<String> = std::iter::once(program.as_os_str())
        .chain(args.iter().map(|a| a.as_os_str()))
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    tracing::debug!(argv = %argv.join(" "), "running");
    let output = Command::new(program)
        .args(&args)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output()
        .map_err(|source| CommandError::Spawn {
            argv: argv.clone(),
            source,
        })?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    Err(CommandError::Failed {
        argv,
        status: output.status,
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_and_failures() {
        assert_eq!(
            run(Path::new("/bin/sh"), ["-c", "echo hi"]).unwrap(),
            "hi\n"
        );
        let err = run(Path::new("/bin/sh"), ["-c", "echo oops >&2; exit 3"]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("`/bin/sh -c echo oops >&2; exit 3` failed (")
                && text.ends_with(": oops"),
            "{text}"
        );
        let err = run(Path::new("/nonexistent/prog"), ["x"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`/nonexistent/prog x` could not be started"
        );
        assert!(
            std::error::Error::source(&err).is_some(),
            "the reason is the source"
        );
    }
}
