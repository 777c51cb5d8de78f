//! `POST /chatops/slack`: Slack's slash-command protocol.
//!
//! A request is accepted only when `X-Slack-Signature` is `v0=` HMAC-SHA256 (with the
//! signing secret `[chatops.slack]` names) over `v0:TIMESTAMP:BODY`, the timestamp is
//! within 5 minutes of now, and that signature has not been seen before (a replay). The
//! Slack user must be mapped to a Wharf identity with a role that may run the command.
//! Slack wants an answer within 3 seconds: the server acknowledges at once (ephemeral),
//! runs the command in the background as that identity (`via: chat`), and posts the
//! result to the request's `response_url` for the channel to see.
//!
//! `POST /chatops/mattermost` takes Mattermost's slash commands, which carry the command's
//! token (`Authorization: Token …`, and `token` in the form) instead of a signature: the
//! token `[chatops.mattermost]` names is compared in constant time. Mattermost sends no
//! timestamp, so a captured request could be replayed: serve it over TLS only.
//!
//! The text is parsed by the CLI's own grammar: the binary provides [`ChatCommands`].

use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use wharf_app::{Actor, Context, Via};
use wharf_core::config::{ChatUser, Config, ConfigError, ConfigSource, Role, SecretSource};

use crate::app::Loaded;
use crate::{ApiError, AppState};

/// How far a request's timestamp may be from now, in seconds (Slack's own advice).
pub const MAX_SKEW_SECONDS: i64 = 300;

/// A chat command to run, with who asked.
pub struct ChatRequest {
    /// The context acting as the chat user's Wharf identity, `via: chat`.
    pub context: Context,
    pub loaded: Arc<Loaded>,
    pub user: ChatUser,
    /// The slash command's text, e.g. `deploy 11.8.0-ee.0 gstg`.
    pub text: String,
}

/// What the channel is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatReply {
    pub text: String,
    /// Whether the command failed or was refused (the reply says why).
    pub failed: bool,
}

/// Runs chat commands: implemented by the binary, which owns the CLI's grammar.
pub trait ChatCommands: std::fmt::Debug + Send + Sync + 'static {
    /// The role `text` needs (`None`: not a chat command; the reply says which are).
    fn role_needed(&self, text: &str) -> Option<Role>;

    /// Run it.
    fn run(&self, request: ChatRequest) -> Pin<Box<dyn Future<Output = ChatReply> + Send>>;

    /// What `help` answers.
    fn help(&self) -> String;
}

/// Signatures seen within the last [`MAX_SKEW_SECONDS`]: a request is accepted once.
#[derive(Debug, Default)]
pub(crate) struct ReplayGuard {
    seen: Mutex<HashMap<String, i64>>,
}

impl ReplayGuard {
    /// Record `signature` at `now`; false when it was seen already.
    fn first_time(&self, signature: &str, now: i64) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.retain(|_, at| now - *at <= MAX_SKEW_SECONDS * 2);
        seen.insert(signature.to_owned(), now).is_none()
    }
}

/// Why a request is refused before anything runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Forged {
    #[error("missing X-Slack-Request-Timestamp or X-Slack-Signature")]
    Missing,
    #[error("the request timestamp is more than 5 minutes from the server's clock")]
    Stale,
    #[error("the signature does not match the signing secret")]
    BadSignature,
    #[error("this request was already received (a replay)")]
    Replayed,
}

