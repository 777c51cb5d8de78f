//! Debian package versions (`[epoch:]upstream[-revision]`), ordered exactly as
//! `dpkg --compare-versions` orders them.
//!
//! Parsing follows dpkg's `parseversion` (`lib/dpkg/parsehelp.c`): the epoch runs up to
//! the *first* colon, the revision starts after the *last* hyphen. So the upstream part
//! may contain `:` only when an epoch is present and `-` only when a revision is present.
//! Wharf is stricter than dpkg in three ways, because versions end up in shell commands
//! and file names:
//!
//! - dpkg only *warns* about an upstream version that does not start with a digit and
//!   about invalid characters; Wharf rejects both.
//! - dpkg trims leading and trailing whitespace; Wharf rejects any whitespace.
//! - dpkg parses the epoch with `strtol`, which accepts a sign (`+1:`); Wharf accepts
//!   ASCII digits only.
//!
//! Every real version in the Debian archive is accepted (checked against `apt-cache
//! dumpavail` by the `version_dpkg` integration test).
//!
//! Ordering follows dpkg's `dpkg_version_compare` and `verrevcmp` (`lib/dpkg/version.c`):
//! epochs compare numerically, then upstream, then revision, each with `verrevcmp`, which
//! alternates between a non-digit run compared character by character (`~` sorts before
//! everything, even the end of the string; letters before non-letters) and a digit run
//! compared numerically. Digit runs may be arbitrarily long: they are never parsed into a
//! machine integer. A missing revision compares like an empty one, so `1.0` == `1.0-0`,
//! and a missing epoch is `0`, so `1.0` == `0:1.0`. Equality is dpkg's equality, which is
//! why [`Version`] does not implement `Hash`: `1.0` and `1.00` are equal but spelled
//! differently.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// The largest epoch dpkg accepts (`INT_MAX`).
const MAX_EPOCH: u32 = i32::MAX.unsigned_abs();

/// A parsed, validated Debian version. Equality is dpkg's: `1.0` == `0:1.0`.
#[derive(Debug, Clone)]
pub struct Version {
    /// The text exactly as given; [`fmt::Display`] prints it back.
    text: String,
    epoch: u32,
    /// Byte range of the upstream part in `text`.
    upstream_start: usize,
    upstream_end: usize,
    /// Whether `text[upstream_end]` is the `-` that starts a revision.
    has_revision: bool,
}

/// Why a string is not a valid Debian version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid version {text:?}: {reason}")]
pub struct VersionError {
    pub text: String,
    pub reason: String,
}

impl Version {
    /// The epoch, `0` when the version has none.
    #[must_use]
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The upstream version: the text between the epoch's colon and the revision's hyphen.
    #[must_use]
    pub fn upstream(&self) -> &str {
        &self.text[self.upstream_start..self.upstream_end]
    }

    /// The Debian revision (after the last hyphen), `None` for a native version.
    #[must_use]
    pub fn revision(&self) -> Option<&str> {
        self.has_revision.then(|| &self.text[self.upstream_end + 1..])
    }

