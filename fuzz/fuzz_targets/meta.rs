//! `oxide.json` parsing: never panics, and what it accepts reads back the same
//! after being written out again (`image inspect --json` and the properties
//! recorded on a zone root rely on that).
#![no_main]

use libfuzzer_sys::fuzz_target;
use omicron1::image::ImageMeta;

fuzz_target!(|data: &[u8]| {
    if let Ok(meta) = ImageMeta::parse(data) {
        let json = serde_json::to_vec(&meta.to_json()).expect("metadata serialises");
        let again = ImageMeta::parse(&json).expect("serialised metadata parses");
        assert_eq!(again, meta);
    }
});
