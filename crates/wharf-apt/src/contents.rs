//! `Contents-ARCH` indices (what `apt-file` reads): one line per file shipped by the
//! packages of a component, `PATH<padding>LOCATION[,LOCATION…]`, sorted by path (bytes),
//! paths without the leading `./`, directories left out, no header — as
//! `apt-ftparchive contents` writes them, padding included. A location is
//! `SECTION/NAME` as in Debian's archive (`apt-ftparchive` writes the bare name), and the
//! locations of a path are sorted (`apt-ftparchive` keeps the order it read them in).
//!
//! A package's file list is read from its `data.tar.*` once, when it is added, and kept
//! in [`ContentsLists`] so that a publish never reads a `.deb` again; a package added
//! before Wharf kept lists gets its list on the first publish that needs it
//! ([`ListIndex::get_or_extract`]).

mod tar_list;

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write as _};
use std::os::unix::fs::FileExt as _;
use std::path::PathBuf;

/// Per-package file lists, by the package file's SHA-256: one append-only data file
/// (`lists`: a record is the SHA-256 on a line, one path a line, then a blank line) and
/// its index (`lists.idx`: `SHA256 OFFSET LENGTH` a line), written one batch per `repo
/// add` — 20,000 small files would cost seconds of inode allocation.
///
/// The lists are derived data: nothing is fsynced, and every record is checked when read
/// (its SHA-256 line, its end), so a record lost or torn by a crash reads as missing and
/// is extracted again from the package.
#[derive(Debug, Clone)]
pub struct ContentsLists {
    root: PathBuf,
}

impl ContentsLists {
    #[must_use]
    pub fn new(root: PathBuf) -> ContentsLists {
        ContentsLists { root }
    }

    /// The directory the lists are in.
    #[must_use]
    pub fn root(&self) -> &std::path::Path {
        &self.root
    }

    fn data_path(&self) -> PathBuf {
        self.root.join("lists")
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("lists.idx")
    }

    /// Append the lists of these packages (SHA-256, paths). Callers hold the data
    /// directory's writer lock.
    pub fn append(&self, lists: &[(String, Vec<String>)]) -> io::Result<()> {
        let mut records = Vec::new();
        for (sha256, files) in lists {
            encode_record(&mut records, sha256, files);
        }
        self.append_records(&records)
    }

    /// Append records made by [`encode_record`], and index them. One buffer rather than
    /// a list per package: thousands of small long-lived allocations between the
    /// decompressors' large short-lived ones fragmented the heap of a large `repo add`.
    pub fn append_records(&self, records: &[u8]) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.root)?;
        let mut data =
            std::fs::OpenOptions::new().create(true).append(true).open(self.data_path())?;
        let base = data.metadata()?.len();
        let mut index = String::new();
        let mut at = 0;
        while at < records.len() {
            let len = records[at..]
                .windows(2)
                .position(|w| w == b"\n\n")
                .map_or(records.len() - at, |end| end + 2);
            let sha = records[at..].split(|b| *b == b'\n').next().unwrap_or_default();
            index.push_str(&format!(
                "{} {} {len}\n",
                String::from_utf8_lossy(sha),
                base + at as u64
            ));
            at += len;
        }
        data.write_all(records)?;
        let index_path = self.index_path();
        let mut idx = std::fs::OpenOptions::new().create(true).append(true).open(&index_path)?;
        // A line torn by a crash is ended here, so that it stays one bad line.
        let len = idx.metadata()?.len();
        if len > 0 {
            let mut last = [0u8];
            File::open(&index_path)?.read_exact_at(&mut last, len - 1)?;
            if last[0] != b'\n' {
                idx.write_all(b"\n")?;
            }
        }
        idx.write_all(index.as_bytes())
    }

    /// The index of every stored list, for lookups.
    pub fn load(&self) -> io::Result<ListIndex> {
        let text = match std::fs::read_to_string(self.index_path()) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => String::new(),
            // Not UTF-8: damaged; every list reads as missing and is extracted again.
            Err(err) if err.kind() == io::ErrorKind::InvalidData => String::new(),
            Err(err) => return Err(err),
        };
        let mut entries = HashMap::new();
        for line in text.lines() {
            let mut fields = line.split(' ');
            let (Some(sha), Some(offset), Some(len), None) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            if let (Ok(offset), Ok(len)) = (offset.parse::<u64>(), len.parse::<u64>()) {
                entries.insert(sha.to_owned(), (offset, len));
            }
        }
        let data = match File::open(self.data_path()) {
            Ok(file) => Some(file),
            Err(err) if err.kind() == io::ErrorKind::NotFound => None,
            Err(err) => return Err(err),
        };
        Ok(ListIndex { lists: self.clone(), data, entries, new: Vec::new() })
    }
}

