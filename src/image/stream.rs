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

use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::rc::Rc;

use sha2::{Digest, Sha256};
use tar::EntryType;

use super::confined::MAX_DEPTH;
use super::error::{EntryError, ImageError};
use super::inflate::{inflate_on_thread, Ended};
use super::limits::{Limits, ENTRY_CHARGE, MAX_MTIME};
use super::meta::{ImageKind, ImageMeta, MetaError, METADATA_LIMIT};
use super::path::{classify, EntryPath, RootPath};
use crate::support::output::{Heartbeat, HEARTBEAT};

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
    /// A regular file; its contents follow (for a sparse file, the data of
    /// its map's blocks, one after the other).
    File {
        /// The map of a sparse file: where its data goes, and its size.
        sparse: Option<SparseMap>,
    },
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

/// Where a sparse file's data goes: everything else in it is a hole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SparseMap {
    /// Blocks of data, as (offset, length), in order, not overlapping, each
    /// ending at or before [`SparseMap::size`]; their data follows in this order.
    pub blocks: Vec<(u64, u64)>,
    /// The file's size.
    pub size: u64,
    /// The bytes of data in the archive: the blocks' lengths together.
    pub stored: u64,
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
    limits: Limits,
    visit: &mut dyn Visit,
) -> Result<Summary, ImageError> {
    let file = open_regular(image)?;
    read_stream(image, file, expect, limits, visit)
}

/// Opens an image file for reading, refusing anything but a regular file
/// without blocking on it (opening a FIFO would wait for a writer forever).
pub fn open_regular(image: &Path) -> Result<File, ImageError> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let read_err = |source| ImageError::Read {
        image: image.to_owned(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(image)
        .map_err(read_err)?;
    let kind = file.metadata().map_err(read_err)?.file_type();
    let what = if kind.is_file() {
        None
    } else if kind.is_dir() {
        Some("directory")
    } else if kind.is_fifo() {
        Some("FIFO")
    } else if kind.is_socket() {
        Some("socket")
    } else if kind.is_char_device() || kind.is_block_device() {
        Some("device")
    } else {
        Some("special file")
    };
    if let Some(kind) = what {
        return Err(ImageError::NotAFile {
            image: image.to_owned(),
            kind,
        });
    }
    // Back to blocking reads (the flag means nothing for a regular file on
    // Linux, but could make a read fail under illumos's mandatory locking).
    nix::fcntl::fcntl(
        file.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()),
    )
    .map_err(|errno| read_err(errno.into()))?;
    Ok(file)
}

