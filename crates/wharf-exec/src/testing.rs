//! A real OpenSSH `sshd` for tests, started on 127.0.0.1 (and 127.0.0.2) on a free port
//! with its own host key, a throw-away login user and a generated client key.
//!
//! Readiness is a bounded poll for the SSH banner; the daemon is killed on drop and its log
//! printed when the test is failing. Tests must run as root (they create the user).
#![expect(clippy::print_stderr, reason = "test support prints the sshd log of a failing test")]

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The login user tests connect as.
pub const TEST_USER: &str = "wharftest";

/// A running sshd. Dropping it kills the daemon.
pub struct Sshd {
    pub port: u16,
    pub dir: tempfile::TempDir,
    /// A private key authorized for [`TEST_USER`].
    pub client_key: PathBuf,
    /// The host key's public line (`ssh-ed25519 AAAA…`).
    pub host_public_key: String,
    child: Child,
    log: PathBuf,
}

fn run(command: &mut Command) {
    let output = command.output().unwrap_or_else(|err| panic!("cannot run {command:?}: {err}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Generate an ed25519 key pair at `path` (and `path.pub`).
pub fn keygen(path: &Path) {
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "wharf-test", "-f"])
        .arg(path));
}

/// Create [`TEST_USER`] with `/bin/sh` and a `*` password field (key logins only) once,
/// under a lock, since test processes run in parallel.
pub fn ensure_test_user() {
    let lock = std::fs::File::create("/tmp/wharf-test-user.lock").expect("lock file");
    lock.lock().expect("lock");
    let exists =
        Command::new("id").arg(TEST_USER).stdout(Stdio::null()).stderr(Stdio::null()).status();
    if !exists.is_ok_and(|status| status.success()) {
        run(Command::new("useradd").args(["-m", "-s", "/bin/sh", TEST_USER]));
    }
    run(Command::new("usermod").args(["-p", "*", TEST_USER]));
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

impl Sshd {
    /// Start a fresh sshd and wait (at most 10 s) until it answers.
    pub fn start() -> Sshd {
        Sshd::start_with(|_| String::new())
    }

    /// Like [`Sshd::start`], with `extra` sshd_config lines; `extra` is called with the
    /// daemon's directory once its host key (`host_ed25519`) exists, so it can sign a host
    /// certificate or write a CA file there first.
    pub fn start_with(extra: impl Fn(&Path) -> String) -> Sshd {
        ensure_test_user();
        let dir = tempfile::tempdir().expect("tempdir");
        // sshd reads AuthorizedKeysFile as the user: the directory must be readable.
        set_mode(dir.path(), 0o755);
        std::fs::create_dir_all("/run/sshd").expect("/run/sshd");
        let host_key = dir.path().join("host_ed25519");
        keygen(&host_key);
        let client_key = dir.path().join("client_ed25519");
        keygen(&client_key);
        let authorized = dir.path().join("authorized_keys");
        std::fs::copy(client_key.with_extension("pub"), &authorized).expect("authorized_keys");
        set_mode(&authorized, 0o644);
        let host_public_key =
            std::fs::read_to_string(host_key.with_extension("pub")).expect("host key");
        let host_public_key =
            host_public_key.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        let extra = extra(dir.path());
        let log = dir.path().join("sshd.log");
        let mut last_error = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let config = dir.path().join("sshd_config");
            std::fs::write(
                &config,
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nListenAddress 127.0.0.2\nHostKey {host_key}\n\
                     PidFile {pid}\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                     PubkeyAuthentication yes\nAuthorizedKeysFile {authorized}\nStrictModes no\n\
                     MaxStartups 1000:30:2000\nMaxSessions 100\nPermitRootLogin no\nAllowUsers {TEST_USER}\n\
                     AllowTcpForwarding yes\nSubsystem sftp internal-sftp\nLogLevel VERBOSE\n{extra}",
                    host_key = host_key.display(),
                    pid = dir.path().join("sshd.pid").display(),
                    authorized = authorized.display(),
                ),
            )
            .expect("sshd_config");
            let log_file = std::fs::File::create(&log).expect("sshd log");
            let child = Command::new("/usr/sbin/sshd")
                .arg("-D")
                .arg("-e")
                .arg("-f")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().expect("log"))
                .stderr(log_file)
                .spawn()
                .expect("start /usr/sbin/sshd (apt-get install openssh-server)");
            let mut child = child;
            match wait_ready(&mut child, port, Duration::from_secs(10)) {
                Ok(()) => return Sshd { port, dir, client_key, host_public_key, child, log },
                Err(err) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_error =
                        format!("{err}\n{}", std::fs::read_to_string(&log).unwrap_or_default());
                }
            }
        }
        panic!("sshd did not start: {last_error}");
    }

    /// The daemon's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A `known_hosts` line for this sshd's key as reached at `host` (127.0.0.1 or .2).
    pub fn known_hosts_line(&self, host: &str) -> String {
        format!("[{host}]:{} {}\n", self.port, self.host_public_key)
    }

    /// Write a known_hosts file listing this sshd at 127.0.0.1 and 127.0.0.2.
    pub fn write_known_hosts(&self, path: &Path) {
        let text =
            format!("{}{}", self.known_hosts_line("127.0.0.1"), self.known_hosts_line("127.0.0.2"));
        std::fs::write(path, text).expect("known_hosts");
    }

    /// An ssh config with one `Host` entry per `(name, address)`, all pointing at this sshd.
    pub fn ssh_config(
        &self,
        entries: &[(String, &str)],
        identity: &Path,
        known_hosts: &Path,
    ) -> String {
        let mut text = String::new();
        for (name, address) in entries {
            text.push_str(&format!(
                "Host {name}\n  HostName {address}\n  Port {port}\n  User {TEST_USER}\n  IdentityFile {identity}\n  UserKnownHostsFile {known_hosts}\n",
                port = self.port,
                identity = identity.display(),
                known_hosts = known_hosts.display(),
            ));
        }
        text
    }
}

fn wait_ready(child: &mut Child, port: u16, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("sshd exited with {status}"));
        }
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut banner = [0u8; 4];
            if stream.read_exact(&mut banner).is_ok() && &banner == b"SSH-" {
                let _ = stream.write_all(b"SSH-2.0-probe\r\n");
                return Ok(());
            }
        }
        // Bounded poll: at most `limit`, checking every 20 ms.
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("sshd not answering on port {port} after {limit:?}"))
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode))
        .expect("chmod");
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- sshd log ({}) ----\n{}", self.log.display(), self.log_text());
        }
    }
}

/// Names `prefix001…` (zero-padded to 3 digits) for `count` nodes.
pub fn node_names(prefix: &str, count: usize) -> Vec<String> {
    (1..=count).map(|idx| format!("{prefix}{idx:03}")).collect()
}
