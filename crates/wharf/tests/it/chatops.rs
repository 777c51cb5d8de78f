//! `/chatops/slack` against the real server: signed slash commands run as the mapped
//! user's identity (`via: chat`) and the result is posted to the `response_url`; forged,
//! stale and replayed requests are refused before anything runs; unmapped users and
//! users whose role is too weak are told so; version and environment in either order.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::support::{Scratch, ServerProcess, parse_response};

pub(crate) const CONFIG: &str = r#"
[[nodes]]
names = "web[01-02]"
transport = "local"
root = "roots/{name}"

[[environments]]
name = "gstg"
nodes = "web01"
packages = ["app"]

[[environments]]
name = "gprd"
after = "gstg"
nodes = "web02"
production = true
packages = ["app"]

[commands]
install = "for p in {packages}; do printf '%s\n' \"${{p#*=}}\" > \"$WHARF_NODE_ROOT/v-${{p%%=*}}\"; done"
version = "cat \"$WHARF_NODE_ROOT/v-\"{package} 2>/dev/null || true"

[chatops.slack]
signing_secret_env = "WHARF_TEST_SLACK_SECRET"
users = { U0ALICE = { name = "alice", role = "deployer" }, U0VIC = { name = "vic", role = "viewer" } }
"#;

pub(crate) const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

/// A `response_url` receiver: every POST body it gets, as JSON.
pub(crate) fn receiver() -> (String, mpsc::Receiver<Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/response", listener.local_addr().unwrap());
    let (sender, received) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
            let _ = sender.send(serde_json::from_slice(&body).unwrap_or(Value::Null));
        }
    });
    (url, received)
}

fn sign(timestamp: &str, body: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
    let tag = ring::hmac::sign(&key, format!("v0:{timestamp}:{body}").as_bytes());
    format!("v0={}", tag.as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>())
}

fn now() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    i64::try_from(since.as_secs()).unwrap()
}

/// A slash command's form body; like Slack's, each has its own `trigger_id`.
fn form(user: &str, text: &str, response_url: &str) -> String {
    static TRIGGER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let trigger = TRIGGER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_owned(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    format!(
        "token=x&team_id=T1&user_id={user}&user_name={user}&command=%2Fwharf&text={}&trigger_id={trigger}.{}&response_url={}",
        enc(text),
        std::process::id(),
        enc(response_url)
    )
}

/// POST a body to /chatops/slack with the given timestamp and signature.
fn post(addr: &str, body: &str, timestamp: &str, signature: &str) -> (u16, Value) {
    let headers =
        format!("X-Slack-Request-Timestamp: {timestamp}\r\nX-Slack-Signature: {signature}\r\n");
    post_form(addr, "/chatops/slack", &headers, body)
}

/// POST a form body to `path` with extra header lines (each ending in CRLF).
fn post_form(addr: &str, path: &str, headers: &str, body: &str) -> (u16, Value) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         {headers}\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let response = parse_response(&raw);
    (response.status, serde_json::from_slice(&response.body).unwrap_or(Value::Null))
}

pub(crate) fn signed(addr: &str, user: &str, text: &str, url: &str) -> (u16, Value) {
    let body = form(user, text, url);
    let timestamp = now().to_string();
    post(addr, &body, &timestamp, &sign(&timestamp, &body))
}