/// Lookups in [`ContentsLists`]; lists extracted meanwhile are kept by [`ListIndex::save`].
#[derive(Debug)]
pub struct ListIndex {
    lists: ContentsLists,
    data: Option<File>,
    entries: HashMap<String, (u64, u64)>,
    new: Vec<(String, Vec<String>)>,
}

impl ListIndex {
    /// The stored list of the package `sha256`, if there is a good one.
    #[must_use]
    pub fn get(&self, sha256: &str) -> Option<Vec<String>> {
        let (offset, len) = *self.entries.get(sha256)?;
        let mut bytes = vec![0u8; usize::try_from(len).ok()?];
        self.data.as_ref()?.read_exact_at(&mut bytes, offset).ok()?;
        parse_record(sha256, &bytes)
    }

    /// The SHA-256 of every package the index has a list for (a torn record included:
    /// [`ListIndex::get`] tells), for `repo cleanup`'s trim.
    pub fn packages(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// The stored lists of `shas`, read with one `pread` per run of neighbouring records
    /// rather than one per record (a whole index needs most of them); a missing or bad
    /// record is `None` in [`Lists::files`].
    #[must_use]
    pub fn read_many(&self, shas: &[&str]) -> Lists {
        /// Records this close together are read in one run…
        const GAP: u64 = 256 << 10;
        /// …of at most this many bytes.
        const MAX_RUN: u64 = 64 << 20;
        let mut lists = Lists { bytes: Vec::new(), records: vec![None; shas.len()] };
        let Some(data) = &self.data else { return lists };
        let mut wanted: Vec<(u64, u64, usize)> = shas
            .iter()
            .enumerate()
            .filter_map(|(idx, sha)| self.entries.get(*sha).map(|&(at, len)| (at, len, idx)))
            .collect();
        wanted.sort_unstable();
        let mut first = 0;
        while first < wanted.len() {
            let start = wanted[first].0;
            let mut end = start.saturating_add(wanted[first].1);
            let mut last = first + 1;
            while let Some(&(at, len, _)) = wanted.get(last) {
                let record_end = at.saturating_add(len);
                if at > end.saturating_add(GAP) || record_end - start > MAX_RUN {
                    break;
                }
                end = end.max(record_end);
                last += 1;
            }
            let base = lists.bytes.len();
            let Ok(run_len) = usize::try_from(end - start) else { break };
            lists.bytes.resize(base + run_len, 0);
            let n_read = read_at_most(data, &mut lists.bytes[base..], start);
            lists.bytes.truncate(base + n_read);
            for &(at, len, idx) in &wanted[first..last] {
                let from = base + usize::try_from(at - start).unwrap_or(usize::MAX / 2);
                let to = from.saturating_add(usize::try_from(len).unwrap_or(usize::MAX / 2));
                lists.records[idx] = lists
                    .bytes
                    .get(from..to)
                    .and_then(|record| record_body(shas[idx], record))
                    .map(|(body_at, body_len)| (from + body_at, from + body_at + body_len));
            }
            first = last;
        }
        lists
    }

    /// The stored list, or the one read from the package `read_deb` returns (kept by
    /// the next [`ListIndex::save`]). The error says what is wrong with the package.
    pub fn get_or_extract(
        &mut self,
        sha256: &str,
        read_deb: impl FnOnce() -> io::Result<Vec<u8>>,
    ) -> Result<Vec<String>, String> {
        if let Some(files) = self.get(sha256) {
            return Ok(files);
        }
        let bytes = read_deb().map_err(|err| format!("cannot read the package file: {err}"))?;
        let files = data_files(&bytes)?;
        self.new.push((sha256.to_owned(), files.clone()));
        Ok(files)
    }

    /// Append the lists extracted by [`ListIndex::get_or_extract`].
    pub fn save(&mut self) -> io::Result<()> {
        let new = std::mem::take(&mut self.new);
        self.lists.append(&new)
    }
}

/// Append the record of one package's list to `out`: its SHA-256 on a line, one path a
/// line, a blank line. A package without files has a record too (its SHA-256 and the
/// blank line), read back as an empty list.
pub fn encode_record(out: &mut Vec<u8>, sha256: &str, files: &[String]) {
    out.extend_from_slice(sha256.as_bytes());
    out.push(b'\n');
    for file in files {
        out.extend_from_slice(file.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
}

/// Records read by [`ListIndex::read_many`], in one buffer.
#[derive(Debug)]
pub struct Lists {
    bytes: Vec<u8>,
    /// By position in the SHA-256s asked for: the byte range of the record's paths (one a
    /// line, each with its newline).
    records: Vec<Option<(usize, usize)>>,
}

impl Lists {
    /// The paths of the `idx`-th package asked for, if its record was found whole.
    #[must_use]
    pub fn files(&self, idx: usize) -> Option<impl Iterator<Item = &str>> {
        let (from, to) = (*self.records.get(idx)?)?;
        // Checked by `record_body`.
        let text = std::str::from_utf8(&self.bytes[from..to]).ok()?;
        Some(text.lines())
    }
}

/// Read into `buf` from `offset` until it is full or the file ends; how many bytes.
fn read_at_most(file: &File, buf: &mut [u8], offset: u64) -> usize {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    done
}

/// Where the paths of a whole record of `sha256` are in it: (offset, length), the paths
/// one a line with their newlines.
fn record_body(sha256: &str, record: &[u8]) -> Option<(usize, usize)> {
    let body = record.strip_prefix(sha256.as_bytes())?.strip_prefix(b"\n")?;
    let paths = body.strip_suffix(b"\n")?;
    std::str::from_utf8(paths).ok()?;
    Some((sha256.len() + 1, paths.len()))
}

/// A record's paths, if it is whole and is the one of `sha256`.
fn parse_record(sha256: &str, bytes: &[u8]) -> Option<Vec<String>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let body = text.strip_prefix(sha256)?.strip_prefix('\n')?;
    if body.is_empty() {
        return None;
    }
    let body = body.strip_suffix('\n')?;
    Some(body.lines().map(str::to_owned).collect())
}

/// Append the record of the package `sha256` whose file is `deb` to `out` (as
/// [`encode_record`] with its [`data_files`]), reading the `data.tar` without the `tar`
/// crate's allocations, a `.gz` one without any ([`tar_list`]); `out` is unchanged on
/// error.
pub fn encode_deb_record(out: &mut Vec<u8>, sha256: &str, deb: &[u8]) -> Result<(), String> {
    let start = out.len();
    out.extend_from_slice(sha256.as_bytes());
    out.push(b'\n');
    let listed = data_member(deb).and_then(|(name, member)| tar_list::list_into(name, member, out));
    if listed.is_none() {
        match data_files(deb) {
            Ok(files) => {
                for file in files {
                    out.extend_from_slice(file.as_bytes());
                    out.push(b'\n');
                }
            }
            Err(err) => {
                out.truncate(start);
                return Err(err);
            }
        }
    }
    out.push(b'\n');
    Ok(())
}

/// The name and bytes of the `data.tar*` member of a `.deb` in the common ar format
/// (names padded with blanks, maybe ended by `/`); `None` for anything else.
fn data_member(deb: &[u8]) -> Option<(&str, &[u8])> {
    let mut rest = deb.strip_prefix(b"!<arch>\n")?;
    while !rest.is_empty() {
        let header = rest.get(..60)?;
        let size: usize = std::str::from_utf8(&header[48..58]).ok()?.trim_end().parse().ok()?;
        let data = rest.get(60..60 + size)?;
        let name = std::str::from_utf8(&header[..16]).ok()?.trim_end_matches(' ');
        let name = name.strip_suffix('/').unwrap_or(name);
        if name.starts_with("data.tar") {
            return Some((name, data));
        }
        rest = rest.get((60 + size + size % 2).min(rest.len())..)?;
    }
    None
}

/// The files (not directories) a `.deb` ships, from its `data.tar[.gz|.xz|.zst]`: paths
/// without the leading `./` or `/`, in archive order. Paths with a line break cannot be
/// listed (the format is one path a line) and are left out.
pub fn data_files(deb: &[u8]) -> Result<Vec<String>, String> {
    let mut archive = ar::Archive::new(deb);
    while let Some(entry) = archive.next_entry() {
        let entry = entry.map_err(|err| format!("damaged ar archive: {err}"))?;
        let name = String::from_utf8_lossy(entry.header().identifier()).into_owned();
        let reader: Box<dyn Read + '_> = match name.as_str() {
            "data.tar" => Box::new(entry),
            "data.tar.gz" => Box::new(flate2::read::GzDecoder::new(entry)),
            "data.tar.xz" => Box::new(liblzma::read::XzDecoder::new(entry)),
            "data.tar.zst" => Box::new(
                ruzstd::decoding::StreamingDecoder::new(entry)
                    .map_err(|err| format!("{name}: bad zstd stream: {err}"))?,
            ),
            other if other.starts_with("data.tar") => {
                return Err(format!("unsupported data member compression {other:?}"));
            }
            _ => continue,
        };
        let damaged = |err: io::Error| format!("{name} is damaged: {err}");
        let mut tar = tar::Archive::new(reader);
        let mut files = Vec::new();
        for entry in tar.entries().map_err(damaged)? {
            let entry = entry.map_err(damaged)?;
            if entry.header().entry_type().is_dir() {
                continue;
            }
            let path = entry.path().map_err(damaged)?;
            let path = path.to_string_lossy();
            let path = path.trim_start_matches("./").trim_start_matches('/');
            if !path.is_empty() && !path.contains(['\n', '\r']) {
                files.push(path.to_owned());
            }
        }
        return Ok(files);
    }
    Err("no data.tar member".to_owned())
}

/// One package of a `Contents` index: its file's SHA-256, and how the index names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentsPackage {
    pub sha256: String,
    /// `SECTION/NAME`, or `NAME` for a package without a `Section`.
    pub location: String,
}

