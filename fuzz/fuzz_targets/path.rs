//! Entry name normalisation: never panics; refuses every absolute name, `..`
//! component and NUL; what it accepts under `root/` is plain components only,
//! and normalising those again changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use omicron1::image::path::{classify, EntryPath};

fuzz_target!(|data: &[u8]| {
    let hostile = data.starts_with(b"/")
        || data.contains(&0)
        || data.split(|b| *b == b'/').any(|c| c == b"..");
    match classify(data) {
        Err(_) => assert!(hostile, "a harmless name was refused"),
        Ok(class) => {
            assert!(!hostile, "a hostile name was accepted as {class:?}");
            if let EntryPath::Root(path) = class {
                assert!(!path.components().is_empty());
                let mut again = b"root".to_vec();
                for c in path.components() {
                    assert!(!c.is_empty() && c != b"." && c != b"..", "{c:?}");
                    assert!(!c.contains(&b'/') && !c.contains(&0), "{c:?}");
                    again.push(b'/');
                    again.extend_from_slice(c);
                }
                assert_eq!(classify(&again), Ok(EntryPath::Root(path)));
            }
        }
    }
});
