//! HTTP for the checks: one GET with a timeout, URLs shown without passwords, and
//! [`http_until`] — poll a URL until it answers as expected.

use std::time::Duration;

use tokio::time::Instant;

use super::CheckOutcome;

/// How often [`http_until`] asks again.
const POLL: Duration = Duration::from_millis(500);
/// The most of a body a check reads.
const MAX_BODY: usize = 4 << 20;

/// What a GET answered.
pub(super) struct Answer {
    pub status: u16,
    pub body: String,
}

/// `url` as it may be shown: a password in it replaced by `***`.
pub(super) fn shown(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// GET `url` within `timeout`, reading at most [`MAX_BODY`] bytes of the body. The error
/// is the innermost cause, in words (`connection refused (os error 111)`).
pub(super) async fn get(url: &str, timeout: Duration) -> Result<Answer, String> {
    let parsed = reqwest::Url::parse(url).map_err(|err| format!("invalid URL: {err}"))?;
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|err| format!("cannot make an HTTP client: {}", cause(&err)))?;
    let failed = |err: reqwest::Error| {
        if err.is_timeout() { format!("no answer within {}", human(timeout)) } else { cause(&err) }
    };
    let mut response = client.get(parsed).send().await.map_err(failed)?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        body.extend_from_slice(&chunk);
        if body.len() >= MAX_BODY {
            body.truncate(MAX_BODY);
            break;
        }
    }
    Ok(Answer { status, body: String::from_utf8_lossy(&body).into_owned() })
}

/// `10s`, `1m30s`, or `250ms` below a second or with a fraction of one.
pub(crate) fn human(duration: Duration) -> String {
    if duration.subsec_millis() == 0 && duration.as_secs() > 0 {
        wharf_core::config::format_duration(duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

/// The innermost cause of `err`, first letter lowercased: what actually went wrong.
pub(crate) fn cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut inner = err;
    while let Some(source) = inner.source() {
        inner = source;
    }
    let text = inner.to_string();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

/// Poll `url` every 500 ms until it answers `expect_status` (and its body contains
/// `expect_body`), or `timeout` passes. Never an error: an endpoint that cannot be reached
/// is a failed outcome whose evidence names the URL and the last error.
pub async fn http_until(
    url: &str,
    expect_status: u16,
    expect_body: Option<&str>,
    timeout: Duration,
) -> CheckOutcome {
    let url_shown = shown(url);
    let started = Instant::now();
    let deadline = started + timeout;
    let mut attempts = 0u32;
    let why = loop {
        attempts += 1;
        let why = match tokio::time::timeout_at(deadline, get(url, timeout)).await {
            Err(_) => format!("cannot reach {url_shown}: no answer within {}", human(timeout)),
            Ok(Ok(answer)) => match mismatch(&answer, expect_status, expect_body) {
                None => {
                    let elapsed = started.elapsed().as_millis();
                    let said = format!(
                        "GET {url_shown} answered {} after {attempts} attempt(s) in {elapsed} ms",
                        answer.status
                    );
                    return outcome(url, true, vec![said]);
                }
                Some(why) => format!("GET {url_shown} answered {why}"),
            },
            Ok(Err(err)) => format!("cannot reach {url_shown}: {err}"),
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left < POLL {
            break why;
        }
        tokio::time::sleep(POLL).await;
    };
    let gave_up = format!("gave up after {attempts} attempt(s) in {}", human(timeout));
    outcome(url, false, vec![why, gave_up])
}

fn outcome(url: &str, passed: bool, evidence: Vec<String>) -> CheckOutcome {
    CheckOutcome { name: shown(url), kind: "http".to_owned(), passed, evidence }
}

/// Why `answer` is not what is expected, `None` when it is.
fn mismatch(answer: &Answer, expect_status: u16, expect_body: Option<&str>) -> Option<String> {
    if answer.status != expect_status {
        return Some(format!("{}, expected {expect_status}", answer.status));
    }
    let wanted = expect_body.filter(|wanted| !answer.body.contains(wanted))?;
    let start: String = answer.body.chars().take(120).collect();
    let start = start.split_whitespace().collect::<Vec<_>>().join(" ");
    Some(format!("{} without {wanted:?} in its body (which starts: {start:?})", answer.status))
}
