//! The conformance suite on a real PostgreSQL server that this test starts itself:
//! `initdb` + `pg_ctl` in a temp dir, listening on 127.0.0.1 on a free port, run as the
//! `postgres` user when the test runs as root, and always stopped by a drop guard.

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Connection, PgConnection};
use wharf_store::Store;

use crate::conformance::{self, Raw, TestDb};

/// A password in every URL: trust auth ignores it, and the store must never show it.
const PASSWORD: &str = "not-a-secret";
const READY_TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_conformance() {
    let started = Instant::now();
    let server = PgServer::start().await;
    eprintln!("postgres started on port {} in {} ms", server.port, started.elapsed().as_millis());
    conformance::run_all(async |case: &str| {
        let mut admin = PgConnection::connect(&server.url("postgres")).await.unwrap();
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {case}")))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
        let url = server.url(case);
        let store = Store::open(&url).await.unwrap();
        assert_eq!(store.backend(), "postgres");
        TestDb { store, url: url.clone(), raw: Raw::Postgres(url) }
    })
    .await;
}

/// A running PostgreSQL server; dropping it stops the server (`-m immediate`) and, when
/// the test is panicking, prints the server log.
pub(crate) struct PgServer {
    bin: PathBuf,
    data: PathBuf,
    log: PathBuf,
    port: u16,
    as_postgres_user: bool,
    // Last: removed after the server is stopped.
    _dir: tempfile::TempDir,
}

impl PgServer {
    pub(crate) async fn start() -> PgServer {
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
        server.wait_ready().await;
        server
    }

    pub(crate) fn url(&self, database: &str) -> String {
        format!("postgres://postgres:{PASSWORD}@127.0.0.1:{}/{database}", self.port)
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

    /// Bounded readiness poll: connect until it works or [`READY_TIMEOUT`] passes.
    async fn wait_ready(&self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match PgConnection::connect(&self.url("postgres")).await {
                Ok(conn) => {
                    conn.close().await.unwrap();
                    return;
                }
                Err(err) if Instant::now() > deadline => {
                    panic!("postgres not ready after {READY_TIMEOUT:?}: {err}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
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
            let log = std::fs::read_to_string(&self.log).unwrap_or_else(|err| format!("({err})"));
            eprintln!(
                "---- postgres log {} ----\n{log}\n---- end of postgres log ----",
                self.log.display()
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

fn free_port() -> u16 {
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

/// No server needed: a refused connection fails at once, and no message shows the password.
#[tokio::test]
async fn unreachable_server_fails_fast_without_password() {
    let started = Instant::now();
    let url = format!("postgres://wharf:hunter2@127.0.0.1:{}/wharf", free_port());
    let err = Store::open(&url).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    let mut chain = format!("{err} / {err:?}");
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        chain.push_str(&format!(" / {cause}"));
        source = cause.source();
    }
    assert!(chain.contains("127.0.0.1") && !chain.contains("hunter2"), "{chain}");
}
