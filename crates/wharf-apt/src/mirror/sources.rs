//! The source packages a remote `Sources` index lists, for a mirror `--with-sources`.

use super::{RemoteFile, RemotePackage, safe_path};
use crate::control::Control;
use crate::dsc::{SOURCE_ARCHITECTURE, check_file_name};

/// Reads every stanza of a `Sources` file: each package's `.dsc` (as `filename`, `size`
/// and `sha256`) and its other files, all below its `Directory`, with their SHA-256s.
/// A stanza without `Package`, `Version`, `Directory` or `Checksums-Sha256`, listing no
/// `.dsc`, or naming a file outside the repository is an error naming it.
pub fn parse_sources(text: &str) -> Result<Vec<RemotePackage>, String> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        if stanza.trim().is_empty() {
            continue;
        }
        let control = Control::parse(stanza).map_err(|err| format!("Sources: {err}"))?;
        let field = |name: &str| {
            control.get(name).map(str::to_owned).ok_or_else(|| {
                format!("Sources: the stanza of {:?} has no {name} field", control.get("Package"))
            })
        };
        let (name, version, directory) =
            (field("Package")?, field("Version")?, field("Directory")?);
        if !safe_path(&directory) {
            return Err(format!("Sources: {name} has an unsafe Directory {directory:?}"));
        }
        let mut dsc = None;
        let mut files = Vec::new();
        for line in field("Checksums-Sha256")?.lines().filter(|line| !line.trim().is_empty()) {
            let [sha256, size, file] = line.split_whitespace().collect::<Vec<_>>()[..] else {
                return Err(format!("Sources: {name}: {line:?} is not `sha256 size name`"));
            };
            check_file_name(file).map_err(|why| format!("Sources: {name}: {why}"))?;
            if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("Sources: {name}: {sha256:?} is not a SHA-256 of {file}"));
            }
            let size = size.parse().map_err(|_| format!("Sources: {name}: bad size of {file}"))?;
            let listed = RemoteFile {
                path: format!("{directory}/{file}"),
                size,
                sha256: sha256.to_ascii_lowercase(),
            };
            if file.ends_with(".dsc") && dsc.is_none() {
                dsc = Some(listed);
            } else {
                files.push(listed);
            }
        }
        let dsc = dsc.ok_or_else(|| format!("Sources: {name} {version} lists no .dsc"))?;
        out.push(RemotePackage {
            name,
            version,
            architecture: SOURCE_ARCHITECTURE.to_owned(),
            filename: dsc.path,
            size: dsc.size,
            sha256: dsc.sha256,
            control: control.render_index(),
            files,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const SHA_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn stanza(directory: &str, sums: &str) -> String {
        format!(
            "Package: hello\nBinary: hello\nVersion: 1.0-1\nArchitecture: any\nFormat: 3.0 (quilt)\nDirectory: {directory}\nChecksums-Sha256:\n{sums}"
        )
    }

    #[test]
    fn sources_list_the_dsc_and_its_files() {
        let sums = format!(" {SHA_A} 10 hello_1.0-1.dsc\n {SHA_B} 200 hello_1.0.orig.tar.gz\n");
        let parsed = parse_sources(&stanza("pool/main/h/hello", &sums)).unwrap();
        assert_eq!(parsed.len(), 1);
        let hello = &parsed[0];
        assert_eq!(
            (hello.name.as_str(), hello.architecture.as_str(), hello.filename.as_str(), hello.size),
            ("hello", "source", "pool/main/h/hello/hello_1.0-1.dsc", 10)
        );
        assert_eq!(hello.sha256, SHA_A);
        assert_eq!(
            hello.files,
            [RemoteFile {
                path: "pool/main/h/hello/hello_1.0.orig.tar.gz".into(),
                size: 200,
                sha256: SHA_B.into()
            }]
        );
    }

    #[test]
    fn bad_sources_are_refused_saying_why() {
        let good = format!(" {SHA_A} 10 hello_1.0-1.dsc\n");
        for (text, needle) in [
            (stanza("../etc", &good), "unsafe Directory"),
            (stanza("pool/h", &format!(" {SHA_A} 10 ../x.dsc\n")), "not a plain package file name"),
            (stanza("pool/h", &format!(" {SHA_B} 10 hello.tar.gz\n")), "lists no .dsc"),
            (stanza("pool/h", " abc 10 hello.dsc\n"), "is not a SHA-256"),
            (stanza("pool/h", &good).replace("Version: 1.0-1\n", ""), "no Version field"),
        ] {
            let err = parse_sources(&text).unwrap_err();
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }
}