    /// The version exactly as it was written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Compares two versions as `dpkg --compare-versions` does.
#[must_use]
pub fn compare(a: &Version, b: &Version) -> Ordering {
    a.epoch
        .cmp(&b.epoch)
        .then_with(|| verrevcmp(a.upstream(), b.upstream()))
        .then_with(|| verrevcmp(a.revision().unwrap_or(""), b.revision().unwrap_or("")))
}

/// Orders any two strings as dpkg orders versions, without validating them: the epoch
/// is what comes before the first `:`, the revision what follows the last `-`. This is
/// how aptly compares control fields in package queries (`Section (>= x)`).
#[must_use]
pub fn compare_text(a: &str, b: &str) -> Ordering {
    fn parts(text: &str) -> (&str, &str, &str) {
        let (rest, revision) = text.rsplit_once('-').unwrap_or((text, ""));
        let (epoch, upstream) = rest.split_once(':').unwrap_or(("", rest));
        (epoch, upstream, revision)
    }
    let ((ea, ua, ra), (eb, ub, rb)) = (parts(a), parts(b));
    verrevcmp(ea, eb).then_with(|| verrevcmp(ua, ub)).then_with(|| verrevcmp(ra, rb))
}

/// dpkg's `order()`: the weight of one character in a non-digit run. `0` stands for both
/// a digit and the end of the string.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`, ported byte for byte.
fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let at = |s: &[u8], i: usize| s.get(i).copied();
    let is_digit = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_digit());
    let is_non_digit = |c: Option<u8>| c.is_some_and(|c| !c.is_ascii_digit());
    let (mut i, mut j) = (0, 0);

    while i < a.len() || j < b.len() {
        // Non-digit run: character by character; a digit or the end weighs 0.
        while is_non_digit(at(a, i)) || is_non_digit(at(b, j)) {
            let (ac, bc) = (order(at(a, i)), order(at(b, j)));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        // Digit run: numerically, without parsing. Skip leading zeros; then the longer
        // run is the larger number, and for equal lengths the first differing digit wins.
        while at(a, i) == Some(b'0') {
            i += 1;
        }
        while at(b, j) == Some(b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while is_digit(at(a, i)) && is_digit(at(b, j)) {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if is_digit(at(a, i)) {
            return Ordering::Greater;
        }
        if is_digit(at(b, j)) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

/// Describes a character for an error message: printable ones quoted, others escaped.
fn describe(c: char) -> String {
    format!("{c:?}")
}

impl FromStr for Version {
    type Err = VersionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |reason: String| Err(VersionError { text: text.to_owned(), reason });

        if text.is_empty() {
            return fail("version string is empty".to_owned());
        }
        if let Some((pos, c)) = text.char_indices().find(|(_, c)| c.is_whitespace()) {
            return fail(format!(
                "whitespace {} at byte offset {pos}; a version has no spaces",
                describe(c)
            ));
        }

        // Epoch: everything before the first colon.
        let (epoch, upstream_start) = match text.find(':') {
            None => (0, 0),
            Some(colon) => {
                let digits = &text[..colon];
                if digits.is_empty() {
                    return fail("epoch before ':' is empty".to_owned());
                }
                if let Some(rest) = digits.strip_prefix('-')
                    && !rest.is_empty()
                    && rest.bytes().all(|c| c.is_ascii_digit())
                {
                    return fail(format!("epoch {digits} is negative"));
                }
                if let Some((pos, c)) = digits.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
                    return fail(format!(
                        "epoch {digits:?} is not a number: {} at byte offset {pos}",
                        describe(c)
                    ));
                }
                // Numerically, without overflow: at most 10 significant digits fit.
                let significant = digits.trim_start_matches('0');
                let epoch = if significant.is_empty() {
                    Some(0)
                } else if significant.len() > 10 {
                    None
                } else {
                    significant.parse::<u64>().ok().and_then(|e| u32::try_from(e).ok())
                };
                let Some(epoch) = epoch.filter(|&e| e <= MAX_EPOCH) else {
                    return fail(format!("epoch {digits} is too big (at most {MAX_EPOCH})"));
                };
                if colon + 1 == text.len() {
                    return fail("nothing after the epoch's ':'".to_owned());
                }
                (epoch, colon + 1)
            }
        };

        // Revision: everything after the last hyphen.
        let rest = &text[upstream_start..];
        let (upstream_end, has_revision) = match rest.rfind('-') {
            None => (text.len(), false),
            Some(hyphen) => {
                if hyphen + 1 == rest.len() {
                    return fail("revision after the last '-' is empty".to_owned());
                }
                (upstream_start + hyphen, true)
            }
        };

        let upstream = &text[upstream_start..upstream_end];
        let Some(first) = upstream.chars().next() else {
            return fail("upstream version is empty".to_owned());
        };
        if !first.is_ascii_digit() {
            return fail(format!(
                "upstream version must start with a digit, not {} (byte offset {upstream_start})",
                describe(first)
            ));
        }
        // ':' can only be here after an epoch, '-' only before a revision: the splits
        // above guarantee both.
        if let Some((pos, c)) = upstream
            .char_indices()
            .find(|&(_, c)| !(c.is_ascii_alphanumeric() || ".+~-:".contains(c)))
        {
            return fail(format!(
                "invalid character {} at byte offset {} in upstream version {upstream:?} \
                 (allowed: letters, digits and . + ~, plus - with a revision and : with an epoch)",
                describe(c),
                upstream_start + pos
            ));
        }
        if has_revision {
            let revision = &text[upstream_end + 1..];
            if let Some((pos, c)) = revision
                .char_indices()
                .find(|&(_, c)| !(c.is_ascii_alphanumeric() || ".+~".contains(c)))
            {
                return fail(format!(
                    "invalid character {} at byte offset {} in revision {revision:?} \
                     (allowed: letters, digits and . + ~)",
                    describe(c),
                    upstream_end + 1 + pos
                ));
            }
        }

        Ok(Version { text: text.to_owned(), epoch, upstream_start, upstream_end, has_revision })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        compare(self, other)
    }
}
impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Version {}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        text.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Asserts `a op b`, with `op` one of `<`, `=`, `>`, and the mirrored relation.
    fn check(a: &str, op: &str, b: &str) {
        let expected = match op {
            "<" => Ordering::Less,
            "=" => Ordering::Equal,
            ">" => Ordering::Greater,
            _ => panic!("bad op {op}"),
        };
        let (va, vb) = (v(a), v(b));
        assert_eq!(va.cmp(&vb), expected, "{a} {op} {b}");
        assert_eq!(vb.cmp(&va), expected.reverse(), "{b} vs {a} (mirrored)");
        assert_eq!(va == vb, expected == Ordering::Equal, "{a} == {b}");
    }

    #[test]
    fn ordering() {
        for (a, op, b) in [
            // Basics.
            ("1.0", "=", "1.0"),
            ("1.0", "<", "1.1"),
            ("1.2", "<", "1.10"),
            ("1.0", "<", "1.0.1"),
            ("1", "<", "1.0"),
            ("2", ">", "1.99999"),
            // Tilde sorts before everything, even the end of the string.
            ("1.0~rc1", "<", "1.0"),
            ("1.0~~", "<", "1.0~"),
            ("1.0~~a", "<", "1.0~"),
            ("1.0~", "<", "1.0"),
            ("1.0~rc1", "<", "1.0~rc2"),
            ("1.0~alpha", "<", "1.0~beta"),
            ("1.0~rc1", "<", "1.0a"),
            ("1.0~", "<", "1.0+"),
            // Letters before non-letters; the end before both.
            ("1.0a", "<", "1.0+"),
            ("1.0a", "<", "1.0."),
            ("1.0Z", "<", "1.0a"),
            ("1.0", "<", "1.0a"),
            ("1.0", "<", "1.0+b1"),
            ("1.0+", "<", "1.0."),
            ("1:1.0.", "<", "1:1.0:"),
            ("1:1.0+", ">", "1:1.0"),
            // A letter against a digit: the letter is heavier than the digit run ahead.
            ("1a", ">", "1"),
            ("1.a", ">", "1.0"),
            // Leading zeros and long numbers.
            ("1.01", "=", "1.1"),
            ("1.001", "=", "1.1"),
            ("1.000", "=", "1.0"),
            ("01", "=", "1"),
            ("1.0010", ">", "1.9"),
            ("12345678901234567890123", ">", "12345678901234567890122"),
            ("123456789012345678901234567890", ">", "99999999999999999999"),
            ("1.000000000000000000000000001", "=", "1.1"),
            // Epochs.
            ("1.0", "=", "0:1.0"),
            ("00:1.0", "=", "1.0"),
            ("1:0.9", ">", "1.0"),
            ("1:0.9", ">", "999"),
            ("2:0", ">", "1:99"),
            ("2147483647:1", ">", "1:1"),
            ("1:2:3", ">", "1:2"),
            ("1:2:3", ">", "1:2.3"),
            // Revisions.
            ("1.0", "=", "1.0-0"),
            ("1.0-0", "=", "1.0-00"),
            ("1.0", "<", "1.0-1"),
            ("1.0-1", "<", "1.0-2"),
            ("1.0-2", "<", "1.0-10"),
            ("1.0-1", "<", "1.0-1+b1"),
            ("1.0-1~bpo1", "<", "1.0-1"),
            ("1.0-1", "<", "1.0.1-0"),
            ("1.0-a", ">", "1.0-1"),
            ("1.0-1-1", ">", "1.0-1"),
            ("1.0-1-1", ">", "1.0-2"),
            ("1.0-1-1", "<", "1.0.1-1"),
            // Upstream before revision.
            ("1.0-9", "<", "1.1-0"),
            ("1.0a-1", ">", "1.0-9"),
        ] {
            check(a, op, b);
        }
    }

    #[test]
    fn chain_from_the_docs() {
        let chain = ["1.0~rc1", "1.0", "1.0-1", "1:0.9"];
        for pair in chain.windows(2) {
            check(pair[0], "<", pair[1]);
        }
        let mut shuffled: Vec<Version> = ["1:0.9", "1.0-1", "1.0~rc1", "1.0"].map(v).to_vec();
        shuffled.sort();
        let sorted: Vec<String> = shuffled.iter().map(ToString::to_string).collect();
        assert_eq!(sorted, chain);
    }

    #[test]
    fn parts_and_display() {
        for (text, epoch, upstream, revision) in [
            ("1.0", 0, "1.0", None),
            ("0:1.0", 0, "1.0", None),
            ("1:2.3-4", 1, "2.3", Some("4")),
            ("1:2:3-4-5", 1, "2:3-4", Some("5")),
            ("2.30-1ubuntu1~22.04", 0, "2.30", Some("1ubuntu1~22.04")),
            ("0010:1", 10, "1", None),
            ("2147483647:1", 2_147_483_647, "1", None),
        ] {
            let version = v(text);
            assert_eq!(version.epoch(), epoch, "{text}");
            assert_eq!(version.upstream(), upstream, "{text}");
            assert_eq!(version.revision(), revision, "{text}");
            assert_eq!(version.to_string(), text);
            assert_eq!(version.as_str(), text);
        }
    }

    /// Asserts that `text` is rejected with a reason containing `reason`.
    fn check_invalid(text: &str, reason: &str) {
        let err = text.parse::<Version>().expect_err(text);
        assert_eq!(err.text, text);
        assert!(err.reason.contains(reason), "{text:?}: {:?} lacks {reason:?}", err.reason);
        assert!(err.to_string().contains(&err.reason));
    }

    #[test]
    fn invalid() {
        for (text, reason) in [
            ("", "empty"),
            (" 1.0", "whitespace ' ' at byte offset 0"),
            ("1.0 ", "whitespace ' ' at byte offset 3"),
            ("1.0 2.0", "whitespace ' ' at byte offset 3"),
            ("1.0\t", "whitespace '\\t' at byte offset 3"),
            ("1.0\n", "whitespace '\\n'"),
            (":1.0", "epoch before ':' is empty"),
            ("a:1.0", "epoch \"a\" is not a number: 'a' at byte offset 0"),
            ("1a:1.0", "'a' at byte offset 1"),
            ("+1:1.0", "not a number: '+'"),
            ("1.0:2", "not a number: '.' at byte offset 1"),
            ("-1:1.0", "epoch -1 is negative"),
            ("2147483648:1.0", "too big"),
            ("99999999999999999999999:1.0", "too big"),
            ("1:", "nothing after the epoch's ':'"),
            ("1.0-", "revision after the last '-' is empty"),
            ("1:-1", "upstream version is empty"),
            ("-1", "upstream version is empty"),
            ("a1.0", "must start with a digit, not 'a'"),
            ("1:a1.0", "not 'a' (byte offset 2)"),
            ("~1", "must start with a digit, not '~'"),
            ("1.0_1", "invalid character '_' at byte offset 3 in upstream version"),
            ("1.0;rm", "invalid character ';' at byte offset 3"),
            ("1.0$x-1", "invalid character '$' at byte offset 3"),
            ("1:1.0/2", "invalid character '/' at byte offset 5"),
            ("1.0é", "invalid character 'é' at byte offset 3"),
            ("1.0\u{0}", "invalid character '\\0'"),
            ("1.0-1_2", "invalid character '_' at byte offset 5 in revision \"1_2\""),
            ("1:1.0-1:2", "invalid character ':' at byte offset 7 in revision"),
            ("1.0-1:2", "epoch \"1.0-1\" is not a number"),
            ("1:1.0-a'b", "invalid character '\\'' at byte offset 7 in revision"),
        ] {
            check_invalid(text, reason);
        }
    }

    #[test]
    fn text_compares_as_versions_without_validation() {
        for (a, b, expected) in [
            ("1.2~rc1-1", "1.2-1", Ordering::Less),
            ("2:0.1", "3.0", Ordering::Greater),
            ("1.0", "0:1.0", Ordering::Equal),
            ("doc", "libs", Ordering::Less),
            ("utils", "utils", Ordering::Equal),
            ("", "0", Ordering::Equal),
            ("a b", "a~", Ordering::Greater),
        ] {
            assert_eq!(compare_text(a, b), expected, "{a} vs {b}");
            if let (Ok(x), Ok(y)) = (a.parse::<Version>(), b.parse::<Version>()) {
                assert_eq!(compare(&x, &y), expected, "agrees with compare: {a} vs {b}");
            }
        }
    }
}
