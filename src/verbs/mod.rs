//! The verbs: the only place with exit codes, argument checks and reports.

pub mod exit;
pub mod hooks;
pub mod settings;
