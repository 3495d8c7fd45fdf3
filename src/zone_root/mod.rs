//! Making and removing a zone: the install pipeline and its siblings.

pub mod install;
pub mod uninstall;
