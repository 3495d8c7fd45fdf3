//! Exit codes, as `sys/zone.h` defines them for brand hooks, and the error that
//! carries one to `main`.

use std::fmt;

/// How a call ended. zoneadm acts on these: 254 returns the zone to
/// *configured*, 255 leaves it *incomplete*.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
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
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Usage => 253,
            Exit::NotComplete => 254,
            Exit::Fatal => 255,
        }
    }
}

/// A failed call: the exit code it maps to and the error to print.
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub exit: Exit,
    /// What went wrong; printed with its whole `source()` chain on one line.
    pub error: Box<dyn std::error::Error + Send + Sync>,
}

impl Failure {
    /// A failure with the given exit code.
    pub fn new(exit: Exit, error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Failure {
            exit,
            error: error.into(),
        }
    }

    /// A usage error (253).
    pub fn usage(message: impl Into<String>) -> Self {
        Failure::new(Exit::Usage, message.into())
    }

    /// A verb whose issue has not landed yet (255, never a silent success).
    pub fn not_implemented(verb: &str) -> Self {
        Failure::new(Exit::Fatal, format!("{verb}: not implemented yet"))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)?;
        let mut source = self.error.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
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
}
