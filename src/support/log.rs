//! Diagnostics: `tracing` to stderr, and a log of every call.
//!
//! Each call appends one JSON line to `OMICRON1_RUN_DIR/omicron1.log` (its
//! time, pid, verb, zone, arguments, exit code, milliseconds and error), so
//! what zoneadm asked for and what happened can be read after the fact, by
//! a person or a program. Logging never makes a call fail: if the log cannot
//! be written, that is reported at debug level and the call goes on.

use std::io::Write;
use std::path::Path;

use tracing_subscriber::filter::LevelFilter;

/// The call log's file name inside the run directory.
pub const CALL_LOG: &str = "omicron1.log";

/// Sends `tracing` events to stderr at `level` (the `OMICRON1_LOG` setting),
/// without timestamps: the lines are for the person running the command,
/// like every other line the installer writes.
pub fn init_tracing(level: LevelFilter) {
    // A second init (as in tests) is harmless: the first subscriber stays.
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}

/// Appends one JSON line describing a finished call to the call log in
/// `run_dir`.
pub fn record_call(run_dir: &Path, record: &impl serde::Serialize) {
    let mut line = match serde_json::to_string(record) {
        Ok(line) => line,
        Err(e) => {
            tracing::debug!("cannot write the call log entry: {e}");
            return;
        }
    };
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
        record_call(&run, &serde_json::json!({"verb": "install", "exit": 0}));
        record_call(
            &run,
            &serde_json::json!({"verb": "install", "exit": 254, "error": "bad image"}),
        );
        let text = std::fs::read_to_string(run.join(CALL_LOG)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let second: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(second["exit"], 254);
        assert_eq!(second["error"], "bad image");
    }

    #[test]
    fn an_unwritable_log_is_not_an_error() {
        // The run directory's path is taken by a file: no log can be made.
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        std::fs::write(&run, b"a file, not a folder").unwrap();
        // Returns (no panic, nothing to report) and leaves the file alone.
        record_call(&run, &serde_json::json!({"verb": "install", "exit": 254}));
        assert_eq!(std::fs::read(&run).unwrap(), b"a file, not a folder");
        let entries: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(entries, ["run"], "nothing else was made");
    }
}
