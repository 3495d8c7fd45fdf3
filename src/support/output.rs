//! Every line the installer writes for a person, in one place.
//!
//! Progress goes to stdout in the original brand's `INFO: omicron: ...` form
//! (zoneadm shows it to the person installing a zone); warnings and errors go
//! to stderr as `omicron1: warning: ...` and `omicron1: error: ...`. Reports
//! a verb prints on request (`template list`, `dataset check`) are the verb's
//! own, on stdout.

use std::fmt::Display;
use std::io::Write;
use std::time::Duration;

/// Prints one `INFO: omicron: MESSAGE` line and flushes it at once, so the
/// lines interleave correctly with zoneadm's own output.
pub(crate) fn info(message: impl Display) {
    let mut out = std::io::stdout().lock();
    // A closed stdout must not fail an install.
    let _ = writeln!(out, "INFO: omicron: {message}");
    let _ = out.flush();
}

/// Prints one `omicron1: warning: MESSAGE` line on stderr.
pub(crate) fn warn(message: impl Display) {
    eprintln!("omicron1: warning: {message}");
}

/// Prints one `omicron1: error: MESSAGE` line on stderr.
pub(crate) fn error(message: impl Display) {
    eprintln!("omicron1: error: {message}");
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
    fn prints_the_whole_chain_on_one_line() {
        let e = Outer(std::io::Error::other("inner"));
        assert_eq!(chain(&e), "outer: inner");
    }
}
