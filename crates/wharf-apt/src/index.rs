//! Repository indices: `Packages` stanzas (as `dpkg-scanpackages` writes them), their
//! compressed forms, and the `Release` file that lists them. Pure functions of their
//! inputs, no I/O.

use std::fmt::Write as _;
use std::io::Write as _;

use md5::Digest as _;

use crate::control::Control;
use crate::deb::FileDigest;

/// The `Packages` stanza of one package: its control fields plus the file fields, in
/// dpkg's order, ending with a newline (stanzas are joined with a blank line).
#[must_use]
pub fn packages_stanza(control: &Control, filename: &str, digest: &FileDigest) -> String {
    let mut control = control.clone();
    control.set("Filename", filename.to_owned());
    control.set("Size", digest.size.to_string());
    control.set("MD5sum", digest.md5.clone());
    control.set("SHA1", digest.sha1.clone());
    control.set("SHA256", digest.sha256.clone());
    control.render_index()
}

/// Join stanzas into a `Packages` file: each stanza followed by a blank line.
#[must_use]
pub fn packages_file<'a>(stanzas: impl IntoIterator<Item = &'a str>) -> Vec<u8> {
    let mut out = Vec::new();
    for stanza in stanzas {
        out.extend_from_slice(stanza.as_bytes());
        out.push(b'\n');
    }
    out
}

/// The pool directory letter(s) Debian uses: `libf` for `libfoo`, else the first letter.
#[must_use]
pub fn pool_prefix(source_or_name: &str) -> &str {
    if source_or_name.starts_with("lib") && source_or_name.len() > 3 {
        &source_or_name[..4]
    } else {
        &source_or_name[..1]
    }
}

/// gzip, as in `Packages.gz`. Level 6 like gzip's default: smaller lists for clients.
#[must_use]
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    encoder.write_all(data).expect("writing to a Vec cannot fail");
    encoder.finish().expect("writing to a Vec cannot fail")
}

/// xz, as in `Packages.xz`. Preset 1: hashes do not compress, so higher presets cost
/// much more time for a few percent.
#[must_use]
pub fn xz(data: &[u8]) -> Vec<u8> {
    let mut encoder = liblzma::write::XzEncoder::new(Vec::new(), 1);
    encoder.write_all(data).expect("writing to a Vec cannot fail");
    encoder.finish().expect("writing to a Vec cannot fail")
}

/// xz for one chunk of a large index ([`crate::chunked`]): preset 1 with a dictionary no
/// larger than the chunk (4 KiB at least). The encoder's tables grow with the dictionary
/// and are zeroed for every stream: preset 1's 1 MiB dictionary made zeroing memory the
/// biggest cost of compressing 650 chunks. The output depends on the chunk alone.
#[must_use]
pub fn xz_chunk(data: &[u8]) -> Vec<u8> {
    let dict_size =
        u32::try_from(data.len().next_power_of_two()).unwrap_or(u32::MAX).clamp(4096, 1 << 20);
    let mut options = liblzma::stream::LzmaOptions::new_preset(1).expect("preset 1 exists");
    options.dict_size(dict_size);
    let mut filters = liblzma::stream::Filters::new();
    filters.lzma2(&options);
    let stream =
        liblzma::stream::Stream::new_stream_encoder(&filters, liblzma::stream::Check::Crc64)
            .expect("a valid LZMA2 filter chain");
    let mut encoder = liblzma::write::XzEncoder::new_stream(Vec::new(), stream);
    encoder.write_all(data).expect("writing to a Vec cannot fail");
    encoder.finish().expect("writing to a Vec cannot fail")
}

/// One file listed in `Release`, path relative to `dists/DIST/`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IndexFile {
    pub path: String,
    pub size: u64,
    pub md5: String,
    pub sha256: String,
}

impl IndexFile {
    #[must_use]
    pub fn of(path: String, bytes: &[u8]) -> IndexFile {
        IndexFile::with_sha256(path, bytes, crate::sha256_hex(bytes))
    }

    /// As [`IndexFile::of`] when the SHA-256 is known already (an index is megabytes).
    #[must_use]
    pub fn with_sha256(path: String, bytes: &[u8], sha256: String) -> IndexFile {
        IndexFile {
            path,
            size: bytes.len() as u64,
            md5: hex::encode(md5::Md5::digest(bytes)),
            sha256,
        }
    }
}

/// What a `Release` file says about its distribution. Origin, Label, Suite and Codename
/// should never change once clients use the repository (apt asks for confirmation).
#[derive(Debug, Clone)]
pub struct ReleaseParams<'a> {
    pub origin: &'a str,
    pub label: &'a str,
    pub suite: &'a str,
    pub codename: &'a str,
    pub description: Option<&'a str>,
    /// Without `all` (apt 2.6 warns about it); sorted by the caller.
    pub architectures: &'a [String],
    pub components: &'a [String],
    /// Seconds since the Unix epoch, UTC.
    pub date: i64,
    /// `Valid-Until:`, seconds since the Unix epoch, UTC: apt refuses the `Release` after
    /// that ("is expired"), so the repository must be published again before.
    pub valid_until: Option<i64>,
}