/// Check Slack's signature: `v0=` + hex HMAC-SHA256 over `v0:TIMESTAMP:BODY`, and a
/// timestamp within 5 minutes of `now` (Unix seconds). Pure, so tests can drive the clock.
pub fn verify(
    secret: &[u8],
    timestamp: &str,
    body: &[u8],
    signature: &str,
    now: i64,
) -> Result<(), Forged> {
    let at: i64 = timestamp.trim().parse().map_err(|_| Forged::Missing)?;
    if (now - at).abs() > MAX_SKEW_SECONDS {
        return Err(Forged::Stale);
    }
    let hex = signature.strip_prefix("v0=").ok_or(Forged::BadSignature)?;
    let given = decode_hex(hex).ok_or(Forged::BadSignature)?;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let mut signed = Vec::with_capacity(body.len() + 16);
    signed.extend_from_slice(b"v0:");
    signed.extend_from_slice(timestamp.trim().as_bytes());
    signed.push(b':');
    signed.extend_from_slice(body);
    // Constant-time comparison.
    ring::hmac::verify(&key, &signed, &given).map_err(|_| Forged::BadSignature)
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// The secret `source` names; `what` says whose (`the Slack signing secret`).
fn secret(source: &SecretSource, what: &str) -> Result<Vec<u8>, ApiError> {
    let unavailable =
        |why: String| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", why);
    let text = match source {
        SecretSource::Env(var) => std::env::var(var)
            .map_err(|_| unavailable(format!("the variable {var} holding {what} is not set")))?,
        SecretSource::File(path) => std::fs::read_to_string(path).map_err(|err| {
            unavailable(format!("cannot read {what} from the file {path}: {err}"))
        })?,
    };
    let text = text.trim();
    if text.is_empty() {
        return Err(unavailable(format!("{what} is empty")));
    }
    Ok(text.as_bytes().to_vec())
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn ephemeral(text: impl Into<String>) -> Json<Value> {
    Json(json!({ "response_type": "ephemeral", "text": text.into() }))
}

/// Where a platform's section says its secret is (`Config::slack_secret`, …).
type Named = fn(&Config, &ConfigSource) -> Result<Option<SecretSource>, ConfigError>;

/// The commands, the current configuration, and where the platform's secret is.
type Enabled = (Arc<dyn ChatCommands>, Arc<Loaded>, SecretSource);

/// What a chat endpoint needs before it looks at a request; 404 when ChatOps or the
/// platform's `[section]` is not configured.
fn enabled(state: &AppState, section: &str, named: Named) -> Result<Enabled, ApiError> {
    let Some(commands) = state.chat.clone() else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "ChatOps is not enabled"));
    };
    let loaded = state.app.config();
    let source = named(&loaded.config, &loaded.source)
        .map_err(|err| ApiError::internal(err.to_string()))?
        .ok_or_else(|| {
            let message = format!("this chat platform is not configured ([{section}])");
            ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
        })?;
    Ok((commands, loaded, source))
}

/// `POST /chatops/slack`.
pub(crate) async fn slack(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (commands, loaded, source) = enabled(&state, "chatops.slack", Config::slack_secret)?;
    let secret = secret(&source, "the Slack signing secret")?;
    let now = jiff::Timestamp::now().as_second();
    let (Some(timestamp), Some(signature)) =
        (header(&headers, "x-slack-request-timestamp"), header(&headers, "x-slack-signature"))
    else {
        return Err(refused(&Forged::Missing));
    };
    verify(&secret, timestamp, &body, signature, now).map_err(|f| refused(&f))?;
    if !state.chat_replays.first_time(signature, now) {
        return Err(refused(&Forged::Replayed));
    }
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let users = loaded.config.chatops.slack.as_ref().map(|s| s.users.clone()).unwrap_or_default();
    run(&state, commands, loaded, &users, "chatops.slack", form).await
}

/// `POST /chatops/mattermost`: the command's token instead of a signature.
pub(crate) async fn mattermost(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (commands, loaded, source) =
        enabled(&state, "chatops.mattermost", Config::mattermost_token)?;
    let expected = secret(&source, "the Mattermost command token")?;
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let presented = header(&headers, "authorization")
        .and_then(|value| value.strip_prefix("Token "))
        .or_else(|| form.get("token").map(String::as_str))
        .map(str::trim)
        .unwrap_or_default();
    let same: bool = subtle::ConstantTimeEq::ct_eq(presented.as_bytes(), &expected[..]).into();
    if !same {
        tracing::warn!("Mattermost command refused: wrong or missing token");
        return Err(ApiError::unauthorized(
            "the Mattermost command token is wrong or missing (Authorization: Token …)",
        ));
    }
    let users =
        loaded.config.chatops.mattermost.as_ref().map(|m| m.users.clone()).unwrap_or_default();
    run(&state, commands, loaded, &users, "chatops.mattermost", form).await
}

