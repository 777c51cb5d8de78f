//! Notifications over real HTTP: receivers started here on 127.0.0.1:0 (a webhook that
//! fails twice then succeeds, a Slack stand-in, one that never answers), deploys driven
//! through the CLI on local-transport nodes (`rollout.rs`'s fleet and `[commands]`), and
//! `wharf server` delivering what a CLI run left behind.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wharf_app::Context;
use wharf_app::notify::{DeliveryOptions, Drained};
use wharf_core::config::ConfigSource;
use wharf_store::NewAuditEntry;

use crate::rollout::{deploy, scratch, wharf};
use crate::support::{Scratch, ServerProcess};

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: Vec<(String, String)>,
    body: Value,
    status: u16,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// A webhook receiver: answers 503 to its first `fail_first` requests, then 200 — or, when
/// `hang`, never answers.
struct Receiver {
    url: String,
    log: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(fail_first: usize, hang: bool) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(AtomicUsize::new(fail_first));
        let shared = log.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                if hang {
                    held.push(stream);
                    continue;
                }
                let status = if failures
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
                {
                    503
                } else {
                    200
                };
                if let Some(received) = answer(stream, status) {
                    shared.lock().unwrap().push(received);
                }
            }
        });
        Receiver { url, log }
    }

    fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }

    /// The bodies it accepted (answered 200).
    fn accepted(&self) -> Vec<Value> {
        self.received().into_iter().filter(|r| r.status == 200).map(|r| r.body).collect()
    }

    fn wait_for(&self, n: usize, within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        while self.accepted().len() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.accepted()
    }
}

/// Read one request (headers, `Content-Length` body), answer `status`, close.
fn answer(stream: TcpStream, status: u16) -> Option<Received> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut headers = Vec::new();
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let Some((name, value)) = line.trim_end().split_once(':') else { break };
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let reply = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    (&stream).write_all(reply.as_bytes()).ok()?;
    Some(Received { headers, body: serde_json::from_slice(&body).ok()?, status })
}

/// A `[[notify]]` entry whose URL is in `NAME.url` beside the configuration file.
fn entry(name: &str, kind: &str, extra: &str) -> String {
    format!(
        "\n[[notify]]\nname = \"{name}\"\nkind = \"{kind}\"\nurl_file = \"{name}.url\"\n{extra}\n"
    )
}

/// Point destination `name` at `url`.
fn point(scratch: &Scratch, name: &str, url: &str) {
    std::fs::write(scratch.path().join(format!("{name}.url")), format!("{url}\n")).unwrap();
}

/// `rollout.rs`'s fleet with one `[[notify]]` entry, pointed at `url`.
fn fleet(name: &str, kind: &str, url: &str, extra: &str) -> Scratch {
    let scratch = scratch(&entry(name, kind, extra));
    point(&scratch, name, url);
    scratch
}

fn fast() -> DeliveryOptions {
    DeliveryOptions { first_retry: Duration::from_millis(20), ..DeliveryOptions::default() }
}

async fn deliver_all(scratch: &Scratch, ctx: &Context) -> wharf_app::notify::DeliveryReport {
    let text = std::fs::read_to_string(scratch.path().join("wharf.toml")).unwrap();
    let source = ConfigSource::new(scratch.path().join("wharf.toml"), text);
    let config = source.parse().unwrap();
    let destinations = wharf_app::notify::destinations(&config, &source).unwrap();
    let deadline = jiff::Timestamp::now().as_millisecond() + 10_000;
    wharf_app::notify::deliver(ctx, &destinations, &fast(), deadline).await.unwrap()
}

