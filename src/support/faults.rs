//! Fault injection for tests: stop the installer at a named point so that a
//! test can kill it there.
//!
//! An install or template build must survive `SIGKILL` at any moment: nothing
//! half-built may ever be used, and what a kill leaves behind must be cleaned
//! up by the next build or by `uninstall -F`. Sleeping a fixed time and hoping
//! the installer is at an interesting step makes such tests flaky, so the
//! installer can stop *itself* at a named point instead: with
//! `OMICRON1_STOP_AT=NAME` (or `NAME#N`, the N-th time the point is reached,
//! counting from 1), reaching that point prints one line to stderr and raises
//! `SIGSTOP`. The test sees the child stopped (`waitpid` with `WUNTRACED`),
//! looks at the state it left, and sends `SIGKILL` (or `SIGCONT` to let it go
//! on). Without the variable, [`point`] does nothing but compare one string.
//!
//! The points (the README's Testing section lists them too):
//!
//! | point | where |
//! |---|---|
//! | `replicate-entry` | each entry of a system tree as the replication walks it (`#N` picks one: usr, then lib, then sbin) |
//! | `pruned` | the template has its trees, less SMF manifests and global-zone-only files; the baseline is next |
//! | `unpack-entry:baseline` | each entry of the baseline archive, before it is unpacked |
//! | `before-snapshot` | the template is complete and unmounted, not yet snapshotted |
//! | `after-snapshot` | `@ready` exists; the build's rollback is still armed |
//! | `before-clone` | the template is ready; the zone root does not exist yet |
//! | `after-clone` | the zone root exists (`omicron1:state=installing`), nothing unpacked |
//! | `unpack-entry:layer` | each entry of an image layer, before it is unpacked |
//! | `before-record` | every layer is unpacked; the images and `state=installed` are not yet recorded |
//!
//! (`unpack-entry:inspect` is reached by `image inspect`.)

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The environment variable naming the point to stop at.
pub const STOP_AT: &str = "OMICRON1_STOP_AT";

/// The point to stop at and at which hit of it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    name: String,
    hit: u64,
}

/// Parses `NAME` or `NAME#N` (N ≥ 1); anything else stops nowhere.
fn parse(value: &str) -> Option<Target> {
    let (name, hit) = match value.rsplit_once('#') {
        Some((name, n)) => (name, n.parse::<u64>().ok().filter(|n| *n >= 1)?),
        None => (value, 1),
    };
    if name.is_empty() {
        return None;
    }
    Some(Target {
        name: name.to_string(),
        hit,
    })
}

fn target() -> Option<&'static Target> {
    static TARGET: OnceLock<Option<Target>> = OnceLock::new();
    TARGET
        .get_or_init(|| {
            let value = std::env::var(STOP_AT).ok()?;
            let target = parse(&value);
            if target.is_none() {
                super::output::notice(format_args!(
                    "ignoring {STOP_AT}={value:?}: expected NAME or NAME#N (N >= 1)"
                ));
            }
            target
        })
        .as_ref()
}

/// Counts hits of the target point.
static HITS: AtomicU64 = AtomicU64::new(0);

/// A named point in the install or build: stops the process here (`SIGSTOP`)
/// if `OMICRON1_STOP_AT` names it (and this is the hit it asks for).
pub fn point(name: &str) {
    let Some(target) = target() else { return };
    if target.name != name || HITS.fetch_add(1, Ordering::SeqCst) + 1 != target.hit {
        return;
    }
    super::output::notice(format_args!(
        "{STOP_AT}: stopping at {name}#{} (pid {})",
        target.hit,
        std::process::id()
    ));
    if let Err(e) = nix::sys::signal::raise(nix::sys::signal::Signal::SIGSTOP) {
        super::output::notice(format_args!("{STOP_AT}: cannot stop: {e}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_hits() {
        assert_eq!(
            parse("pruned"),
            Some(Target {
                name: "pruned".into(),
                hit: 1
            })
        );
        assert_eq!(
            parse("unpack-entry:layer#3"),
            Some(Target {
                name: "unpack-entry:layer".into(),
                hit: 3
            })
        );
        for bad in ["", "#2", "x#0", "x#", "x#-1", "x#y"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
