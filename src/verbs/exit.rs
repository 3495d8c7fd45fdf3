//! Exit codes, as `sys/zone.h` defines them for brand hooks, and the
//! failure that carries one, with the errors to print, to `main`.

use std::fmt;

use crate::support::output;

/// How a call ended. zoneadm acts on these: 254 returns the zone to
/// *configured*, 255 leaves it *incomplete*.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// 0: done.
    Ok,
    /// 253 (`ZONE_SUBPROC_USAGE`): the arguments were wrong; nothing was done.
    Usage,
    /// 254 (`ZONE_SUBPROC_NOTCOMPLETE`): the hook failed and left nothing behind.
    NotComplete,
    /// 255 (`ZONE_SUBPROC_FATAL`): the hook failed and may have left state behind.
    Fatal,
}

impl Exit {
    /// The process exit status.
    pub(crate) fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Usage => 253,
            Exit::NotComplete => 254,
            Exit::Fatal => 255,
        }
    }
}

/// An error as `main` receives it.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A failed call: the exit code it maps to and the errors to print, one
/// line each, in order. Where a call finds several problems (the rules a
/// configuration breaks), it reports every one, in the order found.
#[derive(Debug)]
pub(crate) struct Failure {
    /// The exit code.
    pub exit: Exit,
    /// What went wrong; each printed with its whole `source()` chain on one line.
    pub errors: Vec<BoxError>,
}

impl Failure {
    /// A failure with the given exit code.
    pub(crate) fn new(exit: Exit, error: impl Into<BoxError>) -> Self {
        Failure {
            exit,
            errors: vec![error.into()],
        }
    }

    /// A usage error (253).
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Failure::new(Exit::Usage, message.into())
    }

    /// A failure reporting several problems, every one in order (none: the
    /// call failed for no reason it can name, which only a bug can cause).
    pub(crate) fn several(exit: Exit, errors: Vec<BoxError>) -> Self {
        Failure { exit, errors }
    }

    /// The lines `main` prints: each error with its causes, each cause once.
    pub(crate) fn lines(&self) -> Vec<String> {
        self.errors
            .iter()
            .map(|e| {
                let e: &(dyn std::error::Error + 'static) = e.as_ref();
                output::chain(e)
            })
            .collect()
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.lines().join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn codes_match_sys_zone_h() {
        assert_eq!(Exit::Ok.code(), 0);
        assert_eq!(Exit::Usage.code(), 253);
        assert_eq!(Exit::NotComplete.code(), 254);
        assert_eq!(Exit::Fatal.code(), 255);
    }

    #[test]
    fn prints_the_whole_chain_on_one_line() {
        let inner = std::io::Error::other("inner");
        let f = Failure::new(Exit::NotComplete, Outer(inner));
        assert_eq!(f.to_string(), "outer: inner");
    }

    #[test]
    fn several_problems_are_every_one_in_order() {
        let f = Failure::several(
            Exit::NotComplete,
            vec![
                "first".into(),
                Box::new(Outer(std::io::Error::other("why"))),
            ],
        );
        assert_eq!(f.lines(), ["first", "outer: why"]);
    }
}
