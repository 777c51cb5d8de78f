//! `wharf server` over real sockets: content types, ranges, validators, path safety,
//! health, graceful shutdown, and atomic publishes seen by a real `apt-get` over HTTP.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::apt::{apt_client, build_deb, ok};
use crate::support::{
    HttpResponse, Scratch, ServerProcess, http, object_file, parse_response, release_sha256,
};

fn get(server: &ServerProcess, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    http(&server.addr, "GET", path, headers).expect("request")
}

/// A repository `r` (bookworm, amd64) with two small packages, published.
/// More packages than one `repo add` stores loose: these are packed, so the server
/// serves pool files from inside a pack file.
fn published(scratch: &Scratch) {
    let debs = scratch.path().join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    build_deb(&debs, "hello", "1.0", "all", "gzip");
    build_deb(&debs, "tool", "2.0", "amd64", "xz");
    for n in 0..16 {
        build_deb(&debs, &format!("filler{n:02}"), "1", "all", "gzip");
    }
    ok(scratch, &["repo", "create", "r", "--distribution", "bookworm"]);
    ok(scratch, &["repo", "add", "r", "debs"]);
    ok(scratch, &["publish", "r"]);
}

/// A `.deb` whose payload is `size` bytes that do not compress, stored uncompressed.
fn build_big_deb(out_dir: &Path, size: usize) -> std::path::PathBuf {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(root.join("usr/share/big")).unwrap();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let payload: Vec<u8> = (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect();
    std::fs::write(root.join("usr/share/big/blob"), payload).unwrap();
    std::fs::write(
        root.join("DEBIAN/control"),
        "Package: big\nVersion: 1\nArchitecture: all\nMaintainer: T <t@wharf.invalid>\nDescription: big\n",
    )
    .unwrap();
    let out = out_dir.join("big_1_all.deb");
    let status = Command::new("dpkg-deb")
        .args(["-Znone", "--root-owner-group", "--build"])
        .arg(&root)
        .arg(&out)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    out
}

#[test]
fn content_types_head_and_ranges() {
    let scratch = Scratch::new();
    published(&scratch);
    let server = ServerProcess::start(&scratch, &[], true);
    let tree = scratch.path().join("wharf-data/public/r");
    let dists = "/apt/r/dists/bookworm";
    let release = get(&server, &format!("{dists}/Release"), &[]);
    assert_eq!(release.status, 200);
    assert_eq!(release.body, std::fs::read(tree.join("dists/bookworm/Release")).unwrap());
    // The by-hash name of Packages.xz, from the Release file.
    let release_text = String::from_utf8(release.body.clone()).unwrap();
    let xz_hash = release_sha256(&release_text, "main/binary-amd64/Packages.xz");
    let pool = "/apt/r/pool/main/h/hello/hello_1.0_all.deb";
    for (path, expected) in [
        (format!("{dists}/Release"), "text/plain; charset=utf-8"),
        (format!("{dists}/InRelease"), "text/plain; charset=utf-8"),
        (format!("{dists}/Release.gpg"), "application/pgp-signature"),
        (format!("{dists}/main/binary-amd64/Packages"), "text/plain; charset=utf-8"),
        (format!("{dists}/main/binary-amd64/Packages.gz"), "application/gzip"),
        (format!("{dists}/main/binary-amd64/Packages.xz"), "application/x-xz"),
        (format!("{dists}/main/binary-amd64/by-hash/SHA256/{xz_hash}"), "application/x-xz"),
        (pool.to_owned(), "application/vnd.debian.binary-package"),
    ] {
        let response = get(&server, &path, &[]);
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(response.header("content-type"), Some(expected), "{path}");
        let head = http(&server.addr, "HEAD", &path, &[]).unwrap();
        assert_eq!(head.status, 200, "HEAD {path}");
        assert!(head.body.is_empty(), "HEAD {path} has a body");
        assert_eq!(head.header("content-length"), Some(response.body.len().to_string().as_str()));
    }

    let deb = std::fs::read(scratch.path().join("debs/hello_1.0_all.deb")).unwrap();
    let object = object_file(&scratch, "r", "pool/main/h/hello/hello_1.0_all.deb");
    assert!(object.extension().is_some_and(|ext| ext == "pack"), "{}", object.display());
    assert_eq!(get(&server, pool, &[]).body, deb, "the pool file is the added file");
    let len = deb.len();
    let partial = get(&server, pool, &[("Range", "bytes=8-99")]);
    assert_eq!(partial.status, 206);
    assert_eq!(partial.header("content-range"), Some(format!("bytes 8-99/{len}").as_str()));
    assert_eq!(partial.body, deb[8..100]);
    let resume = get(&server, pool, &[("Range", "bytes=100-")]);
    assert_eq!((resume.status, resume.body.as_slice()), (206, &deb[100..]));
    let suffix = get(&server, pool, &[("Range", "bytes=-10")]);
    assert_eq!((suffix.status, suffix.body.as_slice()), (206, &deb[len - 10..]));
    let beyond = get(&server, pool, &[("Range", &format!("bytes={len}-"))]);
    assert_eq!(beyond.status, 416);
    assert_eq!(beyond.header("content-range"), Some(format!("bytes */{len}").as_str()));
    // If-Range with a stale validator: the whole file, not a fragment of the new one.
    let stale = get(&server, pool, &[("Range", "bytes=0-9"), ("If-Range", "\"stale\"")]);
    assert_eq!((stale.status, stale.body.len()), (200, len));
}

#[test]
fn etag_and_last_modified_give_304() {
    let scratch = Scratch::new();
    published(&scratch);
    let server = ServerProcess::start(&scratch, &[], true);
    let inrelease = "/apt/r/dists/bookworm/InRelease";
    let first = get(&server, inrelease, &[]);
    let etag = first.header("etag").expect("ETag").to_owned();
    let again = get(&server, inrelease, &[("If-None-Match", &etag)]);
    assert_eq!((again.status, again.body.len()), (304, 0));
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    assert_eq!(get(&server, inrelease, &[("If-None-Match", "\"other\"")]).status, 200);

    // A new publish replaces InRelease: the old ETag no longer matches.
    let debs = scratch.path().join("debs");
    build_deb(&debs, "hello", "1.1", "all", "gzip");
    ok(&scratch, &["repo", "add", "r", "debs"]);
    ok(&scratch, &["publish", "r"]);
    let changed = get(&server, inrelease, &[("If-None-Match", &etag)]);
    assert_eq!(changed.status, 200);
    assert_ne!(changed.header("etag"), Some(etag.as_str()));
    assert_ne!(changed.body, first.body);

    // Last-Modified: a file that has not changed for a while carries one, and
    // If-Modified-Since with it (or later) is 304, with an earlier date 200.
    let pool = "/apt/r/pool/main/h/hello/hello_1.0_all.deb";
    let file = object_file(&scratch, "r", "pool/main/h/hello/hello_1.0_all.deb");
    let touched =
        Command::new("touch").args(["-d", "2024-01-02 03:04:05 UTC"]).arg(&file).status().unwrap();
    assert!(touched.success());
    let response = get(&server, pool, &[]);
    assert_eq!(response.header("last-modified"), Some("Tue, 02 Jan 2024 03:04:05 GMT"));
    let since = get(&server, pool, &[("If-Modified-Since", "Tue, 02 Jan 2024 03:04:05 GMT")]);
    assert_eq!(since.status, 304);
    let earlier = get(&server, pool, &[("If-Modified-Since", "Tue, 02 Jan 2024 03:04:04 GMT")]);
    assert_eq!(earlier.status, 200);
    // A file written just now has no Last-Modified yet (see the server's `files` module).
    assert_eq!(changed.header("last-modified"), None);
}

#[test]
fn paths_outside_the_published_trees_are_refused() {
    let scratch = Scratch::new();
    published(&scratch);
    let tree = scratch.path().join("wharf-data/public/r");
    std::os::unix::fs::symlink("/etc/passwd", tree.join("passwd")).unwrap();
    std::os::unix::fs::symlink(scratch.path().join("wharf-data"), tree.join("data")).unwrap();
    std::os::unix::fs::symlink(tree.join("dists/bookworm/Release"), tree.join("inside")).unwrap();
    let server = ServerProcess::start(&scratch, &[], true);
    for path in [
        "/apt/r/../../wharf.db",
        "/apt/r/dists/../../../wharf.db",
        "/apt/r/%2e%2e/%2e%2e/wharf.db",
        "/apt/r/%2E%2E/%2E%2E/keys/signing.asc",
        "/apt/r/..%2f..%2fwharf.db",
        "/apt/%2e%2e/wharf.db",
        "/apt/r/.wharf-state.json",
        "/apt/r/passwd",
        "/apt/r/data/wharf.db",
        "/apt/r/data/keys/signing.asc",
        "/apt/r/dists/bookworm/",
        "/apt/r/dists",
        "/apt/r/",
        "/apt/r",
        "/apt/",
        "/apt/r/nothing-here",
        "/wharf.db",
    ] {
        let response = get(&server, path, &[]);
        assert!(
            response.status == 400 || response.status == 404,
            "{path}: {} {}",
            response.status,
            String::from_utf8_lossy(&response.body)
        );
        let body = String::from_utf8_lossy(&response.body);
        assert!(body.contains("\"code\""), "{path}: not an API error: {body}");
        assert!(!body.contains("root:") && !body.contains("SQLite"), "{path} leaked: {body}");
    }
    // A symlink that stays inside the tree is fine.
    assert_eq!(get(&server, "/apt/r/inside", &[]).status, 200);
    // Read-only.
    let post = http(&server.addr, "POST", "/apt/r/dists/bookworm/Release", &[]).unwrap();
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
}

#[test]
fn healthz_reports_the_store() {
    let scratch = Scratch::new();
    published(&scratch);
    let server = ServerProcess::start(&scratch, &[], true);
    let health = get(&server, "/healthz", &[]);
    assert_eq!(health.status, 200);
    let body: serde_json::Value = serde_json::from_slice(&health.body).unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["store"], "sqlite");
    drop(server);

    // A database nobody answers on: 503, while the published trees are still served.
    let down = ServerProcess::start(
        &scratch,
        &["--database", "postgres://wharf@127.0.0.1:1/wharf?connect_timeout=2"],
        false,
    );
    let health = get(&down, "/healthz", &[]);
    assert_eq!(health.status, 503, "{}", String::from_utf8_lossy(&health.body));
    let body: serde_json::Value = serde_json::from_slice(&health.body).unwrap();
    assert_eq!(body["status"], "unavailable");
    assert_eq!(get(&down, "/apt/r/dists/bookworm/InRelease", &[]).status, 200);
}

