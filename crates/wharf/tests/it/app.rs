//! The application layer called directly — as `wharf server` will call it — runs the same
//! flows as the CLI: add, publish, snapshot, run, with the same audit entries.

use std::path::Path;

use wharf_app::fleet::FleetRequest;
use wharf_app::progress::Silent;
use wharf_core::config::ConfigSource;
use wharf_core::inventory::Inventory;
use wharf_store::{AptKind, AuditQuery};

use crate::apt::{build_deb, ok};
use crate::support::Scratch;

const CONFIG: &str = r#"
[[nodes]]
names = "n[1-2]"
transport = "local"
root = "nodes/{name}"
"#;

/// (actor, action, target, reason, details) of every entry: what must agree.
type Trail = Vec<(String, String, String, Option<String>, serde_json::Value)>;

fn cli_trail(scratch: &Scratch, deb: &Path) -> Trail {
    ok(scratch, &["repo", "create", "tools", "--distribution", "bookworm"]);
    ok(scratch, &["repo", "add", "tools", deb.to_str().unwrap()]);
    ok(scratch, &["publish", "tools"]);
    ok(scratch, &["snapshot", "create", "tools-1", "--from", "tools"]);
    ok(scratch, &["run", "-w", "n[1-2]", "--", "true"]);
    let audit = ok(scratch, &["audit", "--json", "-n", "100"]);
    let entries: Vec<wharf_store::AuditEntry> = serde_json::from_str(&audit).unwrap();
    entries.into_iter().map(|e| (e.actor, e.action, e.target, e.reason, e.details)).collect()
}

async fn direct_trail(scratch: &Scratch, deb: &Path) -> Trail {
    let config_path = scratch.config(CONFIG);
    let ctx = scratch.context(&config_path, "tester").await;
    let create = wharf_app::repo::CreateRequest {
        name: "tools".into(),
        distribution: "bookworm".into(),
        components: vec!["main".into()],
        architectures: vec!["amd64".into()],
        comment: None,
        contents: true,
    };
    wharf_app::repo::create(&ctx, create).await.unwrap();
    let add = wharf_app::repo::AddRequest {
        repository: "tools".into(),
        paths: vec![deb.to_owned()],
        component: None,
        replace: false,
    };
    let added = wharf_app::repo::add(&ctx, add, &Silent).await.unwrap();
    assert_eq!(added.added.len(), 1, "{added:?}");
    let publish = wharf_app::publish::PublishRequest {
        kind: AptKind::Repo,
        source: "tools".into(),
        prefix: None,
        to_dir: None,
    };
    let published = wharf_app::publish::publish(&ctx, publish, &Silent).await.unwrap();
    assert_eq!((published.packages, published.unchanged), (1, false));
    wharf_app::repo::snapshot(&ctx, "tools-1", "tools").await.unwrap();
    let source = ConfigSource::new(&config_path, CONFIG);
    let inventory = Inventory::from_config(&source.parse().unwrap(), &source).unwrap();
    let request = FleetRequest { nodes: vec!["n[1-2]".into()], ..FleetRequest::default() };
    let env = wharf_exec::LocalEnv {
        home: scratch.path().to_owned(),
        local_user: "tester".into(),
        agent: None,
    };
    let targets =
        wharf_app::fleet::targets(&inventory, &Default::default(), &env, &request).unwrap();
    let options = wharf_exec::FanoutOptions::default();
    let action = wharf_exec::Action::Run("true".into());
    let report = wharf_app::fleet::execute(&ctx, targets, action, options, None).await.unwrap();
    assert!(report.results.iter().all(|r| r.outcome.is_success()), "{:?}", report.results);
    let entries = ctx.store().audit(&AuditQuery::default()).await.unwrap();
    entries.into_iter().map(|e| (e.actor, e.action, e.target, e.reason, e.details)).collect()
}

#[test]
fn the_cli_and_the_application_layer_leave_the_same_audit_trail() {
    let debs = tempfile::tempdir().unwrap();
    let deb = build_deb(debs.path(), "hello-wharf", "1.0-1", "all", "gzip");
    let cli = Scratch::new();
    cli.config(CONFIG);
    for node in ["n1", "n2"] {
        std::fs::create_dir_all(cli.path().join("nodes").join(node)).unwrap();
    }
    let via_cli = cli_trail(&cli, &deb);

    let direct = Scratch::new();
    for node in ["n1", "n2"] {
        std::fs::create_dir_all(direct.path().join("nodes").join(node)).unwrap();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let via_app = runtime.block_on(direct_trail(&direct, &deb));

    let actions: Vec<&str> = via_cli.iter().map(|entry| entry.1.as_str()).collect();
    assert_eq!(actions, ["repo.create", "repo.add", "publish", "snapshot.create", "fleet.run"]);
    assert_eq!(via_cli, via_app);
}
