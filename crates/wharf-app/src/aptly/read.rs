//! Reading an aptly root through aptly itself: its database (goleveldb) has no
//! well-kept Rust reader, so `aptly` (Debian 12: 1.5) is run with a configuration whose
//! `rootDir` is the root, as an argument vector (never a shell), and its `-json` listings
//! and `repo search -format` lines are parsed here. The parsers are pure and tested.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

/// `aptly repo list -json`, one entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AptlyRepo {
    pub name: String,
    #[serde(default)]
    pub comment: String,
    #[serde(default)]
    pub default_distribution: String,
    #[serde(default)]
    pub default_component: String,
}

/// `aptly snapshot show -json NAME`: where a snapshot came from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AptlySnapshot {
    pub name: String,
    /// `local` (from repositories), `repo` (from mirrors) or `snapshot` (merged).
    #[serde(default)]
    pub source_kind: String,
    #[serde(default)]
    pub local_repos: Vec<AptlyRepo>,
    #[serde(default)]
    pub description: String,
}

/// `aptly publish list -json`, one entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AptlyPublish {
    #[serde(default)]
    pub architectures: Vec<String>,
    pub distribution: String,
    #[serde(default)]
    pub prefix: String,
    /// `local` or `snapshot`.
    pub source_kind: String,
    #[serde(default)]
    pub sources: Vec<AptlyPublishSource>,
}

/// A published component and the repository or snapshot behind it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AptlyPublishSource {
    pub component: String,
    pub name: String,
}

/// One package of a repository or snapshot, as `repo search -format` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptlyPackage {
    /// `name_version_arch`, aptly's key without its files hash.
    pub key: String,
    pub architecture: String,
    pub sha256: String,
    pub md5: String,
    pub filename: String,
}

/// What `repo search` prints per package (fields never hold spaces).
pub const SEARCH_FORMAT: &str = "{{.SHA256}} {{.MD5sum}} {{.Architecture}} {{.Filename}} {{.Package}}_{{.Version}}_{{.Architecture}}";

/// Lines printed with [`SEARCH_FORMAT`].
pub fn parse_search(text: &str) -> Result<Vec<AptlyPackage>, String> {
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            match fields.as_slice() {
                [sha256, md5, arch, filename, key]
                    if hex(sha256, 64)
                        && hex(md5, 32)
                        && !filename.contains('/')
                        && !filename.starts_with('.')
                        && !filename.is_empty() =>
                {
                    Ok(AptlyPackage {
                        key: (*key).to_owned(),
                        architecture: (*arch).to_owned(),
                        sha256: sha256.to_ascii_lowercase(),
                        md5: md5.to_ascii_lowercase(),
                        filename: (*filename).to_owned(),
                    })
                }
                _ => Err(format!("unexpected line from `aptly repo search`: {line:?}")),
            }
        })
        .collect()
}

/// Where aptly keeps a package file: `pool/ab/cd/<sha256[4..32]>_<file>` (aptly ≥ 1.1),
/// else the legacy `pool/<md5[0..2]>/<md5[2..4]>/<file>`.
#[must_use]
pub fn pool_candidates(root: &Path, package: &AptlyPackage) -> [PathBuf; 2] {
    let (sha, md5, file) = (&package.sha256, &package.md5, &package.filename);
    let pool = root.join("pool");
    [
        pool.join(&sha[0..2]).join(&sha[2..4]).join(format!("{}_{file}", &sha[4..32])),
        pool.join(&md5[0..2]).join(&md5[2..4]).join(file),
    ]
}

/// A way to run aptly on one root.
#[derive(Debug)]
pub struct Aptly {
    program: PathBuf,
    /// The configuration written for this root (deleted with the directory).
    config: PathBuf,
    _dir: tempfile::TempDir,
}

impl Aptly {
    /// `aptly` from `PATH` with a configuration naming `root` as its `rootDir`.
    pub fn new(root: &Path) -> Result<Aptly, String> {
        let dir = tempfile::tempdir()
            .map_err(|err| format!("cannot make a temporary directory: {err}"))?;
        let config = dir.path().join("aptly.conf");
        let text = serde_json::json!({ "rootDir": root }).to_string();
        std::fs::write(&config, text)
            .map_err(|err| format!("cannot write {}: {err}", config.display()))?;
        Ok(Aptly { program: PathBuf::from("aptly"), config, _dir: dir })
    }