#[test]
fn sigterm_finishes_in_flight_requests_and_exits_0() {
    let scratch = Scratch::new();
    let debs = scratch.path().join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    let size = 32 << 20;
    build_big_deb(&debs, size);
    ok(&scratch, &["repo", "create", "r", "--distribution", "bookworm"]);
    ok(&scratch, &["repo", "add", "r", "debs"]);
    ok(&scratch, &["publish", "r"]);
    let expected = std::fs::read(scratch.path().join("debs/big_1_all.deb")).unwrap();
    let mut server = ServerProcess::start(&scratch, &[], true);

    // Start a download and read only its first bytes: the server is mid-response.
    let mut stream = std::net::TcpStream::connect(&server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(stream, "GET /apt/r/pool/main/b/big/big_1_all.deb HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut raw = vec![0u8; 64 * 1024];
    stream.read_exact(&mut raw).unwrap();

    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    // New connections are refused once the signal is handled (bounded poll).
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&server.addr).is_ok() {
        assert!(Instant::now() < deadline, "still accepting connections after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(server.child.try_wait().unwrap().is_none(), "exited before the download finished");

    // The download in flight completes, byte for byte.
    let mut rest = Vec::new();
    let mut buffer = vec![0u8; 1 << 20];
    let response = loop {
        let n_read = stream.read(&mut buffer).unwrap();
        assert!(n_read > 0, "connection closed before the body was complete");
        rest.extend_from_slice(&buffer[..n_read]);
        if let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n")
            && raw.len() + rest.len() >= split + 4 + expected.len()
        {
            raw.extend_from_slice(&rest);
            break parse_response(&raw);
        }
    };
    assert_eq!(response.status, 200);
    assert_eq!(response.body.len(), expected.len());
    assert!(response.body == expected, "body differs from the published file");
    drop(stream);

    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "server did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0), "log:\n{}", server.log());
}

/// `apt-get update` in a loop while publishes run one after another: never a hash-sum
/// mismatch or any other error, because indices are fetched by hash and `InRelease` is
/// replaced last.
#[test]
fn apt_update_during_publishes_never_sees_a_mix() {
    let scratch = Scratch::new();
    let debs = scratch.path().join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    for idx in 0..20 {
        build_deb(&debs, &format!("base{idx}"), "1.0", "all", "gzip");
    }
    ok(
        &scratch,
        &["repo", "create", "r", "--distribution", "bookworm", "--architectures", "amd64,arm64"],
    );
    ok(&scratch, &["repo", "add", "r", "debs"]);
    ok(&scratch, &["publish", "r"]);
    let server = ServerProcess::start(&scratch, &[], true);
    let apt = apt_client(&scratch, &server, "r");

    const N_PUBLISHES: u32 = 15;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let publisher = {
        let done = done.clone();
        let data = scratch.path().join("wharf-data");
        let dir = scratch.path().to_owned();
        std::thread::spawn(move || {
            let wharf = |args: &[&str]| {
                let output = Command::new(env!("CARGO_BIN_EXE_wharf"))
                    .args(args)
                    .arg("--data")
                    .arg(&data)
                    .current_dir(&dir)
                    .env("WHARF_ACTOR", "tester")
                    // Never the machine's own /etc/wharf/wharf.toml.
                    .env("WHARF_SYSTEM_CONFIG", dir.join("no-system-config.toml"))
                    .output()
                    .unwrap();
                assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
            };
            let new_debs = dir.join("new-debs");
            for round in 0..N_PUBLISHES {
                std::fs::create_dir_all(&new_debs).unwrap();
                build_deb(&new_debs, "moving", &format!("1.{round}"), "all", "xz");
                wharf(&["repo", "add", "r", new_debs.to_str().unwrap()]);
                wharf(&["publish", "r"]);
                std::fs::remove_dir_all(&new_debs).unwrap();
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        })
    };
    let mut n_updates = 0;
    // Bounded: the publisher finishes in a fixed number of rounds; stop early on failure.
    while !done.load(std::sync::atomic::Ordering::SeqCst) || n_updates < 3 {
        let (success, log) = apt.apt_get(&["update"]);
        assert!(
            success && !log.contains("E:") && !log.contains("W:"),
            "apt-get update #{n_updates} during publishes:\n{log}"
        );
        assert!(!log.contains("Hash Sum mismatch"), "{log}");
        n_updates += 1;
        assert!(n_updates < 1000, "publisher never finished");
    }
    publisher.join().unwrap();
    assert!(n_updates >= 3, "only {n_updates} updates overlapped the publishes");
    // The last loop update may have started before the last publish finished.
    let (success, log) = apt.apt_get(&["update"]);
    assert!(success && !log.contains("W:"), "{log}");
    let (success, log) = apt.apt_get(&["install", "-y", &format!("moving=1.{}", N_PUBLISHES - 1)]);
    assert!(success, "{log}");

    // Incremental publishes (stanzas reused from the previous publish, compressed chunks
    // from the cache) wrote exactly what a publish from scratch writes.
    ok(&scratch, &["publish", "r", "--to-dir", "fresh"]);
    for arch in ["amd64", "arm64"] {
        let rel = format!("dists/bookworm/main/binary-{arch}/Packages");
        let incremental =
            std::fs::read(scratch.path().join("wharf-data/public/r").join(&rel)).unwrap();
        let fresh = std::fs::read(scratch.path().join("fresh").join(&rel)).unwrap();
        assert!(incremental == fresh, "{rel} differs from a publish from scratch");
        assert_eq!(
            String::from_utf8(fresh).unwrap().matches("Package: ").count(),
            20 + N_PUBLISHES as usize
        );
    }
}

/// One request on an open keep-alive connection; the response read by its
/// `Content-Length`. Returns the status and how long the whole exchange took.
fn keep_alive_get(
    stream: &mut std::net::TcpStream,
    addr: &str,
    path: &str,
) -> (u16, usize, Duration) {
    let started = Instant::now();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: keep-alive\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "the server closed a keep-alive connection");
        raw.extend_from_slice(&buf[..n]);
        if let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let response = parse_response(&raw);
            let len: usize =
                response.header("content-length").expect("Content-Length").parse().unwrap();
            if raw.len() >= split + 4 + len {
                assert_eq!(raw.len(), split + 4 + len, "more than one response");
                return (response.status, len, started.elapsed());
            }
        }
    }
}

/// The stall of issue 11: a response written in two pieces (headers, then the body) on a
/// socket without `TCP_NODELAY` waits for the client's delayed ACK (~40 ms) on every
/// request after the first of a keep-alive connection. Every request here after the first
/// must take under 10 ms. Scheduling noise on a busy machine can delay one request, so a
/// connection gets three tries; the stall delays every one of them.
#[test]
fn keep_alive_requests_are_not_delayed() {
    let scratch = Scratch::new();
    published(&scratch);
    let server = ServerProcess::start(&scratch, &[], true);
    let paths = [
        "/apt/r/pool/main/h/hello/hello_1.0_all.deb",
        "/apt/r/dists/bookworm/InRelease",
        "/apt/r/dists/bookworm/main/binary-amd64/Packages.gz",
    ];
    let mut tries = Vec::new();
    for _ in 0..3 {
        let mut stream = std::net::TcpStream::connect(&server.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut times = Vec::new();
        for round in 0..3 {
            for path in paths {
                let (status, len, took) = keep_alive_get(&mut stream, &server.addr, path);
                assert_eq!(status, 200, "{path}");
                assert!(len > 0, "{path}");
                if round > 0 || path != paths[0] {
                    times.push((path, took));
                }
            }
        }
        let slow: Vec<_> =
            times.iter().filter(|(_, took)| *took > Duration::from_millis(10)).collect();
        if slow.is_empty() {
            return;
        }
        tries.push(format!("{slow:?}"));
    }
    panic!("keep-alive requests over 10 ms in every try:\n{}", tries.join("\n"));
}

/// Small files are served from memory while they are the file on disk (the server's
/// `file_cache`): every publish must show at once — the next request after `publish`
/// returns gets the new `InRelease`, `Release` and indices, byte for byte what is on disk —
/// and a cached path whose symlink now leads outside the trees is refused, not served.
#[test]
fn a_publish_shows_at_once_despite_the_file_cache() {
    let scratch = Scratch::new();
    published(&scratch);
    let tree = scratch.path().join("wharf-data/public/r");
    let server = ServerProcess::start(&scratch, &[], true);
    let files = [
        "dists/bookworm/InRelease",
        "dists/bookworm/Release",
        "dists/bookworm/main/binary-amd64/Packages",
        "dists/bookworm/main/binary-amd64/Packages.gz",
    ];
    let debs = scratch.path().join("debs");
    for round in 0..3 {
        for file in files {
            let on_disk = std::fs::read(tree.join(file)).unwrap();
            // Twice: the second answer comes from memory.
            for _ in 0..2 {
                let response = get(&server, &format!("/apt/r/{file}"), &[]);
                assert_eq!(response.status, 200, "{file}");
                assert!(response.body == on_disk, "round {round}: /apt/r/{file} is stale");
            }
        }
        let pool = format!("pool/main/h/hello/hello_1.{round}_all.deb");
        if round > 0 {
            let deb = std::fs::read(debs.join(format!("hello_1.{round}_all.deb"))).unwrap();
            assert_eq!(get(&server, &format!("/apt/r/{pool}"), &[]).body, deb, "{pool}");
        }
        build_deb(&debs, "hello", &format!("1.{}", round + 1), "all", "gzip");
        ok(&scratch, &["repo", "add", "r", "debs"]);
        ok(&scratch, &["publish", "r"]);
    }

    // A symlink inside the tree, served (and cached), then pointed outside.
    let link = tree.join("inside");
    std::os::unix::fs::symlink(tree.join("dists/bookworm/Release"), &link).unwrap();
    assert_eq!(get(&server, "/apt/r/inside", &[]).status, 200);
    assert_eq!(get(&server, "/apt/r/inside", &[]).status, 200);
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
    let response = get(&server, "/apt/r/inside", &[]);
    assert_eq!(response.status, 404, "{}", String::from_utf8_lossy(&response.body));
    assert!(!String::from_utf8_lossy(&response.body).contains("root:"));
}

/// An address that is nothing: a page with a way back for a browser, the JSON error for
/// API clients, curl and apt.
#[test]
fn unknown_addresses_answer_browsers_with_a_page() {
    let scratch = Scratch::new();
    scratch.config("");
    let server = ServerProcess::start(&scratch, &[], true);
    let browser = [("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")];
    let page = get(&server, "/no-such-page", &browser);
    let html = String::from_utf8_lossy(&page.body);
    assert_eq!(page.status, 404, "{html}");
    assert!(page.header("content-type").unwrap().starts_with("text/html"), "{:?}", page.headers);
    assert!(html.contains("There is no page at this address.") && html.contains(r#"href="/""#));
    let json = get(&server, "/no-such-page", &[]);
    assert_eq!(json.status, 404);
    assert!(String::from_utf8_lossy(&json.body).contains(r#""code":"not_found""#));
    let api = get(&server, "/api/v1/no-such-route", &browser);
    assert!(String::from_utf8_lossy(&api.body).contains(r#""code":"not_found""#));
}

/// `GET /api/v1/deploys?limit=` takes 1 to 1,000: more would let one viewer's request make
/// the server decode and serialize every deploy in the store.
#[test]
fn deploy_history_limit_is_bounded() {
    let scratch = Scratch::new();
    let viewer = crate::api::token(&scratch, "reader", "viewer", &[]);
    let server = ServerProcess::start(&scratch, &[], true);
    let auth = format!("Bearer {viewer}");
    for (limit, status) in
        [("1", 200), ("1000", 200), ("0", 400), ("1001", 400), ("4294967295", 400)]
    {
        let response =
            get(&server, &format!("/api/v1/deploys?limit={limit}"), &[("Authorization", &auth)]);
        let body = String::from_utf8_lossy(&response.body);
        assert_eq!(response.status, status, "limit={limit}: {body}");
        if status == 400 {
            assert!(body.contains("limit must be 1 to 1000"), "{body}");
        }
    }
}