#[test]
fn signed_slash_commands_deploy_as_the_mapped_user_and_forgeries_are_refused() {
    let scratch = Scratch::new().with_env(vec![("WHARF_TEST_SLACK_SECRET".into(), SECRET.into())]);
    scratch.config(CONFIG);
    for node in ["web01", "web02"] {
        std::fs::create_dir_all(scratch.path().join("roots").join(node)).unwrap();
    }
    let server = ServerProcess::start(&scratch, &[], true);
    let (url, replies) = receiver();
    let wait =
        || replies.recv_timeout(Duration::from_secs(30)).expect("a reply to the response_url");

    // Acknowledged at once, the result posted to the channel; version and env either way.
    let (status, ack) = signed(&server.addr, "U0ALICE", "deploy 1.0 gstg", &url);
    assert_eq!(status, 200, "{ack}\n{}", server.log());
    assert_eq!(ack["response_type"], "ephemeral");
    let result = wait();
    assert_eq!(result["response_type"], "in_channel");
    let text = result["text"].as_str().unwrap();
    assert!(text.contains("deploy 1 of app 1.0 to gstg by alice: succeeded"), "{text}");
    assert_eq!(std::fs::read_to_string(scratch.path().join("roots/web01/v-app")).unwrap(), "1.0\n");
    let (status, _) = signed(
        &server.addr,
        "U0ALICE",
        "deploy gprd 1.0 --ignore-production-checks 'canary skipped: hotfix'",
        &url,
    );
    assert_eq!(status, 200);
    let text = wait()["text"].as_str().unwrap().to_owned();
    assert!(
        text.contains("to gprd by alice: succeeded") && text.contains("canary skipped: hotfix"),
        "{text}"
    );

    // The audit log says who, via chat, with the override's reason.
    let audit = crate::apt::ok(&scratch, &["audit", "--json", "--action", "deploy.start"]);
    let entries: Value = serde_json::from_str(&audit).unwrap();
    let gprd = entries.as_array().unwrap().iter().find(|e| e["target"] == "gprd").unwrap();
    assert_eq!(
        (gprd["actor"].as_str(), gprd["details"]["via"].as_str()),
        (Some("alice"), Some("chat"))
    );
    assert_eq!(gprd["details"]["chat_user"], "U0ALICE");
    assert!(gprd["reason"].as_str().unwrap().contains("canary skipped: hotfix"), "{gprd}");

    // A viewer reads, and is told what deploying needs; an unmapped user is told so.
    let (_, ack) = signed(&server.addr, "U0VIC", "deploy 1.1 gstg", &url);
    assert!(ack["text"].as_str().unwrap().contains("needs the deployer role"), "{ack}");
    let (_, ack) = signed(&server.addr, "U0VIC", "status", &url);
    assert!(ack["text"].as_str().unwrap().starts_with("Working on"), "{ack}");
    let text = wait()["text"].as_str().unwrap().to_owned();
    assert!(text.contains("gstg: app 1.0 (#1)") && text.contains("gprd: app 1.0 (#2)"), "{text}");
    let (_, ack) = signed(&server.addr, "U0MALLORY", "deploy 1.1 gstg", &url);
    assert!(ack["text"].as_str().unwrap().contains("not a Wharf user"), "{ack}");
    let (_, ack) = signed(&server.addr, "U0ALICE", "deploy 1.1 gstg --data /tmp/other", &url);
    assert!(ack["text"].as_str().unwrap().starts_with("Working on"), "{ack}");
    assert!(wait()["text"].as_str().unwrap().contains("cannot be given from chat"));

    // Forged, stale and replayed requests are refused before anything runs.
    let body = form("U0ALICE", "deploy 9.9 gstg", &url);
    let ts = now().to_string();
    let (status, error) = post(&server.addr, &body, &ts, &sign(&ts, "other body"));
    assert_eq!(status, 401, "{error}");
    let stale = (now() - 600).to_string();
    assert_eq!(post(&server.addr, &body, &stale, &sign(&stale, &body)).0, 401);
    let good = sign(&ts, &body);
    let status_body = form("U0ALICE", "status", &url);
    assert_eq!(post(&server.addr, &status_body, &ts, &sign(&ts, &status_body)).0, 200);
    let _ = wait();
    assert_eq!(post(&server.addr, &body, &ts, &good).0, 200);
    let _ = wait();
    assert_eq!(post(&server.addr, &body, &ts, &good).0, 401, "a replay is refused");
    assert!(server.log().contains("a replay"), "{}", server.log());
    let history = crate::apt::ok(&scratch, &["history", "gstg", "--json"]);
    let deploys: Value = serde_json::from_str(&history).unwrap();
    assert_eq!(deploys.as_array().unwrap().len(), 2, "the replay ran nothing: {deploys}");
}

