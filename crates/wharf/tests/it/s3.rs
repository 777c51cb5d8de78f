//! S3-compatible storage end to end, against a real S3 server the test starts: moto's
//! `moto_server` (PyPI `moto[server]`, pinned in `.ci/run`), a complete S3 REST
//! implementation, on 127.0.0.1 with a free port. Wharf talks to it through `object_store`
//! exactly as to AWS; the tests look into the bucket with signed S3 requests of their own
//! (`wharf_storage::Bucket` on the whole bucket), not through the `wharf` binary.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::apt::{apt_client, apt_install, build_deb, ok};
use crate::support::{HttpResponse, Scratch, ServerProcess, http, outcome, release_sha256};

const BUCKET: &str = "wharf-test";
/// A key prefix inside the bucket, so prefix handling is exercised too.
const URL: &str = "s3://wharf-test/ci";
const SECRET: &str = "wharf-test-secret-never-printed";

/// A running `moto_server` on 127.0.0.1 with the test bucket created; killed on drop.
struct S3Server {
    child: Child,
    addr: String,
    log: std::path::PathBuf,
    /// The whole bucket (no key prefix), for looking inside.
    bucket: wharf_storage::Bucket,
    runtime: tokio::runtime::Runtime,
}

impl S3Server {
    fn start(scratch: &Scratch) -> S3Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = scratch.path().join("moto.log");
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|err| {
                panic!("cannot start moto_server ({err}): pip install 'moto[server]==5.2.1'")
            });
        let addr = format!("127.0.0.1:{port}");
        let settings: Vec<(String, String)> = env_for(&format!("http://{addr}"))
            .into_iter()
            .filter(|(key, _)| key.starts_with("AWS_"))
            .map(|(key, value)| (key.to_ascii_lowercase(), value))
            .collect();
        let settings: Vec<(&str, &str)> =
            settings.iter().map(|(key, value)| (key.as_str(), value.as_str())).collect();
        let url = wharf_storage::StorageUrl::parse(&format!("s3://{BUCKET}")).unwrap();
        let bucket = wharf_storage::Bucket::from_env_with(&url, &settings).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let server = S3Server { child, addr, log, bucket, runtime };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !http(&server.addr, "GET", "/", &[]).is_ok_and(|r| r.status == 200) {
            assert!(Instant::now() < deadline, "moto_server did not answer within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        let created = server.request("PUT", &format!("/{BUCKET}"), &[]);
        assert_eq!(
            created.status,
            200,
            "create bucket: {}",
            String::from_utf8_lossy(&created.body)
        );
        server
    }

    fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
        http(&self.addr, method, path, headers).expect("S3 request")
    }

    /// Every key in the bucket (ListObjectsV2), sorted.
    fn keys(&self) -> Vec<String> {
        let listed = self.runtime.block_on(self.bucket.list("")).unwrap();
        let mut keys: Vec<String> = listed.into_iter().map(|(key, _)| key).collect();
        keys.sort();
        keys
    }

    /// An object's content.
    fn get(&self, key: &str) -> Vec<u8> {
        self.runtime.block_on(self.bucket.get(key)).unwrap().to_vec()
    }

    /// Replace an object's content behind Wharf's back.
    fn overwrite(&self, key: &str, body: &[u8]) {
        self.runtime.block_on(self.bucket.put(key, body.to_vec().into())).unwrap();
    }

    /// The environment a Wharf process needs to use this server.
    fn env(&self) -> Vec<(String, String)> {
        env_for(&format!("http://{}", self.addr))
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- moto log ---\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}

fn env_for(endpoint: &str) -> Vec<(String, String)> {
    [
        ("WHARF_STORAGE", URL),
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "wharf-test-key"),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value.to_owned()))
    .collect()
}

/// A scratch directory using a fresh S3 server, with `tools` (bookworm, amd64) holding
/// hello 1.0-1 and 2.0-1, published.
fn published() -> (Scratch, S3Server) {
    let scratch = Scratch::new();
    let s3 = S3Server::start(&scratch);
    let scratch = scratch.with_env(s3.env());
    let debs = scratch.path().join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    build_deb(&debs, "hello", "1.0-1", "all", "gzip");
    build_deb(&debs, "hello", "2.0-1", "all", "xz");
    ok(&scratch, &["repo", "create", "tools", "--distribution", "bookworm"]);
    assert!(ok(&scratch, &["repo", "add", "tools", "debs"]).contains("added 2"));
    let published = ok(&scratch, &["publish", "tools"]);
    assert!(published.contains(&format!("{URL}/public/tools")), "{published}");
    (scratch, s3)
}

fn sha256_of(path: &std::path::Path) -> String {
    let output = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(output.stdout).unwrap().split_whitespace().next().unwrap().to_owned()
}

