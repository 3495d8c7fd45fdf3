//! What every zone starts from, for a template or a copy.

pub mod baseline;
pub mod replicate;
