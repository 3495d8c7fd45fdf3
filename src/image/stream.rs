//! One streaming pass over an image archive, checking everything on the way.
//!
//! The archive is untrusted until it has been read to the end: the file is read
//! once, front to back, never loaded whole, and every byte goes through SHA-256
//! as it is read, so the digest recorded on the zone root is that of the bytes
//! actually installed. The pass checks the metadata rules (`oxide.json` first
//! and once), normalises every name (see [`super::path`]), turns each entry
//! under `root/` into an [`Item`] for a [`Visit`]or, and, after tar's
//! end-of-archive marker, reads the gzip stream to its end so that a bad CRC,
//! a truncated file or bytes after the gzip stream are errors rather than
//! silently ignored. Reading, hashing and inflating happen on a second
//! thread ([`super::inflate`]) so that they overlap with writing files.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::rc::Rc;

use sha2::{Digest, Sha256};
use tar::EntryType;

use super::error::{EntryError, ImageError};
use super::inflate::{inflate_on_thread, Ended};
use super::meta::{ImageKind, ImageMeta, MetaError, METADATA_LIMIT};
use super::path::{classify, EntryPath, RootPath};

/// Read buffer size: large enough that reads and hashing are cheap per byte.
pub const BUFFER_SIZE: usize = 256 * 1024;

/// The most the tar reader may read to find one entry: its header and the
/// extended headers before it (GNU long name and long link, PAX records, GNU
/// sparse maps), which it keeps in memory. Real ones are a few kilobytes; a
/// hostile image could otherwise make a long name of gigabytes out of a few
/// megabytes of gzip and exhaust memory.
pub const HEADER_BUDGET: u64 = 1024 * 1024;

/// Owner, mode and modification time of an entry, from its header and PAX records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attrs {
    /// Numeric owner.
    pub uid: u32,
    /// Numeric group.
    pub gid: u32,
    /// Permission bits, including setuid, setgid and sticky (`0o7777` at most).
    pub mode: u32,
    /// Modification time, seconds since the epoch.
    pub mtime_sec: i64,
    /// Nanoseconds within that second (from a PAX `mtime` with a fraction).
    pub mtime_nsec: u32,
}

/// What an entry under `root/` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemKind {
    /// A regular file; its contents follow.
    File,
    /// A directory.
    Dir,
    /// A symbolic link with this target, kept verbatim.
    Symlink(Vec<u8>),
    /// A hard link to this other path under `root/`.
    HardLink {
        /// The target, normalised.
        target: RootPath,
        /// The target as written in the archive (lossy UTF-8), for messages.
        raw: String,
    },
}

/// One entry under `root/`, checked and ready to install.
#[derive(Debug, Clone)]
pub struct Item {
    /// Where it goes, relative to the zone root.
    pub path: RootPath,
    /// What it is.
    pub kind: ItemKind,
    /// Its owner, mode and time.
    pub attrs: Attrs,
}

/// What is done with each entry under `root/`.
pub trait Visit {
    /// Handles one entry; `data` is a regular file's contents (reading it is
    /// optional: whatever is left is read and checked afterwards).
    fn item(&mut self, item: &Item, data: &mut dyn Read) -> Result<(), EntryError>;
}

/// What a successful pass found besides the entries given to the visitor.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The image's metadata.
    pub meta: ImageMeta,
    /// SHA-256 of the whole file, lowercase hex.
    pub sha256: String,
    /// Entries not installed: outside `root/`, `root/` itself, PAX global headers.
    pub ignored: u64,
}

/// Reads the image at `image` once, checking it, and hands every entry under
/// `root/` to `visit` in archive order. With `expect`, an image of another
/// kind is refused as soon as its metadata is read, before any entry is visited.
pub fn read_image(
    image: &Path,
    expect: Option<ImageKind>,
    visit: &mut dyn Visit,
) -> Result<Summary, ImageError> {
    let file = File::open(image).map_err(|source| ImageError::Read {
        image: image.to_owned(),
        source,
    })?;
    read_stream(image, file, expect, visit)
}

