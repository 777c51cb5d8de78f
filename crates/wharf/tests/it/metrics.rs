//! `/metrics` scraped by a real Prometheus (Debian's `prometheus`), and its token.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Scratch, ServerProcess, http, outcome};

/// The `prometheus` binary; a clear failure naming the package when it is missing.
fn prometheus_binary() -> PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("prometheus"))
        .find(|candidate| candidate.is_file());
    found.unwrap_or_else(|| {
        panic!("`prometheus` is not installed: apt-get install prometheus (Debian package `prometheus`)")
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A Prometheus scraping `target` every second; killed on drop.
struct Prometheus {
    child: Child,
    addr: String,
    log: PathBuf,
}

impl Prometheus {
    fn start(dir: &Path, target: &str) -> Prometheus {
        let binary = prometheus_binary();
        std::fs::create_dir_all(dir).unwrap();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
                 scrape_configs:\n  - job_name: wharf\n    metrics_path: /metrics\n    \
                 static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let log = dir.join("prometheus.log");
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start prometheus");
        Prometheus { child, addr, log }
    }

    /// `GET /api/v1/query?query=…`: the result vector (empty while nothing matches).
    fn query(&self, promql: &str) -> Option<Vec<Value>> {
        let encoded: String = promql
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let response =
            http(&self.addr, "GET", &format!("/api/v1/query?query={encoded}"), &[]).ok()?;
        if response.status != 200 {
            return None;
        }
        let body = if response.header("transfer-encoding") == Some("chunked") {
            dechunk(&response.body)
        } else {
            response.body
        };
        let json: Value = serde_json::from_slice(&body).ok()?;
        json["data"]["result"].as_array().cloned()
    }

    /// Polls (bounded) until `promql` has a sample; returns its value.
    fn wait_for(&self, promql: &str, timeout: Duration) -> f64 {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(result) = self.query(promql)
                && let Some(value) = result.first().and_then(|s| s["value"][1].as_str())
            {
                return value.parse().unwrap();
            }
            assert!(
                Instant::now() < deadline,
                "no sample for {promql} within {timeout:?}; prometheus log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..end]).unwrap().trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&raw[end + 2..end + 2 + size]);
        raw = &raw[end + 2 + size + 2..];
    }
    out
}

#[test]
fn prometheus_scrapes_deploys_and_http_requests() {
    // Two deploys through the CLI on local-transport nodes: one succeeds, one is refused.
    let scratch = crate::rollout::scratch("");
    let run = |args: &[&str]| outcome(&scratch.wharf(args).output().unwrap());
    let (code, stdout, stderr) = run(&["deploy", "--yes", "1.0", "staging"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, _, stderr) = run(&["deploy", "--yes", "1.0", "production"]);
    assert_eq!(code, 4, "the promotion gate refuses: {stderr}");
    let (code, _, stderr) = run(&["lock", "canary", "--reason", "incident"]);
    assert_eq!(code, 0, "{stderr}");

    let server = ServerProcess::start(&scratch, &[], true);
    let prometheus = Prometheus::start(&scratch.path().join("prometheus"), &server.addr);
    let long = Duration::from_secs(60);
    // The first scrape: HTTP requests counted in the server (its own /healthz polls).
    prometheus.wait_for("wharf_http_requests_total", long);
    assert_eq!(prometheus.wait_for(r#"up{job="wharf"}"#, long), 1.0);
    let healthz =
        prometheus.wait_for(r#"wharf_http_requests_total{route="/healthz",status="200"}"#, long);
    assert!(healthz >= 1.0, "{healthz}");
    // From the store, written by the CLI processes.
    let deploys = |env: &str, result: &str| {
        prometheus.wait_for(
            &format!(r#"wharf_deploys_total{{environment="{env}",result="{result}"}}"#),
            long,
        )
    };
    assert_eq!(deploys("staging", "succeeded"), 1.0);
    assert_eq!(deploys("production", "refused"), 1.0);
    assert_eq!(prometheus.wait_for(r#"wharf_locked{environment="canary"}"#, long), 1.0);
    assert_eq!(prometheus.wait_for("wharf_locks", long), 1.0);
    assert_eq!(prometheus.wait_for(r#"wharf_node_reachable{node="web01"}"#, long), 1.0);
    assert_eq!(
        prometheus.wait_for(r#"wharf_deploy_duration_seconds_count{environment="staging"}"#, long),
        1.0
    );
    assert!(prometheus.wait_for(r#"sum(wharf_checks_total{result="passed"})"#, long) >= 1.0);
    assert_eq!(prometheus.wait_for("wharf_store_up", long), 1.0);
}

#[test]
fn metrics_token_env_requires_the_bearer_token() {
    const VAR: &str = "WHARF_TEST_METRICS_TOKEN";
    let scratch = Scratch::new();
    scratch.config(&format!("[server]\nmetrics_token_env = \"{VAR}\"\n"));
    // Without the variable the server refuses to start, naming it.
    let (code, _, stderr) = outcome(
        &scratch.wharf(&["server", "--listen", "127.0.0.1:0"]).env_remove(VAR).output().unwrap(),
    );
    assert_ne!(code, 0);
    assert!(stderr.contains(VAR) && stderr.contains("metrics_token_env"), "{stderr}");

    let scratch = scratch.with_env(vec![(VAR.to_owned(), "s3cret-token".to_owned())]);
    let server = ServerProcess::start(&scratch, &[], true);
    let metrics =
        |headers: &[(&str, &str)]| http(&server.addr, "GET", "/metrics", headers).unwrap();
    let none = metrics(&[]);
    assert_eq!(none.status, 401);
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));
    assert_eq!(metrics(&[("Authorization", "Bearer wrong-token!")]).status, 401);
    assert_eq!(metrics(&[("Authorization", "Bearer s3cret-token")]).status, 200);
    // Everything else stays public.
    assert_eq!(http(&server.addr, "GET", "/healthz", &[]).unwrap().status, 200);
}