/// A verified slash command's form: map the user, check the role, acknowledge at once
/// and run the command in the background, posting the result to `response_url`.
async fn run(
    state: &AppState,
    commands: Arc<dyn ChatCommands>,
    loaded: Arc<Loaded>,
    users: &BTreeMap<String, ChatUser>,
    section: &str,
    form: HashMap<String, String>,
) -> Result<Json<Value>, ApiError> {
    let user_id = form.get("user_id").cloned().unwrap_or_default();
    let text = form.get("text").cloned().unwrap_or_default();
    let Some(user) = users.get(&user_id).cloned() else {
        tracing::warn!(chat.user = %user_id, "chat command from an unmapped user refused");
        return Ok(ephemeral(format!(
            "You ({user_id}) are not a Wharf user: ask an admin to add you to [{section}] users."
        )));
    };
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed == "help" {
        return Ok(ephemeral(commands.help()));
    }
    let Some(needed) = commands.role_needed(trimmed) else {
        return Ok(ephemeral(format!("`{trimmed}` is not a chat command.\n{}", commands.help())));
    };
    if !user.role.allows(needed) {
        return Ok(ephemeral(format!(
            "`{trimmed}` needs the {needed} role; {} is a {}.",
            user.name, user.role
        )));
    }
    let actor = Actor { name: user.name.clone(), via: Via::Chat { user: user_id } };
    let context = state.app.context(actor).await?;
    let response_url = form.get("response_url").cloned();
    let request = ChatRequest { context, loaded, user, text: trimmed.to_owned() };
    let ack = format!("Working on `{}`…", request.text);
    drop(state.work.spawn(async move {
        let reply = commands.run(request).await;
        if let Some(url) = response_url {
            post_reply(&url, &reply).await;
        }
    }));
    Ok(ephemeral(ack))
}

fn refused(forged: &Forged) -> ApiError {
    tracing::warn!("chat request refused: {forged}");
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", forged.to_string())
}

/// Post the result where Slack said to, for the channel to see.
async fn post_reply(url: &str, reply: &ChatReply) {
    let body = json!({ "response_type": "in_channel", "text": reply.text });
    let sent = reqwest::Client::new()
        .post(url)
        .timeout(std::time::Duration::from_secs(10))
        .json(&body)
        .send()
        .await;
    match sent {
        Ok(response) if response.status().is_success() => {}
        Ok(response) => tracing::warn!("chat reply to the response_url got {}", response.status()),
        Err(err) => tracing::warn!("cannot post the chat reply: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
        let mut signed = format!("v0:{timestamp}:").into_bytes();
        signed.extend_from_slice(body);
        let tag = ring::hmac::sign(&key, &signed);
        format!("v0={}", tag.as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>())
    }

    #[test]
    fn signatures_timestamps_and_replays() {
        let (secret, body, now) =
            (b"8f742231b10e8888abcd99yyyzzz85a5", b"text=deploy+1.0+gstg", 1_700_000_000);
        let good = sign(secret, "1700000000", body);
        assert_eq!(verify(secret, "1700000000", body, &good, now), Ok(()));
        assert_eq!(verify(secret, "1700000000", body, &good, now + 300), Ok(()), "at the edge");
        assert_eq!(verify(secret, "1700000000", body, &good, now + 301), Err(Forged::Stale));
        assert_eq!(verify(secret, "1700000000", body, &good, now - 301), Err(Forged::Stale));
        assert_eq!(verify(b"other", "1700000000", body, &good, now), Err(Forged::BadSignature));
        assert_eq!(
            verify(secret, "1700000000", b"text=deploy+2.0", &good, now),
            Err(Forged::BadSignature)
        );
        assert_eq!(verify(secret, "1700000001", body, &good, now), Err(Forged::BadSignature));
        assert_eq!(verify(secret, "1700000000", body, "v1=abc", now), Err(Forged::BadSignature));
        assert_eq!(verify(secret, "1700000000", body, "v0=zz", now), Err(Forged::BadSignature));
        assert_eq!(verify(secret, "soon", body, &good, now), Err(Forged::Missing));

        let replays = ReplayGuard::default();
        assert!(replays.first_time(&good, now));
        assert!(!replays.first_time(&good, now + 10), "the same signature again is a replay");
    }
}
