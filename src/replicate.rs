//! Replication of the system trees into a template. (being written)