/// [`read_image`] on the bytes of an image read from `source`; `image` only
/// names it in errors. (Fuzzing feeds images from memory this way.)
pub fn read_stream(
    image: &Path,
    source: impl Read + Send,
    expect: Option<ImageKind>,
    limits: Limits,
    visit: &mut dyn Visit,
) -> Result<Summary, ImageError> {
    let read_err = |source| ImageError::Read {
        image: image.to_owned(),
        source,
    };
    let corrupt = |source| ImageError::Corrupt {
        image: image.to_owned(),
        near: None,
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
        |inflated| read_entries(image, inflated, expect, limits, visit),
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
    limits: Limits,
    visit: &mut dyn Visit,
) -> Result<(ImageMeta, u64), ImageError> {
    let corrupt = |source| ImageError::Corrupt {
        image: image.to_owned(),
        near: None,
        source,
    };
    let meta_err = |problem| ImageError::Metadata {
        image: image.to_owned(),
        problem,
    };
    // A pending signal wins over whatever error it caused.
    let or_signal = |e: ImageError| match crate::support::signals::interrupted() {
        Some(signal) => ImageError::Interrupted {
            image: image.to_owned(),
            source: crate::support::signals::Interrupted(signal),
        },
        None => e,
    };
    // The tar reader keeps an entry's extended headers (GNU long names, PAX
    // records, sparse maps) in memory; the tap bounds them, and lets a sparse
    // entry's data be read around the reader (see `Tap`).
    let tap = Rc::new(TapState::new(stream));
    let mut archive = tar::Archive::new(Tap(Rc::clone(&tap)));

    // Test builds stop here with OMICRON1_STOP_AT (see `crate::support::faults`).
    let fault_point = match expect {
        Some(ImageKind::Baseline) => "unpack-entry:baseline",
        Some(ImageKind::Layer) => "unpack-entry:layer",
        None => "unpack-entry:inspect",
    };
    let mut meta: Option<ImageMeta> = None;
    let mut ignored = 0;
    // A large image says every few seconds that it is still being read.
    let beat = Heartbeat::new(format!("reading {}", image.display()), HEARTBEAT);
    let mut charged: u64 = 0;
    let mut entries = archive.entries().map_err(corrupt)?;
    loop {
        // Everything the tar reader reads to find the next entry, and only that.
        tap.begin_headers();
        let next = entries.next();
        tap.end_headers();
        crate::support::signals::check().map_err(|source| ImageError::Interrupted {
            image: image.to_owned(),
            source,
        })?;
        let Some(entry) = next else { break };
        crate::support::faults::point(fault_point);
        let mut entry = entry.map_err(|source| ImageError::Corrupt {
            image: image.to_owned(),
            near: tap.last_header_name(),
            source,
        })?;
        beat.tick(1, entry.size());
        let raw_name = entry.path_bytes().into_owned();
        let entry_err = |problem| ImageError::Entry {
            image: image.to_owned(),
            entry: String::from_utf8_lossy(&raw_name).into_owned(),
            problem,
        };
        let entry_type = entry.header().entry_type();
        check_numbers(entry.header()).map_err(entry_err)?;
        // A sparse entry's map, read from the blocks the tar reader just read.
        let sparse = if entry_type.is_gnu_sparse() {
            Some(
                tap.sparse_map(&entry)
                    .map_err(|source| ImageError::Corrupt {
                        image: image.to_owned(),
                        near: Some(String::from_utf8_lossy(&raw_name).into_owned()),
                        source,
                    })?,
            )
        } else {
            None
        };
        // The bytes of data that follow in the archive.
        let size = sparse.as_ref().map_or(entry.size(), |m| m.stored);
        charged = charged
            .checked_add(ENTRY_CHARGE)
            .and_then(|c| c.checked_add(size))
            .filter(|c| *c <= limits.max_bytes)
            .ok_or(ImageError::TooLarge {
                image: image.to_owned(),
                limit: limits.max_bytes,
            })?;
        if let Some(map) = &sparse {
            if map.size > limits.max_bytes {
                return Err(entry_err(EntryError::SparseTooLarge {
                    size: map.size,
                    limit: limits.max_bytes,
                }));
            }
        }

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
                    return Err(or_signal(corrupt(e)));
                }
                got.map_err(|e| or_signal(corrupt(e)))?;
                check_length(&mut data, size)
                    .map_err(|e| or_signal(e.into_image(corrupt, entry_err)))?;
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
                Some(to_item(&mut entry, path, dir_by_name, sparse.clone()).map_err(entry_err)?)
            }
        };

        // A sparse entry's data is read from the stream directly: through the
        // tar reader, every hole would be read as zeros.
        let mut direct;
        let source: &mut dyn Read = match &sparse {
            Some(map) => {
                direct = tap.direct(map.stored);
                &mut direct
            }
            None => &mut entry,
        };
        let mut data = Data::new(source);
        if let Some(item) = item {
            let result = visit.item(&item, &mut data);
            if let Some(e) = data.error.take() {
                return Err(or_signal(corrupt(e)));
            }
            result.map_err(|e| or_signal(entry_err(e)))?;
        }
        check_length(&mut data, size).map_err(|e| or_signal(e.into_image(corrupt, entry_err)))?;
        if sparse.is_some() {
            // The tar reader skips the data it did not read: let it skip zeros.
            tap.credit(size);
        }
    }

    // After the end-of-archive marker: only zero padding, then the gzip
    // trailer (whose CRC and length the decoder checks before the stream ends).
    let mut stream = archive.into_inner();
    drain_padding(&mut stream).map_err(|e| or_signal(corrupt(e)))?;
    let meta = meta.ok_or_else(|| meta_err(MetaError::Missing))?;
    Ok((meta, ignored))
}