/// [`read_image`] on the bytes of an image read from `source`; `image` only
/// names it in errors. (Fuzzing feeds images from memory this way.)
pub fn read_stream(
    image: &Path,
    source: impl Read + Send,
    expect: Option<ImageKind>,
    visit: &mut dyn Visit,
) -> Result<Summary, ImageError> {
    let read_err = |source| ImageError::Read {
        image: image.to_owned(),
        source,
    };
    let corrupt = |source| ImageError::Corrupt {
        image: image.to_owned(),
        source,
    };

    let mut reader = BufReader::with_capacity(BUFFER_SIZE, Hashing::new(source));
    if let Some(detail) = not_gzip(reader.fill_buf().map_err(read_err)?) {
        return Err(ImageError::NotGzip {
            image: image.to_owned(),
            detail,
        });
    }
    // Reading, hashing and inflating run on a second thread (see `inflate`);
    // once the gzip stream has ended and its trailer checked, that thread
    // reads what follows it, which must be nothing, and finishes the digest.
    let (entries, ended) = inflate_on_thread(
        reader,
        |inflated| read_entries(image, inflated, expect, visit),
        |mut rest| {
            let trailing = io::copy(&mut rest, &mut io::sink())?;
            Ok((trailing, rest.into_inner().finish()))
        },
    );
    // An error in the archive comes first: it is where the pass stopped.
    let (meta, ignored) = entries?;
    let (trailing, sha256) = match ended.map_err(read_err)? {
        Ended::Complete(tail) => tail,
        // Unreachable in practice: the entries were read to the end of the
        // stream, which ends early only with an error the pass reported.
        Ended::Stopped => {
            return Err(corrupt(io::Error::other(
                "the image stream stopped before its end",
            )))
        }
    };
    if trailing > 0 {
        return Err(ImageError::TrailingData {
            image: image.to_owned(),
            bytes: trailing,
        });
    }
    Ok(Summary {
        meta,
        sha256,
        ignored,
    })
}