/// Render a `Release` file listing `files` (sorted by path by the caller).
#[must_use]
pub fn release_file(params: &ReleaseParams<'_>, files: &[IndexFile]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Origin: {}", params.origin);
    let _ = writeln!(out, "Label: {}", params.label);
    let _ = writeln!(out, "Suite: {}", params.suite);
    let _ = writeln!(out, "Codename: {}", params.codename);
    let _ = writeln!(out, "Date: {}", rfc2822_utc(params.date));
    if let Some(valid_until) = params.valid_until {
        let _ = writeln!(out, "Valid-Until: {}", rfc2822_utc(valid_until));
    }
    let archs: Vec<&str> =
        params.architectures.iter().map(String::as_str).filter(|arch| *arch != "all").collect();
    let _ = writeln!(out, "Architectures: {}", archs.join(" "));
    let _ = writeln!(out, "Components: {}", params.components.join(" "));
    if let Some(description) = params.description {
        let _ = writeln!(out, "Description: {}", description.replace('\n', " "));
    }
    out.push_str("Acquire-By-Hash: yes\n");
    out.push_str("MD5Sum:\n");
    for file in files {
        let _ = writeln!(out, " {} {:>16} {}", file.md5, file.size, file.path);
    }
    out.push_str("SHA256:\n");
    for file in files {
        let _ = writeln!(out, " {} {:>16} {}", file.sha256, file.size, file.path);
    }
    out
}

/// `Sat, 01 Jun 2024 12:00:00 UTC`, the form Debian's archive uses.
#[must_use]
pub fn rfc2822_utc(unix_seconds: i64) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let at = time::OffsetDateTime::from_unix_timestamp(unix_seconds)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} UTC",
        DAYS[usize::from(at.weekday().number_days_from_monday())],
        at.day(),
        MONTHS[usize::from(u8::from(at.month())) - 1],
        at.year(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// Reads back what [`rfc2822_utc`] writes (`Sat, 01 Jun 2024 12:00:00 UTC`; the weekday
/// is optional, `GMT` and `+0000` are accepted as UTC): Unix seconds.
#[must_use]
pub fn parse_rfc2822_utc(text: &str) -> Option<i64> {
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let text = text.trim();
    let text = text.split_once(", ").map_or(text, |(_, rest)| rest);
    let [day, month, year, clock, zone] = text.split_whitespace().collect::<Vec<_>>()[..] else {
        return None;
    };
    if !["UTC", "GMT", "+0000", "Z"].contains(&zone) {
        return None;
    }
    let month = MONTHS.iter().position(|name| *name == month)?;
    let month = time::Month::try_from(u8::try_from(month + 1).ok()?).ok()?;
    let date = time::Date::from_calendar_date(year.parse().ok()?, month, day.parse().ok()?).ok()?;
    let mut hms = clock.split(':').map(str::parse::<u8>);
    let (Some(Ok(h)), Some(Ok(m)), Some(Ok(s)), None) =
        (hms.next(), hms.next(), hms.next(), hms.next())
    else {
        return None;
    };
    let at = date.with_hms(h, m, s).ok()?.assume_utc();
    Some(at.unix_timestamp())
}

/// The value of the first `Name:` field of a deb822 paragraph such as a `Release` file.
#[must_use]
pub fn release_field<'a>(release: &'a str, name: &str) -> Option<&'a str> {
    release.lines().find_map(|line| {
        let (field, value) = line.split_once(':')?;
        field.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc2822_utc() {
        assert_eq!(rfc2822_utc(0), "Thu, 01 Jan 1970 00:00:00 UTC");
        assert_eq!(rfc2822_utc(1_717_243_200), "Sat, 01 Jun 2024 12:00:00 UTC");
        for secs in [0, 1_717_243_200, 1_709_164_799, 4_102_444_800] {
            assert_eq!(parse_rfc2822_utc(&rfc2822_utc(secs)), Some(secs));
        }
        assert_eq!(parse_rfc2822_utc("01 Jun 2024 12:00:00 GMT"), Some(1_717_243_200));
        for bad in ["", "Sat, 01 Jun 2024 12:00:00 CEST", "Sat, 32 Jun 2024 12:00:00 UTC", "x"] {
            assert_eq!(parse_rfc2822_utc(bad), None, "{bad}");
        }
    }

    #[test]
    fn pool_prefixes() {
        assert_eq!(pool_prefix("libfoo"), "libf");
        assert_eq!(pool_prefix("lib"), "l");
        assert_eq!(pool_prefix("hello"), "h");
    }

    #[test]
    fn release_lists_architectures_without_all() {
        let archs = vec!["all".to_owned(), "amd64".to_owned()];
        let comps = vec!["main".to_owned()];
        let params = ReleaseParams {
            origin: "o",
            label: "l",
            suite: "s",
            codename: "c",
            description: None,
            architectures: &archs,
            components: &comps,
            date: 0,
            valid_until: Some(86_400),
        };
        let text =
            release_file(&params, &[IndexFile::of("main/binary-amd64/Packages".into(), b"")]);
        assert!(text.contains("Architectures: amd64\n"), "{text}");
        assert!(
            text.contains(
                "Date: Thu, 01 Jan 1970 00:00:00 UTC\nValid-Until: Fri, 02 Jan 1970 00:00:00 UTC\n"
            ),
            "{text}"
        );
        assert_eq!(release_field(&text, "valid-until"), Some("Fri, 02 Jan 1970 00:00:00 UTC"));
        assert_eq!(release_field(&text, "Origin"), Some("o"));
        assert!(text.contains(
            " e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855                0 main/binary-amd64/Packages\n"
        ));
    }
}