/// The SHA-256 of a file, lowercase hex, read in one streaming pass.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let file = open_regular(path).map_err(|e| match e {
        ImageError::Read { source, .. } => source,
        other => io::Error::new(io::ErrorKind::InvalidInput, other.to_string()),
    })?;
    let mut reader = BufReader::with_capacity(BUFFER_SIZE, Hashing::new(file));
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
/// marks a directory whose type byte is NUL; any other entry but a directory
/// with such a name is refused.
fn to_item<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    path: RootPath,
    dir_by_name: bool,
    sparse: Option<SparseMap>,
) -> Result<Item, EntryError> {
    let attrs = attrs(entry)?;
    let type_byte = entry.header().as_old().linkflag[0];
    let kind = match entry.header().entry_type() {
        EntryType::Regular if type_byte == 0 && dir_by_name => ItemKind::Dir,
        EntryType::Directory => ItemKind::Dir,
        _ if dir_by_name => return Err(EntryError::TrailingSlash),
        EntryType::Regular | EntryType::Continuous => ItemKind::File { sparse: None },
        EntryType::GNUSparse => ItemKind::File { sparse },
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
    if path.components().len() > MAX_DEPTH {
        return Err(EntryError::TooDeep);
    }
    if let ItemKind::HardLink { target, .. } = &kind {
        if target.components().len() > MAX_DEPTH {
            return Err(EntryError::TooDeep);
        }
    }
    Ok(Item { path, kind, attrs })
}

/// Owner, mode and time from the header, overridden by PAX records (which
/// carry ids too large for the header and sub-second times). Refuses PAX
/// records for extended attributes, ACLs and PAX sparse files, which would
/// otherwise be dropped silently.
fn attrs<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Attrs, EntryError> {
    let header = entry.header();
    let mut uid = header.uid().map_err(field("uid"))?;
    let mut gid = header.gid().map_err(field("gid"))?;
    let mode = header.mode().map_err(field("mode"))? & 0o7777;
    // The tar crate reads a negative base-256 time as a huge unsigned one.
    let mut mtime_sec = i128::from(header.mtime().map_err(field("mtime"))?);
    let mut mtime_nsec = 0;
    if let Some(pax) = entry.pax_extensions().map_err(field("PAX records"))? {
        for ext in pax {
            let ext = ext.map_err(field("PAX records"))?;
            let Ok(key) = ext.key() else { continue };
            if [
                "SCHILY.xattr.",
                "LIBARCHIVE.xattr.",
                "SCHILY.acl.",
                "RHT.security.",
            ]
            .iter()
            .any(|p| key.starts_with(p))
            {
                return Err(EntryError::Xattrs {
                    key: key.to_owned(),
                });
            }
            if key.starts_with("GNU.sparse.") {
                return Err(EntryError::PaxSparse {
                    key: key.to_owned(),
                });
            }
            let Ok(value) = ext.value() else { continue };
            let bad = |field| EntryError::Header {
                field,
                source: io::ErrorKind::InvalidData.into(),
            };
            match key {
                "uid" => uid = value.parse().map_err(|_| bad("PAX uid"))?,
                "gid" => gid = value.parse().map_err(|_| bad("PAX gid"))?,
                "mtime" => {
                    let (sec, nsec) = parse_pax_time(value).ok_or_else(|| bad("PAX mtime"))?;
                    (mtime_sec, mtime_nsec) = (i128::from(sec), nsec);
                }
                _ => {}
            }
        }
    }
    let mtime_sec = i64::try_from(mtime_sec)
        .ok()
        .filter(|t| (0..=MAX_MTIME).contains(t))
        .ok_or_else(|| EntryError::MtimeOutOfRange(mtime_sec.to_string()))?;
    Ok(Attrs {
        uid: u32::try_from(uid).map_err(|_| EntryError::IdOutOfRange(uid))?,
        gid: u32::try_from(gid).map_err(|_| EntryError::IdOutOfRange(gid))?,
        mode,
        mtime_sec,
        mtime_nsec,
    })
}

/// Checks the numeric fields of a header where the tar crate would wrap: in
/// base-256 (first byte's high bit set) it keeps only the low 8 bytes, so a
/// negative number or one of 2^64 or more would be read as another.
fn check_numbers(header: &tar::Header) -> Result<(), EntryError> {
    let old = header.as_old();
    let mut fields: Vec<(&'static str, &[u8])> = vec![
        ("mode", &old.mode),
        ("uid", &old.uid),
        ("gid", &old.gid),
        ("size", &old.size),
        ("mtime", &old.mtime),
    ];
    if header.entry_type().is_gnu_sparse() {
        if let Some(gnu) = header.as_gnu() {
            fields.push(("sparse file size", &gnu.realsize));
            for block in &gnu.sparse {
                fields.push(("sparse map", &block.offset));
                fields.push(("sparse map", &block.numbytes));
            }
        }
    }
    for (name, field) in fields {
        if !number_fits(field) {
            return Err(EntryError::Header {
                field: name,
                source: io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a base-256 number that is negative or 2^64 or more",
                ),
            });
        }
    }
    Ok(())
}

