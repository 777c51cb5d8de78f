//! Signatures made with the generated key verify with the real `gpgv`.

use std::process::Command;

use wharf_apt::sign::SigningKey;

fn gpgv(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new("gpgv")
        .arg("--keyring")
        .arg(dir.join("key.gpg"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("gpgv runs")
}

#[test]
fn gpgv_accepts_inrelease_and_release_gpg() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("keys/signing.asc");
    let key = SigningKey::load_or_generate(&key_path, "Wharf test <test@wharf.invalid>").unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "private key must be 0600");
    let again = SigningKey::load_or_generate(&key_path, "ignored").unwrap();
    assert_eq!(key.fingerprint(), again.fingerprint(), "the stored key is reused");

    // gpgv wants a binary keyring; gpg --dearmor makes one from the export.
    let armored = key.public_armored().unwrap();
    assert!(armored.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
    std::fs::write(dir.path().join("key.asc"), &armored).unwrap();
    let status = Command::new("gpg")
        .args(["--batch", "--yes", "--dearmor", "-o"])
        .arg(dir.path().join("key.gpg"))
        .arg(dir.path().join("key.asc"))
        .status()
        .unwrap();
    assert!(status.success());

    let release = "Origin: test\nSuite: stable\nDate: Thu, 01 Jan 1970 00:00:00 UTC\n";
    std::fs::write(dir.path().join("Release"), release).unwrap();
    std::fs::write(dir.path().join("InRelease"), key.clearsign(release).unwrap()).unwrap();
    std::fs::write(dir.path().join("Release.gpg"), key.detached(release.as_bytes()).unwrap())
        .unwrap();

    let clear = gpgv(dir.path(), &["--output", "out", "InRelease"]);
    assert!(clear.status.success(), "{}", String::from_utf8_lossy(&clear.stderr));
    // The cleartext framing adds a line break before the signature; the fields are intact.
    let signed = std::fs::read_to_string(dir.path().join("out")).unwrap();
    assert_eq!(signed.trim_end(), release.trim_end());
    let detached = gpgv(dir.path(), &["Release.gpg", "Release"]);
    assert!(detached.status.success(), "{}", String::from_utf8_lossy(&detached.stderr));

    // And a tampered Release does not verify.
    std::fs::write(dir.path().join("Release"), release.replace("stable", "evil")).unwrap();
    assert!(!gpgv(dir.path(), &["Release.gpg", "Release"]).status.success());
}
