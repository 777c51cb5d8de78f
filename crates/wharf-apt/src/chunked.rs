//! Incremental compression of large indices: `Packages.gz` and `Packages.xz` are built
//! from independently compressed chunks, so adding one package to a 20,000-package index
//! recompresses one chunk (~30 stanzas) instead of megabytes.
//!
//! - Chunks end at stanza boundaries chosen by content (the hash of a stanza's first line),
//!   so an insertion or removal only changes the chunk it falls in.
//! - `.gz`: the chunks' gzip members, concatenated. A multi-member gzip file is one valid
//!   gzip file (RFC 1952 §2.2); zlib's `gzread` (apt), `gzip -d` and `zcat` read it whole.
//! - `.xz`: one xz stream whose blocks are the chunks' blocks, with an index and footer
//!   written here. apt opens `.xz` with `lzma_auto_decoder(…, 0)`, which reads one stream
//!   (not concatenated streams) but any number of blocks, so the blocks go in one stream.
//! - Reuse: every index remembers where each chunk's gzip member and xz block are in its
//!   own `.gz` and `.xz` ([`ChunkSpan`]). The next compression of that index copies the
//!   unchanged chunks out of the previous files (which the caller read back and checked
//!   against their SHA-256) instead of compressing them again: no cache of its own.

use crate::sha256_hex;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::index;

/// A stanza whose first line hashes to 0 modulo this ends a chunk: ~32 stanzas a chunk.
const CHUNK_EVERY: u64 = 32;
/// A chunk never grows beyond this, whatever the hashes say.
const MAX_CHUNK_BYTES: usize = 256 * 1024;
/// Smaller indices are compressed whole: chunking them saves nothing worth the spans.
pub const MIN_CHUNKED_BYTES: usize = 64 * 1024;

/// Where one chunk's compressed forms are in its index's `.gz` and `.xz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkSpan {
    /// SHA-256 of the chunk's plain text.
    pub sha256: String,
    /// The chunk's gzip member: offset and length in the `.gz`.
    pub gz: (u64, u64),
    /// The chunk's xz block (with padding and check): offset and length in the `.xz`,
    /// then its unpadded and uncompressed sizes (for the stream index).
    pub xz: (u64, u64, u64, u64),
}

/// The previous compressed forms of an index and where its chunks are in them.
#[derive(Debug, Clone, Copy)]
pub struct Previous<'a> {
    pub gz: &'a [u8],
    pub xz: &'a [u8],
    pub spans: &'a [ChunkSpan],
}

/// The compressed forms of one index and what it took to make them.
#[derive(Debug)]
pub struct Compressed {
    pub gz: Vec<u8>,
    pub xz: Vec<u8>,
    /// Where each chunk is in `gz` and `xz`; empty for an index compressed whole.
    pub spans: Vec<ChunkSpan>,
    pub n_chunks_compressed: usize,
}

/// The line of a stanza whose hash decides whether the stanza ends a chunk: its
/// `Package:` line (the first of a `Packages` stanza; the second of a `Sources` stanza,
/// whose first, `Format:`, is the same in nearly every stanza), else its first line.
fn boundary_line(stanza: &[u8]) -> &[u8] {
    let mut lines = stanza.split(|b| *b == b'\n');
    let first = lines.next().unwrap_or_default();
    if first.starts_with(b"Package: ") || !first.starts_with(b"Format: ") {
        return first;
    }
    lines.find(|line| line.starts_with(b"Package: ")).unwrap_or(first)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Split a `Packages` file (stanzas separated by blank lines) into chunks.
#[must_use]
pub fn split(plain: &[u8]) -> Vec<&[u8]> {
    let mut chunks = Vec::new();
    let mut chunk_start = 0;
    let mut stanza_start = 0;
    let mut idx = 0;
    while idx < plain.len() {
        // A stanza ends with "\n\n".
        // The next "\n\n": newlines are found with a byte scan, far cheaper than
        // comparing every two-byte window.
        let mut search = idx;
        let stanza_end = loop {
            let Some(offset) = plain[search..].iter().position(|b| *b == b'\n') else {
                break None;
            };
            let at = search + offset;
            if plain.get(at + 1) == Some(&b'\n') {
                break Some(at + 2);
            }
            search = at + 1;
        };
        let Some(stanza_end) = stanza_end else { break };
        let boundary = fnv1a(boundary_line(&plain[stanza_start..stanza_end]))
            .is_multiple_of(CHUNK_EVERY)
            || stanza_end - chunk_start >= MAX_CHUNK_BYTES;
        if boundary {
            chunks.push(&plain[chunk_start..stanza_end]);
            chunk_start = stanza_end;
        }
        stanza_start = stanza_end;
        idx = stanza_end;
    }
    if chunk_start < plain.len() || chunks.is_empty() {
        chunks.push(&plain[chunk_start..]);
    }
    chunks
}

/// A chunk's compressed forms: its gzip member, and its xz block with the block's
/// unpadded and uncompressed sizes.
struct Fresh {
    gz: Vec<u8>,
    xz_stream: Vec<u8>,
}

fn slice(bytes: &[u8], offset: u64, len: u64) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    bytes.get(start..start.checked_add(usize::try_from(len).ok()?)?)
}

