//! The conformance suite on a real PostgreSQL server that this test starts itself
//! (`wharf_store::testing::PgServer`: `initdb` + `pg_ctl` in a temp dir, listening on
//! 127.0.0.1 on a free port, run as the `postgres` user when the test runs as root, and
//! always stopped by a drop guard).

use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Connection, PgConnection};
use wharf_store::Store;
use wharf_store::testing::{PgServer, free_port};

use crate::conformance::{self, Raw, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_conformance() {
    let started = Instant::now();
    let server = PgServer::start();
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
