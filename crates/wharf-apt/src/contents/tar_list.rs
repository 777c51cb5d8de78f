//! A `data.tar`'s file list without the `tar` crate's allocations: the headers are read
//! into one block on the stack, file contents skipped through a stack buffer, and a
//! `.gz` member (the `.xz` and `.zst` decoders cannot be reused) is inflated by one
//! decompressor per thread, reset for each package (a
//! `GzDecoder` a package allocated and zeroed some 80 KiB of buffers and state, then
//! checksummed what it inflated: most of what reading the lists cost a 20,000-package
//! `repo add`). It reads what `dpkg-deb` writes — ustar and GNU headers, GNU long names,
//! pax `path` records — and answers `None` for anything else (other entry types, a pax
//! `size`, a bad checksum, a damaged stream), for the caller to read the member with the
//! `tar` crate, whose answer (list or error) stands.

use std::cell::RefCell;
use std::io::{self, Read};

use flate2::{Decompress, FlushDecompress, Status};

thread_local! {
    /// The raw-deflate decompressor of this thread, reset for each member.
    static INFLATE: RefCell<Decompress> = RefCell::new(Decompress::new(false));
}

/// Append the files (not directories) of the `data.tar[.gz|.xz|.zst]` member `name` to `out`, one
/// path a line, as [`super::data_files`] lists them; `None` when this reader does not
/// handle the member (then `out` is as it was).
pub(super) fn list_into(name: &str, member: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let len = out.len();
    let listed = match name {
        "data.tar" => list_tar(&mut { member }, out),
        "data.tar.gz" => INFLATE.with(|inflate| {
            let mut inflate = inflate.try_borrow_mut().ok()?;
            inflate.reset(false);
            let input = gzip_body(member)?;
            list_tar(&mut Inflate { input, inflate: &mut inflate, done: false }, out)
        }),
        // Their decoders allocate their own state; still no `tar` crate buffers.
        "data.tar.xz" => list_tar(&mut liblzma::read::XzDecoder::new(member), out),
        "data.tar.zst" => list_tar(&mut ruzstd::decoding::StreamingDecoder::new(member).ok()?, out),
        _ => None,
    };
    if listed.is_none() {
        out.truncate(len);
    }
    listed
}

/// The deflate stream of a gzip member (RFC 1952), after its header.
fn gzip_body(gz: &[u8]) -> Option<&[u8]> {
    const FHCRC: u8 = 2;
    const FEXTRA: u8 = 4;
    const FNAME: u8 = 8;
    const FCOMMENT: u8 = 16;
    let (header, mut rest) = (gz.get(..10)?, gz.get(10..)?);
    if header[..3] != [0x1f, 0x8b, 8] || header[3] & 0xe0 != 0 {
        return None;
    }
    let flags = header[3];
    if flags & FEXTRA != 0 {
        let len = usize::from(u16::from_le_bytes([*rest.first()?, *rest.get(1)?]));
        rest = rest.get(2 + len..)?;
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            rest = rest.get(rest.iter().position(|b| *b == 0)? + 1..)?;
        }
    }
    if flags & FHCRC != 0 {
        rest = rest.get(2..)?;
    }
    Some(rest)
}

/// A raw deflate stream as a reader; it ends where the stream does.
struct Inflate<'a> {
    input: &'a [u8],
    inflate: &'a mut Decompress,
    done: bool,
}

impl Read for Inflate<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while !self.done && !buf.is_empty() {
            let (before_in, before_out) = (self.inflate.total_in(), self.inflate.total_out());
            let status = self
                .inflate
                .decompress(self.input, buf, FlushDecompress::None)
                .map_err(io::Error::other)?;
            let consumed =
                usize::try_from(self.inflate.total_in() - before_in).map_err(io::Error::other)?;
            let produced =
                usize::try_from(self.inflate.total_out() - before_out).map_err(io::Error::other)?;
            self.input = &self.input[consumed.min(self.input.len())..];
            self.done = status == Status::StreamEnd;
            if produced > 0 {
                return Ok(produced);
            }
            if consumed == 0 && !self.done {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(0)
    }
}