/// Compress `plain` chunk by chunk, copying the chunks that `previous` already holds.
#[must_use]
pub fn compress(plain: &[u8], previous: Option<Previous<'_>>) -> Compressed {
    if plain.len() < MIN_CHUNKED_BYTES {
        return whole(plain, split(plain).len());
    }
    let chunks: Vec<(String, Option<&[u8]>)> =
        split(plain).into_iter().map(|chunk| (sha256_hex(chunk), Some(chunk))).collect();
    compress_chunks(&chunks, previous, plain.len()).unwrap_or_else(|| whole(plain, chunks.len()))
}

/// Where a reusable chunk's forms are in the previous files: (gzip member, xz block,
/// unpadded size, uncompressed size).
fn reusable<'a>(
    previous: Option<Previous<'a>>,
    spans: &HashMap<&str, &ChunkSpan>,
    sha: &str,
) -> Option<(&'a [u8], &'a [u8], u64, u64)> {
    let previous = previous?;
    let span = spans.get(sha)?;
    let gz = slice(previous.gz, span.gz.0, span.gz.1)?;
    let xz = slice(previous.xz, span.xz.0, span.xz.1)?;
    Some((gz, xz, span.xz.2, span.xz.3))
}

fn spans_by_sha<'a>(previous: Option<Previous<'a>>) -> HashMap<&'a str, &'a ChunkSpan> {
    previous
        .map(|p| p.spans.iter().map(|span| (span.sha256.as_str(), span)).collect())
        .unwrap_or_default()
}

/// Both compressed forms of one chunk.
fn fresh(chunk: &[u8]) -> Fresh {
    Fresh { gz: index::gzip(chunk), xz_stream: index::xz_chunk(chunk) }
}

/// Threads compressing the chunks that the previous files do not hold, as a [`Builder`]
/// closes them: the compression (xz dominates) overlaps writing and hashing the index.
struct Workers {
    jobs: Option<std::sync::mpsc::Sender<(usize, Vec<u8>)>>,
    results: std::sync::mpsc::Receiver<(usize, Fresh)>,
    handles: Vec<std::thread::JoinHandle<()>>,
}