/// The tar pass over the decompressed `stream`: checks the metadata rules and
/// every name, hands each entry under `root/` to `visit`, then reads the
/// stream to its end. Returns the metadata and the count of entries ignored.
fn read_entries(
    image: &Path,
    stream: impl Read,
    expect: Option<ImageKind>,
    visit: &mut dyn Visit,
) -> Result<(ImageMeta, u64), ImageError> {
    let corrupt = |source| ImageError::Corrupt {
        image: image.to_owned(),
        source,
    };
    let meta_err = |problem| ImageError::Metadata {
        image: image.to_owned(),
        problem,
    };
    // The tar reader keeps an entry's extended headers (GNU long names, PAX
    // records, sparse maps) in memory; the budget bounds them (see `Budgeted`).
    let budget = Rc::new(Cell::new(None));
    let mut archive = tar::Archive::new(Budgeted {
        inner: stream,
        budget: Rc::clone(&budget),
    });

    // Test builds stop here with OMICRON1_STOP_AT (see `crate::support::faults`).
    let fault_point = match expect {
        Some(ImageKind::Baseline) => "unpack-entry:baseline",
        Some(ImageKind::Layer) => "unpack-entry:layer",
        None => "unpack-entry:inspect",
    };
    let mut meta: Option<ImageMeta> = None;
    let mut ignored = 0;
    let mut entries = archive.entries().map_err(corrupt)?;
    loop {
        // Everything the tar reader reads to find the next entry, and only that.
        budget.set(Some(HEADER_BUDGET));
        let next = entries.next();
        budget.set(None);
        let Some(entry) = next else { break };
        crate::support::signals::check().map_err(|source| ImageError::Interrupted {
            image: image.to_owned(),
            source,
        })?;
        crate::support::faults::point(fault_point);
        let mut entry = entry.map_err(corrupt)?;
        let raw_name = entry.path_bytes().into_owned();
        let entry_err = |problem| ImageError::Entry {
            image: image.to_owned(),
            entry: String::from_utf8_lossy(&raw_name).into_owned(),
            problem,
        };
        let entry_type = entry.header().entry_type();
        let size = entry.size();

        // PAX global headers carry defaults tar itself has no use for here;
        // their names are arbitrary, so they are skipped before classifying.
        let class = if entry_type == EntryType::XGlobalHeader {
            EntryPath::Ignored
        } else {
            classify(&raw_name).map_err(|e| entry_err(e.into()))?
        };
        let item = match class {
            EntryPath::Ignored => {
                ignored += 1;
                None
            }
            EntryPath::Metadata => {
                if meta.is_some() {
                    return Err(meta_err(MetaError::Duplicate));
                }
                if !matches!(entry_type, EntryType::Regular | EntryType::Continuous) {
                    return Err(meta_err(MetaError::NotAFile));
                }
                if size > METADATA_LIMIT {
                    return Err(meta_err(MetaError::TooLarge {
                        size,
                        limit: METADATA_LIMIT,
                    }));
                }
                let mut data = Data::new(&mut entry);
                let mut bytes = Vec::new();
                let got = (&mut data).take(METADATA_LIMIT).read_to_end(&mut bytes);
                if let Some(e) = data.error.take() {
                    return Err(corrupt(e));
                }
                got.map_err(corrupt)?;
                check_length(&mut data, size).map_err(|e| e.into_image(corrupt, entry_err))?;
                let parsed = ImageMeta::parse(&bytes).map_err(meta_err)?;
                if let Some(expected) = expect {
                    parsed.expect(expected).map_err(meta_err)?;
                }
                meta = Some(parsed);
                continue;
            }
            EntryPath::RootDir | EntryPath::Root(_) if meta.is_none() => {
                return Err(meta_err(MetaError::AfterRoot));
            }
            // The zone root itself belongs to the installer, not the image.
            EntryPath::RootDir => {
                ignored += 1;
                None
            }
            EntryPath::Root(path) => {
                let dir_by_name = raw_name.ends_with(b"/");
                Some(to_item(&mut entry, path, dir_by_name).map_err(entry_err)?)
            }
        };

        let mut data = Data::new(&mut entry);
        if let Some(item) = item {
            let result = visit.item(&item, &mut data);
            if let Some(e) = data.error.take() {
                return Err(corrupt(e));
            }
            result.map_err(entry_err)?;
        }
        check_length(&mut data, size).map_err(|e| e.into_image(corrupt, entry_err))?;
    }

    // After the end-of-archive marker: only zero padding, then the gzip
    // trailer (whose CRC and length the decoder checks before the stream ends).
    let mut stream = archive.into_inner().inner;
    drain_padding(&mut stream).map_err(corrupt)?;
    let meta = meta.ok_or_else(|| meta_err(MetaError::Missing))?;
    Ok((meta, ignored))
}

/// The SHA-256 of a file, lowercase hex, read in one streaming pass.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut reader = BufReader::with_capacity(BUFFER_SIZE, Hashing::new(File::open(path)?));
    io::copy(&mut reader, &mut io::sink())?;
    Ok(reader.into_inner().finish())
}

/// Why the start of a file is not a gzip stream, or `None` if it is one.
fn not_gzip(head: &[u8]) -> Option<&'static str> {
    const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
    if head.starts_with(GZIP_MAGIC) {
        None
    } else if head.is_empty() {
        Some("the file is empty")
    } else if head.len() >= 262 && &head[257..262] == b"ustar" {
        Some("it is an uncompressed tar; compress it with gzip")
    } else {
        Some("it does not start with the gzip magic bytes")
    }
}

