//! `dput` uploads: Debian's `dput` (`method = local`) copies an upload into an incoming
//! directory; `wharf repo include --incoming DIR REPO` includes every complete `.changes`
//! there, removes what it included, leaves an incomplete or bad one with the reason; the
//! published repository installs with `apt-get`.

use std::process::Command;

use crate::apt::{apt_client, apt_install, ok};
use crate::apt_source::upload;
use crate::support::{Scratch, ServerProcess, outcome};

fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn dput_uploads_are_included_from_the_incoming_directory() {
    let scratch = Scratch::new();
    scratch.config("[apt]\naccept_unsigned = true\n");
    ok(&scratch, &["repo", "create", "tools", "--distribution", "bookworm"]);
    let changes = upload(&scratch.path().join("build"));
    let incoming = scratch.path().join("incoming");
    std::fs::create_dir_all(&incoming).unwrap();
    let dput_cf = scratch.path().join("dput.cf");
    std::fs::write(
        &dput_cf,
        format!(
            "[local]\nmethod = local\nincoming = {}\nallow_unsigned_uploads = 1\nrun_lintian = 0\nrun_dinstall = 0\n",
            incoming.display()
        ),
    )
    .unwrap();
    let dput = Command::new("dput")
        .args(["-c", dput_cf.to_str().unwrap(), "-u", "local", changes.to_str().unwrap()])
        .output()
        .expect("dput (apt-get install dput)");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&dput.stdout),
        String::from_utf8_lossy(&dput.stderr)
    );
    assert!(dput.status.success(), "dput failed:\n{log}");
    assert!(incoming.join(changes.file_name().unwrap()).exists(), "{log}");
    // An upload still being copied (its files gone with the first one's) and a bad one.
    std::fs::copy(&changes, incoming.join("partial_1.0-1_all.changes")).unwrap();
    std::fs::write(incoming.join("bad.changes"), "not a changes file\n").unwrap();

    let args = ["repo", "include", "tools", "--incoming", incoming.to_str().unwrap()];
    let mut unsigned = args.to_vec();
    unsigned.push("--accept-unsigned");
    let (code, stdout, stderr) = outcome(&scratch.run(&unsigned));
    assert_eq!(code, 1, "a rejected upload: exit 1\n{stdout}{stderr}");
    assert!(
        stdout.contains("included hello_1.0-1_all.changes:\nhello 1.0-1 (unsigned"),
        "{stdout}"
    );
    assert!(
        stdout.contains("waiting partial_1.0-1_all.changes: hello_1.0-1.dsc is not there yet;")
            && stdout.contains("hello_1.0-1_all.deb is not there yet\n"),
        "{stdout}"
    );
    assert!(stdout.contains("REJECTED bad.changes: not a valid .changes"), "{stdout}");
    assert!(stdout.contains(": 1 included, 1 waiting, 1 rejected\n"), "{stdout}");
    assert_eq!(listing(&incoming), ["bad.changes", "partial_1.0-1_all.changes"]);

    // Without --accept-unsigned the waiting one stays waiting; nothing else is there.
    std::fs::remove_file(incoming.join("bad.changes")).unwrap();
    let (code, stdout, stderr) = outcome(&scratch.run(&[&args[..], &["--json"]].concat()));
    assert_eq!(code, 0, "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["included"], serde_json::json!([]), "{report}");
    assert_eq!(report["waiting"][0]["changes"], "partial_1.0-1_all.changes", "{report}");

    // A refused upload (unsigned, no --accept-unsigned) is left, with the reason.
    std::fs::remove_file(incoming.join("partial_1.0-1_all.changes")).unwrap();
    let again = upload(&scratch.path().join("again"));
    for entry in std::fs::read_dir(again.parent().unwrap()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, incoming.join(path.file_name().unwrap())).unwrap();
        }
    }
    let (code, stdout, _) = outcome(&scratch.run(&args));
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("REJECTED hello_1.0-1_all.changes: nothing included:"), "{stdout}");
    assert!(stdout.contains("--accept-unsigned"), "{stdout}");
    assert!(incoming.join("hello_1.0-1_all.changes").exists());

    // What was included is served and installs.
    ok(&scratch, &["publish", "tools"]);
    let server = ServerProcess::start(&scratch, &[], true);
    let apt = apt_client(&scratch, &server, "tools");
    apt_install(&apt, &["hello=1.0-1"]);
    assert!(apt.installed().contains("hello=1.0-1"), "{}", apt.installed());

    // A missing directory or repository is a clear error.
    let (code, _, stderr) =
        outcome(&scratch.run(&["repo", "include", "tools", "--incoming", "/nonexistent/in"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("cannot read the incoming directory /nonexistent/in"), "{stderr}");
}