/// The packages a `Packages` file lists, with `Section`, `Package` and `SHA256` read
/// from each stanza.
#[must_use]
pub fn packages_of_index(packages: &[u8]) -> Vec<ContentsPackage> {
    let text = String::from_utf8_lossy(packages);
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let (mut name, mut section, mut sha) = (None, None, None);
        for line in stanza.lines() {
            if let Some(v) = line.strip_prefix("Package: ") {
                name = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("Section: ") {
                section = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("SHA256: ") {
                sha = Some(v.trim());
            }
        }
        if let (Some(name), Some(sha)) = (name, sha) {
            let location = section.map_or_else(|| name.to_owned(), |s| format!("{s}/{name}"));
            out.push(ContentsPackage { sha256: sha.to_owned(), location });
        }
    }
    out
}

/// What identifies a `Contents` index's content: the SHA-256 of its packages' SHA-256s
/// and locations, sorted. Equal fingerprints, equal indices.
#[must_use]
pub fn fingerprint(packages: &[ContentsPackage]) -> String {
    let mut keys: Vec<String> =
        packages.iter().map(|p| format!("{} {}\n", p.sha256, p.location)).collect();
    keys.sort_unstable();
    crate::sha256_hex(keys.concat().as_bytes())
}

/// Render a `Contents` file from (location, files) pairs: every path once, sorted, the
/// locations that ship it sorted and joined by commas.
#[must_use]
pub fn contents_file<'a>(packages: impl IntoIterator<Item = (&'a str, &'a [String])>) -> Vec<u8> {
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for (location, files) in packages {
        pairs.extend(files.iter().map(|file| (file.as_str(), location)));
    }
    render_pairs(&mut pairs)
}