/// The item for an entry under `root/`: its kind and attributes, refusing
/// device nodes, FIFOs, unknown types and hard links that leave `root/`.
/// `dir_by_name`: the name ends with `/`, which in old (pre-POSIX) archives
/// marks a directory whose type byte is NUL.
fn to_item<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    path: RootPath,
    dir_by_name: bool,
) -> Result<Item, EntryError> {
    let attrs = attrs(entry)?;
    let type_byte = entry.header().as_old().linkflag[0];
    let kind = match entry.header().entry_type() {
        EntryType::Regular if type_byte == 0 && dir_by_name => ItemKind::Dir,
        // GNU sparse files are expanded by the tar crate as they are read.
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => ItemKind::File,
        EntryType::Directory => ItemKind::Dir,
        EntryType::Symlink => match entry.link_name_bytes() {
            Some(target) if !target.is_empty() => ItemKind::Symlink(target.into_owned()),
            _ => return Err(EntryError::NoLinkTarget),
        },
        EntryType::Link => {
            let raw_target = entry.link_name_bytes().unwrap_or_default();
            let raw = String::from_utf8_lossy(&raw_target).into_owned();
            match classify(&raw_target) {
                Ok(EntryPath::Root(target)) => ItemKind::HardLink { target, raw },
                Ok(_) => {
                    return Err(EntryError::LinkOutside {
                        target: raw,
                        source: None,
                    })
                }
                Err(e) => {
                    return Err(EntryError::LinkOutside {
                        target: raw,
                        source: Some(e),
                    })
                }
            }
        }
        EntryType::Char | EntryType::Block | EntryType::Fifo => return Err(EntryError::Device),
        other => return Err(EntryError::Unsupported(char::from(other.as_byte()))),
    };
    Ok(Item { path, kind, attrs })
}

/// Owner, mode and time from the header, overridden by PAX records (which
/// carry ids too large for the header and sub-second times).
fn attrs<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Attrs, EntryError> {
    let header = entry.header();
    let mut uid = header.uid().map_err(field("uid"))?;
    let mut gid = header.gid().map_err(field("gid"))?;
    let mode = header.mode().map_err(field("mode"))? & 0o7777;
    let mut mtime_sec =
        i64::try_from(header.mtime().map_err(field("mtime"))?).map_err(|_| EntryError::Header {
            field: "mtime",
            source: io::ErrorKind::InvalidData.into(),
        })?;
    let mut mtime_nsec = 0;
    if let Some(pax) = entry.pax_extensions().map_err(field("PAX records"))? {
        for ext in pax {
            let ext = ext.map_err(field("PAX records"))?;
            let (Ok(key), Ok(value)) = (ext.key(), ext.value()) else {
                continue;
            };
            let bad = |field| EntryError::Header {
                field,
                source: io::ErrorKind::InvalidData.into(),
            };
            match key {
                "uid" => uid = value.parse().map_err(|_| bad("PAX uid"))?,
                "gid" => gid = value.parse().map_err(|_| bad("PAX gid"))?,
                "mtime" => {
                    (mtime_sec, mtime_nsec) =
                        parse_pax_time(value).ok_or_else(|| bad("PAX mtime"))?
                }
                _ => {}
            }
        }
    }
    Ok(Attrs {
        uid: u32::try_from(uid).map_err(|_| EntryError::IdOutOfRange(uid))?,
        gid: u32::try_from(gid).map_err(|_| EntryError::IdOutOfRange(gid))?,
        mode,
        mtime_sec,
        mtime_nsec,
    })
}

/// Wraps a header read error with the field it was reading.
fn field(field: &'static str) -> impl Fn(io::Error) -> EntryError {
    move |source| EntryError::Header { field, source }
}

/// Parses a PAX time: decimal seconds, optionally negative, with an optional
/// fraction (`1700000000.5`), into seconds and nanoseconds.
fn parse_pax_time(s: &str) -> Option<(i64, u32)> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = int.parse().ok()?;
    let mut digits: String = frac.chars().take(9).collect();
    while digits.len() < 9 {
        digits.push('0');
    }
    let nanos: u32 = digits.parse().ok()?;
    // A negative time with a fraction is that much before `secs`.
    if int.starts_with('-') && nanos > 0 {
        Some((secs - 1, 1_000_000_000 - nanos))
    } else {
        Some((secs, nanos))
    }
}

/// Reads what is left of the decompressed stream after tar's end-of-archive
/// marker, which must be zeros (tar's padding); the decoder checks the gzip
/// trailer when it reaches it.
fn drain_padding(decoder: &mut impl Read) -> io::Result<()> {
    let mut buf = vec![0; BUFFER_SIZE];
    loop {
        let n = decoder.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        if buf[..n].iter().any(|b| *b != 0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "data after the tar end-of-archive marker",
            ));
        }
    }
}

