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
//! - Compressed chunks are cached as files named by the SHA-256 of their plain text, in a
//!   cache directory of the tree (`.wharf-cache/`, never served); the caller remembers the
//!   SHA-256 of each cached file and a cached file whose content does not match (a crash
//!   mid-write) is simply recompressed. Cache files need no fsync for that reason.

use crate::sha256_hex;
use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::deb::FileDigest;
use crate::index;

/// A stanza whose first line hashes to 0 modulo this ends a chunk: ~32 stanzas a chunk.
const CHUNK_EVERY: u64 = 32;
/// A chunk never grows beyond this, whatever the hashes say.
const MAX_CHUNK_BYTES: usize = 256 * 1024;

/// SHA-256 of a chunk's cached `.gz` member and `.xz` stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkDigests {
    pub gz: String,
    pub xz: String,
}

/// The compressed forms of one index and what it took to make them.
#[derive(Debug)]
pub struct Compressed {
    pub gz: Vec<u8>,
    pub xz: Vec<u8>,
    /// Plain SHA-256 → digests of every chunk this index uses.
    pub chunks: BTreeMap<String, ChunkDigests>,
    pub n_chunks_compressed: usize,
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
        let first_line_end = plain[stanza_start..stanza_end]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(stanza_end, |pos| stanza_start + pos);
        let boundary = fnv1a(&plain[stanza_start..first_line_end]).is_multiple_of(CHUNK_EVERY)
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

fn read_cached(path: &Path, sha256: &str) -> Option<Vec<u8>> {
    let bytes = std::fs::read(path).ok()?;
    (FileDigest::of(&bytes).sha256 == sha256).then_some(bytes)
}

fn write_cached(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Compress `plain` chunk by chunk, reusing the chunks `known` (from the previous publish)
/// lists and finds in `cache_dir`.
///
/// # Errors
/// When the cache directory cannot be created or written.
pub fn compress(
    plain: &[u8],
    known: &BTreeMap<String, ChunkDigests>,
    cache_dir: &Path,
) -> std::io::Result<Compressed> {
    std::fs::create_dir_all(cache_dir)?;
    let chunks = split(plain);
    let shas: Vec<String> = chunks.iter().map(|chunk| sha256_hex(chunk)).collect();
    let mut parts: Vec<Option<(Vec<u8>, Vec<u8>)>> = shas
        .iter()
        .map(|sha| {
            let digests = known.get(sha)?;
            let gz = read_cached(&cache_dir.join(format!("{sha}.gz")), &digests.gz)?;
            let xz = read_cached(&cache_dir.join(format!("{sha}.xz")), &digests.xz)?;
            Some((gz, xz))
        })
        .collect();
    let missing: Vec<usize> = (0..chunks.len()).filter(|idx| parts[*idx].is_none()).collect();
    // Two workers: the machines this runs on have few cores, and xz dominates.
    let n_workers = missing.len().clamp(1, 2);
    let compressed: Vec<(usize, Vec<u8>, Vec<u8>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n_workers)
            .map(|worker| {
                let missing = &missing;
                let chunks = &chunks;
                scope.spawn(move || {
                    missing
                        .iter()
                        .skip(worker)
                        .step_by(n_workers)
                        .map(|idx| (*idx, index::gzip(chunks[*idx]), index::xz(chunks[*idx])))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("compression does not panic")).collect()
    });
    let n_chunks_compressed = compressed.len();
    let mut used = BTreeMap::new();
    for (idx, gz, xz) in compressed {
        let sha = &shas[idx];
        write_cached(&cache_dir.join(format!("{sha}.gz")), &gz)?;
        write_cached(&cache_dir.join(format!("{sha}.xz")), &xz)?;
        used.insert(sha.clone(), ChunkDigests { gz: sha256_hex(&gz), xz: sha256_hex(&xz) });
        parts[idx] = Some((gz, xz));
    }
    for sha in &shas {
        if let Some(digests) = known.get(sha) {
            used.entry(sha.clone()).or_insert_with(|| digests.clone());
        }
    }
    let parts: Vec<(Vec<u8>, Vec<u8>)> = parts.into_iter().flatten().collect();
    let gz = parts.iter().flat_map(|(gz, _)| gz.iter().copied()).collect();
    let xz = join_xz_streams(parts.iter().map(|(_, xz)| xz.as_slice()))
        .unwrap_or_else(|| index::xz(plain));
    Ok(Compressed { gz, xz, chunks: used, n_chunks_compressed })
}

/// Remove cached chunks that `keep` does not list.
pub fn prune(cache_dir: &Path, keep: &BTreeMap<String, ChunkDigests>) {
    let Ok(entries) = std::fs::read_dir(cache_dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let sha = name.split('.').next().unwrap_or_default();
        if !keep.contains_key(sha) {
            let _ = std::fs::remove_file(entry.path());
        }
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

/// Join single-block xz streams into one stream with many blocks. `None` if a stream is
/// not what `xz2` writes for one chunk (the caller then compresses the whole file).
fn join_xz_streams<'a>(streams: impl IntoIterator<Item = &'a [u8]>) -> Option<Vec<u8>> {
    let streams: Vec<&[u8]> = streams.into_iter().collect();
    if streams.len() == 1 {
        return Some(streams[0].to_vec());
    }
    let mut out = Vec::new();
    let mut records = Vec::new();
    let mut stream_flags = None;
    for stream in &streams {
        let (flags, block, unpadded, uncompressed) = single_block(stream)?;
        if *stream_flags.get_or_insert(flags) != flags {
            return None;
        }
        if out.is_empty() {
            out.extend_from_slice(&stream[..12]);
        }
        out.extend_from_slice(block);
        records.push((unpadded, uncompressed));
    }
    let flags = stream_flags?;
    let mut index = vec![0u8];
    write_varint(&mut index, u64::try_from(records.len()).ok()?);
    for (unpadded, uncompressed) in records {
        write_varint(&mut index, unpadded);
        write_varint(&mut index, uncompressed);
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

    #[test]
    fn joined_streams_decompress_to_the_whole_file_and_reuse_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let plain = packages(1500);
        let first = compress(&plain, &BTreeMap::new(), dir.path()).unwrap();
        assert!(first.chunks.len() > 10);
        assert_eq!(first.n_chunks_compressed, first.chunks.len());

        // One plain xz stream with many blocks: no concatenated-streams flag needed, as
        // apt opens it.
        let mut decoder = xz2::stream::Stream::new_stream_decoder(u64::MAX, 0).unwrap();
        let mut xz_plain = Vec::with_capacity(plain.len() * 2);
        decoder.process_vec(&first.xz, &mut xz_plain, xz2::stream::Action::Finish).unwrap();
        assert_eq!(xz_plain, plain);
        let mut gz_plain = Vec::new();
        flate2::read::MultiGzDecoder::new(first.gz.as_slice()).read_to_end(&mut gz_plain).unwrap();
        assert_eq!(gz_plain, plain);
        // The command-line tools agree.
        for (tool, bytes) in [("xz", &first.xz), ("gzip", &first.gz)] {
            let file = dir.path().join(format!("Packages.{tool}"));
            std::fs::write(&file, bytes).unwrap();
            let output = std::process::Command::new(tool).arg("-dc").arg(&file).output().unwrap();
            assert!(output.status.success(), "{tool} -d failed");
            assert_eq!(output.stdout, plain, "{tool}");
        }

        // Again with one more stanza: only the affected chunk is compressed.
        let mut changed = plain.clone();
        changed.extend_from_slice(b"Package: zzz\nVersion: 1\n\n");
        let second = compress(&changed, &first.chunks, dir.path()).unwrap();
        assert!(second.n_chunks_compressed <= 2, "{}", second.n_chunks_compressed);
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(second.gz.as_slice()).read_to_end(&mut out).unwrap();
        assert_eq!(out, changed);

        // A damaged cache file is noticed and recompressed.
        prune(dir.path(), &second.chunks);
        let victim = second.chunks.keys().next().unwrap();
        std::fs::write(dir.path().join(format!("{victim}.xz")), b"garbage").unwrap();
        let third = compress(&changed, &second.chunks, dir.path()).unwrap();
        assert_eq!(third.n_chunks_compressed, 1);
        assert_eq!(third.xz, second.xz);
    }
}