impl Workers {
    fn start() -> Workers {
        // Two: the machines this runs on have few cores, and the caller keeps one busy.
        let n = std::thread::available_parallelism().map_or(1, usize::from).clamp(1, 2);
        let (jobs, queue) = std::sync::mpsc::channel::<(usize, Vec<u8>)>();
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        let (done, results) = std::sync::mpsc::channel();
        let handles = (0..n)
            .map(|_| {
                let (queue, done) = (queue.clone(), done.clone());
                std::thread::spawn(move || {
                    loop {
                        let job =
                            queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner).recv();
                        let Ok((idx, chunk)) = job else { return };
                        if done.send((idx, fresh(&chunk))).is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        Workers { jobs: Some(jobs), results, handles }
    }

    fn send(&self, idx: usize, chunk: Vec<u8>) {
        if let Some(jobs) = &self.jobs {
            // A worker only stops early by panicking; `finish` reports that.
            let _ = jobs.send((idx, chunk));
        }
    }

    /// Every result; `None` if a worker panicked.
    fn finish(mut self) -> Option<HashMap<usize, Fresh>> {
        self.jobs = None;
        let results: HashMap<usize, Fresh> = self.results.iter().collect();
        let mut ok = true;
        for handle in self.handles {
            ok &= handle.join().is_ok();
        }
        ok.then_some(results)
    }
}

/// The chunks, in order, by SHA-256 of their plain text; the text is left out (`None`)
/// only for chunks `previous` holds.
fn compress_chunks(
    chunks: &[(String, Option<&[u8]>)],
    previous: Option<Previous<'_>>,
    plain_len: usize,
) -> Option<Compressed> {
    let spans_by_sha = spans_by_sha(previous);
    let missing: Vec<usize> = (0..chunks.len())
        .filter(|idx| reusable(previous, &spans_by_sha, &chunks[*idx].0).is_none())
        .collect();
    // Two workers: the machines this runs on have few cores, and xz dominates.
    let n_workers = missing.len().clamp(1, 2);
    let fresh: HashMap<usize, Fresh> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n_workers)
            .map(|worker| {
                let missing = &missing;
                scope.spawn(move || {
                    missing
                        .iter()
                        .skip(worker)
                        .step_by(n_workers)
                        .map(|idx| (*idx, fresh(chunks[*idx].1.unwrap_or_default())))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("compression does not panic")).collect()
    });
    let shas: Vec<&str> = chunks.iter().map(|(sha, _)| sha.as_str()).collect();
    assemble(&shas, fresh, previous, plain_len)
}

/// Both files from the chunks in order: fresh ones from `fresh` (by position), the others
/// copied out of `previous`.
fn assemble(
    shas: &[&str],
    mut fresh: HashMap<usize, Fresh>,
    previous: Option<Previous<'_>>,
    plain_len: usize,
) -> Option<Compressed> {
    let spans_by_sha = spans_by_sha(previous);
    let old = |sha: &str| reusable(previous, &spans_by_sha, sha);
    let n_chunks_compressed = fresh.len();
    let mut gz = Vec::with_capacity(plain_len / 4);
    // The 12-byte stream header is written over these zeros once the flags are known.
    let mut xz_blocks = vec![0u8; 12];
    xz_blocks.reserve(previous.map_or(plain_len / 5, |previous| previous.xz.len() + (64 << 10)));
    gz.reserve(previous.map_or(0, |previous| previous.gz.len() + (64 << 10)));
    let mut records = Vec::with_capacity(shas.len());
    let mut spans = Vec::with_capacity(shas.len());
    let mut stream_flags = None;
    for (idx, sha) in shas.iter().enumerate() {
        let (gz_part, block, unpadded, uncompressed) = if let Some(fresh) = fresh.get(&idx) {
            let (flags, block, unpadded, uncompressed) = single_block(&fresh.xz_stream)?;
            stream_flags.get_or_insert(flags);
            (fresh.gz.as_slice(), block, unpadded, uncompressed)
        } else {
            old(sha)?
        };
        let gz_at = gz.len() as u64;
        gz.extend_from_slice(gz_part);
        let xz_at = xz_blocks.len() as u64;
        xz_blocks.extend_from_slice(block);
        records.push((unpadded, uncompressed));
        spans.push(ChunkSpan {
            sha256: (*sha).to_owned(),
            gz: (gz_at, gz_part.len() as u64),
            xz: (xz_at, block.len() as u64, unpadded, uncompressed),
        });
    }
    fresh.clear();
    // Every stream this crate writes has the same flags (CRC64 check); a previous file's
    // header says which when nothing was compressed this time.
    let flags = match (stream_flags, previous) {
        (Some(flags), _) => flags,
        (None, Some(previous)) if previous.xz.len() >= 12 => [previous.xz[6], previous.xz[7]],
        _ => return None,
    };
    let xz = finish_xz_stream(xz_blocks, flags, &records)?;
    Some(Compressed { gz, xz, spans, n_chunks_compressed })
}

/// The compressed forms of an index fed stanza by stanza, holding only the chunks that
/// `previous` does not have — so the index itself can go straight to a file. Gives the
/// same bytes as [`compress`] on the whole index. Chunks to compress go to worker threads
/// as soon as they close (once the index is too large to be compressed whole).
pub struct Builder<'a> {
    previous: Option<Previous<'a>>,
    spans: HashMap<&'a str, &'a ChunkSpan>,
    /// The chunk being filled.
    chunk: Vec<u8>,
    /// Every chunk closed so far, by SHA-256.
    shas: Vec<String>,
    /// Closed chunks to compress while the index may still turn out small, by position.
    pending: Vec<(usize, Vec<u8>)>,
    workers: Option<Workers>,
    /// The whole index while it is smaller than [`MIN_CHUNKED_BYTES`].
    small: Option<Vec<u8>>,
    len: usize,
}

impl<'a> Builder<'a> {
    #[must_use]
    pub fn new(previous: Option<Previous<'a>>) -> Builder<'a> {
        Builder {
            previous,
            spans: spans_by_sha(previous),
            chunk: Vec::new(),
            shas: Vec::new(),
            pending: Vec::new(),
            workers: None,
            small: Some(Vec::new()),
            len: 0,
        }
    }

    /// One stanza, with the blank line that ends it.
    pub fn push(&mut self, stanza: &[u8]) {
        self.len += stanza.len();
        match &mut self.small {
            Some(small) if self.len < MIN_CHUNKED_BYTES => small.extend_from_slice(stanza),
            _ => self.small = None,
        }
        self.chunk.extend_from_slice(stanza);
        if fnv1a(boundary_line(stanza)).is_multiple_of(CHUNK_EVERY)
            || self.chunk.len() >= MAX_CHUNK_BYTES
        {
            self.close_chunk();
        }
    }

    fn close_chunk(&mut self) {
        let chunk = std::mem::take(&mut self.chunk);
        let sha = sha256_hex(&chunk);
        if reusable(self.previous, &self.spans, &sha).is_none() {
            self.pending.push((self.shas.len(), chunk));
        }
        self.shas.push(sha);
        if self.small.is_none() {
            self.send_pending();
        }
    }

    fn send_pending(&mut self) {
        if !self.pending.is_empty() {
            let workers = self.workers.get_or_insert_with(Workers::start);
            for (idx, chunk) in self.pending.drain(..) {
                workers.send(idx, chunk);
            }
        }
    }

    /// The compressed forms; `None` in the unexpected case that the chunks cannot be
    /// joined (then compress the whole index with [`compress`]).
    #[must_use]
    pub fn finish(mut self) -> Option<Compressed> {
        if let Some(small) = &self.small {
            return Some(whole(small, split(small).len()));
        }
        if !self.chunk.is_empty() || self.shas.is_empty() {
            self.close_chunk();
        }
        self.send_pending();
        let fresh = match self.workers.take() {
            Some(workers) => workers.finish()?,
            None => HashMap::new(),
        };
        let shas: Vec<&str> = self.shas.iter().map(String::as_str).collect();
        assemble(&shas, fresh, self.previous, self.len)
    }
}

/// A line whose hash is 0 modulo this ends a chunk of a line-oriented index
/// (`Contents`): ~512 lines, some 40 KiB, a chunk.
const LINES_EVERY: u64 = 512;

/// Split a file of lines (`Contents`) into chunks ending at lines chosen by content, so
/// that a line added or removed changes the chunk it falls in only.
#[must_use]
pub fn split_lines(plain: &[u8]) -> Vec<&[u8]> {
    let mut chunks = Vec::new();
    let (mut chunk_start, mut line_start) = (0, 0);
    while line_start < plain.len() {
        let line_end = plain[line_start..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(plain.len(), |at| line_start + at + 1);
        // The high bits: FNV-1a's low bits see only the low bits of each byte, and paths
        // differing in digits alone would hardly ever end a chunk.
        if (fnv1a(&plain[line_start..line_end]) >> 40).is_multiple_of(LINES_EVERY)
            || line_end - chunk_start >= MAX_CHUNK_BYTES
        {
            chunks.push(&plain[chunk_start..line_end]);
            chunk_start = line_end;
        }
        line_start = line_end;
    }
    if chunk_start < plain.len() || chunks.is_empty() {
        chunks.push(&plain[chunk_start..]);
    }
    chunks
}

/// The `.gz` alone of a file of lines ([`split_lines`]), its chunks' gzip members
/// concatenated, copying from `previous` (a `.gz` this function wrote, with its spans)
/// the members of unchanged chunks; small files are compressed whole, without spans.
/// The spans' `xz` fields are zero.
#[must_use]
pub fn compress_gz(plain: &[u8], previous: Option<(&[u8], &[ChunkSpan])>) -> Compressed {
    if plain.len() < MIN_CHUNKED_BYTES {
        return Compressed {
            gz: index::gzip(plain),
            xz: Vec::new(),
            spans: Vec::new(),
            n_chunks_compressed: 1,
        };
    }
    let old: HashMap<&str, &[u8]> = previous
        .map(|(gz, spans)| {
            spans
                .iter()
                .filter_map(|span| Some((span.sha256.as_str(), slice(gz, span.gz.0, span.gz.1)?)))
                .collect()
        })
        .unwrap_or_default();
    let chunks: Vec<(String, &[u8])> =
        split_lines(plain).into_iter().map(|chunk| (sha256_hex(chunk), chunk)).collect();
    let missing: Vec<usize> =
        (0..chunks.len()).filter(|idx| !old.contains_key(chunks[*idx].0.as_str())).collect();
    let n_workers = missing.len().clamp(1, 2);
    let fresh: HashMap<usize, Vec<u8>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n_workers)
            .map(|worker| {
                let (missing, chunks) = (&missing, &chunks);
                scope.spawn(move || {
                    missing
                        .iter()
                        .skip(worker)
                        .step_by(n_workers)
                        .map(|idx| (*idx, index::gzip(chunks[*idx].1)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("compression does not panic")).collect()
    });
    let mut gz =
        Vec::with_capacity(previous.map_or(plain.len() / 4, |(gz, _)| gz.len() + (64 << 10)));
    let mut spans = Vec::with_capacity(chunks.len());
    for (idx, (sha, _)) in chunks.iter().enumerate() {
        let member = fresh.get(&idx).map_or_else(|| old[sha.as_str()], Vec::as_slice);
        spans.push(ChunkSpan {
            sha256: sha.clone(),
            gz: (gz.len() as u64, member.len() as u64),
            xz: (0, 0, 0, 0),
        });
        gz.extend_from_slice(member);
    }
    Compressed { gz, xz: Vec::new(), spans, n_chunks_compressed: fresh.len() }
}

/// The fallback: the whole index compressed at once, no spans.
fn whole(plain: &[u8], n_chunks: usize) -> Compressed {
    Compressed {
        gz: index::gzip(plain),
        xz: index::xz(plain),
        spans: Vec::new(),
        n_chunks_compressed: n_chunks,
    }
}

fn read_varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..63).step_by(7) {
        let byte = *bytes.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(u8::try_from(value & 0x7f).unwrap_or(0) | 0x80);
        value >>= 7;
    }
    out.push(u8::try_from(value).unwrap_or(0));
}

/// One single-block xz stream → (stream flags, block bytes with padding and check,
/// unpadded size, uncompressed size).
fn single_block(stream: &[u8]) -> Option<([u8; 2], &[u8], u64, u64)> {
    const MAGIC: &[u8] = b"\xfd7zXZ\0";
    if stream.len() < 24 || !stream.starts_with(MAGIC) || !stream.ends_with(b"YZ") {
        return None;
    }
    let flags = [stream[6], stream[7]];
    let footer = &stream[stream.len() - 12..];
    let backward = u32::from_le_bytes(footer[4..8].try_into().ok()?);
    let index_len = (usize::try_from(backward).ok()? + 1) * 4;
    let index_start = stream.len().checked_sub(12 + index_len)?;
    let index = &stream[index_start..stream.len() - 12];
    if index.first() != Some(&0) {
        return None;
    }
    let mut pos = 1;
    if read_varint(index, &mut pos)? != 1 {
        return None;
    }
    let unpadded = read_varint(index, &mut pos)?;
    let uncompressed = read_varint(index, &mut pos)?;
    Some((flags, stream.get(12..index_start)?, unpadded, uncompressed))
}

/// One xz stream from `out` — 12 bytes for the header, then the blocks — with `flags` in
/// the header, an index of `records` (unpadded and uncompressed size of each block), and
/// the footer.
fn finish_xz_stream(mut out: Vec<u8>, flags: [u8; 2], records: &[(u64, u64)]) -> Option<Vec<u8>> {
    const MAGIC: &[u8] = b"\xfd7zXZ\0";
    let header = out.get_mut(..12)?;
    header[..6].copy_from_slice(MAGIC);
    header[6..8].copy_from_slice(&flags);
    header[8..12].copy_from_slice(&crc32fast::hash(&flags).to_le_bytes());
    let mut index = vec![0u8];
    write_varint(&mut index, u64::try_from(records.len()).ok()?);
    for (unpadded, uncompressed) in records {
        write_varint(&mut index, *unpadded);
        write_varint(&mut index, *uncompressed);
    }
    while index.len() % 4 != 0 {
        index.push(0);
    }
    let crc = crc32fast::hash(&index);
    index.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&index);
    let backward = u32::try_from(index.len() / 4 - 1).ok()?;
    let mut footer_body = backward.to_le_bytes().to_vec();
    footer_body.extend_from_slice(&flags);
    out.extend_from_slice(&crc32fast::hash(&footer_body).to_le_bytes());
    out.extend_from_slice(&footer_body);
    out.extend_from_slice(b"YZ");
    Some(out)
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    fn packages(n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for idx in 0..n {
            out.extend_from_slice(
                format!(
                    "Package: pkg{idx:05}\nVersion: 1.0\nArchitecture: amd64\nSHA256: {}\nDescription: p\n multi\n\n",
                    sha256_hex(idx.to_string().as_bytes())
                )
                .as_bytes(),
            );
        }
        out
    }

    #[test]
    fn chunks_cover_the_file_and_end_at_stanzas() {
        for n in [0, 1, 2, 31, 500] {
            let plain = packages(n);
            let chunks = split(&plain);
            assert_eq!(chunks.concat(), plain, "{n}");
            for chunk in &chunks {
                assert!(chunk.is_empty() || chunk.ends_with(b"\n\n"));
            }
        }
        assert!(split(&packages(500)).len() > 5);
    }

    #[test]
    fn inserting_one_stanza_changes_one_chunk() {
        let plain = packages(2000);
        let mut changed = plain.clone();
        let at = changed.windows(14).position(|w| w == b"Package: pkg01").unwrap();
        changed.splice(at..at, b"Package: new\nVersion: 1\n\n".iter().copied());
        let before: std::collections::BTreeSet<&[u8]> = split(&plain).into_iter().collect();
        let after = split(&changed);
        let n_new = after.iter().filter(|chunk| !before.contains(*chunk)).count();
        assert!(n_new <= 2, "{n_new} of {} chunks changed", after.len());
    }

    fn decompress(compressed: &Compressed) -> (Vec<u8>, Vec<u8>) {
        // One plain xz stream with many blocks: no concatenated-streams flag needed, as
        // apt opens it.
        let mut decoder = liblzma::stream::Stream::new_stream_decoder(u64::MAX, 0).unwrap();
        let mut xz_plain = Vec::with_capacity(compressed.gz.len() * 20);
        decoder
            .process_vec(&compressed.xz, &mut xz_plain, liblzma::stream::Action::Finish)
            .unwrap();
        let mut gz_plain = Vec::new();
        flate2::read::MultiGzDecoder::new(compressed.gz.as_slice())
            .read_to_end(&mut gz_plain)
            .unwrap();
        (gz_plain, xz_plain)
    }

    fn previous(compressed: &Compressed) -> Option<Previous<'_>> {
        Some(Previous { gz: &compressed.gz, xz: &compressed.xz, spans: &compressed.spans })
    }

    #[test]
    fn joined_streams_decompress_to_the_whole_file_and_reuse_the_previous_one() {
        let dir = tempfile::tempdir().unwrap();
        let plain = packages(1500);
        let first = compress(&plain, None);
        assert!(first.spans.len() > 10);
        assert_eq!(first.n_chunks_compressed, first.spans.len());
        assert_eq!(decompress(&first), (plain.clone(), plain.clone()));
        // The command-line tools agree.
        for (tool, bytes) in [("xz", &first.xz), ("gzip", &first.gz)] {
            let file = dir.path().join(format!("Packages.{tool}"));
            std::fs::write(&file, bytes).unwrap();
            let output = std::process::Command::new(tool).arg("-dc").arg(&file).output().unwrap();
            assert!(output.status.success(), "{tool} -d failed");
            assert_eq!(output.stdout, plain, "{tool}");
        }

        // One more stanza: only the affected chunk is compressed, and the result is the
        // very bytes a compression from scratch gives.
        let mut changed = plain.clone();
        let at = changed.windows(14).position(|w| w == b"Package: pkg00").unwrap() + 500;
        let at = at + changed[at..].windows(2).position(|w| w == b"\n\n").unwrap() + 2;
        changed.splice(at..at, b"Package: new\nVersion: 1\n\n".iter().copied());
        let second = compress(&changed, previous(&first));
        assert!(second.n_chunks_compressed <= 2, "{}", second.n_chunks_compressed);
        assert_eq!(decompress(&second), (changed.clone(), changed.clone()));
        let scratch = compress(&changed, None);
        assert_eq!(
            (&second.gz, &second.xz, &second.spans),
            (&scratch.gz, &scratch.xz, &scratch.spans)
        );

        // Fed stanza by stanza, the builder gives the same bytes.
        let mut builder = Builder::new(previous(&first));
        for stanza in changed
            .split_inclusive(|b| *b == b'\n')
            .collect::<Vec<_>>()
            .split(|line| *line == b"\n")
        {
            let mut bytes = stanza.concat();
            bytes.push(b'\n');
            if bytes.len() > 1 {
                builder.push(&bytes);
            }
        }
        let built = builder.finish().unwrap();
        assert_eq!((&built.gz, &built.xz, &built.spans), (&second.gz, &second.xz, &second.spans));
        assert_eq!(built.n_chunks_compressed, second.n_chunks_compressed);

        // Nothing changed: nothing compressed, same bytes.
        let third = compress(&changed, previous(&second));
        assert_eq!(third.n_chunks_compressed, 0);
        assert_eq!((&third.gz, &third.xz), (&second.gz, &second.xz));

        // Spans that do not fit the previous files: those chunks are compressed again.
        let mut bad = second.spans.clone();
        bad[0].gz.0 = u64::MAX - 1;
        let bad_previous = Previous { gz: &second.gz, xz: &second.xz, spans: &bad };
        let fourth = compress(&changed, Some(bad_previous));
        assert_eq!(fourth.n_chunks_compressed, 1);
        assert_eq!(fourth.xz, second.xz);
    }

    #[test]
    fn line_chunks_are_reused_and_equal_a_compression_from_scratch() {
        let lines = |n: usize, extra: Option<usize>| -> Vec<u8> {
            let mut out = Vec::new();
            for idx in (0..n).chain(extra) {
                out.extend_from_slice(
                    format!("usr/share/pkg{idx:05}/README\t\t    misc/pkg{idx:05}\n").as_bytes(),
                );
            }
            out
        };
        let plain = lines(5000, None);
        let chunks = split_lines(&plain);
        assert_eq!(chunks.concat(), plain);
        assert!(chunks.len() > 3, "{} chunks", chunks.len());
        assert!(chunks.iter().all(|c| c.ends_with(b"\n")));
        let first = compress_gz(&plain, None);
        let mut changed = lines(4999, None);
        changed.extend_from_slice(b"usr/share/zzz/README\t\t    misc/zzz\n");
        let again = compress_gz(&changed, Some((&first.gz, &first.spans)));
        assert!(
            again.n_chunks_compressed <= 2,
            "{} of {}",
            again.n_chunks_compressed,
            again.spans.len()
        );
        assert_eq!(again.gz, compress_gz(&changed, None).gz);
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(again.gz.as_slice()).read_to_end(&mut out).unwrap();
        assert_eq!(out, changed);
        // Spans that do not fit the previous file are not trusted.
        let wrong = compress_gz(&changed, Some((&first.gz[..10], &first.spans)));
        assert_eq!(wrong.gz, again.gz);
    }

    #[test]
    fn small_indices_are_compressed_whole() {
        for n in [0, 1, 20] {
            let plain = packages(n);
            let compressed = compress(&plain, None);
            assert!(compressed.spans.is_empty());
            let mut builder = Builder::new(None);
            for stanza in
                plain.split_inclusive(|b| *b == b'\n').collect::<Vec<_>>().split(|l| *l == b"\n")
            {
                if !stanza.is_empty() {
                    builder.push(&[stanza.concat(), b"\n".to_vec()].concat());
                }
            }
            let built = builder.finish().unwrap();
            assert_eq!((&built.gz, &built.xz), (&compressed.gz, &compressed.xz), "{n}");
            assert_eq!(decompress(&compressed), (plain.clone(), plain));
        }
    }
}
