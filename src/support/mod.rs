//! Plumbing that knows no domain.

pub mod boot;
pub mod command;
pub mod faults;
pub mod log;
pub mod output;
pub mod pathio;
pub mod revert;
pub mod signals;
pub mod timings;
