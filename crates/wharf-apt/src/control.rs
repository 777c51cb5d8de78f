//! Debian control stanzas (`deb-control(5)`), parsed and printed exactly as dpkg's Perl
//! tooling (`Dpkg::Control::HashCore`) does, so that Wharf's `Packages` files match
//! `dpkg-scanpackages` byte for byte.
//!
//! Values are kept in dpkg's internal form: the first line (trimmed), then one line per
//! continuation line with its single leading space removed and a lone `.` turned into an
//! empty line. [`Control::render_index`] prints fields in the order of dpkg's
//! `CTRL_INDEX_PKG` list, then unknown fields sorted by name, with dpkg's capitalisation.

use std::fmt::Write as _;

/// Field order of a `Packages` stanza (`Dpkg::Control::FieldsCore`, `CTRL_INDEX_PKG`).
pub(crate) const INDEX_ORDER: &[&str] = &[
    "Package",
    "Package-Type",
    "Source",
    "Version",
    "Kernel-Version",
    "Built-For-Profiles",
    "Auto-Built-Package",
    "Architecture",
    "Subarchitecture",
    "Installer-Menu-Item",
    "Build-Essential",
    "Essential",
    "Protected",
    "Origin",
    "Bugs",
    "Maintainer",
    "Installed-Size",
    "Pre-Depends",
    "Depends",
    "Recommends",
    "Suggests",
    "Enhances",
    "Conflicts",
    "Breaks",
    "Replaces",
    "Provides",
    "Built-Using",
    "Static-Built-Using",
    "Filename",
    "Size",
    "MD5sum",
    "SHA1",
    "SHA256",
    "Section",
    "Priority",
    "Multi-Arch",
    "Homepage",
    "Description",
    "Tag",
    "Task",
];

/// The index fields that come before `Filename`, in order.
pub(crate) fn fields_before_filename() -> &'static [&'static str] {
    let end = INDEX_ORDER.iter().position(|name| *name == "Filename").unwrap_or(INDEX_ORDER.len());
    &INDEX_ORDER[..end]
}

/// Inserts `fields` (rendered lines) into a rendered `stanza` where dpkg's order puts
/// them: before the first field whose name is not in `before` (continuation lines stay
/// with their field).
#[must_use]
pub(crate) fn insert_fields(stanza: &str, before: &[&str], fields: &str) -> String {
    let mut split_at = stanza.len();
    let mut offset = 0;
    for line in stanza.split_inclusive('\n') {
        if !line.starts_with([' ', '\t']) {
            let name = line.split_once(':').map_or(line, |(name, _)| name);
            if !before.contains(&name) {
                split_at = offset;
                break;
            }
        }
        offset += line.len();
    }
    let (head, tail) = stanza.split_at(split_at);
    let mut out = String::with_capacity(stanza.len() + fields.len());
    out.push_str(head);
    out.push_str(fields);
    out.push_str(tail);
    out
}

/// Fields that `dpkg-scanpackages` computes from the file; values found in a control file
/// are replaced.
pub const FILE_FIELDS: &[&str] = &["Filename", "Size", "MD5sum", "SHA1", "SHA256"];

/// One control stanza: fields in the order they were read, names in dpkg's capitalisation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Control {
    fields: Vec<(String, String)>,
}

/// Why a control stanza could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ControlError {
    pub line: usize,
    pub reason: String,
}