/// Render a `Contents` file from (path, location) pairs, in any order and with repeats.
#[must_use]
pub fn render_pairs(pairs: &mut Vec<(&str, &str)>) -> Vec<u8> {
    pairs.sort_unstable();
    pairs.dedup();
    let mut out = Vec::with_capacity(pairs.len() * 72);
    let mut idx = 0;
    while idx < pairs.len() {
        let path = pairs[idx].0;
        let n = pairs[idx..].iter().take_while(|(p, _)| *p == path).count();
        push_line(&mut out, path.as_bytes(), pairs[idx..idx + n].iter().map(|(_, l)| l.as_bytes()));
        idx += n;
    }
    out
}

/// Append one line: `path`, the padding, `locations` (sorted, without repeats) joined by
/// commas.
pub fn push_line<'a>(out: &mut Vec<u8>, path: &[u8], locations: impl Iterator<Item = &'a [u8]>) {
    out.extend_from_slice(path);
    pad(out, path.len());
    for (n, location) in locations.enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(location);
    }
    out.push(b'\n');
}

/// A line of a `Contents` file (without its newline) → (path, locations joined by
/// commas); `None` if it is not one [`push_line`] writes. Locations hold no blanks, paths
/// may — but not at their end, which is where the padding starts: a line of a path
/// ending in a blank can be read two ways, and the caller must know there is none.
#[must_use]
pub fn split_line(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = line.iter().rposition(|b| *b == b' ' || *b == b'\t')?;
    let (head, locations) = (&line[..=at], &line[at + 1..]);
    let path_len = head.iter().rposition(|b| *b != b' ' && *b != b'\t')? + 1;
    let mut padding = Vec::with_capacity(16);
    pad(&mut padding, path_len);
    (!locations.is_empty() && head[path_len..] == padding[..])
        .then_some((&head[..path_len], locations))
}

