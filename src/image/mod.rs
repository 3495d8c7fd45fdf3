//! Image archives: metadata, confined extraction, inspection. (being written)