    /// Run `aptly ARGS…`; `Ok(None)` when aptly says `no results`.
    fn run(&self, args: &[&str]) -> Result<Option<String>, String> {
        let mut command = Command::new(&self.program);
        command.arg(format!("-config={}", self.config.display())).args(args);
        let shown = format!("aptly {}", args.join(" "));
        let output = command.output().map_err(|err| {
            if err.kind() == std::io::ErrorKind::NotFound {
                "aptly is not installed: `apt-get install aptly` (Wharf reads aptly's database through it)".to_owned()
            } else {
                format!("cannot run {shown}: {err}")
            }
        })?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            if stderr.contains("no results") {
                return Ok(None);
            }
            return Err(format!("{shown} failed ({}): {}", output.status, stderr.trim()));
        }
        String::from_utf8(output.stdout)
            .map(Some)
            .map_err(|_| format!("{shown} printed something that is not UTF-8"))
    }

    fn json<T: serde::de::DeserializeOwned + Default>(&self, args: &[&str]) -> Result<T, String> {
        match self.run(args)? {
            None => Ok(T::default()),
            Some(text) if text.trim().is_empty() => Ok(T::default()),
            Some(text) => serde_json::from_str(&text)
                .map_err(|err| format!("unexpected output of aptly {}: {err}", args.join(" "))),
        }
    }

    pub fn repos(&self) -> Result<Vec<AptlyRepo>, String> {
        self.json(&["repo", "list", "-json"])
    }

    /// Snapshot names, then each one's origin.
    pub fn snapshots(&self) -> Result<Vec<AptlySnapshot>, String> {
        let listed: Vec<AptlySnapshot> = self.json(&["snapshot", "list", "-json"])?;
        listed
            .iter()
            .map(|snap| {
                let shown: Option<AptlySnapshot> =
                    self.json(&["snapshot", "show", "-json", &snap.name])?;
                shown
                    .ok_or_else(|| format!("aptly lists snapshot {} but cannot show it", snap.name))
            })
            .collect()
    }

    pub fn publishes(&self) -> Result<Vec<AptlyPublish>, String> {
        self.json(&["publish", "list", "-json"])
    }

    /// The packages of repository (`repo`) or snapshot (`snapshot`) `name`.
    pub fn packages(&self, kind: &str, name: &str) -> Result<Vec<AptlyPackage>, String> {
        let format = format!("-format={SEARCH_FORMAT}");
        match self.run(&[kind, "search", &format, name])? {
            None => Ok(Vec::new()),
            Some(text) => parse_search(&text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "e9fb773282dcf68b3c57192eded1ea826ede2b1bff75f5c68e0f06d82f76653f";
    const MD5: &str = "22e6de19e65c98cfa74dc00f3db02c02";

    #[test]
    fn search_lines() {
        let text = format!("{SHA} {MD5} all hello_1.0_all.deb hello_1.0_all\n\n");
        let parsed = parse_search(&text).unwrap();
        assert_eq!(
            parsed,
            [AptlyPackage {
                key: "hello_1.0_all".into(),
                architecture: "all".into(),
                sha256: SHA.into(),
                md5: MD5.into(),
                filename: "hello_1.0_all.deb".into(),
            }]
        );
        for bad in [
            format!("{SHA} {MD5} all hello.deb"),
            format!("{} {MD5} all hello.deb k", &SHA[1..]),
            format!("{SHA} {MD5} all ../x.deb k"),
            format!("{SHA} {MD5} all .x.deb k"),
            format!("{SHA} zz all x.deb k"),
        ] {
            assert!(parse_search(&bad).unwrap_err().contains("unexpected line"), "{bad}");
        }
        assert_eq!(parse_search(""), Ok(vec![]));
    }

    #[test]
    fn pool_paths_of_both_layouts() {
        let package = &parse_search(&format!("{SHA} {MD5} all hello_1.0_all.deb k")).unwrap()[0];
        let [new, legacy] = pool_candidates(Path::new("/srv/aptly"), package);
        assert_eq!(
            new,
            Path::new("/srv/aptly/pool/e9/fb/773282dcf68b3c57192eded1ea82_hello_1.0_all.deb")
        );
        assert_eq!(legacy, Path::new("/srv/aptly/pool/22/e6/hello_1.0_all.deb"));
    }

    #[test]
    fn listings_as_aptly_prints_them() {
        let repos: Vec<AptlyRepo> = serde_json::from_str(
            r#"[{"Name":"bookworm-tools","Comment":"","DefaultDistribution":"bookworm","DefaultComponent":"main"}]"#,
        )
        .unwrap();
        assert_eq!(repos[0].default_distribution, "bookworm");
        let publishes: Vec<AptlyPublish> = serde_json::from_str(
            r#"[{"AcquireByHash":false,"Architectures":["amd64","arm64"],"Distribution":"bookworm","Prefix":"tools",
                "SourceKind":"local","Sources":[{"Component":"main","Name":"bookworm-tools"}],"Storage":""}]"#,
        )
        .unwrap();
        assert_eq!(publishes[0].sources[0].name, "bookworm-tools");
        assert_eq!(publishes[0].architectures, ["amd64", "arm64"]);
    }
}
