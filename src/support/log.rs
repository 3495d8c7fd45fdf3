//! Diagnostics: `tracing` to stderr, and a log of every call.
//!
//! Each call appends one line to `OMICRON1_RUN_DIR/omicron1.log` with its
//! arguments and outcome, so what zoneadm asked for and what happened can be
//! read after the fact. Logging never makes a call fail: if the log cannot be
//! written, that is reported at debug level and the call goes on.

use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing_subscriber::filter::LevelFilter;

/// The call log's file name inside the run directory.
pub const CALL_LOG: &str = "omicron1.log";

/// Sends `tracing` events to stderr at the level named by `OMICRON1_LOG`
/// (`error`, `warn`, `info`, `debug`, `trace`; default `warn`).
pub fn init_tracing() {
    let level = std::env::var("OMICRON1_LOG")
        .ok()
        .and_then(|l| l.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::WARN);
    // A second init (as in tests) is harmless: the first subscriber stays.
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Appends one line describing a finished call to the call log in `run_dir`.
pub fn record_call(run_dir: &Path, argv: &[String], exit_code: u8, error: Option<&str>) {
    let when = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut line = format!(
        "{when} pid={} exit={exit_code} argv={argv:?}",
        std::process::id()
    );
    if let Some(e) = error {
        line.push_str(&format!(" error={e:?}"));
    }
    line.push('\n');
    let result = std::fs::create_dir_all(run_dir).and_then(|()| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(run_dir.join(CALL_LOG))?
            .write_all(line.as_bytes())
    });
    if let Err(e) = result {
        tracing::debug!("cannot write the call log in {}: {e}", run_dir.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_one_line_per_call() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        record_call(&run, &["omicron1".into(), "install".into()], 0, None);
        record_call(&run, &["omicron1".into()], 254, Some("bad image"));
        let text = std::fs::read_to_string(run.join(CALL_LOG)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[0].contains("exit=0") && lines[0].contains("\"install\""),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].contains("exit=254") && lines[1].contains("bad image"),
            "{}",
            lines[1]
        );
    }

    #[test]
    fn an_unwritable_log_is_not_an_error() {
        // The run directory's path is taken by a file: no log can be made.
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        std::fs::write(&run, b"a file, not a folder").unwrap();
        // Returns (no panic, nothing to report) and leaves the file alone.
        record_call(&run, &["omicron1".into()], 254, Some("whatever"));
        assert_eq!(std::fs::read(&run).unwrap(), b"a file, not a folder");
        let entries: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(entries, ["run"], "nothing else was made");
    }
}
