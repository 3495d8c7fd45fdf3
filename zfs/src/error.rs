//! Typed ZFS errors that callers can match on.
//!
//! The `zfs` command reports every failure as exit status 1 and a sentence on
//! stderr; [`classify`] turns the sentences that callers need to act on into
//! [`ErrorKind`]s. The messages are those of OpenZFS and illumos under
//! `LC_ALL=C` (the VM suite checks them against real OpenZFS).

use crate::names::NameError;
use crate::runner::CommandFailure;

/// What went wrong, as far as a caller needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The dataset, snapshot or pool does not exist.
    NotFound,
    /// Something with that name already exists.
    AlreadyExists,
    /// The dataset is in use (mounted and busy, or held).
    Busy,
    /// The pool is out of space.
    NoSpace,
    /// A snapshot still has clones, or a dataset has children or snapshots, and the
    /// operation was not asked to take them too.
    HasDependents,
    /// Any other failure of the command.
    Other,
}

/// A failed ZFS operation: what was attempted, on what, and why.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A `zfs`/`zpool` command failed.
    #[error("zfs {op} of {target}: {kind_text}", kind_text = kind_text(*.kind))]
    Command {
        /// The operation, e.g. "create" or "clone".
        op: &'static str,
        /// The dataset, snapshot, pool or path it acted on.
        target: String,
        /// The classified reason.
        kind: ErrorKind,
        /// The command, its status and its output (boxed: errors travel in
        /// every `Result`, and this is most of their size).
        #[source]
        source: Box<CommandFailure>,
    },
    /// A command succeeded but printed something we could not parse.
    #[error("zfs {op} of {target}: unexpected output: {detail}")]
    Parse {
        /// The operation whose output this was.
        op: &'static str,
        /// What it acted on.
        target: String,
        /// What was wrong with the output.
        detail: String,
    },
    /// A name printed by ZFS or given by a caller is not valid.
    #[error(transparent)]
    Name(#[from] NameError),
    /// An in-memory fake refused the operation (tests only).
    #[error("zfs {op} of {target}: {kind_text}", kind_text = kind_text(*.kind))]
    Fake {
        /// The operation.
        op: &'static str,
        /// What it acted on.
        target: String,
        /// The reason, as the real command would report it.
        kind: ErrorKind,
    },
}

fn kind_text(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::NotFound => "does not exist",
        ErrorKind::AlreadyExists => "already exists",
        ErrorKind::Busy => "is busy",
        ErrorKind::NoSpace => "out of space",
        ErrorKind::HasDependents => "has dependent clones, children or snapshots",
        ErrorKind::Other => "failed",
    }
}

impl Error {
    /// The classified reason; [`ErrorKind::Other`] for parse and name errors.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Command { kind, .. } | Error::Fake { kind, .. } => *kind,
            Error::Parse { .. } | Error::Name(_) => ErrorKind::Other,
        }
    }

    /// Whether the thing acted on does not exist.
    pub fn is_not_found(&self) -> bool {
        self.kind() == ErrorKind::NotFound
    }

    /// Wraps a command failure, classifying its stderr.
    pub(crate) fn command(op: &'static str, target: impl ToString, source: CommandFailure) -> Self {
        let kind = classify(&source.stderr);
        Error::Command {
            op,
            target: target.to_string(),
            kind,
            source: Box::new(source),
        }
    }
}

/// Classifies a `zfs`/`zpool` stderr message. Pure, so it is tested on literal
/// messages from OpenZFS and illumos.
pub fn classify(stderr: &str) -> ErrorKind {
    let s = stderr.to_ascii_lowercase();
    let has = |needle: &str| s.contains(needle);
    if has("does not exist")
        || has("no such pool")
        || has("could not find any snapshots")
        || has("no such file or directory")
    {
        ErrorKind::NotFound
    } else if has("already exists") {
        ErrorKind::AlreadyExists
    } else if has("has dependent clones")
        || has("has children")
        || has("filesystem has snapshots")
        || has("volume has children")
    {
        ErrorKind::HasDependents
    } else if has("out of space") || has("no space left") {
        ErrorKind::NoSpace
    } else if has("is busy")
        || has("dataset is busy")
        || has("target is busy")
        || has("device busy")
    {
        ErrorKind::Busy
    } else {
        ErrorKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_real_messages() {
        let table = [
            (
                "cannot open 'tp/nope': dataset does not exist",
                ErrorKind::NotFound,
            ),
            (
                "cannot open 'tp/a@nope': dataset does not exist",
                ErrorKind::NotFound,
            ),
            ("cannot open 'nope': no such pool", ErrorKind::NotFound),
            (
                "could not find any snapshots to destroy; check snapshot names.",
                ErrorKind::NotFound,
            ),
            (
                "cannot create 'tp/a': dataset already exists",
                ErrorKind::AlreadyExists,
            ),
            (
                "cannot create snapshot 'tp/a@s': dataset already exists",
                ErrorKind::AlreadyExists,
            ),
            (
                "cannot destroy 'tp/a@s': snapshot has dependent clones\n\
                 use '-R' to destroy the following datasets:\ntp/b",
                ErrorKind::HasDependents,
            ),
            (
                "cannot destroy 'tp/a': filesystem has children\n\
                 use '-r' to destroy the following datasets:\ntp/a/b",
                ErrorKind::HasDependents,
            ),
            (
                "cannot unmount '/tmp/tp/a': pool or dataset is busy",
                ErrorKind::Busy,
            ),
            ("cannot destroy 'tp/a': dataset is busy", ErrorKind::Busy),
            ("cannot create 'tp/a': out of space", ErrorKind::NoSpace),
            ("cannot create 'tp/a': permission denied", ErrorKind::Other),
            ("", ErrorKind::Other),
        ];
        for (msg, kind) in table {
            assert_eq!(classify(msg), kind, "{msg}");
        }
    }
}
