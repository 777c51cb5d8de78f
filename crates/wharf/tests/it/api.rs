//! The HTTP API black-box: the real `wharf server` on a loopback port, tokens made by
//! `wharf token create`, local-transport nodes whose `[commands]` work in private roots
//! (as in `rollout.rs`), so nothing touches the host. The whole role matrix, 401s,
//! expired and revoked tokens, a deploy started through the API that succeeds and one a
//! guard refuses, uploads of a good and a truncated `.deb`, and audit entries naming the
//! token, `via: api` and the peer address.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::apt::build_deb;
use crate::support::{Scratch, ServerProcess, outcome, parse_response};

const CONFIG: &str = r#"
[[nodes]]
names = "web[01-03]"
transport = "local"
root = "roots/{name}"

[[environments]]
name = "staging"
nodes = "web01"
packages = ["app"]

[[environments]]
name = "production"
after = "staging"
nodes = "web[02-03]"
production = true
packages = ["app"]

[commands]
install = "for p in {packages}; do printf '%s\n' \"${{p#*=}}\" > \"$WHARF_NODE_ROOT/v-${{p%%=*}}\"; done"
version = "cat \"$WHARF_NODE_ROOT/v-\"{package} 2>/dev/null || true"
restart = "true"
hold = "printf '%s\n' {package_names} >> \"$WHARF_NODE_ROOT/held\""
unhold = "rm -f \"$WHARF_NODE_ROOT/held\""
"#;

pub(crate) fn scratch() -> Scratch {
    let scratch = Scratch::new();
    for n in 1..=3 {
        std::fs::create_dir_all(scratch.path().join(format!("roots/web{n:02}"))).unwrap();
    }
    scratch.config(CONFIG);
    scratch
}

/// `wharf token create NAME --role ROLE [EXTRA…]`: the token.
pub(crate) fn token(scratch: &Scratch, name: &str, role: &str, extra: &[&str]) -> String {
    let mut args = vec!["token", "create", name, "--role", role];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = outcome(&scratch.run(&args));
    assert_eq!(code, 0, "{stderr}");
    let token = stdout.trim().to_owned();
    assert!(token.starts_with("wharf_") && token.len() == 70, "{token}");
    token
}

struct Reply {
    status: u16,
    body: Value,
}

/// One request; `body` is `(content type, bytes)`.
fn call(
    server: &ServerProcess,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, &[u8])>,
) -> Reply {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(&server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head = format!(
        "{method} /api/v1{path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        server.addr
    );
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    let (kind, bytes) = body.unwrap_or(("application/json", b""));
    head.push_str(&format!("Content-Type: {kind}\r\nContent-Length: {}\r\n\r\n", bytes.len()));
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(bytes).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let response = parse_response(&raw);
    let body = if response.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&response.body)
            .unwrap_or_else(|err| panic!("{err}: {}", String::from_utf8_lossy(&response.body)))
    };
    Reply { status: response.status, body }
}

fn get(server: &ServerProcess, path: &str, token: &str) -> Reply {
    call(server, "GET", path, Some(token), None)
}

fn post(server: &ServerProcess, path: &str, token: &str, body: &Value) -> Reply {
    let bytes = serde_json::to_vec(body).unwrap();
    call(server, "POST", path, Some(token), Some(("application/json", &bytes)))
}

fn code(reply: &Reply) -> &str {
    reply.body["code"].as_str().unwrap_or("")
}

fn repo_with_a_package(scratch: &Scratch) {
    let (code, _, stderr) =
        outcome(&scratch.run(&["repo", "create", "tools", "--distribution", "bookworm"]));
    assert_eq!(code, 0, "{stderr}");
    let deb = build_deb(scratch.path(), "hello", "1.0", "amd64", "gzip");
    let (code, _, stderr) = outcome(&scratch.run(&["repo", "add", "tools", deb.to_str().unwrap()]));
    assert_eq!(code, 0, "{stderr}");
}