/// Whether the line of `path` at `location` reads back as written ([`split_line`]): the
/// path does not end in a blank, the location holds no blank or comma.
#[must_use]
pub fn reads_back(path: &str, location: &str) -> bool {
    !path.ends_with([' ', '\t']) && !location.contains([' ', '\t', ','])
}

/// The space between a path of `len` bytes and its locations, as `apt-ftparchive`
/// writes it: tabs to column 56 then four blanks; a longer path is followed by blanks
/// to column 60, and by one blank at least.
fn pad(out: &mut Vec<u8>, len: usize) {
    if len < 56 {
        out.extend(std::iter::repeat_n(b'\t', (56 - len).div_ceil(8)));
        out.extend_from_slice(b"    ");
    } else {
        out.extend(std::iter::repeat_n(b' ', 60usize.saturating_sub(len).max(1)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_lines_are_sorted_and_merged() {
        let a = vec!["usr/bin/hello".to_owned(), "usr/share/doc/hello/copyright".to_owned()];
        let b = vec!["usr/bin/hello".to_owned(), "etc/other".to_owned()];
        let text = contents_file([("utils/hello", a.as_slice()), ("misc/other", b.as_slice())]);
        let text = String::from_utf8(text).unwrap();
        assert_eq!(
            text,
            "etc/other\t\t\t\t\t\t    misc/other\n\
             usr/bin/hello\t\t\t\t\t\t    misc/other,utils/hello\n\
             usr/share/doc/hello/copyright\t\t\t\t    utils/hello\n"
        );
    }

    #[test]
    fn padding_is_apt_ftparchive_s() {
        // (path length, padding), from `apt-ftparchive contents` on paths of each length.
        for (len, expected) in [
            (1, "\t\t\t\t\t\t\t    "),
            (13, "\t\t\t\t\t\t    "),
            (48, "\t    "),
            (52, "\t    "),
            (55, "\t    "),
            (56, "    "),
            (57, "   "),
            (59, " "),
            (60, " "),
            (61, " "),
            (200, " "),
        ] {
            let mut out = Vec::new();
            pad(&mut out, len);
            assert_eq!(String::from_utf8(out).unwrap(), expected, "length {len}");
        }
    }

    #[test]
    fn paths_sort_as_bytes() {
        let a = vec!["usr/share/foo/x".to_owned(), "usr/share/foo-bar/y".to_owned()];
        let text = String::from_utf8(contents_file([("utils/a", a.as_slice())])).unwrap();
        let paths: Vec<&str> = text.lines().map(|l| l.split('\t').next().unwrap()).collect();
        assert_eq!(paths, ["usr/share/foo-bar/y", "usr/share/foo/x"]);
    }

    #[test]
    fn index_packages_and_fingerprint() {
        let index = b"Package: a\nSection: utils\nSHA256: 11\n\nPackage: b\nSHA256: 22\n\n";
        let packages = packages_of_index(index);
        assert_eq!(packages.len(), 2);
        assert_eq!(packages[0].location, "utils/a");
        assert_eq!(packages[1].location, "b");
        let mut reversed = packages.clone();
        reversed.reverse();
        assert_eq!(fingerprint(&packages), fingerprint(&reversed));
        assert_ne!(fingerprint(&packages), fingerprint(&packages[..1]));
    }

    #[test]
    fn lists_are_found_again_and_torn_records_read_as_missing() {
        let dir = tempfile::tempdir().unwrap();
        let lists = ContentsLists::new(dir.path().join("contents"));
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        lists.append(&[(a.clone(), vec!["usr/bin/a".into(), "etc/a".into()])]).unwrap();
        lists.append(&[(b.clone(), vec!["usr/bin/b".into()])]).unwrap();
        let index = lists.load().unwrap();
        assert_eq!(index.get(&a).unwrap(), ["usr/bin/a", "etc/a"]);
        assert_eq!(index.get(&b).unwrap(), ["usr/bin/b"]);
        assert_eq!(index.get(&"c".repeat(64)), None);

        // A crash mid-append: the index names more than the data file holds, and ends in
        // half a line.
        let data = dir.path().join("contents/lists");
        let len = std::fs::metadata(&data).unwrap().len();
        std::fs::OpenOptions::new().write(true).open(&data).unwrap().set_len(len - 3).unwrap();
        let mut idx = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("contents/lists.idx"))
            .unwrap();
        idx.write_all(b"cccc 12").unwrap();
        let mut index = lists.load().unwrap();
        assert_eq!(index.get(&b), None, "a torn record reads as missing");
        assert_eq!(index.get(&a).unwrap(), ["usr/bin/a", "etc/a"]);
        let extracted = index.get_or_extract(&b, || Err(io::Error::other("gone")));
        assert!(extracted.unwrap_err().contains("gone"));

        // Appending after the torn line still works.
        index.new.push((b.clone(), vec!["usr/bin/b2".into()]));
        index.save().unwrap();
        assert_eq!(lists.load().unwrap().get(&b).unwrap(), ["usr/bin/b2"]);
    }

    #[test]
    fn data_files_of_a_damaged_package_say_so() {
        assert!(data_files(b"!<arch>\n").unwrap_err().contains("no data.tar"));
        assert!(data_files(b"not an archive").is_err());
    }
}