/// Whether a numeric header field is octal or a base-256 number from 0 to 2^64 - 1.
fn number_fits(field: &[u8]) -> bool {
    match field.first() {
        Some(&first) if first & 0x80 != 0 => {
            let high = field.len().saturating_sub(8).max(1);
            first == 0x80
                && field
                    .get(1..high)
                    .is_some_and(|b| b.iter().all(|b| *b == 0))
        }
        _ => true,
    }
}

/// Wraps a header read error with the field it was reading.
fn field(field: &'static str) -> impl Fn(io::Error) -> EntryError {
    move |source| EntryError::Header { field, source }
}

/// Parses a PAX time: decimal seconds, optionally negative, with an optional
/// fraction (`1700000000.5`), into seconds and nanoseconds; `None` if it is
/// not one or does not fit.
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
        Some((secs.checked_sub(1)?, 1_000_000_000 - nanos))
    } else {
        Some((secs, nanos))
    }
}

/// The most zero padding accepted after tar's end-of-archive marker: tar pads
/// to its record size (10 KiB by default); a gzip bomb of zeros after the
/// marker would otherwise be inflated to its end.
pub const MAX_END_PADDING: u64 = 1024 * 1024;

/// Reads what is left of the decompressed stream after tar's end-of-archive
/// marker, which must be zeros (tar's padding); the decoder checks the gzip
/// trailer when it reaches it.
fn drain_padding(decoder: &mut impl Read) -> io::Result<()> {
    let mut buf = vec![0; BUFFER_SIZE];
    let mut total: u64 = 0;
    loop {
        if crate::support::signals::interrupted().is_some() {
            return Err(io::Error::other("interrupted"));
        }
        let n = decoder.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        total = total.saturating_add(n as u64);
        if total > MAX_END_PADDING {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "more than {MAX_END_PADDING} bytes of padding after the tar end-of-archive marker"
                ),
            ));
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
fn check_length<R: Read + ?Sized>(data: &mut Data<'_, R>, want: u64) -> Result<(), LengthError> {
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
struct Data<'a, R: Read + ?Sized> {
    inner: &'a mut R,
    read: u64,
    error: Option<io::Error>,
}

impl<'a, R: Read + ?Sized> Data<'a, R> {
    fn new(inner: &'a mut R) -> Self {
        Data {
            inner,
            read: 0,
            error: None,
        }
    }
}