/// Every role × a read, a publish, a deploy and a token-admin action: 200 where the role
/// allows it, 403 naming the role needed where it does not.
#[test]
fn api_role_matrix() {
    let scratch = scratch();
    repo_with_a_package(&scratch);
    let roles = ["viewer", "publisher", "deployer", "admin"];
    let tokens: Vec<String> = roles.iter().map(|r| token(&scratch, r, r, &[])).collect();
    let server = ServerProcess::start(&scratch, &[], true);
    let dry_run = json!({ "environment": "staging", "version": "1.0", "dry_run": true });
    for (role, token) in roles.iter().zip(&tokens) {
        let read = get(&server, "/repos", token);
        let publish = post(&server, "/publish/tools", token, &json!({}));
        let deploy = post(&server, "/deploys", token, &dry_run);
        let admin = get(&server, "/tokens", token);
        let allowed = |reply: &Reply, needed: &str| {
            let ok = *role == "admin" || *role == needed || needed == "viewer";
            if ok {
                assert_eq!(reply.status, 200, "{role} on a {needed} action: {}", reply.body);
            } else {
                assert_eq!(reply.status, 403, "{role} on a {needed} action: {}", reply.body);
                assert_eq!(code(reply), "forbidden");
                let message = reply.body["message"].as_str().unwrap();
                assert!(message.contains(&format!("role {needed}")), "{message}");
            }
        };
        allowed(&read, "viewer");
        allowed(&publish, "publisher");
        allowed(&deploy, "deployer");
        allowed(&admin, "admin");
    }
    // The reads answer the CLI's wire types.
    let repos = get(&server, "/repos", &tokens[0]).body;
    assert_eq!(repos[0]["name"], "tools");
    let tokens_listed = get(&server, "/tokens", &tokens[3]).body;
    assert_eq!(tokens_listed.as_array().unwrap().len(), 4);
    assert!(!tokens_listed.to_string().contains("wharf_"), "never a secret: {tokens_listed}");
    let plan = post(&server, "/deploys", &tokens[2], &dry_run).body;
    assert_eq!(
        (plan["environment"].as_str(), plan["pipeline"].as_str()),
        (Some("staging"), Some("upgrade"))
    );
}

/// Every documented operation × every role that is not admin: 403 `forbidden` naming the
/// role needed where the role may not, anything but 401/403 where it may (viewers read,
/// publishers and deployers also do their own). Admin is never refused.
#[test]
fn api_role_matrix_of_every_route() {
    let scratch = scratch();
    let roles = ["viewer", "publisher", "deployer", "admin"];
    let tokens: Vec<String> = roles.iter().map(|r| token(&scratch, r, r, &[])).collect();
    let server = ServerProcess::start(&scratch, &[], true);
    let doc = call(&server, "GET", "/openapi.json", None, None).body;
    let mut n = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let description = operation["description"].as_str().unwrap();
            let needed = description
                .strip_prefix("Needs a token with role `")
                .and_then(|rest| rest.split('`').next())
                .unwrap_or_else(|| panic!("{method} {path}: {description}"));
            let concrete = path.strip_prefix("/api/v1").unwrap().replace("{id}", "1");
            let concrete = concrete.replace(['{', '}'], "");
            for (role, token) in roles.iter().zip(&tokens) {
                let reply = call(&server, &method.to_uppercase(), &concrete, Some(token), None);
                let allowed = *role == "admin" || *role == needed || needed == "viewer";
                let what = format!("{role} on {method} {path} (needs {needed}): {}", reply.body);
                if allowed {
                    assert!(![401, 403].contains(&reply.status), "{what}");
                } else {
                    assert_eq!((reply.status, code(&reply)), (403, "forbidden"), "{what}");
                    let message = reply.body["message"].as_str().unwrap();
                    assert!(message.contains(&format!("role {needed}")), "{message}");
                }
                n += 1;
            }
        }
    }
    assert!(n >= 4 * 40, "{n} calls");
}

