//! Backup, restore and relocation end to end: a data directory backed up while the server
//! serves and repositories change, restored elsewhere, moved with `mv`, and served from its
//! new place to a real `apt-get` in a private root; `repo verify` finding damaged and
//! missing objects; a backup killed mid-copy never taken for a whole one.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::apt::{apt_client, apt_install, build_deb, ok};
use crate::support::{Scratch, ServerProcess, outcome};

/// A data directory with a repository (a pack of 20 packages and a few loose ones), a
/// snapshot, and both published: `tools` at `tools`, the snapshot at `frozen`.
fn populated() -> Scratch {
    let scratch = Scratch::new();
    let many = scratch.path().join("many");
    let few = scratch.path().join("few");
    std::fs::create_dir_all(&many).unwrap();
    std::fs::create_dir_all(&few).unwrap();
    for n in 0..20 {
        build_deb(&many, &format!("pkg{n:02}"), "1.0", "all", "gzip");
    }
    build_deb(&few, "hello", "1.0-1", "all", "xz");
    build_deb(&few, "tool", "0.5", "amd64", "zstd");
    ok(&scratch, &["repo", "create", "tools", "--distribution", "bookworm"]);
    ok(&scratch, &["repo", "add", "tools", "many"]);
    ok(&scratch, &["repo", "add", "tools", "few"]);
    ok(&scratch, &["publish", "tools"]);
    ok(&scratch, &["snapshot", "create", "tools-1", "--from", "tools"]);
    ok(&scratch, &["publish", "--snapshot", "tools-1", "--prefix", "frozen"]);
    scratch
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|err| panic!("{err}: {text}"))
}

/// Every file under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = format!("{rel}{}", entry.file_name().to_string_lossy());
            if entry.file_type().unwrap().is_dir() {
                walk(&entry.path(), &format!("{name}/"), out);
            } else {
                out.push(name);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, "", &mut out);
    out.sort();
    out
}

/// `wharf server` on `scratch`'s data directory serves `prefix` to a real apt, which
/// installs `packages`; `repo verify --all` passes there.
fn serves_and_verifies(scratch: &Scratch, prefix: &str, packages: &[&str]) {
    let verified = json(&ok(scratch, &["repo", "verify", "--all", "--json"]));
    assert_eq!(verified["ok"], true, "{verified}");
    assert!(verified["packages"].as_u64().unwrap() >= 22, "{verified}");
    let server = ServerProcess::start(scratch, &[], true);
    let apt = apt_client(scratch, &server, prefix);
    apt_install(&apt, packages);
    let installed = apt.installed();
    for package in packages {
        assert!(installed.contains(package), "{package} not installed: {installed}");
    }
}

#[test]
fn backup_while_the_server_serves_and_writes_then_restore_elsewhere() {
    let scratch = populated();
    let server = ServerProcess::start(&scratch, &[], true);
    // Repository changes and audit entries keep coming while the backup runs.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let commands_done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writer = {
        let stop = stop.clone();
        let commands_done = commands_done.clone();
        let dir = scratch.path().to_owned();
        let wharf = env!("CARGO_BIN_EXE_wharf");
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let debs = dir.join(format!("late{n}"));
                std::fs::create_dir_all(&debs).unwrap();
                build_deb(&debs, &format!("late{n}"), "1.0", "all", "gzip");
                for args in [
                    vec!["repo", "add", "tools", debs.to_str().unwrap()],
                    vec!["publish", "tools"],
                    vec!["log", "--target", "tools", "still writing"],
                ] {
                    let status = std::process::Command::new(wharf)
                        .args(&args)
                        .current_dir(&dir)
                        .env("WHARF_SYSTEM_CONFIG", dir.join("system/wharf.toml"))
                        .env_remove("WHARF_DATA")
                        .env_remove("WHARF_CONFIG")
                        .output()
                        .unwrap();
                    assert!(status.status.success(), "{args:?}: {status:?}");
                    commands_done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                n += 1;
            }
            n
        })
    };
    // The backup starts once the writer is writing (a bounded wait for its first change).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while commands_done.load(std::sync::atomic::Ordering::Relaxed) == 0 {
        assert!(std::time::Instant::now() < deadline, "the writer made no change in 60 s");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let dest = scratch.path().join("backups/nightly");
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    let report = json(&ok(&scratch, &["backup", dest.to_str().unwrap(), "--json"]));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let rounds = writer.join().unwrap();
    assert!(rounds >= 1, "the writer never wrote");
    assert_eq!(report["path"], dest.display().to_string());
    assert_eq!(report["objects_in_bucket"], Value::Null);
    let files = tree(&dest);
    assert_eq!(report["files"].as_u64().unwrap() as usize, files.len() - 1, "{files:?}");
    assert!(files.contains(&"MANIFEST.json".to_owned()) && files.contains(&"wharf.db".to_owned()));
    assert!(files.contains(&"keys/signing.asc".to_owned()), "{files:?}");
    assert!(files.iter().any(|f| f.starts_with("objects/packs/") && f.ends_with(".pack")));
    assert!(files.iter().any(|f| f.starts_with("objects/sha256/")), "{files:?}");
    assert!(files.contains(&"public/frozen/.wharf-pool".to_owned()), "{files:?}");
    // Nothing half-written is left beside it, and the key stays private.
    assert_eq!(std::fs::read_dir(dest.parent().unwrap()).unwrap().count(), 1);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dest.join("keys/signing.asc")).unwrap().permissions(),
    );
    assert_eq!(mode & 0o077, 0, "the signing key's copy is readable by others: {mode:o}");
    // An existing destination is refused.
    let (code, _, stderr) = outcome(&scratch.run(&["backup", dest.to_str().unwrap()]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("already exists"), "{stderr}");
    drop(server);

    // Restored into another machine's (scratch's) data directory: the backup is one
    // consistent instant — every package its store names is there — and it serves.
    let elsewhere = Scratch::new();
    let restored = json(&ok(&elsewhere, &["restore", dest.to_str().unwrap(), "--json"]));
    assert_eq!(restored["files"], report["files"]);
    assert_eq!(restored["created_at"], report["created_at"]);
    assert_eq!(restored["set_aside"], Value::Null);
    serves_and_verifies(&elsewhere, "frozen", &["hello=1.0-1", "pkg07=1.0"]);
    let audit = json(&ok(&elsewhere, &["audit", "--verify", "--json"]));
    assert_eq!(audit["ok"], true, "{audit}");
}

