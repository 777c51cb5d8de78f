//! `http` checks and `http_until` against a tiny local HTTP server.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use wharf_app::checks::http_until;

use crate::support::{environment, free_port, run};

/// What the server answers its `n`th request (from 0): a status and body, or nothing.
type Answer = fn(usize) -> Option<(u16, &'static str)>;

/// Serve `answer` on a free port; returns the URL. The server lives as long as the
/// test's runtime.
async fn serve(answer: Answer) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/ready", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let n = count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => request.extend_from_slice(&buf[..read]),
                    }
                }
                let Some((status, body)) = answer(n) else {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    return;
                };
                let response = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    url
}

#[tokio::test]
async fn http_until_polls_until_status_and_body_match() {
    let url = serve(|n| Some(if n < 2 { (503, "starting") } else { (200, "status: ok") })).await;
    let started = Instant::now();
    let outcome = http_until(&url, 200, Some("ok"), Duration::from_secs(10)).await;
    assert!(outcome.passed, "{outcome:?}");
    assert_eq!((outcome.name.as_str(), outcome.kind.as_str()), (url.as_str(), "http"));
    assert!(outcome.evidence[0].starts_with(&format!("GET {url} answered 200 after 3 attempt(s)")));
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1000) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn http_until_fails_with_what_was_answered_when_time_runs_out() {
    let cases: [(Answer, u16, Option<&str>, &str); 3] = [
        (
            |_| Some((200, "starting up")),
            200,
            Some("ok"),
            "answered 200 without \"ok\" in its body (which starts: \"starting up\")",
        ),
        (|_| Some((500, "oops")), 200, None, "answered 500, expected 200"),
        (|_| Some((200, "fine")), 204, None, "answered 200, expected 204"),
    ];
    for (answer, status, body, why) in cases {
        let url = serve(answer).await;
        let started = Instant::now();
        let outcome = http_until(&url, status, body, Duration::from_millis(1200)).await;
        let elapsed = started.elapsed();
        assert!(!outcome.passed, "{outcome:?}");
        assert_eq!(outcome.evidence[0], format!("GET {url} {why}"));
        assert!(outcome.evidence[1].starts_with("gave up after "), "{outcome:?}");
        assert!(
            elapsed >= Duration::from_millis(700) && elapsed < Duration::from_secs(3),
            "{elapsed:?}"
        );
    }
}

#[tokio::test]
async fn http_until_gives_up_on_a_server_that_never_answers() {
    let url = serve(|_| None).await;
    let started = Instant::now();
    let outcome = http_until(&url, 200, None, Duration::from_secs(1)).await;
    let elapsed = started.elapsed();
    assert!(!outcome.passed);
    assert_eq!(outcome.evidence[0], format!("cannot reach {url}: no answer within 1s"));
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );

    let closed = format!("http://127.0.0.1:{}/", free_port());
    let outcome = http_until(&closed, 200, None, Duration::from_secs(1)).await;
    assert!(!outcome.passed);
    assert!(
        outcome.evidence[0].starts_with(&format!("cannot reach {closed}: connection refused")),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn http_checks_run_from_the_configuration() {
    let url = serve(|_| Some((200, "ok"))).await;
    let checks = format!(
        "[[checks]]\nname = \"ready\"\nkind = \"http\"\nurl = \"{url}\"\nexpect_body = \"ok\"\n\n\
         [[checks]]\nname = \"created\"\nkind = \"http\"\nurl = \"{url}\"\nexpect_status = 201\ntimeout = \"1s\"\n"
    );
    let outcomes = run(&checks, &environment("gprd", &["web01"], true)).await;
    let summary: Vec<(&str, bool)> = outcomes.iter().map(|o| (o.name.as_str(), o.passed)).collect();
    assert_eq!(summary, [("ready", true), ("created", false)], "{outcomes:?}");
    assert_eq!(outcomes[1].evidence[0], format!("GET {url} answered 200, expected 201"));
}