/// 401 without a token, with a malformed header, an unknown token, an expired one and a
/// revoked one — each message saying which; every documented operation is behind a token.
#[test]
fn api_unauthorized_expired_and_revoked_tokens() {
    let scratch = scratch();
    let admin = token(&scratch, "ops", "admin", &[]);
    let short = token(&scratch, "short", "viewer", &["--expires", "1s"]);
    let ci = token(&scratch, "ci", "publisher", &["--automated"]);
    let server = ServerProcess::start(&scratch, &[], true);

    let none = call(&server, "GET", "/repos", None, None);
    assert_eq!((none.status, code(&none)), (401, "unauthorized"), "{}", none.body);
    let unknown = get(&server, "/repos", "wharf_0000");
    assert_eq!((unknown.status, code(&unknown)), (401, "unauthorized"));
    assert!(unknown.body.to_string().contains("unknown token"), "{}", unknown.body);
    assert!(!unknown.body.to_string().contains("wharf_0000"), "the token is never echoed");

    // The token lives one second: ask (bounded) until the server says it expired.
    let deadline = Instant::now() + Duration::from_secs(10);
    let expired = loop {
        let reply = get(&server, "/repos", &short);
        if reply.status != 200 || Instant::now() > deadline {
            break reply;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(expired.status, 401);
    assert!(expired.body.to_string().contains("expired"), "{}", expired.body);

    assert_eq!(get(&server, "/repos", &ci).status, 200);
    let revoked = call(&server, "DELETE", "/tokens/ci", Some(&admin), None);
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    let after = get(&server, "/repos", &ci);
    assert_eq!(after.status, 401);
    assert!(after.body.to_string().contains("revoked"), "{}", after.body);

    // Every documented operation exists and needs a token; nothing undocumented answers.
    let doc = call(&server, "GET", "/openapi.json", None, None).body;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let mut n = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let concrete = path.strip_prefix("/api/v1").unwrap().replace("{id}", "1");
            let concrete = concrete.replace(['{', '}'], "");
            let reply = call(&server, &method.to_uppercase(), &concrete, None, None);
            assert_eq!(reply.status, 401, "{method} {path}: {}", reply.body);
            n += 1;
        }
    }
    assert!(n >= 25, "{n} operations");
    assert_eq!(call(&server, "GET", "/nothing-here", Some(&admin), None).status, 404);
}

/// The server keeps the token table and the newest history pages in memory, trusted while
/// the store's change counters stand still; what another process writes counts from the
/// next request: a deploy the CLI ran beside the server, a token it made, one it revoked.
#[test]
fn api_memory_follows_what_other_processes_write() {
    let scratch = scratch();
    let viewer = token(&scratch, "viewer", "viewer", &[]);
    let server = ServerProcess::start(&scratch, &[], true);
    // Twice: the second answer comes from memory, and must be the same.
    for _ in 0..2 {
        let page = get(&server, "/deploys", &viewer);
        assert_eq!((page.status, page.body.clone()), (200, json!([])));
    }
    let (code_, _, stderr) = outcome(&scratch.run(&["deploy", "1.0", "staging"]));
    assert_eq!(code_, 0, "{stderr}");
    for path in ["/deploys", "/deploys?environment=staging", "/deploys?state=succeeded"] {
        let page = get(&server, path, &viewer).body;
        assert_eq!(page.as_array().map(Vec::len), Some(1), "{path}: {page}");
        assert_eq!(page[0]["state"], "succeeded", "{page}");
    }
    assert_eq!(get(&server, "/deploys?state=failed", &viewer).body, json!([]));
    let unknown = get(&server, "/deploys?environment=nowhere", &viewer);
    assert_eq!((unknown.status, code(&unknown)), (404, "not_found"), "{}", unknown.body);

    let late = token(&scratch, "late", "viewer", &[]);
    assert_eq!(get(&server, "/deploys", &late).status, 200);
    let (code_, _, stderr) = outcome(&scratch.run(&["token", "revoke", "viewer"]));
    assert_eq!(code_, 0, "{stderr}");
    let after = get(&server, "/deploys", &viewer);
    assert_eq!((after.status, code(&after)), (401, "unauthorized"), "{}", after.body);
    assert!(after.body.to_string().contains("revoked"), "{}", after.body);
    assert_eq!(get(&server, "/deploys", &late).status, 200);
}