#[test]
fn a_moved_data_directory_serves_unchanged() {
    let scratch = populated();
    let moved = Scratch::new();
    let status = std::process::Command::new("mv")
        .arg(scratch.path().join("wharf-data"))
        .arg(moved.path().join("wharf-data"))
        .status()
        .unwrap();
    assert!(status.success());
    let old = scratch.path().display().to_string();
    for file in tree(&moved.path().join("wharf-data")) {
        let path = moved.path().join("wharf-data").join(&file);
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&old), "{file} names the old place {old}");
    }
    serves_and_verifies(&moved, "tools", &["tool=0.5", "pkg00=1.0"]);
    // It keeps working there: an incremental publish edits the moved tree.
    let debs = moved.path().join("new");
    std::fs::create_dir_all(&debs).unwrap();
    build_deb(&debs, "hello", "2.0-1", "all", "gzip");
    ok(&moved, &["repo", "add", "tools", "new"]);
    assert!(ok(&moved, &["publish", "tools"]).contains("23 packages"));
    ok(&moved, &["health", "--min-free-percent", "0"]);
}

/// The loose object of `name`'s only version in repository `tools`.
fn loose_object(scratch: &Scratch, name: &str) -> PathBuf {
    let view = json(&ok(scratch, &["repo", "show", "tools", "--with-packages", "--json"]));
    let sha256 = view["package_list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["sha256"].as_str())
        .unwrap_or_else(|| panic!("{name} not in {view}"))
        .to_owned();
    let path = scratch.path().join("wharf-data/objects/sha256").join(&sha256[..2]).join(&sha256);
    assert!(path.exists(), "{name} is not loose");
    path
}

#[test]
fn verify_names_damaged_and_missing_objects_and_what_to_do() {
    let scratch = populated();
    let hello = loose_object(&scratch, "hello");
    let tool = loose_object(&scratch, "tool");
    let mut bytes = std::fs::read(&hello).unwrap();
    bytes[100] ^= 0x01;
    std::fs::write(&hello, bytes).unwrap();
    std::fs::remove_file(&tool).unwrap();
    // One byte of a packed object, too.
    let pack = std::fs::read_dir(scratch.path().join("wharf-data/objects/packs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "pack"))
        .unwrap();
    let mut bytes = std::fs::read(&pack).unwrap();
    let last = bytes.len() - 10;
    bytes[last] ^= 0x01;
    std::fs::write(&pack, bytes).unwrap();

    let (code, stdout, stderr) = outcome(&scratch.run(&["repo", "verify", "--all"]));
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("BAD hello 1.0-1 (all):") && stdout.contains("is damaged"), "{stdout}");
    assert!(stdout.contains("BAD tool 0.5 (amd64):") && stdout.contains("missing"), "{stdout}");
    assert!(
        stdout.contains("BAD pkg19 1.0 (all):") && stdout.contains(".pack at offset"),
        "{stdout}"
    );
    assert!(stdout.contains("3 problem(s)") && stdout.contains("wharf restore"), "{stdout}");
    let report = json(&outcome(&scratch.run(&["repo", "verify", "--all", "--json"])).1);
    assert_eq!(report["ok"], false);
    assert_eq!(report["problems"].as_array().unwrap().len(), 3, "{report}");

    // Per repository or snapshot: only their packages. A fresh repository holding an
    // intact package passes; an unknown name is an error naming it.
    let debs = scratch.path().join("other");
    std::fs::create_dir_all(&debs).unwrap();
    build_deb(&debs, "other", "1.0", "all", "gzip");
    ok(&scratch, &["repo", "create", "clean", "--distribution", "bookworm"]);
    ok(&scratch, &["repo", "add", "clean", "other"]);
    assert!(ok(&scratch, &["repo", "verify", "clean"]).contains("ok: 1 stored package(s)"));
    let (code, stdout, _) = outcome(&scratch.run(&["repo", "verify", "snapshot:tools-1"]));
    assert_eq!(code, 1, "{stdout}");
    let (code, _, stderr) = outcome(&scratch.run(&["repo", "verify", "nosuch"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("\"nosuch\""), "{stderr}");

    // An object no package names (what an interrupted add leaves), damaged: only --all
    // reads it.
    let sha256 = wharf_apt::sha256_hex(b"left over");
    let orphan = scratch.path().join("wharf-data/objects/sha256").join(&sha256[..2]);
    std::fs::create_dir_all(&orphan).unwrap();
    std::fs::write(orphan.join(&sha256), b"left over, then damaged").unwrap();
    let report = json(&outcome(&scratch.run(&["repo", "verify", "--all", "--json"])).1);
    assert!(report["problems"].to_string().contains("no package names it"), "{report}");
    assert_eq!(report["problems"].as_array().unwrap().len(), 4, "{report}");
    assert_eq!(report["objects"], 1, "{report}");
    let (code, _, _) = outcome(&scratch.run(&["repo", "verify"]));
    assert_eq!(code, 1, "the three damaged packages");

    // Through the server: the same report, for a publisher; a viewer may not.
    let publisher = crate::api::token(&scratch, "ci", "publisher", &[]);
    let viewer = crate::api::token(&scratch, "dash", "viewer", &[]);
    let server = ServerProcess::start(&scratch, &[], true);
    let url = format!("http://{}", server.addr);
    let remote = |token: &str| {
        outcome(
            &scratch
                .wharf(&["--server", &url, "repo", "verify", "--all", "--json"])
                .env("WHARF_TOKEN", token)
                .output()
                .unwrap(),
        )
    };
    let (code, over_api, stderr) = remote(&publisher);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(json(&over_api), report);
    let (code, _, stderr) = remote(&viewer);
    assert_ne!(code, 0);
    assert!(stderr.contains("publisher"), "{stderr}");
}

#[test]
fn a_killed_backup_is_never_taken_for_a_whole_one_and_restore_is_all_or_nothing() {
    let scratch = populated();
    let dest = scratch.path().join("nightly");
    let killed = scratch
        .wharf(&["backup", dest.to_str().unwrap()])
        .env("WHARF_FAILPOINT", "backup.copying")
        .output()
        .unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&killed.status), Some(9));
    assert!(!dest.exists(), "a killed backup must not have its name");
    let partial = std::fs::read_dir(scratch.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(".nightly.partial-"))
        .expect("the interrupted copy is under its hidden name");
    assert!(partial.join("wharf.db").exists() && !partial.join("MANIFEST.json").exists());
    let target = Scratch::new();
    let (code, _, stderr) = outcome(&target.run(&["restore", partial.to_str().unwrap()]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not a complete Wharf backup"), "{stderr}");
    assert!(!target.path().join("wharf-data").exists(), "nothing restored");

    // A whole backup, then damaged: restore names the file and restores nothing.
    ok(&scratch, &["backup", dest.to_str().unwrap()]);
    let pool = dest.join("public/tools/.wharf-pool");
    let mut bytes = std::fs::read(&pool).unwrap();
    bytes[0] ^= 0x01;
    std::fs::write(&pool, &bytes).unwrap();
    let (code, _, stderr) = outcome(&target.run(&["restore", dest.to_str().unwrap()]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("public/tools/.wharf-pool") && stderr.contains("nothing was restored"));
    assert_eq!(std::fs::read_dir(target.path()).unwrap().count(), 0, "no leftovers");
    bytes[0] ^= 0x01;
    std::fs::write(&pool, &bytes).unwrap();

    // An occupied data directory is refused, named; --force keeps it aside.
    let (code, _, stderr) = outcome(&scratch.run(&["restore", dest.to_str().unwrap()]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("wharf-data is not empty") && stderr.contains("--force"), "{stderr}");
    let report = json(&ok(&scratch, &["restore", dest.to_str().unwrap(), "--force", "--json"]));
    let aside = PathBuf::from(report["set_aside"].as_str().unwrap());
    assert!(aside.join("wharf.db").exists(), "{report}");
    serves_and_verifies(&scratch, "tools", &["hello=1.0-1"]);
}

/// A PostgreSQL store is not snapshotted by Wharf: `backup` refuses (exit 4), says to use
/// `pg_dump`, and writes nothing.
#[test]
fn backup_of_a_postgresql_store_is_refused_naming_pg_dump() {
    let postgres = wharf_store::testing::PgServer::start();
    let scratch =
        Scratch::new().with_env(vec![("WHARF_DATABASE".into(), postgres.url("postgres"))]);
    ok(&scratch, &["repo", "create", "tools", "--distribution", "bookworm"]);
    let dest = scratch.path().join("nightly");
    let (code, _, stderr) = outcome(&scratch.run(&["backup", dest.to_str().unwrap()]));
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("pg_dump") && stderr.contains("keys/"), "{stderr}");
    assert!(!dest.exists());
    let leftovers: Vec<_> = std::fs::read_dir(scratch.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("nightly"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