impl<R: Read + ?Sized> Read for Data<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.error.is_some() {
            return Err(io::Error::other("the archive stream failed earlier"));
        }
        // Checked on every read, so that a signal stops even one large entry
        // (its caller reports the signal rather than this error).
        if let Some(signal) = crate::support::signals::interrupted() {
            return Err(io::Error::other(crate::support::signals::Interrupted(
                signal,
            )));
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

/// The decompressed stream, shared by the tar reader (through [`Tap`]) and the
/// pass (for a sparse entry's data).
///
/// While the tar reader looks for the next entry ([`TapState::begin_headers`]
/// to [`TapState::end_headers`]) at most [`HEADER_BUDGET`] bytes can be read,
/// so that extended headers cannot grow without bound in memory, and those
/// bytes are kept: they hold a sparse entry's extension blocks, which the tar
/// reader does not expose. A sparse entry's data is then read directly
/// ([`TapState::direct`]), since the tar reader would produce every hole as
/// zeros, and the tar reader, which skips what it did not read, is given as
/// many zeros instead ([`TapState::credit`]).
struct TapState<R> {
    inner: RefCell<R>,
    /// Bytes the tar reader may still read while looking for an entry.
    budget: Cell<Option<u64>>,
    /// Zeros to give the tar reader before reading on.
    credit: Cell<u64>,
    /// Bytes given to the tar reader: its position in the stream.
    pos: Cell<u64>,
    /// What it read while looking for the current entry, and from where.
    headers: RefCell<Vec<u8>>,
    headers_at: Cell<u64>,
}

impl<R: Read> TapState<R> {
    fn new(inner: R) -> Self {
        TapState {
            inner: RefCell::new(inner),
            budget: Cell::new(None),
            credit: Cell::new(0),
            pos: Cell::new(0),
            headers: RefCell::new(Vec::new()),
            headers_at: Cell::new(0),
        }
    }

    /// The tar reader is about to look for the next entry.
    fn begin_headers(&self) {
        self.budget.set(Some(HEADER_BUDGET));
        self.headers.borrow_mut().clear();
        self.headers_at.set(self.pos.get() + self.credit.get());
    }

    /// The tar reader found it (or failed).
    fn end_headers(&self) {
        self.budget.set(None);
    }

    /// A reader of the next `len` bytes of the stream, around the tar reader.
    fn direct(&self, len: u64) -> Direct<'_, R> {
        Direct { tap: self, len }
    }

    /// The tar reader is to be given `len` zeros before the rest of the stream
    /// (the data of the sparse entry just read directly).
    fn credit(&self, len: u64) {
        self.credit.set(self.credit.get().saturating_add(len));
    }

    /// The map of the GNU sparse entry the tar reader just returned, from its
    /// header and the extension blocks after it, checked against its sizes
    /// (what the tar reader checked too, with checked arithmetic).
    fn sparse_map<E: Read>(&self, entry: &tar::Entry<'_, E>) -> io::Result<SparseMap> {
        let bad =
            |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("sparse map: {what}"));
        let header = entry.header();
        let gnu = header.as_gnu().ok_or_else(|| bad("not a GNU header"))?;
        let headers = self.headers.borrow();
        // The extension blocks are what was read after the entry's header.
        let ext_from = entry
            .raw_header_position()
            .checked_add(512)
            .and_then(|p| p.checked_sub(self.headers_at.get()))
            .and_then(|p| usize::try_from(p).ok())
            .filter(|p| *p <= headers.len())
            .ok_or_else(|| bad("its extension blocks were not read"))?;
        let ext = &headers[ext_from..];
        if ext.len() % 512 != 0 || gnu.is_extended() == ext.is_empty() {
            return Err(bad("extension blocks do not match the header"));
        }
        let stored_want = header.entry_size()?;
        let mut map = SparseMap {
            blocks: Vec::new(),
            size: gnu.real_size()?,
            stored: 0,
        };
        let mut end: u64 = 0;
        let mut add = |block: &tar::GnuSparseHeader| -> io::Result<()> {
            if block.is_empty() {
                return Ok(());
            }
            let (off, len) = (block.offset()?, block.length()?);
            if off < end {
                return Err(bad("blocks out of order or overlapping"));
            }
            end = off
                .checked_add(len)
                .ok_or_else(|| bad("a block ends past 2^64"))?;
            map.stored = map
                .stored
                .checked_add(len)
                .ok_or_else(|| bad("more data than 2^64 bytes"))?;
            if len > 0 {
                map.blocks.push((off, len));
            }
            Ok(())
        };
        for block in &gnu.sparse {
            add(block)?;
        }
        let count = ext.len() / 512;
        for (i, raw) in ext.chunks_exact(512).enumerate() {
            let mut block = tar::GnuExtSparseHeader::new();
            block.as_mut_bytes().copy_from_slice(raw);
            if block.is_extended() != (i + 1 < count) {
                return Err(bad("extension blocks do not chain"));
            }
            for b in &block.sparse {
                if !number_fits(&b.offset) || !number_fits(&b.numbytes) {
                    return Err(bad("a base-256 number that is negative or 2^64 or more"));
                }
                add(b)?;
            }
        }
        if end != map.size || map.size != entry.size() {
            return Err(bad("blocks do not end at the file's size"));
        }
        if map.stored != stored_want {
            return Err(bad("blocks do not add up to the entry's size"));
        }
        if i64::try_from(map.size).is_err() {
            return Err(bad("the file is larger than 2^63 bytes"));
        }
        Ok(map)
    }

    /// The name in the last valid header the tar reader read while looking
    /// for the current entry (for an error it found there), lossy UTF-8.
    fn last_header_name(&self) -> Option<String> {
        let headers = self.headers.borrow();
        // Headers start on 512-byte boundaries of the stream.
        let skip = usize::try_from((512 - self.headers_at.get() % 512) % 512).ok()?;
        let blocks = headers.get(skip..)?.chunks_exact(512);
        let mut name = None;
        for block in blocks {
            let mut h = tar::Header::new_old();
            h.as_mut_bytes().copy_from_slice(block);
            let sum: u32 = block[..148]
                .iter()
                .chain(&block[156..])
                .map(|b| u32::from(*b))
                .sum::<u32>()
                + 8 * 32;
            if h.cksum().ok() != Some(sum) || block.iter().all(|b| *b == 0) {
                continue;
            }
            if !h.entry_type().is_gnu_longname()
                && !h.entry_type().is_gnu_longlink()
                && !h.entry_type().is_pax_local_extensions()
            {
                name = Some(String::from_utf8_lossy(&h.path_bytes()).into_owned());
            }
        }
        name
    }
}