/// A deploy started through the API runs in the background (202, then polled to
/// `succeeded`); one the promotion gate refuses is 409 `refused` with the record; the
/// audit log names the token, `via: api` and the peer address.
#[test]
fn api_deploy_succeeds_refused_one_is_409_and_audited() {
    let scratch = scratch();
    let deployer = token(&scratch, "release-bot", "deployer", &[]);
    let server = ServerProcess::start(&scratch, &[], true);

    let started = post(
        &server,
        "/deploys",
        &deployer,
        &json!({ "environment": "staging", "version": "1.0" }),
    );
    assert!([200, 202].contains(&started.status), "{}", started.body);
    let id = started.body["id"].as_i64().expect("the deploy's id");
    assert_eq!(started.body["started_by"], "release-bot");
    assert_eq!(started.body["via"], "api");
    let deadline = Instant::now() + Duration::from_secs(60);
    let state = loop {
        let shown = get(&server, &format!("/deploys/{id}"), &deployer);
        assert_eq!(shown.status, 200, "{}", shown.body);
        let state = shown.body["deploy"]["state"].as_str().unwrap().to_owned();
        if !["planned", "running"].contains(&state.as_str()) || Instant::now() > deadline {
            break state;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(state, "succeeded");
    let installed = std::fs::read_to_string(scratch.path().join("roots/web01/v-app")).unwrap();
    assert_eq!(installed, "1.0\n");
    let history = get(&server, "/deploys?environment=staging&limit=5", &deployer).body;
    assert_eq!(history[0]["id"].as_i64(), Some(id));

    // Production has not had 2.0 on staging: the promotion gate refuses, nothing runs.
    let refused = post(
        &server,
        "/deploys",
        &deployer,
        &json!({ "environment": "production", "version": "2.0" }),
    );
    assert_eq!((refused.status, code(&refused)), (409, "refused"), "{}", refused.body);
    assert_eq!(refused.body["deploy"]["state"], "refused");
    assert!(!refused.body["deploy"]["refusals"].as_array().unwrap().is_empty());
    assert!(!scratch.path().join("roots/web02/v-app").exists());
    // An override needs a reason.
    let blank = post(
        &server,
        "/deploys",
        &deployer,
        &json!({ "environment": "production", "version": "2.0", "ignore_production_checks": " " }),
    );
    assert_eq!((blank.status, code(&blank)), (400, "invalid"), "{}", blank.body);

    // A lock through the API, and its entry.
    let lock = post(
        &server,
        "/locks",
        &deployer,
        &json!({ "environment": "production", "reason": "incident #1" }),
    );
    assert_eq!(lock.status, 200, "{}", lock.body);
    let entries = get(&server, "/audit?action=deploy.start", &deployer).body;
    let entry = &entries[0];
    assert_eq!(entry["actor"], "release-bot");
    assert_eq!(entry["details"]["via"], "api");
    assert_eq!(entry["details"]["token"], "release-bot");
    assert!(entry["details"]["from"].as_str().unwrap().starts_with("127.0.0.1:"), "{entry}");
    let locks = get(&server, "/audit?action=lock&target=production", &deployer).body;
    assert_eq!(locks[0]["details"]["via"], "api", "{locks}");
    // The CLI sees the same log.
    let (code_, stdout, _) =
        outcome(&scratch.run(&["audit", "--action", "deploy.refused", "--json"]));
    assert_eq!(code_, 0);
    assert!(stdout.contains("release-bot"), "{stdout}");
}

/// Uploads: a good `.deb` as the body, another as multipart, then a truncated one — 400
/// `invalid`, and the repository is as it was; then publish.
#[test]
fn api_upload_good_and_truncated_deb() {
    let scratch = scratch();
    let (code_, _, stderr) =
        outcome(&scratch.run(&["repo", "create", "tools", "--distribution", "bookworm"]));
    assert_eq!(code_, 0, "{stderr}");
    let ci = token(&scratch, "ci-upload", "publisher", &["--automated"]);
    let server = ServerProcess::start(&scratch, &[], true);
    let deb_type = "application/vnd.debian.binary-package";

    let good = std::fs::read(build_deb(scratch.path(), "hello", "1.0", "amd64", "gzip")).unwrap();
    let added = call(&server, "POST", "/repos/tools/packages", Some(&ci), Some((deb_type, &good)));
    assert_eq!(added.status, 200, "{}", added.body);
    assert_eq!(added.body["added"][0], "hello_1.0_amd64");

    let other = std::fs::read(build_deb(scratch.path(), "world", "2.0", "all", "xz")).unwrap();
    let boundary = "wharf-test-boundary";
    let mut form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"world_2.0_all.deb\"\r\nContent-Type: {deb_type}\r\n\r\n"
    )
    .into_bytes();
    form.extend_from_slice(&other);
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let kind = format!("multipart/form-data; boundary={boundary}");
    let added = call(&server, "POST", "/repos/tools/packages", Some(&ci), Some((&kind, &form)));
    assert_eq!(added.status, 200, "{}", added.body);
    assert_eq!(added.body["added"][0], "world_2.0_all");

    let before = get(&server, "/repos/tools", &ci).body;
    let truncated = &good[..good.len() / 2];
    let refused =
        call(&server, "POST", "/repos/tools/packages", Some(&ci), Some((deb_type, truncated)));
    assert_eq!((refused.status, code(&refused)), (400, "invalid"), "{}", refused.body);
    let after = get(&server, "/repos/tools", &ci).body;
    assert_eq!(before, after, "a refused upload changes nothing");
    assert_eq!(after["packages"], 2);

    let published = post(&server, "/publish/tools", &ci, &json!({}));
    assert_eq!(published.status, 200, "{}", published.body);
    assert_eq!(published.body["packages"], 2);
    let entries = get(&server, "/audit?action=repo.add", &ci).body;
    assert_eq!(entries.as_array().unwrap().len(), 2, "{entries}");
    assert!(entries.as_array().unwrap().iter().all(|e| e["actor"] == "ci-upload"));
}

/// The raw text of a server-sent-events stream read until the server ends it.
fn event_stream(
    server: &ServerProcess,
    path: &str,
    token: &str,
    last_event_id: Option<i64>,
) -> String {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(&server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head = format!(
        "GET /api/v1{path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAccept: text/event-stream\r\nAuthorization: Bearer {token}\r\n",
        server.addr
    );
    if let Some(id) = last_event_id {
        head.push_str(&format!("Last-Event-ID: {id}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    String::from_utf8_lossy(&raw).into_owned()
}

/// `(id, kind)` of every event in a stream, in order.
fn sse_events(text: &str) -> Vec<(i64, String)> {
    let (mut events, mut id) = (Vec::new(), None);
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("id: ").or_else(|| line.strip_prefix("id:")) {
            id = value.trim().parse().ok();
        } else if let Some(kind) =
            line.strip_prefix("event: ").or_else(|| line.strip_prefix("event:"))
        {
            events.push((id.take().unwrap_or(-1), kind.trim().to_owned()));
        }
    }
    events
}

#[test]
fn api_deploy_events_stream_and_resume_after_the_last_event_id() {
    let scratch = scratch();
    let viewer = token(&scratch, "dashboard", "viewer", &[]);
    let deployer = token(&scratch, "release-bot", "deployer", &[]);
    let server = ServerProcess::start(&scratch, &[], true);
    let started = post(
        &server,
        "/deploys",
        &deployer,
        &json!({ "environment": "staging", "version": "1.0" }),
    );
    let id = started.body["id"].as_i64().expect("the deploy's id");

    let text = event_stream(&server, &format!("/deploys/{id}/events"), &viewer, None);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.to_ascii_lowercase().contains("content-type: text/event-stream"), "{text}");
    let events = sse_events(&text);
    let kinds: Vec<&str> = events.iter().map(|(_, kind)| kind.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"deploy.started"), "{kinds:?}");
    assert_eq!(
        kinds.last(),
        Some(&"deploy.finished"),
        "the stream ends with the deploy: {kinds:?}"
    );
    assert!(kinds.contains(&"stage.started") && kinds.contains(&"checks.finished"), "{kinds:?}");
    assert!(events.windows(2).all(|w| w[0].0 < w[1].0), "ids increase: {events:?}");
    assert!(
        text.contains("\"kind\":\"deploy.finished\"") && text.contains("\"state\":\"succeeded\""),
        "{text}"
    );

    // Reconnecting with Last-Event-ID gets only what came after it.
    let middle = events[events.len() / 2].0;
    let rest =
        sse_events(&event_stream(&server, &format!("/deploys/{id}/events"), &viewer, Some(middle)));
    let expected: Vec<(i64, String)> =
        events.iter().filter(|(e, _)| *e > middle).cloned().collect();
    assert_eq!(rest, expected);

    let unknown = get(&server, "/deploys/9999/events", &viewer);
    assert_eq!((unknown.status, code(&unknown)), (404, "not_found"));
}
