//! Inflating an image on a second thread, so that decompression overlaps with
//! writing files.
//!
//! Unpacking an image is three kinds of work: reading and hashing the archive,
//! inflating it, and creating the files it holds. On one thread they take
//! turns; GNU tar gets its speed from running `gzip -d` as a second process.
//! Here a scoped thread reads the file, feeds it through SHA-256 and the gzip
//! decoder, and hands the decompressed bytes to the caller's thread through a
//! bounded channel ([`QUEUE`] chunks of [`CHUNK`] bytes, so memory stays
//! bounded whatever the image), while the caller parses tar and writes files.
//! Chunks go back to the inflating thread once read, so steady state allocates
//! nothing.
//!
//! Nothing is trusted more for being on another thread: the caller sees the
//! same byte stream, decoder errors arrive in order at the point where the
//! stream failed, and the end of the stream is only reported once the decoder
//! has checked the gzip trailer (CRC and length).

use std::io::{self, BufRead, Read};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread;

use flate2::bufread::GzDecoder;

/// Size of one chunk of decompressed bytes.
pub const CHUNK: usize = 128 * 1024;

/// Chunks in flight between the threads: enough to ride over a slow file
/// creation on one side or a slow block on the other.
pub const QUEUE: usize = 4;

/// How the inflating thread ended.
#[derive(Debug)]
pub enum Ended<T> {
    /// The gzip stream ended with a valid trailer; `finish` ran on the
    /// compressed source (positioned just after the gzip stream) and returned this.
    Complete(T),
    /// It stopped early: the decoder failed (the error was delivered through
    /// the stream) or the reader was dropped before the end.
    Stopped,
}

/// The decompressed stream, as read on the caller's thread.
pub struct Inflated {
    chunks: Receiver<io::Result<Vec<u8>>>,
    spent: Sender<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl Read for Inflated {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.pos == self.chunk.len() {
            match self.chunks.recv() {
                Ok(Ok(next)) => {
                    let old = std::mem::replace(&mut self.chunk, next);
                    self.pos = 0;
                    // The inflating thread may have finished: then nobody needs it.
                    let _ = self.spent.send(old);
                }
                Ok(Err(e)) => return Err(e),
                // The sender is gone: the stream ended (the thread's outcome
                // says whether completely).
                Err(mpsc::RecvError) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Inflates the gzip stream read from `source` on a second thread while
/// `consume` reads the decompressed bytes; once the gzip stream has ended,
/// `finish` runs on that thread with `source` (to read what follows the
/// stream, or take a digest of it). Returns what `consume` returned and how
/// the thread ended; `Err` is an error `finish` returned. `consume` should
/// read to the end: if it returns earlier, the thread stops at its next chunk.
pub fn inflate_on_thread<S, T, C, F>(
    source: S,
    consume: impl FnOnce(Inflated) -> C,
    finish: F,
) -> (C, io::Result<Ended<T>>)
where
    S: BufRead + Send,
    T: Send,
    F: FnOnce(S) -> io::Result<T> + Send,
{
    let (chunk_tx, chunk_rx) = mpsc::sync_channel(QUEUE);
    let (spent_tx, spent_rx) = mpsc::channel();
    thread::scope(|scope| {
        let inflater = scope.spawn(move || inflate(source, chunk_tx, spent_rx, finish));
        let consumed = consume(Inflated {
            chunks: chunk_rx,
            spent: spent_tx,
            chunk: Vec::new(),
            pos: 0,
        });
        // `consume` owned the receiver, so a thread still inflating sees it
        // gone at its next send and stops.
        let ended = inflater
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the thread inflating the image panicked")));
        (consumed, ended)
    })
}

/// The inflating thread: decodes `source` into chunks until the gzip stream
/// ends, then runs `finish` on what is left of `source`.
fn inflate<S: BufRead, T>(
    source: S,
    chunks: SyncSender<io::Result<Vec<u8>>>,
    spent: Receiver<Vec<u8>>,
    finish: impl FnOnce(S) -> io::Result<T>,
) -> io::Result<Ended<T>> {
    let mut decoder = GzDecoder::new(source);
    loop {
        let mut chunk = spent.try_recv().unwrap_or_default();
        chunk.resize(CHUNK, 0);
        let (n, failed) = fill(&mut decoder, &mut chunk);
        if n == 0 && failed.is_none() {
            break;
        }
        if n > 0 {
            chunk.truncate(n);
            if chunks.send(Ok(chunk)).is_err() {
                return Ok(Ended::Stopped);
            }
        }
        if let Some(e) = failed {
            let _ = chunks.send(Err(e));
            return Ok(Ended::Stopped);
        }
    }
    // The decoder returned 0: the trailer was read and its CRC and length match.
    drop(chunks);
    finish(decoder.into_inner()).map(Ended::Complete)
}

/// Reads into `buf` until it is full, the stream ends or fails; the bytes
/// read, and the error if it failed (after those bytes, which are delivered
/// first so the reader sees the stream exactly up to where it broke).
fn fill(from: &mut impl Read, buf: &mut [u8]) -> (usize, Option<io::Error>) {
    let mut filled = 0;
    while filled < buf.len() {
        match from.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (filled, Some(e)),
        }
    }
    (filled, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    /// Bytes that do not compress, several chunks' worth and not a multiple of one.
    fn payload() -> Vec<u8> {
        let mut x: u32 = 12345;
        (0..CHUNK * 5 + 77)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect()
    }

    #[test]
    fn delivers_the_stream_and_what_follows_it() {
        let data = payload();
        let mut gz = gzip(&data);
        gz.extend_from_slice(b"tail");
        let (got, ended) = inflate_on_thread(
            &gz[..],
            |mut r| {
                let mut out = Vec::new();
                r.read_to_end(&mut out).map(|_| out)
            },
            |mut rest| {
                let mut tail = Vec::new();
                rest.read_to_end(&mut tail).map(|_| tail)
            },
        );
        assert!(got.unwrap() == data, "the decompressed bytes differ");
        match ended.unwrap() {
            Ended::Complete(tail) => assert_eq!(tail, b"tail"),
            Ended::Stopped => panic!("stopped"),
        }
    }

    #[test]
    fn a_corrupt_stream_fails_where_it_breaks() {
        let data = payload();
        let mut gz = gzip(&data);
        let n = gz.len();
        gz[n - 6] ^= 0xff; // the CRC
        let (got, ended) = inflate_on_thread(
            &gz[..],
            |mut r| {
                let mut out = Vec::new();
                let res = r.read_to_end(&mut out);
                (out.len(), res)
            },
            |_| Ok(()),
        );
        assert_eq!(
            got.0,
            data.len(),
            "all the data arrives before the trailer check"
        );
        assert!(got.1.is_err(), "the bad CRC is an error");
        assert!(matches!(ended.unwrap(), Ended::Stopped));
    }

    #[test]
    fn a_reader_that_stops_early_stops_the_thread() {
        let gz = gzip(&payload());
        let (got, ended) = inflate_on_thread(
            &gz[..],
            |mut r| {
                let mut buf = [0; 10];
                r.read(&mut buf)
            },
            |_| Ok(()),
        );
        assert_eq!(got.unwrap(), 10);
        assert!(matches!(ended.unwrap(), Ended::Stopped));
    }
}
