//! `image inspect` on arbitrary bytes, as they come in the file: the gzip
//! layer, the tar layer and metadata checks must fail cleanly, never panic,
//! hang or take memory out of proportion to the input.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(inspection) = omicron1::image::inspect_reader(Path::new("fuzz.tar.gz"), data) {
        assert_eq!(inspection.sha256.len(), 64);
    }
});