fn ids(bodies: &[Value]) -> Vec<String> {
    bodies.iter().map(|b| b["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_fails_twice_gets_every_event_once_in_order() {
    let scratch = Scratch::new();
    let receiver = Receiver::start(2, false);
    point(&scratch, "hook", &receiver.url);
    let hook = entry("hook", "webhook", "");
    let config =
        scratch.config(&format!("[[environments]]\nname = \"gprd\"\nnodes = \"\"\n{hook}"));
    let ctx = scratch.context(&config, "alice").await;
    let store = ctx.store();
    store.append_audit(NewAuditEntry::new("alice", "note", "gprd")).await.unwrap();
    for (action, reason) in [("lock", Some("incident #7")), ("unlock", None), ("lock", None)] {
        let mut entry = ctx.entry(action, "gprd", json!({}));
        entry.reason = reason.map(str::to_owned);
        store.append_audit(entry).await.unwrap();
    }

    let report = deliver_all(&scratch, &ctx).await;
    assert_eq!((report.delivered, report.failed_attempts), (3, 2), "{report:?}");
    assert!(report.idle(), "{report:?}");
    let received = receiver.received();
    let statuses: Vec<u16> = received.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 503, 200, 200, 200]);
    let bodies: Vec<Value> = received.iter().map(|r| r.body.clone()).collect();
    let all = ids(&bodies);
    assert!(all[0] == all[1] && all[1] == all[2], "retries carry the same id: {all:?}");
    let kinds: Vec<&str> = bodies.iter().map(|b| b["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["lock", "lock", "lock", "unlock", "lock"], "in order, notes left out");
    for r in &received {
        assert_eq!(r.header("idempotency-key"), r.body["id"].as_str());
        assert_eq!(r.header("x-wharf-event-id"), r.body["id"].as_str());
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    let first = &bodies[0];
    assert_eq!(
        (first["environment"].as_str(), first["actor"].as_str()),
        (Some("gprd"), Some("alice"))
    );
    assert_eq!(first["reason"], "incident #7");
    assert_eq!(first["text"], "alice locked gprd: incident #7");
    assert!(first["at"].as_str().unwrap().ends_with('Z'));

    // Delivered once: another pass sends nothing.
    let again = deliver_all(&scratch, &ctx).await;
    assert_eq!(again.delivered, 0);
    assert_eq!(receiver.received().len(), 5);
    let outbox = store.outbox_after(0, 10).await.unwrap();
    let delivery = store.outbox_delivery(outbox[0].id, "hook").await.unwrap().unwrap();
    assert_eq!(delivery.attempts, 3);
    assert!(delivery.delivered_at.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_gets_text_only_and_filters_pick_kinds_and_environments() {
    let scratch = Scratch::new();
    let slack = Receiver::start(0, false);
    let all = Receiver::start(0, false);
    let envs = "[[environments]]\nname = \"gprd\"\nnodes = \"\"\n\n\
                [[environments]]\nname = \"gstg\"\nnodes = \"\"\n";
    point(&scratch, "chat", &slack.url);
    point(&scratch, "all", &all.url);
    let chat = entry("chat", "slack", "events = [\"lock.*\", \"hold\"]\nenvironments = [\"gprd\"]");
    let hook = entry("all", "webhook", "");
    let config = scratch.config(&format!("{envs}{chat}{hook}"));
    let ctx = scratch.context(&config, "alice").await;
    let entries = [
        ("lock", "gprd", json!({}), Some("incident #7")),
        ("lock", "gstg", json!({}), Some("testing")),
        ("hold", "gprd", json!({ "package": "gitlab-ee" }), Some("nightly is broken")),
        ("unhold", "gprd", json!({ "package": "gitlab-ee" }), None),
        ("lock.steal", "*", json!({ "stolen_from": "bob" }), Some("incident #8")),
        ("publish", "tools", json!({ "source": "bookworm-tools" }), None),
    ];
    for (action, target, details, reason) in entries {
        let mut entry = ctx.entry(action, target, details);
        entry.reason = reason.map(str::to_owned);
        ctx.store().append_audit(entry).await.unwrap();
    }
    let report = deliver_all(&scratch, &ctx).await;
    assert!(report.idle(), "{report:?}");
    let texts: Vec<Value> = slack.accepted();
    assert_eq!(
        texts,
        [
            json!({ "text": "alice locked gprd: incident #7" }),
            json!({ "text": "alice held gitlab-ee on gprd: nightly is broken" }),
            json!({ "text": "alice took over the lock on every environment from bob: incident #8" }),
        ]
    );
    let kinds: Vec<Value> = all.accepted().iter().map(|b| b["kind"].clone()).collect();
    assert_eq!(kinds, ["lock", "lock", "hold", "unhold", "lock.steal", "publish"]);
    assert_eq!(all.accepted()[5]["text"], "alice published bookworm-tools at tools");
}

#[test]
fn every_notification_of_a_deploy_repeats_its_override_reason() {
    let receiver = Receiver::start(0, false);
    let scratch = fleet("hook", "webhook", &receiver.url, "");
    let reason = "canary verified by hand, INC-42";
    let (code, stdout, stderr) =
        deploy(&scratch, &["1.0", "production", "--ignore-production-checks", reason, "--json"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let id = serde_json::from_str::<Value>(&stdout).unwrap()["id"].as_i64().unwrap();
    // The CLI delivered its own announcements before exiting.
    let bodies = receiver.accepted();
    let kinds: Vec<&str> = bodies.iter().map(|b| b["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["deploy.start", "deploy.succeeded"], "{bodies:#?}");
    for body in &bodies {
        assert_eq!(body["deploy"]["id"], id);
        assert_eq!(body["deploy"]["packages"]["app"], "1.0");
        assert_eq!(body["deploy"]["overrides"][0]["kind"], "ignore-production-checks");
        assert_eq!(body["deploy"]["overrides"][0]["reason"], reason);
        let text = body["text"].as_str().unwrap();
        assert!(text.contains(&format!("ignore-production-checks by alice: {reason}")), "{text}");
    }
    assert_eq!(
        bodies[0]["text"].as_str().unwrap().split(" (overrides").next(),
        Some(format!("alice started deploy {id} of app 1.0 to production").as_str())
    );

    // A refused deploy is announced too, with why.
    let (code, _, _) = wharf(&scratch, &["lock", "production", "--reason", "freeze"]);
    assert_eq!(code, 0);
    let (code, _, _) = deploy(&scratch, &["1.1", "production", "--ignore-production-checks", "x"]);
    assert_eq!(code, 4);
    let bodies = receiver.accepted();
    let refused = bodies.iter().find(|b| b["kind"] == "deploy.refused").expect("refusal announced");
    assert!(refused["text"].as_str().unwrap().contains("was refused"), "{refused}");
    assert!(
        bodies
            .iter()
            .any(|b| b["kind"] == "lock" && b["text"] == "alice locked production: freeze")
    );
}

#[test]
fn a_downgrade_is_announced_in_the_runbook_wording() {
    let slack = Receiver::start(0, false);
    let scratch = fleet("chat", "slack", &slack.url, "events = [\"downgrade.*\"]");
    assert_eq!(deploy(&scratch, &["16.2.0", "staging"]).0, 0);
    let args =
        ["app=16.1.0", "staging", "--downgrade", "--hold", "--issue", "https://gitlab.example/i/9"];
    let (code, stdout, stderr) = deploy(&scratch, &args);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(
        slack.accepted(),
        [
            json!({ "text": "I will be manually downgrading package on staging to app 16.1.0. https://gitlab.example/i/9" }),
            json!({ "text": "Downgrade completed. The package has also been put on hold. https://gitlab.example/i/9" }),
        ]
    );
}

#[test]
fn a_receiver_that_is_down_neither_fails_nor_slows_a_deploy_and_the_server_delivers_later() {
    let hanging = Receiver::start(0, true);
    let scratch = fleet("hook", "webhook", &hanging.url, "");
    let started = Instant::now();
    let (code, stdout, stderr) = deploy(&scratch, &["1.0", "staging"]);
    let took = started.elapsed();
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(took < Duration::from_secs(8), "the deploy took {took:?}");
    assert!(stderr.contains("`wharf server` will retry"), "{stderr}");

    // The receiver comes back (at a new address); the server delivers what was left.
    let receiver = Receiver::start(0, false);
    point(&scratch, "hook", &receiver.url);
    let server = ServerProcess::start(&scratch, &[], true);
    let bodies = receiver.wait_for(2, Duration::from_secs(20));
    let kinds: Vec<&str> = bodies.iter().map(|b| b["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["deploy.start", "deploy.succeeded"], "{}", server.log());
    let unique: std::collections::BTreeSet<String> = ids(&bodies).into_iter().collect();
    assert_eq!(unique.len(), 2);
    // /metrics counts the server's deliveries (once the delivery round has ended).
    let delivered = || {
        let metrics = crate::support::http(&server.addr, "GET", "/metrics", &[]).unwrap();
        let text = String::from_utf8_lossy(&metrics.body).into_owned();
        let count = text
            .lines()
            .find(|l| {
                l.starts_with(
                    r#"wharf_webhook_deliveries_total{destination="hook",result="delivered"}"#,
                )
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse::<u64>().ok());
        (count, text)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let (count, text) = loop {
        let (count, text) = delivered();
        if count == Some(2) || std::time::Instant::now() > deadline {
            break (count, text);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(count, Some(2), "{text}");
    // And what a CLI run writes while the server runs reaches it too, once.
    assert_eq!(wharf(&scratch, &["lock", "staging", "--reason", "freeze"]).0, 0);
    let bodies = receiver.wait_for(3, Duration::from_secs(10));
    assert_eq!(bodies.len(), 3);
    assert_eq!(bodies[2]["kind"], "lock");
    // Delivered once, shown without waiting for nothing to happen: a destination's rows go
    // out in order, one deliverer at a time (its lease), so once a later event has arrived
    // no copy of an earlier one can still come.
    assert_eq!(wharf(&scratch, &["unlock", "staging"]).0, 0);
    let bodies = receiver.wait_for(4, Duration::from_secs(10));
    let kinds: Vec<&str> = bodies.iter().map(|b| b["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["deploy.start", "deploy.succeeded", "lock", "unlock"], "delivered once");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_destination_is_reported_not_an_error() {
    let scratch = Scratch::new();
    let hook = "\n[[notify]]\nname = \"hook\"\nkind = \"webhook\"\nurl_file = \"missing.url\"\n";
    let config =
        scratch.config(&format!("[[environments]]\nname = \"gprd\"\nnodes = \"\"\n{hook}"));
    let ctx = scratch.context(&config, "alice").await;
    ctx.store().append_audit(ctx.entry("lock", "gprd", json!({}))).await.unwrap();
    let report = deliver_all(&scratch, &ctx).await;
    assert!(
        matches!(&report.destinations[0].1, Drained::Unusable(why) if why.contains("missing.url")),
        "{report:?}"
    );
}

#[test]
fn an_event_glob_that_matches_nothing_stops_every_command() {
    let scratch = Scratch::new();
    let hook = entry("hook", "webhook", "events = [\"deploy.finished\"]");
    scratch.config(&format!("[[environments]]\nname = \"gprd\"\nnodes = \"\"\n{hook}"));
    let (code, _, stderr) = crate::support::outcome(&scratch.run(&["config", "check"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("wharf.toml:9: key `notify.hook.events`"), "{stderr}");
    assert!(stderr.contains("\"deploy.finished\" matches no event kind"), "{stderr}");
}