/// POST a body to /chatops/mattermost, with `Authorization: Token …` when given.
fn mattermost(addr: &str, body: &str, token: Option<&str>) -> (u16, Value) {
    let authorization = token.map(|t| format!("Authorization: Token {t}\r\n")).unwrap_or_default();
    post_form(addr, "/chatops/mattermost", &authorization, body)
}

#[test]
fn mattermost_commands_carry_the_token_and_run_as_the_mapped_user() {
    const TOKEN: &str = "xr3j5x3p4pfjpfi1oykp6awfja";
    let scratch = Scratch::new().with_env(vec![
        ("WHARF_TEST_SLACK_SECRET".into(), SECRET.into()),
        ("WHARF_TEST_MATTERMOST_TOKEN".into(), TOKEN.into()),
    ]);
    scratch.config(&format!(
        "{CONFIG}\n[chatops.mattermost]\ntoken_env = \"WHARF_TEST_MATTERMOST_TOKEN\"\n\
         users = {{ mm4lice = {{ name = \"alice\", role = \"deployer\" }} }}\n"
    ));
    std::fs::create_dir_all(scratch.path().join("roots/web01")).unwrap();
    let server = ServerProcess::start(&scratch, &[], true);
    let (url, replies) = receiver();
    let wait =
        || replies.recv_timeout(Duration::from_secs(30)).expect("a reply to the response_url");

    // Mattermost's form is Slack's (with the token in it too): acknowledged, then posted.
    let body =
        form("mm4lice", "deploy gstg 1.0", &url).replace("token=x", &format!("token={TOKEN}"));
    let (status, ack) = mattermost(&server.addr, &body, Some(TOKEN));
    assert_eq!(status, 200, "{ack}\n{}", server.log());
    assert_eq!(ack["response_type"], "ephemeral");
    let text = wait()["text"].as_str().unwrap().to_owned();
    assert!(text.contains("deploy 1 of app 1.0 to gstg by alice: succeeded"), "{text}");
    let audit = crate::apt::ok(&scratch, &["audit", "--json", "--action", "deploy.start"]);
    let entries: Value = serde_json::from_str(&audit).unwrap();
    assert_eq!(entries[0]["details"]["chat_user"], "mm4lice", "{entries}");

    // The token in the form alone is enough (older Mattermost); a wrong or missing one is
    // refused before anything runs; an unmapped user is told where users are declared.
    let status_body = form("mm4lice", "status", &url).replace("token=x", &format!("token={TOKEN}"));
    assert_eq!(mattermost(&server.addr, &status_body, None).0, 200);
    assert!(wait()["text"].as_str().unwrap().contains("gstg: app 1.0 (#1)"));
    let forged = form("mm4lice", "deploy gstg 9.9", &url);
    let (status, error) = mattermost(&server.addr, &forged, Some("xr3j5x3p4pfjpfi1oykp6awfjb"));
    assert_eq!(status, 401, "{error}");
    assert!(error["message"].as_str().unwrap().contains("token is wrong or missing"), "{error}");
    assert_eq!(mattermost(&server.addr, &forged, None).0, 401, "form token `x` is wrong");
    let stranger = form("mm0ther", "status", &url);
    let (_, ack) = mattermost(&server.addr, &stranger, Some(TOKEN));
    assert!(ack["text"].as_str().unwrap().contains("[chatops.mattermost] users"), "{ack}");
    // Each platform has its own users: a Mattermost user id means nothing to Slack.
    let (_, ack) = signed(&server.addr, "mm4lice", "deploy 9.9 gstg", &url);
    assert!(ack["text"].as_str().unwrap().contains("[chatops.slack] users"), "{ack}");
    let history = crate::apt::ok(&scratch, &["history", "gstg", "--json"]);
    let deploys: Value = serde_json::from_str(&history).unwrap();
    assert_eq!(deploys.as_array().unwrap().len(), 1, "nothing forged ran: {deploys}");
}