/// (a) Published into the bucket, served from it by `wharf server`, installed by a real
/// `apt-get` that checks the signature.
#[test]
fn publish_to_s3_and_install_with_real_apt() {
    let (scratch, _s3) = published();
    let server = ServerProcess::start(&scratch, &[], true);
    let apt = apt_client(&scratch, &server, "tools");
    apt_install(&apt, &["hello=1.0-1"]);
    assert_eq!(apt.installed(), "hello=1.0-1\n");

    // A change reaches apt through the bucket too.
    ok(&scratch, &["repo", "remove", "tools", "hello (= 2.0-1)"]);
    assert!(ok(&scratch, &["publish", "tools"]).contains("1 packages"));
    let (success, log) = apt.apt_get(&["update"]);
    assert!(success && !log.contains("W:") && !log.contains("E:"), "{log}");
    let (success, log) = apt.apt_get(&["install", "-y", "hello=2.0-1"]);
    assert!(!success, "hello 2.0-1 is still installable after its removal:\n{log}");
    ok(&scratch, &["health", "--min-free-percent", "0"]);
    ok(&scratch, &["repo", "verify"]);
}

/// (b) Objects and the published tree are in the bucket, under the URL's prefix, and
/// nothing is written to DATA/objects or DATA/public; cleanup and publish drop work on
/// the bucket.
#[test]
fn objects_and_trees_live_in_the_bucket() {
    let (scratch, s3) = published();
    let hello1 = sha256_of(&scratch.path().join("debs/hello_1.0-1_all.deb"));
    let hello2 = sha256_of(&scratch.path().join("debs/hello_2.0-1_all.deb"));
    let keys = s3.keys();
    for expected in [
        format!("ci/objects/sha256/{}/{hello1}", &hello1[..2]),
        format!("ci/objects/sha256/{}/{hello2}", &hello2[..2]),
        "ci/public/tools/dists/bookworm/InRelease".to_owned(),
        "ci/public/tools/dists/bookworm/Release".to_owned(),
        "ci/public/tools/dists/bookworm/Release.gpg".to_owned(),
        "ci/public/tools/dists/bookworm/main/binary-amd64/Packages.xz".to_owned(),
        "ci/public/tools/pool/main/h/hello/hello_1.0-1_all.deb".to_owned(),
        "ci/public/tools/pool/main/h/hello/hello_2.0-1_all.deb".to_owned(),
    ] {
        assert!(keys.contains(&expected), "{expected} not in the bucket: {keys:#?}");
    }
    assert!(keys.iter().any(|key| key.contains("/by-hash/SHA256/")), "{keys:#?}");
    assert!(keys.iter().all(|key| key.starts_with("ci/")), "{keys:#?}");
    assert!(!keys.iter().any(|key| key.contains("/.")), "dot-files uploaded: {keys:#?}");
    // The upload order, from the S3 server's request log (one line per completed request):
    // pool copies, by-hash, plain indices, Release and Release.gpg, InRelease last.
    let log = std::fs::read_to_string(&s3.log).unwrap();
    let puts: Vec<&str> = log
        .lines()
        .filter_map(|line| line.split("\"PUT /wharf-test/ci/public/tools/").nth(1))
        .filter_map(|rest| rest.split(' ').next())
        .collect();
    let rank = |path: &str| match path {
        _ if path.starts_with("pool/") => 0,
        _ if path.contains("/by-hash/") => 1,
        _ if path.ends_with("/InRelease") => 4,
        _ if path.ends_with("/Release") || path.ends_with("/Release.gpg") => 3,
        _ => 2,
    };
    assert!(puts.len() >= 10, "{puts:#?}");
    assert!(puts.windows(2).all(|pair| rank(pair[0]) <= rank(pair[1])), "{puts:#?}");
    assert_eq!(puts.iter().filter(|path| rank(path) == 4).count(), 1, "{puts:#?}");
    let data = scratch.path().join("wharf-data");
    assert!(!data.join("objects").exists(), "DATA/objects was written");
    assert!(!data.join("public").exists(), "DATA/public was written");
    let listed = ok(&scratch, &["publish", "list", "--json"]);
    assert!(listed.contains(&format!("{URL}/public/tools")), "{listed}");

    // The pool copy is the package, byte for byte.
    let pool = s3.get("ci/public/tools/pool/main/h/hello/hello_1.0-1_all.deb");
    assert_eq!(pool, std::fs::read(scratch.path().join("debs/hello_1.0-1_all.deb")).unwrap());

    // Cleanup deletes the unreferenced object from the bucket, and only that one.
    ok(&scratch, &["repo", "remove", "tools", "hello (= 2.0-1)"]);
    let cleaned = ok(&scratch, &["repo", "cleanup", "--json"]);
    assert!(cleaned.contains("\"files\": 1"), "{cleaned}");
    let keys = s3.keys();
    assert!(
        !keys.iter().any(|key| key.ends_with(&hello2) && key.contains("objects/")),
        "{keys:#?}"
    );
    assert!(keys.iter().any(|key| key.ends_with(&hello1) && key.contains("objects/")), "{keys:#?}");
    ok(&scratch, &["repo", "verify"]);

    // Dropping the publish removes its tree from the bucket; objects stay.
    ok(&scratch, &["publish", "drop", "tools"]);
    let keys = s3.keys();
    assert!(!keys.iter().any(|key| key.starts_with("ci/public/")), "{keys:#?}");
    assert!(keys.iter().any(|key| key.starts_with("ci/objects/")), "{keys:#?}");
    assert!(!data.join("objects").exists() && !data.join("public").exists());
}

