//! Every line the installer writes for a person, in one place.
//!
//! Progress goes to stdout in the original brand's `INFO: omicron: ...` form
//! (zoneadm shows it to the person installing a zone); warnings and errors go
//! to stderr as `omicron1: warning: ...` and `omicron1: error: ...`; no line
//! carries a timestamp. Reports a verb prints on request (`template list`,
//! `dataset check`) are the verb's own, on stdout, through [`report`]; when a
//! verb prints JSON ([`json_mode`]), progress moves to stderr so stdout is
//! the JSON document alone. Sizes are written as `zfs list` writes them
//! ([`size`]).

use std::fmt::Display;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Set when stdout carries a JSON document: progress goes to stderr.
static JSON_MODE: AtomicBool = AtomicBool::new(false);

/// From now on, stdout is for one JSON document: `INFO:` lines go to stderr.
pub fn json_mode() {
    JSON_MODE.store(true, Ordering::SeqCst);
}

/// Prints one `INFO: omicron: MESSAGE` line and flushes it at once, so the
/// lines interleave correctly with zoneadm's own output.
pub(crate) fn info(message: impl Display) {
    let line = format!("INFO: omicron: {message}\n");
    // A closed stdout must not fail an install.
    if JSON_MODE.load(Ordering::SeqCst) {
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    } else {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }
}

/// Prints a verb's report (a table, a JSON document) on stdout as it is.
pub fn report(text: impl Display) {
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{text}");
    let _ = out.flush();
}

/// A size as `zfs list` prints it: powers of 1024 with one letter (`B`,
/// `K`, `M`, `G`, `T`, `P`, `E`), an exact multiple without decimals
/// (`512K`, `0B`), otherwise as many decimals (2, 1, then 0) as fit in five
/// characters (`1.20G`, `12.3M`, `123K`).
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "K", "M", "G", "T", "P", "E"];
    let mut unit = 0;
    let mut whole = bytes;
    while whole >= 1024 && unit < UNITS.len() - 1 {
        whole /= 1024;
        unit += 1;
    }
    let divisor = 1024u64.pow(unit as u32);
    if unit == 0 || bytes % divisor == 0 {
        return format!("{whole}{}", UNITS[unit]);
    }
    let value = bytes as f64 / divisor as f64;
    for decimals in [2, 1, 0] {
        let text = format!("{value:.decimals$}{}", UNITS[unit]);
        if text.len() <= 5 {
            return text;
        }
    }
    format!("{value:.0}{}", UNITS[unit])
}

/// A long step's heartbeat: [`Heartbeat::tick`] is cheap to call for every
/// file, and prints an `INFO:` line with the files and bytes so far at most
/// once per interval, so a long replication or unpack shows it is alive.
#[derive(Debug)]
pub struct Heartbeat {
    what: String,
    interval: Duration,
    started: Instant,
    state: Mutex<(Instant, u64, u64)>,
}

/// How often a heartbeat line is printed.
pub const HEARTBEAT: Duration = Duration::from_secs(5);

impl Heartbeat {
    /// A heartbeat for `what` (`replicating /usr`), printing every `interval`.
    pub fn new(what: impl Into<String>, interval: Duration) -> Self {
        let now = Instant::now();
        Heartbeat {
            what: what.into(),
            interval,
            started: now,
            state: Mutex::new((now, 0, 0)),
        }
    }

    /// Counts `files` more files and `bytes` more bytes; prints a line if the
    /// interval has passed since the last one. Returns whether it printed.
    pub fn tick(&self, files: u64, bytes: u64) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.1 += files;
        state.2 += bytes;
        if state.0.elapsed() < self.interval {
            return false;
        }
        state.0 = Instant::now();
        info(format_args!(
            "{}: {} files, {} so far ({} s)",
            self.what,
            state.1,
            size(state.2),
            self.started.elapsed().as_secs()
        ));
        true
    }
}

/// Prints one `omicron1: warning: MESSAGE` line on stderr.
pub fn warn(message: impl Display) {
    eprintln!("omicron1: warning: {}", one_line(&message.to_string()));
}

/// Prints one `omicron1: error: MESSAGE` line on stderr.
pub fn error(message: impl Display) {
    eprintln!("omicron1: error: {}", one_line(&message.to_string()));
}

/// A message on one line: a command's stderr quoted in an error may span
/// several (`The ZFS modules are not loaded.\nTry running ...`); its lines
/// are joined with spaces so that each problem stays one line.
pub fn one_line(text: &str) -> String {
    if !text.contains('\n') {
        return text.to_string();
    }
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Prints one `omicron1: MESSAGE` line on stderr: a notice that is neither a
/// warning nor the call's error (a rollback starting, a test stop point).
pub(crate) fn notice(message: impl Display) {
    eprintln!("omicron1: {message}");
}

/// An error and its `source()` chain on one line, each cause once:
/// `outer: middle: inner`.
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Milliseconds, for progress lines.
pub(crate) fn ms(d: Duration) -> u128 {
    d.as_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn a_message_is_one_line() {
        assert_eq!(one_line("plain"), "plain");
        assert_eq!(
            one_line("failed: The ZFS modules are not loaded.\nTry running it.\n"),
            "failed: The ZFS modules are not loaded. Try running it."
        );
    }

    #[test]
    fn sizes_as_zfs_prints_them() {
        for (bytes, text) in [
            (0, "0B"),
            (512, "512B"),
            (1023, "1023B"),
            (1024, "1K"),
            (512 * 1024, "512K"),
            (1536, "1.50K"),
            (50 * 1024 * 1024, "50M"),
            (1_288_490_189, "1.20G"),
            (12_900_000, "12.3M"),
            (126_000, "123K"),
            (1 << 40, "1T"),
            (u64::MAX, "16.0E"),
        ] {
            assert_eq!(size(bytes), text, "{bytes}");
        }
    }

    #[test]
    fn a_heartbeat_prints_at_most_once_per_interval() {
        let beat = Heartbeat::new("test", Duration::from_secs(3600));
        assert!(!beat.tick(1, 10), "not before the interval");
        let beat = Heartbeat::new("test", Duration::ZERO);
        assert!(beat.tick(1, 10));
        assert!(beat.tick(1, 10));
    }

    #[test]
    fn prints_the_whole_chain_on_one_line() {
        let e = Outer(std::io::Error::other("inner"));
        assert_eq!(chain(&e), "outer: inner");
    }
}
