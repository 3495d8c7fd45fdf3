//! Progress lines on stdout, in the original brand's `INFO: omicron: ...` form
//! (zoneadm shows them to the person installing a zone).

use std::fmt::Display;
use std::io::Write;
use std::time::Duration;

/// Prints one `INFO: omicron: MESSAGE` line and flushes it at once, so the
/// lines interleave correctly with zoneadm's own output.
pub fn info(message: impl Display) {
    let mut out = std::io::stdout().lock();
    // A closed stdout must not fail an install.
    let _ = writeln!(out, "INFO: omicron: {message}");
    let _ = out.flush();
}

/// Milliseconds, for progress lines.
pub fn ms(d: Duration) -> u128 {
    d.as_millis()
}
