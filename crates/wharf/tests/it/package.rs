//! The Debian package (`packaging/build-deb.sh`): built from this binary, unpacked into a
//! private root with `dpkg --root`, its files where Debian expects them, its systemd unit
//! accepted by `systemd-analyze verify`, and the installed binary serving.

use std::path::Path;
use std::process::Command;

use crate::support::{Scratch, http, run_ok as run};

#[test]
fn the_deb_installs_a_unit_systemd_accepts_and_a_binary_that_serves() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let scratch = Scratch::new();
    let out = scratch.path().join("debs");
    let built = run(Command::new("bash")
        .arg(repo.join("packaging/build-deb.sh"))
        .arg(&out)
        .env("WHARF", env!("CARGO_BIN_EXE_wharf"))
        // A debug binary is large; xz would take a minute on two cores.
        .env("DEB_COMPRESSION", "gzip"));
    let deb = built.trim().to_owned();
    assert!(deb.ends_with(".deb") && Path::new(&deb).is_file(), "{built}");

    let info = run(Command::new("dpkg-deb").args(["--info", &deb]));
    for needle in ["Package: wharf", "Depends: libc6, liblzma5, adduser", "conffiles", "postinst"] {
        assert!(info.contains(needle), "{needle:?} in {info}");
    }

    let root = scratch.path().join("root");
    std::fs::create_dir_all(root.join("var/lib/dpkg/info")).unwrap();
    std::fs::create_dir_all(root.join("var/lib/dpkg/updates")).unwrap();
    std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    run(Command::new("dpkg").arg(format!("--root={}", root.display())).args([
        "--force-not-root",
        "--log=/dev/null",
        "--unpack",
        &deb,
    ]));
    for file in [
        "usr/bin/wharf",
        "lib/systemd/system/wharf.service",
        // A conffile waits as .dpkg-new until the package is configured.
        "etc/wharf/wharf.toml.dpkg-new",
        "usr/share/bash-completion/completions/wharf",
        "usr/share/zsh/vendor-completions/_wharf",
        "usr/share/man/man1/wharf.1.gz",
        "usr/share/man/man1/wharf-deploy.1.gz",
        "usr/share/doc/wharf/copyright",
    ] {
        assert!(root.join(file).is_file(), "{file} is installed");
    }
    let status = std::fs::read_to_string(root.join("var/lib/dpkg/status")).unwrap();
    assert!(
        status.contains("Package: wharf") && status.contains("/etc/wharf/wharf.toml"),
        "{status}"
    );

    // The unit, with its paths pointing into the root, as systemd itself checks it.
    let unit = std::fs::read_to_string(root.join("lib/systemd/system/wharf.service")).unwrap();
    assert!(unit.contains("Type=notify") && unit.contains("ExecReload=/bin/kill -HUP $MAINPID"));
    let binary = root.join("usr/bin/wharf");
    let checked = scratch.path().join("wharf.service");
    std::fs::write(&checked, unit.replace("/usr/bin/wharf", &binary.display().to_string()))
        .unwrap();
    run(Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(&checked));

    // The installed binary checks the shipped configuration and serves.
    let config = root.join("etc/wharf/wharf.toml.dpkg-new");
    run(Command::new(&binary).arg("--config").arg(&config).args(["config", "check"]));
    let data = scratch.path().join("data");
    let mut server = Command::new(&binary)
        .arg("--config")
        .arg(&config)
        .arg("--data")
        .arg(&data)
        .args(["server", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let addr = line.trim().strip_prefix("listening on http://").unwrap_or_else(|| panic!("{line}"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let healthy = loop {
        if let Ok(response) = http(addr, "GET", "/healthz", &[])
            && response.status == 200
        {
            break true;
        }
        if std::time::Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let _ = server.kill();
    let _ = server.wait();
    assert!(healthy, "the installed wharf serves /healthz");
}