/// The stream as the tar reader reads it (see [`TapState`]).
struct Tap<R>(Rc<TapState<R>>);

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let tap = &self.0;
        let credit = tap.credit.get();
        if credit > 0 && !buf.is_empty() {
            let n = buf.len().min(usize::try_from(credit).unwrap_or(usize::MAX));
            buf[..n].fill(0);
            tap.credit.set(credit - n as u64);
            tap.pos.set(tap.pos.get() + n as u64);
            return Ok(n);
        }
        let Some(left) = tap.budget.get() else {
            let n = tap.inner.borrow_mut().read(buf)?;
            tap.pos.set(tap.pos.get() + n as u64);
            return Ok(n);
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
        let n = tap.inner.borrow_mut().read(&mut buf[..max])?;
        tap.budget.set(Some(left - n as u64));
        tap.pos.set(tap.pos.get() + n as u64);
        tap.headers.borrow_mut().extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

/// The next bytes of the stream, read around the tar reader (see [`TapState::direct`]).
struct Direct<'a, R> {
    tap: &'a TapState<R>,
    len: u64,
}

impl<R: Read> Read for Direct<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let max = buf
            .len()
            .min(usize::try_from(self.len).unwrap_or(usize::MAX));
        if max == 0 {
            return Ok(0);
        }
        let n = self.tap.inner.borrow_mut().read(&mut buf[..max])?;
        self.len -= n as u64;
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

    /// Finding (red team, issue 11): the most negative PAX time with a
    /// fraction wrapped to the largest in release builds (a year-2446 mtime on
    /// ext4) and panicked in debug ones. It is now not a time at all.
    #[test]
    fn regression_extreme_pax_times_do_not_wrap() {
        assert_eq!(parse_pax_time("-9223372036854775808.5"), None);
        assert_eq!(parse_pax_time("-9223372036854775808"), Some((i64::MIN, 0)));
        assert_eq!(parse_pax_time("9223372036854775808"), None);
    }

    #[test]
    fn base256_numbers_that_would_wrap_are_refused() {
        let octal = *b"00000001750\0";
        assert!(number_fits(&octal));
        let mut b = [0u8; 12];
        b[0] = 0x80;
        b[4] = 0xff;
        assert!(number_fits(&b), "2^64 - something fits");
        b[3] = 1;
        assert!(!number_fits(&b), "2^64 or more");
        assert!(!number_fits(&[0xff; 12]), "negative");
        assert!(!number_fits(&[0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
        assert!(number_fits(&[0x80, 0, 0, 0, 0, 0, 0, 1]), "8-byte field");
        assert!(!number_fits(&[0xff, 0, 0, 0, 0, 0, 0, 1]));
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