/// Why an entry's data did not check out: the stream failed, or it ended early.
enum LengthError {
    Stream(io::Error),
    Short(EntryError),
}

impl LengthError {
    fn into_image(
        self,
        corrupt: impl FnOnce(io::Error) -> ImageError,
        entry_err: impl FnOnce(EntryError) -> ImageError,
    ) -> ImageError {
        match self {
            LengthError::Stream(e) => corrupt(e),
            LengthError::Short(e) => entry_err(e),
        }
    }
}

/// Reads the rest of an entry's data and checks that it was all there: the
/// tar crate reports a stream that ends inside an entry as a short read.
fn check_length<R: Read>(data: &mut Data<'_, R>, want: u64) -> Result<(), LengthError> {
    let copied = io::copy(data, &mut io::sink());
    if let Some(e) = data.error.take() {
        return Err(LengthError::Stream(e));
    }
    copied.map_err(LengthError::Stream)?;
    if data.read != want {
        return Err(LengthError::Short(EntryError::ShortData {
            got: data.read,
            want,
        }));
    }
    Ok(())
}

/// An entry's data as given to a visitor: counts what is read, and keeps a
/// stream error for the pass to report as such (rather than as the visitor's).
struct Data<'a, R: Read> {
    inner: &'a mut R,
    read: u64,
    error: Option<io::Error>,
}

impl<'a, R: Read> Data<'a, R> {
    fn new(inner: &'a mut R) -> Self {
        Data {
            inner,
            read: 0,
            error: None,
        }
    }
}

impl<R: Read> Read for Data<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.error.is_some() {
            return Err(io::Error::other("the archive stream failed earlier"));
        }
        match self.inner.read(buf) {
            Ok(n) => {
                self.read += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let kind = e.kind();
                self.error = Some(e);
                Err(io::Error::new(kind, "reading the archive stream failed"))
            }
        }
    }
}

/// The decompressed stream as the tar reader sees it: while a budget is set
/// (around each call for the next entry), at most that many bytes can be read,
/// so that extended headers cannot grow without bound in memory.
struct Budgeted<R> {
    inner: R,
    budget: Rc<Cell<Option<u64>>>,
}

impl<R: Read> Read for Budgeted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(left) = self.budget.get() else {
            return self.inner.read(buf);
        };
        if left == 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "an entry's headers (with GNU long names, PAX records or a sparse map) \
                     take more than {HEADER_BUDGET} bytes"
                ),
            ));
        }
        let max = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        self.budget.set(Some(left - n as u64));
        Ok(n)
    }
}

/// A reader that hashes everything read through it.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Hashing<R> {
    fn new(inner: R) -> Self {
        Hashing {
            inner,
            hash: Sha256::new(),
        }
    }

    /// The digest of everything read, lowercase hex.
    fn finish(self) -> String {
        self.hash
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_what_is_not_gzip() {
        assert_eq!(not_gzip(&[0x1f, 0x8b, 8, 0]), None);
        assert_eq!(not_gzip(b""), Some("the file is empty"));
        assert_eq!(
            not_gzip(b"BZh91AY"),
            Some("it does not start with the gzip magic bytes")
        );
        let mut tar = vec![0u8; 512];
        tar[257..263].copy_from_slice(b"ustar\0");
        assert_eq!(
            not_gzip(&tar),
            Some("it is an uncompressed tar; compress it with gzip")
        );
    }

    #[test]
    fn pax_times() {
        assert_eq!(parse_pax_time("1700000000"), Some((1_700_000_000, 0)));
        assert_eq!(
            parse_pax_time("1700000000.5"),
            Some((1_700_000_000, 500_000_000))
        );
        assert_eq!(parse_pax_time("1.0000000019"), Some((1, 1)));
        assert_eq!(parse_pax_time("-1.25"), Some((-2, 750_000_000)));
        assert_eq!(parse_pax_time("x"), None);
        assert_eq!(parse_pax_time("1.x"), None);
        assert_eq!(parse_pax_time(""), None);
    }

    #[test]
    fn sha256_of_a_file() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), b"abc").unwrap();
        assert_eq!(
            sha256_file(tmp.path()).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
