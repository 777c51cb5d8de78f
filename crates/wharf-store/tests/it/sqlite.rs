//! The conformance suite on SQLite, plus its URL forms and pragmas. Several OS processes on
//! one file are exercised through the real binary in `crates/wharf/tests/it/cli.rs`.

use wharf_store::Store;

use crate::conformance::{self, Raw, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_conformance() {
    let dir = tempfile::tempdir().unwrap();
    conformance::run_all(async |case: &str| {
        // Nested, missing directories: open must create them.
        let path = dir.path().join(case).join("state").join("wharf.db");
        let url = format!("sqlite://{}", path.display());
        let store = Store::open(&url).await.unwrap();
        assert_eq!(store.backend(), "sqlite");
        TestDb { store, url, raw: Raw::Sqlite(path) }
    })
    .await;
}

#[tokio::test]
async fn url_forms_and_pragmas() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wharf.db");
    // A plain path, then the same file as sqlite:///abs/path.
    let plain = Store::open(path.to_str().unwrap()).await.unwrap();
    plain.set_meta("k", "v").await.unwrap();
    plain.close().await;
    let url = format!("sqlite://{}", path.display());
    assert!(url.starts_with("sqlite:///"));
    let store = Store::open(&url).await.unwrap();
    assert_eq!(store.get_meta("k").await.unwrap().as_deref(), Some("v"));
    store.close().await;

    let raw = Raw::Sqlite(path.clone());
    assert_eq!(raw.scalar::<String>("PRAGMA journal_mode").await, "wal");
    assert_eq!(raw.scalar::<String>("PRAGMA integrity_check").await, "ok");
}