/// dpkg's `field_capitalize`: known exceptions, otherwise each `-`-separated word
/// capitalised after lower-casing.
#[must_use]
pub fn capitalize(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    match lower.as_str() {
        "md5sum" => return "MD5sum".to_owned(),
        "sha1" => return "SHA1".to_owned(),
        "sha256" => return "SHA256".to_owned(),
        "notautomatic" => return "NotAutomatic".to_owned(),
        "butautomaticupgrades" => return "ButAutomaticUpgrades".to_owned(),
        "no-support-for-architecture-all" => return "No-Support-for-Architecture-all".to_owned(),
        _ => {}
    }
    let mut out = String::with_capacity(lower.len());
    for (idx, word) in lower.split('-').enumerate() {
        if idx > 0 {
            out.push('-');
        }
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out
}

impl Control {
    /// Parse the first stanza of `text` with dpkg's rules. Duplicate fields, continuation
    /// lines outside a field and lines that are not `Name: value` are errors.
    pub fn parse(text: &str) -> Result<Control, ControlError> {
        let mut fields: Vec<(String, String)> = Vec::new();
        let mut started = false;
        for (idx, raw) in text.split('\n').enumerate() {
            let line_no = idx + 1;
            let line = raw.trim_end();
            if line.is_empty() {
                if started {
                    break;
                }
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            started = true;
            let error = |reason: &str| ControlError { line: line_no, reason: reason.to_owned() };
            if line.starts_with([' ', '\t']) {
                let Some((_, value)) = fields.last_mut() else {
                    return Err(error("continuation line before any field"));
                };
                let mut cont = &line[1..];
                if !cont.is_empty() && cont.bytes().all(|b| b == b'.') {
                    cont = &cont[1..];
                }
                value.push('\n');
                value.push_str(cont);
                continue;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(error("line is not `Field: value`"));
            };
            let name = name.trim_end();
            if name.is_empty()
                || name.starts_with('-')
                || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
            {
                return Err(error(&format!("invalid field name {name:?}")));
            }
            let name = capitalize(name);
            if fields.iter().any(|(existing, _)| *existing == name) {
                return Err(error(&format!("duplicate field {name}")));
            }
            fields.push((name, value.trim().to_owned()));
        }
        if fields.is_empty() {
            return Err(ControlError { line: 1, reason: "empty control stanza".to_owned() });
        }
        Ok(Control { fields })
    }

    /// The value of a field (case-insensitive name), in dpkg's internal form.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Set a field, replacing an existing one in place or appending.
    pub fn set(&mut self, name: &str, value: String) {
        let name = capitalize(name);
        match self.fields.iter_mut().find(|(field, _)| *field == name) {
            Some((_, existing)) => *existing = value,
            None => self.fields.push((name, value)),
        }
    }

    /// Remove a field if present.
    pub fn remove(&mut self, name: &str) {
        self.fields.retain(|(field, _)| !field.eq_ignore_ascii_case(name));
    }

    /// Fields in the order they were read.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(name, value)| (name.as_str(), value.as_str()))
    }

    /// Render as a `Packages` stanza (without the blank line that separates stanzas): the
    /// `CTRL_INDEX_PKG` order first, then other fields sorted by name, as `Dpkg::Control`
    /// prints them.
    #[must_use]
    pub fn render_index(&self) -> String {
        self.render_ordered(INDEX_ORDER)
    }

    /// Render with the fields of `order` first, in that order, then the others sorted by
    /// name (`Dpkg::Control::HashCore::output` with an output order).
    #[must_use]
    pub fn render_ordered(&self, order: &[&str]) -> String {
        let mut keyed: Vec<(usize, &str, &str)> = self
            .fields
            .iter()
            .map(|(name, value)| {
                let rank = order.iter().position(|known| known == name).unwrap_or(usize::MAX);
                (rank, name.as_str(), value.as_str())
            })
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
        let mut out = String::new();
        for (_, name, value) in keyed {
            render_field(&mut out, name, value);
        }
        out
    }
}

/// One field as `Dpkg::Control::HashCore::output` prints it. Perl's `split /\n/` drops
/// trailing empty lines, and so does this.
fn render_field(out: &mut String, name: &str, value: &str) {
    let mut lines: Vec<&str> = value.split('\n').collect();
    while lines.len() > 1 && lines.last().is_some_and(|line| line.is_empty()) {
        lines.pop();
    }
    let first = lines.first().copied().unwrap_or("");
    out.push_str(name);
    out.push(':');
    if !first.is_empty() {
        out.push(' ');
        out.push_str(first);
    }
    out.push('\n');
    for line in lines.iter().skip(1) {
        let line = line.trim_end();
        if line.is_empty() || line.bytes().all(|b| b == b'.') {
            let _ = write!(out, " .{line}");
        } else {
            let _ = write!(out, " {line}");
        }
        out.push('\n');
    }
}

/// Debian policy 5.6.1: lower-case letters, digits, `+`, `-`, `.`; at least two
/// characters, starting with a letter or digit.
pub fn check_package_name(name: &str) -> Result<(), String> {
    let bytes = name.as_bytes();
    if bytes.len() < 2 {
        return Err(format!("package name {name:?} must be at least two characters long"));
    }
    if !bytes[0].is_ascii_lowercase() && !bytes[0].is_ascii_digit() {
        return Err(format!("package name {name:?} must start with a lower-case letter or digit"));
    }
    if let Some(bad) =
        name.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(*c)))
    {
        return Err(format!(
            "package name {name:?} contains {bad:?}; only a-z, 0-9, '+', '-' and '.' are allowed"
        ));
    }
    Ok(())
}

pub use wharf_core::names::check_architecture;

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        let control = Control::parse(input).expect("parses");
        assert_eq!(control.render_index(), expected);
    }

    #[test]
    fn renders_in_dpkg_order() {
        check(
            "Description: short\n long line\n .\n ..\nPackage: a\nX-Zed: 1\nx-abc: 2\nVersion: 1\nmd5sum: x\n",
            "Package: a\nVersion: 1\nMD5sum: x\nDescription: short\n long line\n .\n ..\nX-Abc: 2\nX-Zed: 1\n",
        );
        check("Package: a\nDescription:\n text\n .\n", "Package: a\nDescription:\n text\n");
    }

    #[test]
    fn rejects_broken_stanzas() {
        for bad in ["", "no colon here\n", " continued\n", "A: 1\na: 2\n", "-A: 1\n"] {
            assert!(Control::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn names_and_architectures() {
        for good in ["ab", "libc6", "g++", "foo.bar-baz"] {
            check_package_name(good).unwrap();
        }
        for bad in ["a", "Foo", "foo/bar", "-foo", "foo_bar", "foo bar", "föo"] {
            assert!(check_package_name(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["all", "amd64", "arm64", "kfreebsd-amd64"] {
            check_architecture(good).unwrap();
        }
        for bad in ["", "any", "linux-any", "AMD64", "amd64 arm64", "a/b"] {
            assert!(check_architecture(bad).is_err(), "{bad:?} accepted");
        }
    }
}
