//! Running the built `wharf` binary in a scratch directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A scratch directory with its own config and data directory.
pub(crate) struct Scratch {
    pub(crate) dir: tempfile::TempDir,
    /// Extra environment for every `wharf` command (S3 storage settings).
    env: Vec<(String, String)>,
}

impl Scratch {
    /// The application layer on this scratch's data directory, acting as `actor` (the CLI),
    /// with `config` as the configuration file.
    pub(crate) async fn context(&self, config: &Path, actor: &str) -> wharf_app::Context {
        let layout = wharf_app::DataLayout::new(self.path().join("wharf-data"));
        let settings = wharf_app::ContextSettings {
            data_dir: layout.root().to_owned(),
            database: layout.database().display().to_string(),
            bucket: None,
            apt: wharf_core::config::AptSettings::default(),
            config_path: config.to_owned(),
        };
        wharf_app::Context::open(settings, wharf_app::Actor::cli(actor)).await.unwrap()
    }

    pub(crate) fn new() -> Scratch {
        Scratch { dir: tempfile::tempdir().expect("tempdir"), env: Vec::new() }
    }

    /// The same scratch directory, with `vars` set for every `wharf` command run from it.
    pub(crate) fn with_env(mut self, vars: Vec<(String, String)>) -> Scratch {
        self.env.extend(vars);
        self
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write `wharf.toml` in the scratch directory.
    pub(crate) fn config(&self, text: &str) -> PathBuf {
        let path = self.path().join("wharf.toml");
        std::fs::write(&path, text).expect("write config");
        path
    }

    /// What stands in for `/etc/wharf/wharf.toml` (`$WHARF_SYSTEM_CONFIG`), so tests never
    /// read the machine's own configuration. It does not exist unless a test writes it.
    pub(crate) fn system_config(&self) -> PathBuf {
        self.path().join("system/wharf.toml")
    }

    /// A `wharf` command running in the scratch directory with a clean environment.
    pub(crate) fn wharf(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wharf"));
        command
            .args(args)
            .current_dir(self.path())
            .env_remove("WHARF_CONFIG")
            .env_remove("WHARF_DATA")
            .env_remove("WHARF_DATABASE")
            .env_remove("WHARF_STORAGE")
            .env("WHARF_SYSTEM_CONFIG", self.system_config())
            .env("WHARF_ACTOR", "tester");
        command.envs(self.env.iter().map(|(key, value)| (key, value)));
        command
    }

    /// Run `wharf ARGS` and return its output.
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.wharf(args).output().expect("run wharf")
    }

    /// Run `wharf ARGS` with `stdin` and return its output.
    pub(crate) fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write as _;
        let mut child = self
            .wharf(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn wharf");
        child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
        child.wait_with_output().expect("wait wharf")
    }
}

/// Run a tool other than `wharf`, expect success, return its stdout (its output is in the
/// panic message otherwise).
pub(crate) fn run_ok(command: &mut Command) -> String {
    let output = command.output().unwrap_or_else(|err| panic!("{command:?}: {err}"));
    assert!(
        output.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Exit code, stdout and stderr of a finished command, for assertions.
pub(crate) fn outcome(output: &Output) -> (i32, String, String) {
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A running `wharf server` started on 127.0.0.1 port 0; killed (SIGKILL) on drop. Its
/// stderr goes to a file that is printed if the test panics.
pub(crate) struct ServerProcess {
    pub(crate) child: std::process::Child,
    /// `127.0.0.1:PORT`
    pub(crate) addr: String,
    log: PathBuf,
}

impl ServerProcess {
    /// Start `wharf server --listen 127.0.0.1:0 EXTRA…` in the scratch directory; return
    /// once it printed its address and (when `wait_healthy`) `/healthz` answered 200.
    pub(crate) fn start(scratch: &Scratch, extra: &[&str], wait_healthy: bool) -> ServerProcess {
        use std::io::BufRead as _;
        // One log per server, even for several servers in one scratch directory.
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = scratch.path().join(format!("server-{}-{n}.log", std::process::id()));
        let log_file = std::fs::File::create(&log).expect("server log");
        let mut args = vec!["server", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        // The scratch's own RUST_LOG (a test that reads the log) wins over the default.
        let rust_log = scratch
            .env
            .iter()
            .find(|(key, _)| key == "RUST_LOG")
            .map_or("info,tower_http=debug", |(_, value)| value.as_str());
        let mut child = scratch
            .wharf(&args)
            .env("RUST_LOG", rust_log)
            .stdout(std::process::Stdio::piped())
            .stderr(log_file)
            .spawn()
            .expect("spawn wharf server");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let line = receiver.recv_timeout(std::time::Duration::from_secs(30)).unwrap_or_default();
        let mut server = ServerProcess { child, addr: String::new(), log };
        let Some(addr) = line.trim().strip_prefix("listening on http://") else {
            panic!("wharf server did not print its address (got {line:?})");
        };
        server.addr = addr.to_owned();
        if wait_healthy {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            loop {
                if let Ok(response) = http(&server.addr, "GET", "/healthz", &[])
                    && response.status == 200
                {
                    break;
                }
                assert!(std::time::Instant::now() < deadline, "/healthz never answered 200");
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        server
    }

    /// The server's log so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- wharf server log ---\n{}", self.log());
        }
    }
}

/// A response read by [`http`].
#[derive(Debug)]
pub(crate) struct HttpResponse {
    pub(crate) status: u16,
    /// Lower-cased names.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl HttpResponse {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

/// One HTTP/1.1 request over a fresh connection, the path sent exactly as given (no
/// normalisation, unlike curl), `Connection: close`, body read to the end.
pub(crate) fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<HttpResponse> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    Ok(parse_response(&raw))
}

/// Split a raw HTTP/1.1 response (not chunked) into status, headers and body.
pub(crate) fn parse_response(raw: &[u8]) -> HttpResponse {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok());
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    HttpResponse { status: status.expect("status"), headers, body: raw[split + 4..].to_vec() }
}

/// The file that holds the object a published tree's pool list names for `pool_path`:
/// its loose file, or the pack it is in.
pub(crate) fn object_file(scratch: &Scratch, prefix: &str, pool_path: &str) -> PathBuf {
    let data = scratch.path().join("wharf-data");
    let list = std::fs::read_to_string(data.join("public").join(prefix).join(".wharf-pool"))
        .expect("the tree has a pool list");
    let sha256 = list
        .lines()
        .find_map(|line| line.strip_suffix(pool_path)?.strip_suffix(' '))
        .unwrap_or_else(|| panic!("{pool_path} is not in the pool list of {prefix}"));
    let loose = data.join("objects/sha256").join(&sha256[..2]).join(sha256);
    if loose.exists() {
        return loose;
    }
    for entry in std::fs::read_dir(data.join("objects/packs")).expect("packs") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "idx")
            && std::fs::read_to_string(&path).unwrap().lines().any(|l| l.starts_with(sha256))
        {
            return path.with_extension("pack");
        }
    }
    panic!("object {sha256} of {pool_path} is not stored");
}

/// The SHA-256 a `Release` file lists for the index whose path ends with `suffix`.
pub(crate) fn release_sha256(release: &str, suffix: &str) -> String {
    release
        .lines()
        .skip_while(|line| *line != "SHA256:")
        .find(|line| line.ends_with(suffix))
        .and_then(|line| line.split_whitespace().next())
        .unwrap_or_else(|| panic!("Release lists no {suffix}:\n{release}"))
        .to_owned()
}