/// Fill `block`; `Some(false)` at the end of the input before its first byte.
fn read_block(reader: &mut impl Read, block: &mut [u8]) -> Option<bool> {
    let mut filled = 0;
    while filled < block.len() {
        match reader.read(&mut block[filled..]) {
            Ok(0) if filled == 0 => return Some(false),
            Ok(0) => return None,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    Some(true)
}

/// Read past `n` bytes.
fn skip(reader: &mut impl Read, mut n: u64) -> Option<()> {
    let mut scratch = [0u8; 16 * 1024];
    while n > 0 {
        let len = usize::try_from(n).unwrap_or(usize::MAX).min(scratch.len());
        if !read_block(reader, &mut scratch[..len])? {
            return None;
        }
        n -= len as u64;
    }
    Some(())
}

/// The bytes up to the first NUL.
fn until_nul(field: &[u8]) -> &[u8] {
    field.iter().position(|b| *b == 0).map_or(field, |at| &field[..at])
}

/// An octal header field, as the `tar` crate reads it (up to a NUL, blanks trimmed);
/// `None` for the base-256 form.
fn octal(field: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(until_nul(field)).ok()?;
    u64::from_str_radix(text.trim(), 8).ok()
}

/// Whether the header's checksum is right: the sum of its bytes, the checksum field
/// counted as blanks.
fn checksum_ok(header: &[u8; 512]) -> bool {
    let sum: u64 = header
        .iter()
        .enumerate()
        .map(|(at, b)| if (148..156).contains(&at) { 32 } else { u64::from(*b) })
        .sum();
    octal(&header[148..156]) == Some(sum)
}

/// The value of the pax record `path` of an extended header; `None` for a record that
/// does not parse or that the `tar` crate would apply otherwise (`size`).
fn pax_path(mut records: &[u8]) -> Option<Option<Vec<u8>>> {
    let mut path = None;
    while !records.is_empty() {
        let blank = records.iter().position(|b| *b == b' ')?;
        let len: usize = std::str::from_utf8(&records[..blank]).ok()?.parse().ok()?;
        let record = records.get(blank + 1..len)?.strip_suffix(b"\n")?;
        let eq = record.iter().position(|b| *b == b'=')?;
        match &record[..eq] {
            b"path" if path.is_none() => path = Some(record[eq + 1..].to_vec()),
            b"size" | b"GNU.sparse.size" | b"GNU.sparse.map" => return None,
            _ => {}
        }
        records = &records[len..];
    }
    Some(path)
}

/// Append the paths of the non-directory entries of the tar stream `reader` to `out`.
fn list_tar(reader: &mut impl Read, out: &mut Vec<u8>) -> Option<()> {
    /// Longer names or extended headers are left to the `tar` crate.
    const MAX_META: u64 = 64 * 1024;
    let mut header = [0u8; 512];
    let (mut long_name, mut pax_name): (Option<Vec<u8>>, Option<Vec<u8>>) = (None, None);
    // Records of the next entry already seen: a second one is an error to the `tar` crate.
    let mut seen: Vec<u8> = Vec::new();
    loop {
        if !read_block(reader, &mut header)? || header.iter().all(|b| *b == 0) {
            return Some(());
        }
        if header[124] & 0x80 != 0 || !checksum_ok(&header) {
            return None;
        }
        let size = octal(&header[124..136])?;
        let padded = size.checked_add(511)? / 512 * 512;
        let kind = header[156];
        if matches!(kind, b'L' | b'K' | b'x') {
            // The `tar` crate reads these only in ustar and GNU headers, once an entry.
            let magic = &header[257..265];
            if (magic != b"ustar\x0000" && magic != b"ustar  \0") || seen.contains(&kind) {
                return None;
            }
            seen.push(kind);
        }
        match kind {
            kind @ (b'L' | b'x') => {
                if size > MAX_META {
                    return None;
                }
                let mut data = vec![0u8; usize::try_from(padded).ok()?];
                if !read_block(reader, &mut data)? {
                    return None;
                }
                data.truncate(usize::try_from(size).ok()?);
                if kind == b'L' {
                    if data.last() == Some(&0) {
                        data.pop();
                    }
                    long_name = Some(data);
                } else {
                    pax_name = pax_path(&data)?;
                }
            }
            b'K' => skip(reader, padded)?,
            kind @ (0 | b'0'..=b'7') => {
                if kind != b'5' {
                    let path = match (&long_name, &pax_name) {
                        (Some(name), _) | (None, Some(name)) => name.clone(),
                        (None, None) => header_path(&header),
                    };
                    push_path(out, &path);
                }
                (long_name, pax_name) = (None, None);
                seen.clear();
                skip(reader, padded)?;
            }
            _ => return None,
        }
    }
}

/// The path of a header without long-name records: ustar's prefix and name, or the name.
fn header_path(header: &[u8; 512]) -> Vec<u8> {
    let name = until_nul(&header[..100]);
    let ustar = &header[257..265] == b"ustar\x0000";
    let prefix = until_nul(&header[345..500]);
    if ustar && !prefix.is_empty() { [prefix, b"/", name].concat() } else { name.to_vec() }
}

/// Append a path as [`super::data_files`] lists it: without a leading `./` or `/`, and not
/// at all if it is empty or holds a line break.
fn push_path(out: &mut Vec<u8>, path: &[u8]) {
    let path = String::from_utf8_lossy(path);
    let path = path.trim_start_matches("./").trim_start_matches('/');
    if !path.is_empty() && !path.contains(['\n', '\r']) {
        out.extend_from_slice(path.as_bytes());
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;
    use crate::contents::{data_files, data_member, encode_deb_record};

    /// An ar member as `dpkg-deb` writes it.
    fn ar_member(name: &str, data: &[u8]) -> Vec<u8> {
        let mut out =
            format!("{name:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n", 0, 0, 0, "100644", data.len())
                .into_bytes();
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(b'\n');
        }
        out
    }

    fn deb(member: &str, data: &[u8]) -> Vec<u8> {
        [b"!<arch>\n".to_vec(), ar_member("debian-binary", b"2.0\n"), ar_member(member, data)]
            .concat()
    }

    fn gzip(data: &[u8], name: bool) -> Vec<u8> {
        let builder = flate2::GzBuilder::new();
        let builder = if name { builder.filename("data.tar").comment("c") } else { builder };
        let mut encoder = builder.write(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    /// A tar of every kind of entry `dpkg-deb` writes, in `header`'s format.
    fn tar(header: fn() -> tar::Header, pax: bool) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let add = |builder: &mut tar::Builder<Vec<u8>>, path: &str, kind, data: &[u8]| {
            let mut h = header();
            h.set_entry_type(kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            if kind == tar::EntryType::Symlink || kind == tar::EntryType::Link {
                h.set_link_name("usr/bin/target").unwrap();
            }
            if path.len() < 100 {
                // As written, `./` or `/` included (`set_path` would refuse or drop them).
                h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
                h.set_cksum();
                builder.append(&h, data).unwrap();
            } else {
                builder.append_data(&mut h, path, data).unwrap();
            }
        };
        let b = &mut builder;
        add(b, "./", tar::EntryType::Directory, b"");
        add(b, "./usr/bin/", tar::EntryType::Directory, b"");
        add(b, "./usr/bin/tool", tar::EntryType::Regular, &[7; 1500]);
        add(b, "./usr/bin/link", tar::EntryType::Symlink, b"");
        add(b, "./usr/bin/hard", tar::EntryType::Link, b"");
        add(b, "/abs/file", tar::EntryType::Regular, b"x");
        add(b, "./usr/share/with space/é", tar::EntryType::Regular, b"");
        let long = format!("usr/share/{}/{}", "d".repeat(90), "f".repeat(90));
        add(b, &long, tar::EntryType::Regular, b"long");
        if pax {
            b.append_pax_extensions([("path", &b"./usr/share/from-pax"[..])]).unwrap();
            add(b, "./usr/share/short-name", tar::EntryType::Regular, b"");
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn lists_equal_the_tar_crate_s() {
        for (format, header) in [
            ("gnu", tar::Header::new_gnu as fn() -> tar::Header),
            ("ustar", tar::Header::new_ustar),
        ] {
            for pax in [false, true] {
                let plain = tar(header, pax);
                for (member, bytes) in [
                    ("data.tar", plain.clone()),
                    ("data.tar.gz", gzip(&plain, false)),
                    ("data.tar.gz", gzip(&plain, true)),
                    ("data.tar.xz", crate::index::xz(&plain)),
                ] {
                    let deb = deb(member, &bytes);
                    let (name, data) = data_member(&deb).unwrap();
                    let mut fast = Vec::new();
                    list_into(name, data, &mut fast).unwrap();
                    let expected: String =
                        data_files(&deb).unwrap().iter().map(|f| format!("{f}\n")).collect();
                    let case = format!("{format}, pax {pax}, {member}");
                    assert_eq!(String::from_utf8(fast).unwrap(), expected, "{case}");
                    assert!(
                        expected.contains(&format!("{}/{}", "d".repeat(90), "f".repeat(90))),
                        "{case}"
                    );
                    assert!(expected.contains("abs/file\nusr/share/with space/é\n"), "{case}");
                    assert_eq!(expected.contains("from-pax"), pax, "{case}");
                }
            }
        }
    }

    #[test]
    fn what_it_does_not_read_goes_to_the_tar_crate() {
        let plain = tar(tar::Header::new_gnu, false);
        let mut bad = plain.clone();
        bad[0] ^= 1; // the first header's checksum no longer fits
        let mut truncated = gzip(&plain, false);
        truncated.truncate(truncated.len() / 2);
        for (member, bytes) in
            [("data.tar", bad), ("data.tar.gz", truncated), ("data.tar.gz", b"not gzip".to_vec())]
        {
            let deb = deb(member, &bytes);
            let (name, data) = data_member(&deb).unwrap();
            let mut out = b"kept".to_vec();
            assert_eq!(list_into(name, data, &mut out), None, "{member}");
            assert_eq!(out, b"kept");
            let mut record = b"kept".to_vec();
            let err = encode_deb_record(&mut record, "sha", &deb).unwrap_err();
            assert_eq!(err, data_files(&deb).unwrap_err());
            assert_eq!(record, b"kept", "unchanged on error");
        }
        // A member it does not read at all.
        let deb = deb("data.tar.bz2", b"BZh");
        let mut record = Vec::new();
        assert!(encode_deb_record(&mut record, "sha", &deb).unwrap_err().contains("bz2"));
    }
}
