//! Zones: their configuration.

pub mod config;
