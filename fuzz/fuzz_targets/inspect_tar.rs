//! `image inspect` on arbitrary *tar* streams: the input is the uncompressed
//! archive, gzipped here, with each 512-byte block's header checksum made
//! right, so that the fuzzer spends its time in the tar reader and in entry
//! classification (names, link targets, types, PAX records, long names)
//! rather than on the gzip CRC and header checksums.
#![no_main]

use std::io::Write;
use std::path::Path;

use libfuzzer_sys::fuzz_target;

/// Gives every block that is not all zeros a correct header checksum (blocks
/// of data get one too, which does no harm: they are only data).
fn fix_checksums(tar: &mut [u8]) {
    for block in tar.chunks_exact_mut(512) {
        if block.iter().all(|b| *b == 0) {
            continue;
        }
        block[148..156].fill(b' ');
        let sum: u32 = block.iter().map(|b| u32::from(*b)).sum();
        let text = format!("{sum:06o}\0 ");
        block[148..156].copy_from_slice(text.as_bytes());
    }
}

fuzz_target!(|data: &[u8]| {
    let mut tar = data.to_vec();
    fix_checksums(&mut tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).expect("gzip to memory");
    let gz = gz.finish().expect("gzip to memory");
    let _ = omicron1::image::inspect_reader(Path::new("fuzz.tar.gz"), &gz[..]);
});
