//! Configured checks as a deploy's prepare checks: a real HAProxy with a backend server
//! down refuses the deploy naming it, `--allow-precheck-failure` turns that into a
//! recorded warning; a real Alertmanager with a critical alert refuses it until the alert
//! is silenced. Nodes are local directories whose `install` writes the version.

use wharf_app::deploy::{DeployReport, DeployRequest, Session};
use wharf_app::{Actor, Context, ContextSettings, DataLayout};
use wharf_core::config::{AptSettings, ConfigSource};
use wharf_core::inventory::Inventory;

use crate::alertmanager::Alertmanager;
use crate::haproxy::Haproxy;

const FLEET: &str = r#"
[[nodes]]
names = "web[01-02]"
transport = "local"
root = "roots/{name}"

[[environments]]
name = "gprd"
nodes = "web[01-02]"
packages = ["app"]

[commands]
install = "for p in {packages}; do printf '%s' \"${{p#*=}}\" > \"$WHARF_NODE_ROOT/v-${{p%%=*}}\"; done"
version = "cat \"$WHARF_NODE_ROOT/v-\"{package} 2>/dev/null || true"
"#;

/// Deploy 11.8.0 to gprd with `checks` configured.
async fn deploy(dir: &std::path::Path, checks: &str, allow_precheck_failure: bool) -> DeployReport {
    for node in ["web01", "web02"] {
        std::fs::create_dir_all(dir.join("roots").join(node)).unwrap();
    }
    let path = dir.join("wharf.toml");
    let text = format!("{FLEET}{checks}");
    std::fs::write(&path, &text).unwrap();
    let source = ConfigSource::new(&path, text);
    let config = source.parse().unwrap_or_else(|err| panic!("{err}"));
    let inventory = Inventory::from_config(&config, &source).unwrap();
    let layout = DataLayout::new(dir.join("wharf-data"));
    let settings = ContextSettings {
        data_dir: layout.root().to_owned(),
        database: layout.database().display().to_string(),
        bucket: None,
        apt: AptSettings::default(),
        config_path: path.clone(),
    };
    let ctx = Context::open(settings, Actor::cli("alice")).await.unwrap();
    let env = wharf_exec::LocalEnv { home: dir.to_owned(), local_user: "root".into(), agent: None };
    let options = wharf_exec::FanoutOptions::default();
    let fleet = wharf_app::fleet::Fleet {
        config: &config,
        source: &source,
        inventory: &inventory,
        env: &env,
        options: &options,
    };
    let session = Session {
        ctx: &ctx,
        fleet,
        clock: wharf_app::deploy::system_clock(),
        notices: None,
        started: None,
    };
    let request = DeployRequest {
        packages: [("app".to_owned(), "11.8.0".to_owned())].into(),
        environment: "gprd".into(),
        allow_precheck_failure,
        ..DeployRequest::default()
    };
    let report = wharf_app::deploy::start(&session, &request).await.unwrap();
    ctx.store().close().await;
    report
}

#[tokio::test]
async fn a_backend_down_refuses_the_deploy_naming_it_unless_failures_are_allowed() {
    let haproxy = Haproxy::start();
    let checks = format!(
        "[[checks]]\nname = \"lb\"\nkind = \"haproxy\"\nstats = \"unix:{}\"\n",
        haproxy.socket().display()
    );
    let dir = tempfile::tempdir().unwrap();
    let refused = deploy(dir.path(), &checks, false).await;
    assert_eq!(refused.deploy.state, "refused");
    let reason = refused.deploy.reason.clone().unwrap();
    assert!(
        reason.contains("lb: web/web02 DOWN") && reason.contains("--allow-precheck-failure"),
        "{reason}"
    );
    assert!(!dir.path().join("roots/web01/v-app").exists(), "nothing installed");

    let allowed = deploy(dir.path(), &checks, true).await;
    assert_eq!(allowed.deploy.state, "succeeded", "{:?}", allowed.deploy.reason);
    // Allowed before the install, and still failing after it (verify): warned both times.
    assert_eq!(allowed.deploy.warnings.len(), 2, "{:?}", allowed.deploy.warnings);
    assert!(
        allowed.deploy.warnings.iter().all(|w| w.starts_with("lb: web/web02 DOWN")),
        "{:?}",
        allowed.deploy.warnings
    );
    let kinds: Vec<&str> = allowed.deploy.overrides.iter().map(|o| o.kind.as_str()).collect();
    assert_eq!(kinds, ["allow-precheck-failure"]);
    assert_eq!(std::fs::read_to_string(dir.path().join("roots/web02/v-app")).unwrap(), "11.8.0");
}

#[tokio::test]
async fn a_critical_alert_refuses_the_deploy_until_it_is_silenced() {
    let alertmanager = Alertmanager::start();
    let checks = format!(
        "[[checks]]\nname = \"alerts\"\nkind = \"alertmanager\"\nurl = \"{}\"\n\
         matchers = {{ env = \"{{environment}}\" }}\n",
        alertmanager.url
    );
    alertmanager.alert("GitalyDown", "gprd", "critical").await;
    let dir = tempfile::tempdir().unwrap();
    let refused = deploy(dir.path(), &checks, false).await;
    assert_eq!(refused.deploy.state, "refused");
    let reason = refused.deploy.reason.clone().unwrap();
    assert!(reason.contains("alerts: GitalyDown"), "{reason}");

    alertmanager.silence("gprd").await;
    let passed = deploy(dir.path(), &checks, false).await;
    assert_eq!(passed.deploy.state, "succeeded", "{:?}", passed.deploy.reason);
    assert!(passed.deploy.warnings.is_empty());
}
