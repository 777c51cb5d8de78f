//! `alertmanager` checks against a real Alertmanager: alerts and silences posted through
//! its API v2.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::Command;

use crate::support::{Daemon, environment, free_port, only, require, run};

pub(crate) struct Alertmanager {
    _daemon: Daemon,
    _dir: tempfile::TempDir,
    pub(crate) url: String,
}

impl Alertmanager {
    pub(crate) fn start() -> Alertmanager {
        let binary = require("prometheus-alertmanager", "prometheus-alertmanager");
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("alertmanager.yml");
        std::fs::write(&cfg, "route:\n  receiver: none\nreceivers:\n  - name: none\n").unwrap();
        let port = free_port();
        let mut daemon = Daemon::start(
            "prometheus-alertmanager",
            Command::new(binary)
                .arg(format!("--config.file={}", cfg.display()))
                .arg(format!("--storage.path={}", dir.path().join("data").display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--cluster.listen-address="),
        );
        daemon.wait_until("ready at /-/ready", || ready(port));
        Alertmanager { _daemon: daemon, _dir: dir, url: format!("http://127.0.0.1:{port}") }
    }

    async fn post(&self, path: &str, json: String) {
        let response = reqwest::Client::new()
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(json)
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert!(status.is_success(), "POST {path}: {status}: {}", response.text().await.unwrap());
    }

    pub(crate) async fn alert(&self, name: &str, env: &str, severity: &str) {
        let labels = format!(r#"{{"alertname":"{name}","env":"{env}","severity":"{severity}"}}"#);
        self.post("/api/v2/alerts", format!(r#"[{{"labels":{labels}}}]"#)).await;
    }

    pub(crate) async fn silence(&self, env: &str) {
        let now = jiff::Timestamp::now();
        let end = now + jiff::SignedDuration::from_hours(1);
        let json = format!(
            r#"{{"matchers":[{{"name":"env","value":"{env}","isRegex":false,"isEqual":true}}],
                "startsAt":"{now}","endsAt":"{end}","createdBy":"wharf-test","comment":"deploy"}}"#
        );
        self.post("/api/v2/silences", json).await;
    }
}

/// Whether `GET /-/ready` answers 200.
fn ready(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let request = "GET /-/ready HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    let mut answer = String::new();
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_to_string(&mut answer).is_ok()
        && answer.starts_with("HTTP/1.0 200")
}

fn check(url: &str) -> String {
    format!(
        "[[checks]]\nname = \"alerts\"\nkind = \"alertmanager\"\nurl = \"{url}\"\n\
         matchers = {{ env = \"{{environment}}\" }}\n"
    )
}

#[tokio::test]
async fn alertmanager_check_fails_on_a_critical_alert_until_silenced() {
    let am = Alertmanager::start();
    let gprd = environment("gprd", &["web01"], true);
    let checks = check(&am.url);
    let outcome = only(run(&checks, &gprd).await);
    assert!(outcome.passed, "{outcome:?}");
    assert_eq!(
        outcome.evidence,
        ["no active, unsilenced alert matches {env=\"gprd\"} with severity critical"]
    );

    am.alert("GitalyDown", "gprd", "critical").await;
    am.alert("SlowRequests", "gprd", "warning").await;
    am.alert("StagingDown", "gstg", "critical").await;
    let outcome = only(run(&checks, &gprd).await);
    assert!(!outcome.passed, "{outcome:?}");
    assert_eq!((outcome.name.as_str(), outcome.kind.as_str()), ("alerts", "alertmanager"));
    assert_eq!(outcome.evidence, ["GitalyDown {env=\"gprd\", severity=\"critical\"}"]);

    am.silence("gprd").await;
    let outcome = only(run(&checks, &gprd).await);
    assert!(outcome.passed, "silenced: {outcome:?}");
    // gstg's alert is not silenced: its own check still fails.
    let outcome = only(run(&checks, &environment("gstg", &["web01"], false)).await);
    assert_eq!(outcome.evidence, ["StagingDown {env=\"gstg\", severity=\"critical\"}"]);
}

#[tokio::test]
async fn unreachable_alertmanager_fails_naming_the_address() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let outcome = only(run(&check(&url), &environment("gprd", &["web01"], true)).await);
    assert!(!outcome.passed);
    let said = &outcome.evidence[0];
    assert!(said.starts_with(&format!("cannot reach alertmanager at {url}: ")), "{said}");
    assert!(said.contains("connection refused"), "{said}");
}
