//! A real PostgreSQL server for tests (feature `test-support`): `initdb` + `pg_ctl` in a
//! temp dir, listening on 127.0.0.1 on a free port with its socket in that dir, run as the
//! `postgres` user when the test runs as root (initdb refuses root), and always stopped by
//! a drop guard that prints the server log when the test is panicking. Used by this
//! crate's conformance suite and by the CLI's tests (two `wharf server`s on one database).

#![expect(
    clippy::missing_panics_doc,
    reason = "test support: a failed start is the test's failure"
)]

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A password in every URL: trust auth ignores it, and the store must never show it.
const PASSWORD: &str = "not-a-secret";
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A running PostgreSQL server; dropping it stops the server (`-m immediate`).
#[derive(Debug)]
pub struct PgServer {
    bin: PathBuf,
    data: PathBuf,
    log: PathBuf,
    /// The TCP port on 127.0.0.1.
    pub port: u16,
    as_postgres_user: bool,
    // Last: removed after the server is stopped.
    _dir: tempfile::TempDir,
}

impl PgServer {
    /// Start a server and wait (bounded) until it accepts connections. Blocking.
    #[must_use]
    pub fn start() -> PgServer {
        let bin = find_bin_dir();
        let dir = tempfile::tempdir().unwrap();
        let as_postgres_user = std::fs::metadata("/proc/self").unwrap().uid() == 0;
        if as_postgres_user {
            // initdb refuses to run as root: hand the temp dir to the `postgres` user.
            check(
                &Command::new("chown").arg("postgres:postgres").arg(dir.path()).output().unwrap(),
                "chown",
            );
        }
        let port = free_port();
        let server = PgServer {
            bin,
            data: dir.path().join("data"),
            log: dir.path().join("postgres.log"),
            port,
            as_postgres_user,
            _dir: dir,
        };
        let socket_dir = server.data.parent().unwrap().to_owned();
        let out = server
            .pg_command("initdb")
            .arg("-D")
            .arg(&server.data)
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
            .output()
            .unwrap();
        check(&out, "initdb");
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={} \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            socket_dir.display()
        );
        let out = server
            .pg_command("pg_ctl")
            .arg("-D")
            .arg(&server.data)
            .arg("-l")
            .arg(&server.log)
            .args(["-o", &options, "-w", "-t", "30", "start"])
            .output()
            .unwrap();
        check(&out, "pg_ctl start");
        server.wait_ready();
        server
    }

    /// The URL of `database` on this server (`postgres` always exists).
    #[must_use]
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres:{PASSWORD}@127.0.0.1:{}/{database}", self.port)
    }

    /// The server's log so far.
    #[must_use]
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_else(|err| format!("({err})"))
    }

    fn pg_command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if self.as_postgres_user {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    /// Bounded readiness poll over TCP with `pg_isready`, until [`READY_TIMEOUT`].
    fn wait_ready(&self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let out = Command::new(self.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres"])
                .output()
                .unwrap();
            if out.status.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "postgres not ready after {READY_TIMEOUT:?}: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let stopped = self
            .pg_command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
        if std::thread::panicking() {
            eprintln!(
                "---- postgres log {} ----\n{}\n---- end of postgres log ----",
                self.log.display(),
                self.log()
            );
        }
        match stopped {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!("pg_ctl stop failed: {}", String::from_utf8_lossy(&out.stderr)),
            Err(err) => eprintln!("pg_ctl stop could not run: {err}"),
        }
    }
}

/// `/usr/lib/postgresql/<newest>/bin`, or a failure that says what to install.
fn find_bin_dir() -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").exists() && bin.join("pg_ctl").exists()).then_some((version, bin))
        })
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "PostgreSQL server binaries (initdb, pg_ctl) not found under {}/<version>/bin: \
             install the Debian package `postgresql` (apt-get install -y postgresql)",
            root.display()
        ),
    }
}

/// A port free on 127.0.0.1 right now.
#[must_use]
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn check(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
