//! Mirrors end to end: a repository published and signed by real `aptly` (throw-away key
//! in a private `GNUPGHOME`, `-acquire-by-hash`), served on 127.0.0.1 by real `nginx`
//! (which honours `Range`, and whose access log shows what Wharf asked for), mirrored by
//! the `wharf` binary, frozen, republished and installed by a real `apt-get`.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::apt::{apt_client, apt_install, build_deb, build_deb_with, ok};
use crate::apt_source::{build_source, deb_src_client};
use crate::support::{Scratch, ServerProcess, outcome, run_ok as run};

/// A repository that aptly publishes, and nginx serving it.
struct Upstream {
    dir: PathBuf,
    gnupg: PathBuf,
    fingerprint: String,
    published: bool,
    /// What the first publish lists (`-architectures=`).
    architectures: &'static str,
    nginx: Option<std::process::Child>,
    port: u16,
}

/// A fresh Ed25519 signing key in its own `GNUPGHOME`; returns its fingerprint.
fn gpg_key(gnupg: &Path, uid: &str) -> String {
    std::fs::create_dir_all(gnupg).unwrap();
    std::fs::set_permissions(gnupg, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let gpg = || {
        let mut command = Command::new("gpg");
        command.env("GNUPGHOME", gnupg).arg("--batch");
        command
    };
    run(gpg().args(["--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never"]));
    let listed = run(gpg().args(["--list-keys", "--with-colons"]));
    listed
        .lines()
        .find_map(|line| line.strip_prefix("fpr:").map(|rest| rest.trim_matches(':').to_owned()))
        .expect("gpg listed no fingerprint")
}

/// `gpg --export --armor` of the key in `gnupg` into `out`.
fn export_key(gnupg: &Path, out: &Path) {
    let key =
        run(Command::new("gpg").env("GNUPGHOME", gnupg).args(["--batch", "--export", "--armor"]));
    std::fs::write(out, key).unwrap();
}

impl Upstream {
    fn new(scratch: &Scratch) -> Upstream {
        let dir = scratch.path().join("upstream");
        let gnupg = dir.join("gnupg");
        let fingerprint = gpg_key(&gnupg, "Upstream <upstream@wharf.invalid>");
        std::fs::write(
            dir.join("aptly.conf"),
            format!(r#"{{"rootDir": "{}", "gpgProvider": "gpg"}}"#, dir.join("aptly").display()),
        )
        .unwrap();
        let mut upstream = Upstream {
            dir,
            gnupg,
            fingerprint,
            published: false,
            architectures: "amd64",
            nginx: None,
            port: 0,
        };
        upstream.aptly(&["repo", "create", "-distribution=bookworm", "up"]);
        upstream.serve();
        upstream
    }

    fn aptly(&self, args: &[&str]) -> String {
        run(Command::new("aptly")
            .env("GNUPGHOME", &self.gnupg)
            .arg(format!("-config={}", self.dir.join("aptly.conf").display()))
            .args(args))
    }

    /// Adds `.deb` files (or directories) and publishes, signed, with by-hash indices.
    fn add_and_publish(&mut self, debs: &[&Path]) {
        for deb in debs {
            self.aptly(&["repo", "add", "up", deb.to_str().unwrap()]);
        }
        let key = format!("-gpg-key={}", self.fingerprint);
        if self.published {
            self.aptly(&["publish", "update", &key, "bookworm"]);
        } else {
            self.aptly(&[
                "publish",
                "repo",
                &format!("-architectures={}", self.architectures),
                "-acquire-by-hash",
                &key,
                "up",
            ]);
            self.published = true;
        }
    }

    fn public(&self) -> PathBuf {
        self.dir.join("aptly/public")
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default()
    }

    /// nginx on a free port serving `public()`, package files throttled (so a test can
    /// interrupt a download), every request logged with its `Range` and status.
    fn serve(&mut self) {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let d = self.dir.display();
        std::fs::create_dir_all(self.public()).unwrap();
        let conf = format!(
            "user root root;\nworker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  log_format wharf '$request_method $uri \"$http_range\" $status $body_bytes_sent';\n\
               access_log {d}/access.log wharf;\n  client_body_temp_path {d}/tmp;\n  proxy_temp_path {d}/tmp;\n\
               fastcgi_temp_path {d}/tmp;\n  uwsgi_temp_path {d}/tmp;\n  scgi_temp_path {d}/tmp;\n\
               server {{\n    listen 127.0.0.1:{port};\n    root {public};\n\
                 location /pool/ {{ limit_rate 1m; }}\n  }}\n}}\n",
            public = self.public().display()
        );
        std::fs::create_dir_all(self.dir.join("tmp")).unwrap();
        std::fs::write(self.dir.join("nginx.conf"), conf).unwrap();
        let child = Command::new("nginx")
            .args(["-p", &self.dir.display().to_string(), "-c"])
            .arg(self.dir.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx is not installed: apt-get install nginx-light");
        self.nginx = Some(child);
        self.port = port;
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not listen: {}", self.error_log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(mut child) = self.nginx.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn json(scratch: &Scratch, args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&ok(scratch, args)).unwrap()
}

/// `wharf mirror create up URL bookworm …` with the upstream's exported key.
fn create_mirror(scratch: &Scratch, upstream: &Upstream, extra: &[&str]) {
    let key = scratch.path().join("upstream.asc");
    export_key(&upstream.gnupg, &key);
    let url = upstream.url();
    let mut args = vec!["mirror", "create", "up", &url, "bookworm", "--architecture", "amd64"];
    let key = key.display().to_string();
    args.extend(["--keyring", &key]);
    args.extend_from_slice(extra);
    ok(scratch, &args);
}

/// GETs of package files in the access log.
fn pool_requests(log: &str) -> Vec<&str> {
    log.lines().filter(|line| line.starts_with("GET /pool/")).collect()
}

#[test]
fn mirror_update_snapshot_publish_install() {
    let scratch = Scratch::new();
    let debs = scratch.path().join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    let hello = build_deb(&debs, "hello", "1.0-1", "all", "xz");
    let tool = build_deb_with(&debs, "tool", "0.5", "amd64", "gzip", "Depends: hello (>= 1.0)\n");
    let other = build_deb(&debs, "other", "3.0", "amd64", "gzip");
    let mut upstream = Upstream::new(&scratch);
    upstream.add_and_publish(&[&hello, &tool, &other]);
    create_mirror(&scratch, &upstream, &["--filter", "tool", "--filter-with-deps"]);
    let shown = json(&scratch, &["mirror", "show", "up", "--json"]);
    assert_eq!(shown["kind"], "mirror");
    assert_eq!(shown["packages"], 0);
    assert_eq!(shown["mirror"]["keys"][0], upstream.fingerprint.as_str());

    let report = json(&scratch, &["mirror", "update", "up", "--json"]);
    assert_eq!(
        (&report["packages"], &report["downloaded"], &report["reused"], &report["removed"]),
        (&2.into(), &2.into(), &0.into(), &0.into()),
        "the filter selects tool and, with its dependencies, hello: {report}"
    );
    let log = upstream.access_log();
    assert!(log.contains("GET /dists/bookworm/InRelease \"-\" 200"), "InRelease first:\n{log}");
    assert!(
        log.lines().any(|l| l.contains("/binary-amd64/by-hash/SHA256/")
            && l.ends_with(|c: char| c.is_ascii_digit())),
        "the index is fetched by hash:\n{log}"
    );
    assert_eq!(pool_requests(&log).len(), 2, "{log}");
    let listed = json(&scratch, &["mirror", "show", "up", "--with-packages", "--json"]);
    let names: Vec<&str> = listed["package_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["hello", "tool"]);

    // Frozen, republished by Wharf, installed by apt from the republish.
    ok(&scratch, &["snapshot", "create", "up-1", "--from", "up"]);
    ok(&scratch, &["publish", "--snapshot", "up-1", "--prefix", "up"]);
    let server = ServerProcess::start(&scratch, &[], true);
    let apt = apt_client(&scratch, &server, "up");
    apt_install(&apt, &["tool"]);
    let installed = apt.installed();
    assert!(installed.contains("tool=0.5") && installed.contains("hello=1.0-1"), "{installed}");

    // One new package upstream: exactly one file downloaded. tool's dependency is now
    // met best by hello 2.0-1, so hello 1.0-1 leaves the mirror.
    let hello2 = build_deb(&debs, "hello", "2.0-1", "all", "xz");
    upstream.add_and_publish(&[&hello2]);
    let before = pool_requests(&upstream.access_log()).len();
    let report = json(&scratch, &["mirror", "update", "up", "--json"]);
    assert_eq!(
        (&report["packages"], &report["downloaded"], &report["reused"], &report["removed"]),
        (&2.into(), &1.into(), &1.into(), &1.into()),
        "{report}"
    );
    let log = upstream.access_log();
    let after = pool_requests(&log);
    assert_eq!(after.len() - before, 1, "{log}");
    assert!(after.last().unwrap().contains("hello_2.0-1_all.deb"), "{log}");
    // The snapshot kept what it froze.
    let frozen = json(&scratch, &["snapshot", "show", "up-1", "--json"]);
    assert_eq!(frozen["packages"], 2);

    // Nothing new: nothing fetched, nothing recorded.
    let report = json(&scratch, &["mirror", "update", "up", "--json"]);
    assert_eq!(
        (&report["downloaded"], &report["generation"]),
        (&0.into(), &serde_json::Value::Null)
    );
    let audit = ok(&scratch, &["audit", "--json"]);
    assert_eq!(audit.matches("\"mirror.update\"").count(), 2, "{audit}");
    let listed = json(&scratch, &["mirror", "list", "--json"]);
    assert_eq!(listed[0]["packages"], 2);
    assert_eq!(listed[0]["mirror"]["release_date"], report["release_date"]);
}

/// Bad signature, unknown key, tampered index, tampered package: each refused with a
/// clear error and the mirror as it was.
#[test]
fn mirror_refuses_what_does_not_verify() {
    let scratch = Scratch::new();
    let debs = scratch.path().join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    let hello = build_deb(&debs, "hello", "1.0-1", "all", "gzip");
    let mut upstream = Upstream::new(&scratch);
    upstream.add_and_publish(&[&hello]);
    let refused = |needle: &str| {
        let (code, stdout, stderr) = outcome(&scratch.run(&["mirror", "update", "up"]));
        assert_ne!(code, 0, "{stdout}");
        assert!(stderr.contains(needle), "expected {needle:?} in:\n{stderr}");
        assert!(stderr.contains("nothing"), "says nothing changed:\n{stderr}");
        let shown = json(&scratch, &["mirror", "show", "up", "--json"]);
        assert_eq!(shown["packages"], 0, "the mirror is unchanged");
        assert_eq!(shown["mirror"]["release_date"], serde_json::Value::Null);
        code
    };

    // A keyring that does not hold the upstream's key.
    let stranger = scratch.path().join("stranger");
    gpg_key(&stranger, "Stranger <s@wharf.invalid>");
    let wrong = scratch.path().join("stranger.asc");
    export_key(&stranger, &wrong);
    let url = upstream.url();
    let wrong_key = wrong.display().to_string();
    let args = [
        "mirror",
        "create",
        "up",
        &url,
        "bookworm",
        "--architecture",
        "amd64",
        "--keyring",
        &wrong_key,
    ];
    ok(&scratch, &args);
    assert_eq!(refused("which the mirror's keyring"), 4);
    ok(&scratch, &["mirror", "drop", "up"]);
    create_mirror(&scratch, &upstream, &[]);

    // An altered InRelease (and no Release.gpg to fall back on).
    let inrelease = upstream.public().join("dists/bookworm/InRelease");
    let original = std::fs::read_to_string(&inrelease).unwrap();
    std::fs::write(&inrelease, original.replace("Components: main", "Components: main evil"))
        .unwrap();
    refused("BAD signature");
    std::fs::write(&inrelease, &original).unwrap();

    // A Packages index that is not what the signed Release says.
    let release =
        wharf_apt::mirror::Release::parse(&wharf_apt::mirror::unverified_release(&original))
            .unwrap();
    let index = release.packages_index("main", "amd64").unwrap();
    let by_hash = upstream.public().join("dists/bookworm").join(&index.fetch);
    let good_index = std::fs::read(&by_hash).unwrap();
    let mut bad_index = good_index.clone();
    *bad_index.last_mut().unwrap() ^= 1;
    std::fs::remove_file(&by_hash).unwrap();
    std::fs::write(&by_hash, &bad_index).unwrap();
    refused("the index is damaged or was tampered with");
    std::fs::write(&by_hash, &good_index).unwrap();

    // A package file that is not what the index says (same size, other bytes).
    let pool = upstream.public().join("pool/main/h/hello/hello_1.0-1_all.deb");
    let good_deb = std::fs::read(&pool).unwrap();
    let mut bad_deb = good_deb.clone();
    let middle = bad_deb.len() / 2;
    bad_deb[middle] ^= 0xff;
    std::fs::remove_file(&pool).unwrap();
    std::fs::write(&pool, &bad_deb).unwrap();
    refused("the file is damaged or was tampered with");
    std::fs::remove_file(&pool).unwrap();
    std::fs::write(&pool, &good_deb).unwrap();

    // Put right, the same mirror updates.
    let report = json(&scratch, &["mirror", "update", "up", "--json"]);
    assert_eq!(report["downloaded"], 1, "{report}");
    let audit = ok(&scratch, &["audit", "--json"]);
    assert_eq!(audit.matches("\"mirror.update\"").count(), 1, "refusals audit nothing: {audit}");
}

/// A `.deb` of about `size` bytes of incompressible data, stored uncompressed.
fn big_deb(out: &Path, name: &str, size: usize) -> PathBuf {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(root.join("usr/share").join(name)).unwrap();
    let mut data = vec![0u8; size];
    std::fs::File::open("/dev/urandom").unwrap().read_exact(&mut data).unwrap();
    std::fs::write(root.join("usr/share").join(name).join("blob"), data).unwrap();
    std::fs::write(
        root.join("DEBIAN/control"),
        format!("Package: {name}\nVersion: 1.0\nArchitecture: amd64\nMaintainer: T <t@wharf.invalid>\nDescription: big\n"),
    )
    .unwrap();
    let deb = out.join(format!("{name}_1.0_amd64.deb"));
    run(Command::new("dpkg-deb")
        .args(["-Znone", "--root-owner-group", "--build"])
        .arg(&root)
        .arg(&deb));
    deb
}

/// `wharf` killed in the middle of a download: the next update asks for the rest with
/// a `Range` request (nginx answers 206) and completes.
#[test]
fn interrupted_download_resumes_with_range() {
    let scratch = Scratch::new();
    let debs = scratch.path().join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    // nginx sends pool files at 1 MiB/s: 4 MiB take about four seconds.
    let big = big_deb(&debs, "big", 4 << 20);
    let size = std::fs::metadata(&big).unwrap().len();
    let mut upstream = Upstream::new(&scratch);
    upstream.add_and_publish(&[&big]);
    create_mirror(&scratch, &upstream, &[]);

    let mut child = scratch
        .wharf(&["mirror", "update", "up"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let partial = wait_for_partial_download(&scratch, &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(partial < size);
    assert_eq!(json(&scratch, &["mirror", "show", "up", "--json"])["packages"], 0);

    let report = json(&scratch, &["mirror", "update", "up", "--json"]);
    assert_eq!((&report["downloaded"], &report["resumed"]), (&1.into(), &1.into()), "{report}");
    let received = report["bytes"].as_u64().unwrap();
    assert!(received < size, "only the rest was fetched: {received} of {size}");
    let log = upstream.access_log();
    let resumed: Vec<&str> =
        pool_requests(&log).into_iter().filter(|l| l.contains("\"bytes=")).collect();
    assert_eq!(resumed.len(), 1, "{log}");
    assert!(resumed[0].contains(" 206 "), "{log}");
    assert_eq!(json(&scratch, &["mirror", "show", "up", "--json"])["packages"], 1);
    // The stored file is whole: Wharf's own check reads it back.
    let verified = ok(&scratch, &["repo", "verify", "--json"]);
    assert!(verified.contains("\"ok\":true") || verified.contains("\"ok\": true"), "{verified}");
}

/// Waits (bounded) until the update `child` has written at least 512 KiB of a package
/// file to its downloads directory; returns how much.
fn wait_for_partial_download(scratch: &Scratch, child: &mut std::process::Child) -> u64 {
    let downloads = scratch.path().join("wharf-data/mirror-downloads/up");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = std::fs::read_dir(&downloads).ok().and_then(|mut entries| {
            let entry = entries.next()?.ok()?;
            let len = entry.metadata().ok()?.len();
            (len >= 512 * 1024).then_some(len)
        });
        if let Some(len) = found {
            return len;
        }
        assert!(Instant::now() < deadline, "no partial download appeared");
        assert!(child.try_wait().unwrap().is_none(), "the update ended before it was interrupted");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A slow download does not hold the writer lock: a `repo add` completes while the
/// update is still downloading, a second update of the same mirror is refused, and the
/// first one then completes.
#[test]
fn downloads_do_not_block_other_writers() {
    let scratch = Scratch::new();
    let debs = scratch.path().join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    // nginx sends pool files at 1 MiB/s: 4 MiB take about four seconds.
    let big = big_deb(&debs, "big", 4 << 20);
    let mut upstream = Upstream::new(&scratch);
    upstream.add_and_publish(&[&big]);
    create_mirror(&scratch, &upstream, &[]);
    let small = build_deb(&debs, "small", "1.0", "all", "gzip");
    ok(&scratch, &["repo", "create", "tools", "--distribution", "bookworm"]);

    let mut child = scratch
        .wharf(&["mirror", "update", "up", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_partial_download(&scratch, &mut child);
    let added = ok(&scratch, &["repo", "add", "tools", small.to_str().unwrap()]);
    assert!(added.contains("added 1"), "{added}");
    let (code, _, stderr) = outcome(&scratch.run(&["mirror", "update", "up"]));
    assert_ne!(code, 0);
    assert!(stderr.contains("is being updated already"), "{stderr}");
    assert!(child.try_wait().unwrap().is_none(), "the add finished while the update downloaded");

    let done = child.wait_with_output().unwrap();
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    let report: serde_json::Value = serde_json::from_slice(&done.stdout).unwrap();
    assert_eq!(report["downloaded"], 1, "{report}");
    assert_eq!(json(&scratch, &["mirror", "show", "up", "--json"])["packages"], 1);
    assert_eq!(json(&scratch, &["repo", "show", "tools", "--json"])["packages"], 1);
}

/// `--with-sources`: the remote's `Sources`, each `.dsc` and its files are mirrored, and
/// `apt-get source` works from a publish of a snapshot of the mirror.
#[test]
fn mirror_with_sources_serves_apt_get_source() {
    let scratch = Scratch::new();
    let debs = scratch.path().join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    let hello = build_deb(&debs, "hello", "1.0-1", "all", "gzip");
    let dsc = build_source(&debs, "hello", "1.0", Some("1"));
    let mut upstream = Upstream::new(&scratch);
    upstream.architectures = "amd64,source";
    upstream.add_and_publish(&[&hello, &dsc]);
    create_mirror(&scratch, &upstream, &["--with-sources"]);
    assert_eq!(json(&scratch, &["mirror", "show", "up", "--json"])["mirror"]["with_sources"], true);

    let report = json(&scratch, &["mirror", "update", "up", "--json"]);
    assert_eq!((&report["packages"], &report["downloaded"]), (&2.into(), &2.into()), "{report}");
    let log = upstream.access_log();
    assert!(log.contains("/main/source/by-hash/SHA256/"), "Sources by hash:\n{log}");
    for file in ["hello_1.0-1.dsc", "hello_1.0.orig.tar.gz", "hello_1.0-1.debian.tar"] {
        assert!(pool_requests(&log).iter().any(|l| l.contains(file)), "{file}:\n{log}");
    }
    let again = json(&scratch, &["mirror", "update", "up", "--json"]);
    assert_eq!((&again["downloaded"], &again["generation"]), (&0.into(), &serde_json::Value::Null));

    ok(&scratch, &["snapshot", "create", "up-1", "--from", "up"]);
    ok(&scratch, &["publish", "--snapshot", "up-1", "--prefix", "up"]);
    let server = ServerProcess::start(&scratch, &[], true);
    let apt = deb_src_client(&scratch, &server, "up");
    let get = scratch.path().join("get");
    std::fs::create_dir_all(&get).unwrap();
    let (success, log) = apt.apt_get_in(&get, &["source", "hello"]);
    assert!(success && !log.lines().any(|l| l.starts_with("E:")), "{log}\n{}", server.log());
    let readme = std::fs::read_to_string(get.join("hello-1.0/README")).unwrap();
    assert!(readme.starts_with("hello"), "{readme}");
}

/// The mirror commands through a server (`--server`, the API's `/mirrors` routes): a
/// viewer lists and shows but may not create or update; a publisher creates (the keyring
/// file read on the client, sent armored), updates and drops.
#[test]
fn mirror_commands_through_the_server() {
    let scratch = Scratch::new();
    let debs = scratch.path().join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    let hello = build_deb(&debs, "hello", "1.0-1", "all", "gzip");
    let mut upstream = Upstream::new(&scratch);
    upstream.add_and_publish(&[&hello]);
    let publisher = crate::api::token(&scratch, "ci", "publisher", &[]);
    let viewer = crate::api::token(&scratch, "dashboard", "viewer", &[]);
    let server = ServerProcess::start(&scratch, &[], true);
    let url = format!("http://{}", server.addr);
    let remote = |token: &str, args: &[&str]| {
        let mut all = vec!["--server", url.as_str()];
        all.extend_from_slice(args);
        outcome(&scratch.wharf(&all).env("WHARF_TOKEN", token).output().unwrap())
    };
    let key = scratch.path().join("upstream.asc");
    export_key(&upstream.gnupg, &key);
    let (upstream_url, key) = (upstream.url(), key.display().to_string());
    let create =
        ["mirror", "create", "up", &upstream_url, "bookworm", "--arch", "amd64", "--keyring", &key];

    let (code, _, stderr) = remote(&viewer, &create);
    assert_ne!(code, 0, "a viewer may not create a mirror");
    assert!(stderr.contains("forbidden") || stderr.contains("role"), "{stderr}");
    let (code, stdout, stderr) = remote(&publisher, &create);
    assert_eq!(code, 0, "{stderr}\n{}", server.log());
    assert!(stdout.contains("created mirror up"), "{stdout}");

    let (code, _, _) = remote(&viewer, &["mirror", "update", "up"]);
    assert_ne!(code, 0, "a viewer may not update a mirror");
    let (code, stdout, stderr) = remote(&publisher, &["mirror", "update", "up", "--json"]);
    assert_eq!(code, 0, "{stderr}\n{}", server.log());
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["downloaded"], 1, "{report}");

    let (code, over_api, stderr) = remote(&viewer, &["mirror", "show", "up", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(over_api, ok(&scratch, &["mirror", "show", "up", "--json"]), "the same JSON");
    let shown: serde_json::Value = serde_json::from_str(&over_api).unwrap();
    assert_eq!(
        (&shown["packages"], &shown["mirror"]["keys"][0]),
        (&1.into(), &upstream.fingerprint.as_str().into())
    );
    let (code, listed, _) = remote(&viewer, &["mirror", "list", "--json"]);
    assert_eq!((code, listed), (0, ok(&scratch, &["mirror", "list", "--json"])));

    let (code, _, stderr) = remote(&publisher, &["mirror", "drop", "up"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json(&scratch, &["mirror", "list", "--json"]), serde_json::json!([]));
}