/// (c) `repo verify` reads the objects back from the bucket and notices a changed one.
#[test]
fn verify_detects_an_object_corrupted_in_the_bucket() {
    let (scratch, s3) = published();
    ok(&scratch, &["repo", "verify"]);
    let hello1 = sha256_of(&scratch.path().join("debs/hello_1.0-1_all.deb"));
    let key = format!("ci/objects/sha256/{}/{hello1}", &hello1[..2]);
    s3.overwrite(&key, b"not a package any more");
    let (code, stdout, stderr) = outcome(&scratch.run(&["repo", "verify"]));
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("BAD") && stdout.contains(&format!("s3://{BUCKET}/{key}")), "{stdout}");
    assert_eq!(stdout.matches("BAD").count(), 1, "{stdout}");
    let (code, stdout, _) = outcome(&scratch.run(&["repo", "verify", "--json"]));
    assert_eq!(code, 1);
    assert!(stdout.contains("\"ok\": false"), "{stdout}");
}

/// (d) An endpoint nobody answers on: a clear error naming the storage URL and the
/// endpoint (never the secret), a non-zero exit, nothing recorded; `health` says
/// unreachable. An unsupported URL is a usage error naming the setting.
#[test]
fn unreachable_storage_is_a_clear_error_and_changes_nothing() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let endpoint = format!("http://127.0.0.1:{closed}");
    let scratch = Scratch::new().with_env(env_for(&endpoint));
    let debs = scratch.path().join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    build_deb(&debs, "hello", "1.0-1", "all", "gzip");
    ok(&scratch, &["repo", "create", "tools", "--distribution", "bookworm"]);
    let started = Instant::now();
    let (code, stdout, stderr) = outcome(&scratch.run(&["repo", "add", "tools", "debs"]));
    assert_ne!(code, 0, "{stdout}{stderr}");
    assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());
    assert!(stderr.contains(&format!("s3://{BUCKET}/ci/objects/")), "{stderr}");
    assert!(stderr.contains(&endpoint), "{stderr}");
    assert!(!stderr.contains(SECRET) && !stdout.contains(SECRET), "{stderr}");
    let shown = ok(&scratch, &["repo", "show", "tools", "--json"]);
    assert!(shown.contains("\"packages\": 0"), "{shown}");
    let audit = ok(&scratch, &["audit", "--action", "repo.add", "--json"]);
    assert!(!audit.contains("repo.add"), "{audit}");

    let (code, stdout, stderr) = outcome(&scratch.run(&["health"]));
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("storage {URL}")) && stdout.contains("unreachable"),
        "{stdout}"
    );
    assert!(!stdout.contains(SECRET) && !stderr.contains(SECRET));

    for (url, shown) in [("gs://bucket/x", "gs://"), ("s3://user:pw@bucket", "s3://***@bucket")] {
        let (code, _, stderr) = outcome(&scratch.run(&["--storage", url, "repo", "list"]));
        assert_eq!(code, 2, "{url}: {stderr}");
        assert!(stderr.contains(shown) && stderr.contains("s3://BUCKET[/PREFIX]"), "{stderr}");
        assert!(stderr.contains("--storage") && stderr.contains("[store] storage"), "{stderr}");
        assert!(!stderr.contains("pw@"), "{stderr}");
    }
}

