//! Baseline archives: create, and the global-zone-only list. (being written)
