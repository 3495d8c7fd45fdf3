//! Where an install's time goes, for benchmarks.
//!
//! Steps record how long they took with [`phase`]; with
//! `OMICRON1_TIMINGS=FILE` set, the call appends one JSON line to FILE at the
//! end: `{"verb":..,"zone":..,"total_ms":..,"phases":[[name,ms],..],"zfs_processes":N}`.
//! Without it, recording costs a clock read and a push per phase.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

static PHASES: Mutex<Vec<(String, Duration)>> = Mutex::new(Vec::new());

/// The environment variable naming the file to append timings to.
pub const TIMINGS: &str = "OMICRON1_TIMINGS";

/// Runs `f`, recording its duration under `name`.
pub fn phase<T>(name: impl Into<String>, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    record(name, started.elapsed());
    out
}

/// Records a duration under `name`.
pub fn record(name: impl Into<String>, d: Duration) {
    let mut phases = PHASES.lock().unwrap_or_else(|p| p.into_inner());
    phases.push((name.into(), d));
}

/// Appends this call's timings to the file named by `OMICRON1_TIMINGS`, if set.
pub fn write_if_requested(verb: &str, zone: Option<&str>, total: Duration, zfs_processes: u64) {
    let Some(path) = std::env::var_os(TIMINGS) else {
        return;
    };
    let phases = PHASES.lock().unwrap_or_else(|p| p.into_inner());
    let line = serde_json::json!({
        "verb": verb,
        "zone": zone,
        "total_ms": total.as_secs_f64() * 1000.0,
        "phases": phases.iter().map(|(n, d)| serde_json::json!([n, d.as_secs_f64() * 1000.0])).collect::<Vec<_>>(),
        "zfs_processes": zfs_processes,
    });
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(Path::new(&path))
        .and_then(|mut f| writeln!(f, "{line}"));
    if let Err(e) = written {
        super::output::warn(format_args!(
            "cannot write timings to {}: {e}",
            Path::new(&path).display()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_are_recorded_in_order() {
        let v = phase("a-test-phase", || 7);
        assert_eq!(v, 7);
        record("b-test-phase", Duration::from_millis(3));
        let phases = PHASES.lock().unwrap();
        let names: Vec<&str> = phases
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| n.ends_with("test-phase"))
            .collect();
        assert_eq!(names, vec!["a-test-phase", "b-test-phase"]);
    }
}