/// (e) `wharf server` from the bucket: content types, HEAD, Range (206/416), ETag and
/// If-None-Match (304), Last-Modified, path checks; a new publish changes the ETag.
#[test]
fn server_ranges_etags_and_path_checks_from_the_bucket() {
    let (scratch, s3) = published();
    let server = ServerProcess::start(&scratch, &[], true);
    let get = |path: &str, headers: &[(&str, &str)]| {
        http(&server.addr, "GET", path, headers).expect("request")
    };
    let deb = std::fs::read(scratch.path().join("debs/hello_1.0-1_all.deb")).unwrap();
    let pool = "/apt/tools/pool/main/h/hello/hello_1.0-1_all.deb";
    let full = get(pool, &[]);
    assert_eq!(full.status, 200);
    assert_eq!(full.body, deb);
    assert_eq!(full.header("content-type"), Some("application/vnd.debian.binary-package"));
    assert_eq!(full.header("accept-ranges"), Some("bytes"));
    let etag = full.header("etag").expect("etag").to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");

    let head = http(&server.addr, "HEAD", pool, &[]).unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some(deb.len().to_string().as_str()));
    assert!(head.body.is_empty());

    let part = get(pool, &[("Range", "bytes=10-19")]);
    assert_eq!(part.status, 206);
    assert_eq!(part.body, &deb[10..20]);
    assert_eq!(part.header("content-range"), Some(format!("bytes 10-19/{}", deb.len()).as_str()));
    let tail = get(pool, &[("Range", "bytes=-5")]);
    assert_eq!((tail.status, tail.body.as_slice()), (206, &deb[deb.len() - 5..]));
    let beyond = get(pool, &[("Range", &format!("bytes={}-", deb.len()))]);
    assert_eq!(beyond.status, 416);
    assert_eq!(beyond.header("content-range"), Some(format!("bytes */{}", deb.len()).as_str()));
    let stale_range = get(pool, &[("Range", "bytes=0-3"), ("If-Range", "\"other\"")]);
    assert_eq!((stale_range.status, stale_range.body.len()), (200, deb.len()));

    let cached = get(pool, &[("If-None-Match", &etag)]);
    assert_eq!(cached.status, 304);
    assert!(cached.body.is_empty());
    assert_eq!(get(pool, &[("If-None-Match", "\"other\"")]).status, 200);

    // Indices: their content types and no-cache; by-hash typed by content.
    let inrelease = get("/apt/tools/dists/bookworm/InRelease", &[]);
    assert_eq!(inrelease.status, 200);
    assert_eq!(inrelease.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(inrelease.header("cache-control"), Some("no-cache"));
    let release = String::from_utf8(get("/apt/tools/dists/bookworm/Release", &[]).body).unwrap();
    let xz_hash = release_sha256(&release, "main/binary-amd64/Packages.xz");
    let by_hash =
        get(&format!("/apt/tools/dists/bookworm/main/binary-amd64/by-hash/SHA256/{xz_hash}"), &[]);
    assert_eq!(by_hash.status, 200);
    assert_eq!(by_hash.header("content-type"), Some("application/x-xz"));

    // Last-Modified once the object is two seconds old (polled, at most 10 s), and
    // If-Modified-Since → 304.
    let deadline = Instant::now() + Duration::from_secs(10);
    let aged = loop {
        let response = get("/apt/tools/dists/bookworm/InRelease", &[]);
        if response.header("last-modified").is_some() {
            break response;
        }
        assert!(Instant::now() < deadline, "no Last-Modified after 10 s");
        std::thread::sleep(Duration::from_millis(100));
    };
    let modified = aged.header("last-modified").expect("last-modified").to_owned();
    assert_eq!(
        get("/apt/tools/dists/bookworm/InRelease", &[("If-Modified-Since", &modified)]).status,
        304
    );

    // Path checks: traversal, dot-files, encoded separators, directories; objects/ is
    // not reachable.
    for path in [
        "/apt/tools/../../objects/x",
        "/apt/tools/%2e%2e/%2e%2e/objects",
        "/apt/tools/.wharf-state.json",
        "/apt/tools/.wharf-uploaded.json",
        "/apt/tools/dists%2fbookworm%2fInRelease",
        "/apt/tools/dists/",
    ] {
        assert_eq!(get(path, &[]).status, 400, "{path}");
    }
    assert_eq!(get("/apt/tools/dists/bookworm/Nothing", &[]).status, 404);
    assert_eq!(get("/apt/objects/sha256", &[]).status, 404);
    assert_eq!(http(&server.addr, "PUT", pool, &[]).unwrap().status, 405);

    // A new publish replaces InRelease in the bucket: new ETag, the old one no longer
    // gives a 304.
    let old_etag = inrelease.header("etag").unwrap().to_owned();
    ok(&scratch, &["repo", "remove", "tools", "hello (= 2.0-1)"]);
    ok(&scratch, &["publish", "tools"]);
    let after = get("/apt/tools/dists/bookworm/InRelease", &[("If-None-Match", &old_etag)]);
    assert_eq!(after.status, 200);
    assert_ne!(after.header("etag"), Some(old_etag.as_str()));
    assert_eq!(after.body, s3.get("ci/public/tools/dists/bookworm/InRelease"));
}
