//! Notifications: delivering the store's outbox (`wharf_store::outbox`) to the `[[notify]]`
//! destinations — Slack incoming webhooks (`{"text": …}`) and generic JSON webhooks
//! ([`NotificationView`], with `Idempotency-Key`/`X-Wharf-Event-Id` headers).
//!
//! **Invariants:** at least once and in order per destination — a destination's progress
//! moves past a row only once the receiver accepted it (2xx), its filters leave it out, or
//! it is older than [`DeliveryOptions::max_age`]; a failed row is retried with exponential
//! backoff ([`backoff`]) before any later row is tried; one process delivers to a
//! destination at a time (the store's lease). Delivery never fails or blocks what caused
//! it: the outbox row commits with the change, and [`deliver`] is called afterwards — by
//! the CLI with a short deadline ([`flush`]), by `wharf server` in a loop ([`run_worker`]).
//! Every announcement of a deploy repeats the deploy's overrides with their reasons.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use wharf_core::config::{
    Config, ConfigError, ConfigSource, NotifyKind, NotifySettings, UrlSource, glob_matches,
};
use wharf_store::deploy::DeployRecord;
use wharf_store::outbox::{Done, OutboxRow};

use crate::context::Context;
use crate::deploy::Clock;
use crate::error::Result;
use crate::wire::{NotificationDeployView, NotificationView, OverrideView};

/// Rows read from the outbox at a time.
const PAGE: u32 = 100;

/// How delivery behaves; [`DeliveryOptions::default`] is what the CLI and server use.
#[derive(Clone)]
pub struct DeliveryOptions {
    /// The wait after the first failure; doubled after each further one.
    pub first_retry: Duration,
    /// The longest wait between two attempts.
    pub max_retry: Duration,
    /// How long one request may take.
    pub request_timeout: Duration,
    /// Rows older than this are given up (recorded, not sent).
    pub max_age: Duration,
    /// How long a destination's lease lasts without renewal.
    pub lease: Duration,
    /// Who delivers, as a lease owner (`host:pid:start-time`).
    pub owner: String,
    pub clock: Clock,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        DeliveryOptions {
            first_retry: Duration::from_secs(1),
            max_retry: Duration::from_secs(300),
            request_timeout: Duration::from_secs(10),
            max_age: Duration::from_secs(24 * 3600),
            lease: Duration::from_secs(30),
            owner: crate::deploy::lease_owner(),
            clock: crate::deploy::system_clock(),
        }
    }
}

/// The wait before attempt `failures + 1`: `first`, `2·first`, `4·first`, … at most `max`.
#[must_use]
pub fn backoff(failures: i64, first: Duration, max: Duration) -> Duration {
    let doublings = u32::try_from(failures.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    first.saturating_mul(1 << doublings).min(max)
}

/// The checked `[[notify]]` entries, each event glob matching some announced kind.
pub fn destinations(
    config: &Config,
    source: &ConfigSource,
) -> std::result::Result<Vec<NotifySettings>, ConfigError> {
    let list = config.resolve_notify(source)?;
    for destination in &list {
        for glob in destination.events.iter().flatten() {
            if !wharf_store::outbox::kinds().any(|kind| glob_matches(glob, kind)) {
                let kinds: Vec<&str> = wharf_store::outbox::kinds().collect();
                return Err(ConfigError {
                    file: source.file.clone(),
                    line: destination.events_line,
                    key: Some(format!("notify.{}.events", destination.name)),
                    message: format!(
                        "{glob:?} matches no event kind; the kinds are {}",
                        kinds.join(", ")
                    ),
                });
            }
        }
    }
    Ok(list)
}

/// Whether `destination` announces `row`: its kind matches one of the `events` globs, and
/// it concerns one of the `environments` (a global lock, `*`, concerns them all; a publish
/// prefix or a node set none).
#[must_use]
pub fn wanted(destination: &NotifySettings, row: &OutboxRow) -> bool {
    let kind = destination
        .events
        .as_ref()
        .is_none_or(|globs| globs.iter().any(|glob| glob_matches(glob, &row.kind)));
    let environment = destination
        .environments
        .as_ref()
        .is_none_or(|list| row.environment == "*" || list.contains(&row.environment));
    kind && environment
}

fn versions(packages: &BTreeMap<String, String>) -> String {
    packages.iter().map(|(p, v)| format!("{p} {v}")).collect::<Vec<_>>().join(", ")
}

/// The line a chat channel shows for `row`, with the deploy it is about (if any).
#[must_use]
pub fn text(row: &OutboxRow, deploy: Option<(i64, &DeployRecord)>) -> String {
    let who = row
        .actor
        .clone()
        .or_else(|| deploy.map(|(_, d)| d.started_by.clone()))
        .unwrap_or_else(|| "wharf".to_owned());
    let env = if row.environment == "*" { "every environment" } else { &row.environment };
    let why = row.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
    let field = |name: &str| row.body.get(name).and_then(|v| v.as_str()).unwrap_or("?").to_owned();
    let what = match deploy {
        Some((id, d)) => format!("deploy {id} of {} to {}", versions(&d.packages), d.environment),
        None => format!("a deploy to {env}"),
    };
    let line = match row.kind.as_str() {
        // Seed 000's wording, as the deploy engine wrote it, ending with the issue.
        "downgrade.announced" | "downgrade.completed" => {
            let text = field("text");
            match deploy.and_then(|(_, d)| d.issue.as_deref()) {
                Some(issue) if !text.contains(issue) => format!("{text} {issue}"),
                _ => text,
            }
        }
        "deploy.start" => format!("{who} started {what}"),
        "rollback.start" => format!("{who} started rolling back {env}: {what}"),
        "deploy.succeeded" => format!("{what} succeeded"),
        "deploy.failed" => format!("{what} failed{why}"),
        "deploy.refused" => format!("{what} by {who} was refused{why}"),
        "deploy.interrupted" => format!("{what} was interrupted{why}"),
        "deploy.cancelled" => format!("{what} was cancelled{why}"),
        "deploy.waiting" => format!("{what} is waiting{why}"),
        "deploy.cancel" => format!("{who} cancelled {what}{why}"),
        "deploy.approve" => format!("{who} approved stage {} of {what}", field("stage")),
        "deploy.resume" => format!("{who} resumed {what}"),
        "lock" => format!("{who} locked {env}{why}"),
        "lock.steal" => {
            format!("{who} took over the lock on {env} from {}{why}", field("stolen_from"))
        }
        "unlock" => format!("{who} unlocked {env}"),
        "hold" => format!("{who} held {} on {env}{why}", field("package")),
        "unhold" => format!("{who} released the hold on {} on {env}", field("package")),
        "publish" => format!("{who} published {} at {}", field("source"), row.environment),
        "publish.drop" => format!("{who} dropped the publish at {}", row.environment),
        "maintenance.start" => format!("{who} put {} in maintenance{why}", row.environment),
        "maintenance.stop" => format!("{who} took {} out of maintenance", row.environment),
        other => format!("{who}: {other} {env}{why}"),
    };
    match deploy {
        Some((_, d)) if !d.overrides.is_empty() => {
            let overrides: Vec<String> = d
                .overrides
                .iter()
                .map(|o| format!("{} by {}: {}", o.kind, o.by, o.reason))
                .collect();
            format!("{line} (overrides: {})", overrides.join("; "))
        }
        _ => line,
    }
}

/// The announcement of `row` as a webhook receives it.
pub async fn notification(ctx: &Context, row: &OutboxRow) -> Result<NotificationView> {
    let deploy = match row.deploy_id {
        Some(id) => ctx.store().deploy(id).await?,
        None => None,
    };
    let text = text(row, deploy.as_ref().map(|d| (d.id, &d.record)));
    Ok(NotificationView {
        id: row.event_id.clone(),
        kind: row.kind.clone(),
        environment: row.environment.clone(),
        actor: row.actor.clone().or_else(|| deploy.as_ref().map(|d| d.record.started_by.clone())),
        at: row.created_at.clone(),
        text,
        reason: row.reason.clone(),
        deploy: deploy.map(|d| NotificationDeployView {
            id: d.id,
            environment: d.record.environment,
            packages: d.record.packages,
            state: d.record.state.as_str().to_owned(),
            overrides: d
                .record
                .overrides
                .into_iter()
                .map(|o| OverrideView { kind: o.kind, reason: o.reason, by: o.by })
                .collect(),
            issue: d.record.issue,
        }),
        details: row.body.clone(),
    })
}

/// The webhook URL of a destination, read now (a file may be rotated); never logged.
fn url_of(destination: &NotifySettings) -> std::result::Result<reqwest::Url, String> {
    let text = match &destination.url {
        UrlSource::Env(var) => std::env::var(var)
            .map_err(|_| format!("environment variable {var} (url_env) is not set"))?,
        UrlSource::File(path) => std::fs::read_to_string(path)
            .map_err(|err| format!("cannot read url_file {path}: {err}"))?,
    };
    reqwest::Url::parse(text.trim())
        .map_err(|err| format!("the webhook URL of {} is not a URL: {err}", destination.name))
}

/// Send one announcement; `Err` says what went wrong, in words (never the URL: it is a
/// secret).
async fn post(
    client: &reqwest::Client,
    url: &reqwest::Url,
    kind: NotifyKind,
    view: &NotificationView,
    timeout: Duration,
) -> std::result::Result<(), String> {
    let body = match kind {
        NotifyKind::Slack => serde_json::json!({ "text": view.text }),
        NotifyKind::Webhook => serde_json::to_value(view).map_err(|err| err.to_string())?,
    };
    let request = client
        .post(url.clone())
        .timeout(timeout)
        .header("content-type", "application/json")
        .header("idempotency-key", &view.id)
        .header("x-wharf-event-id", &view.id)
        .body(body.to_string());
    let response = request.send().await.map_err(|err| {
        if err.is_timeout() {
            format!("no answer within {}", crate::checks::human(timeout))
        } else {
            crate::checks::cause(&err)
        }
    })?;
    let status = response.status();
    if status.is_success() { Ok(()) } else { Err(format!("answered {status}")) }
}

/// How a pass over one destination ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drained {
    /// Nothing left to deliver.
    Idle,
    /// A row waits for its next attempt, at this instant (Unix ms).
    Retrying { next_attempt_ms: i64 },
    /// Another process delivers to it now.
    Busy,
    /// It cannot be delivered to now (its URL is missing or wrong), in words.
    Unusable(String),
}

/// What one [`deliver`] call did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub delivered: u32,
    pub failed_attempts: u32,
    /// Per destination, how its pass ended.
    pub destinations: Vec<(String, Drained)>,
    /// Per destination: (name, delivered, failed attempts) — what `/metrics` counts.
    pub counts: Vec<(String, u32, u32)>,
}

impl DeliveryReport {
    /// Whether every destination has nothing left.
    #[must_use]
    pub fn idle(&self) -> bool {
        self.destinations.iter().all(|(_, drained)| *drained == Drained::Idle)
    }
}

/// Deliver what is pending to every destination (concurrently; in order within each),
/// sleeping for retries as long as `deadline` (Unix ms) allows — never past it: a retry due
/// later is left for the next call. Errors only when the store fails.
pub async fn deliver(
    ctx: &Context,
    destinations: &[NotifySettings],
    options: &DeliveryOptions,
    deadline_ms: i64,
) -> Result<DeliveryReport> {
    let client = reqwest::Client::builder()
        .build()
        .map_err(|err| crate::AppError::internal(format!("cannot make an HTTP client: {err}")))?;
    let passes = destinations
        .iter()
        .map(|destination| drain(ctx, &client, destination, options, deadline_ms));
    let mut report = DeliveryReport::default();
    for (destination, outcome) in destinations.iter().zip(futures::future::join_all(passes).await) {
        let (drained, delivered, failed) = outcome?;
        report.delivered += delivered;
        report.failed_attempts += failed;
        report.destinations.push((destination.name.clone(), drained));
        report.counts.push((destination.name.clone(), delivered, failed));
    }
    Ok(report)
}

/// As the store writes times: `2026-11-25T12:54:59.123Z` (compared as text).
fn stamp(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn now_ms(options: &DeliveryOptions) -> i64 {
    (options.clock)().as_millisecond()
}

fn ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

async fn drain(
    ctx: &Context,
    client: &reqwest::Client,
    destination: &NotifySettings,
    options: &DeliveryOptions,
    deadline_ms: i64,
) -> Result<(Drained, u32, u32)> {
    let (mut delivered, mut failed) = (0, 0);
    let url = match url_of(destination) {
        Ok(url) => url,
        Err(why) => return Ok((Drained::Unusable(why), 0, 0)),
    };
    let store = ctx.store();
    let name = destination.name.as_str();
    let owner = options.owner.as_str();
    let too_old = |now: i64| {
        let cutoff = now - ms(options.max_age);
        Timestamp::from_millisecond(cutoff).unwrap_or(Timestamp::UNIX_EPOCH)
    };
    let claim = async |now: i64| {
        let start_before = stamp(too_old(now));
        store.outbox_claim(name, owner, now, now + ms(options.lease), &start_before).await
    };
    let Some(mut through) = claim(now_ms(options)).await? else {
        return Ok((Drained::Busy, 0, 0));
    };
    let outcome = 'pass: loop {
        let rows = store.outbox_after(through, PAGE).await?;
        if rows.is_empty() {
            break Drained::Idle;
        }
        for row in rows {
            let done = |how| store.outbox_done(row.id, name, owner, how);
            let created = row.created_at.parse::<Timestamp>().unwrap_or(Timestamp::UNIX_EPOCH);
            let view = notification(ctx, &row).await?;
            loop {
                let now = now_ms(options);
                // Renew the lease before each attempt; lost: another process goes on.
                if claim(now).await?.is_none() {
                    break 'pass Drained::Busy;
                }
                if !wanted(destination, &row) {
                    done(Done::Skipped).await?;
                    break;
                }
                let previous = store.outbox_delivery(row.id, name).await?;
                if created < too_old(now) {
                    let why = previous.and_then(|d| d.last_error).unwrap_or_default();
                    tracing::warn!(destination = name, event = %row.event_id, "notification given up after {}: {why}", crate::checks::human(options.max_age));
                    done(Done::GaveUp(&why)).await?;
                    break;
                }
                if let Some(next) = previous.as_ref().map(|d| d.next_attempt_ms)
                    && next > now
                {
                    if next >= deadline_ms {
                        break 'pass Drained::Retrying { next_attempt_ms: next };
                    }
                    let wait = u64::try_from(next - now).unwrap_or(0);
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                    continue;
                }
                let left = u64::try_from(deadline_ms - now).unwrap_or(0);
                let timeout = options.request_timeout.min(Duration::from_millis(left.max(1)));
                match post(client, &url, destination.kind, &view, timeout).await {
                    Ok(()) => {
                        done(Done::Delivered).await?;
                        delivered += 1;
                        break;
                    }
                    Err(why) => {
                        failed += 1;
                        let failures = previous.map_or(0, |d| d.attempts) + 1;
                        let wait = backoff(failures, options.first_retry, options.max_retry);
                        let next = now_ms(options) + ms(wait);
                        tracing::warn!(destination = name, event = %row.event_id, attempt = failures, "notification not delivered: {why}; next attempt in {}", crate::checks::human(wait));
                        store.outbox_failed(row.id, name, &why, next).await?;
                    }
                }
            }
            through = row.id;
        }
    };
    if outcome != Drained::Busy {
        store.outbox_release(name, owner).await?;
    }
    Ok((outcome, delivered, failed))
}

/// What a CLI command that wrote announcements calls last: deliver them within `wait`
/// (2 s in the CLI) and leave the rest to `wharf server`. Never an error: a destination
/// that is down, unusable or a store that fails is a warning.
pub async fn flush(ctx: &Context, config: &Config, source: &ConfigSource, wait: Duration) {
    if config.notify.is_empty() {
        return;
    }
    let destinations = match destinations(config, source) {
        Ok(list) => list,
        Err(err) => {
            tracing::warn!("notifications not sent: {err}");
            return;
        }
    };
    let options = DeliveryOptions::default();
    let deadline = now_ms(&options) + ms(wait);
    // The deadline ends each pass cleanly (the lease released); the timeout is a safety net.
    let limit = wait + Duration::from_millis(500);
    match tokio::time::timeout(limit, deliver(ctx, &destinations, &options, deadline)).await {
        Ok(Ok(report)) => {
            for (name, drained) in &report.destinations {
                match drained {
                    Drained::Unusable(why) => {
                        tracing::warn!(destination = %name, "notifications not sent: {why}")
                    }
                    Drained::Retrying { .. } => {
                        tracing::warn!(destination = %name, "notifications not delivered yet; `wharf server` will retry")
                    }
                    Drained::Idle | Drained::Busy => {}
                }
            }
        }
        Ok(Err(err)) => tracing::warn!("notifications not sent: {err}"),
        Err(_) => tracing::warn!(
            "notifications not all delivered within {wait:?}; `wharf server` will retry"
        ),
    }
}

/// What `wharf server` runs: deliver, then look again every `poll` (and after each
/// retry's wait), until `shutdown`. `config` gives the current configuration (it may be
/// reloaded); `context` opens the application layer (the store may be away for a while).
pub async fn run_worker<C, F>(
    context: C,
    config: impl Fn() -> (Config, ConfigSource) + Send,
    options: DeliveryOptions,
    poll: Duration,
    shutdown: tokio::sync::watch::Receiver<bool>,
    on_round: impl Fn(&DeliveryReport) + Send,
) where
    C: Fn() -> F + Send,
    F: Future<Output = Result<Context>> + Send,
{
    let mut shutdown = shutdown;
    let mut warned = String::new();
    while !*shutdown.borrow() {
        let (config, source) = config();
        if !config.notify.is_empty() {
            let round = async {
                let ctx = context().await?;
                let destinations = destinations(&config, &source)?;
                let deadline = now_ms(&options) + ms(poll.max(Duration::from_secs(5)));
                deliver(&ctx, &destinations, &options, deadline).await
            };
            match round.await {
                Ok(report) => {
                    on_round(&report);
                    for (name, drained) in &report.destinations {
                        if let Drained::Unusable(why) = drained
                            && warned != *why
                        {
                            tracing::warn!(destination = %name, "notifications not sent: {why}");
                            warned.clone_from(why);
                        }
                    }
                }
                Err(err) => tracing::warn!("notifications: {err}"),
            }
        }
        tokio::select! {
            () = tokio::time::sleep(poll) => {}
            _ = shutdown.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: &str, environment: &str, reason: Option<&str>) -> OutboxRow {
        OutboxRow {
            id: 1,
            event_id: "e".into(),
            kind: kind.into(),
            environment: environment.into(),
            audit_id: Some(1),
            deploy_event_id: None,
            deploy_id: Some(12),
            actor: Some("alice".into()),
            reason: reason.map(str::to_owned),
            created_at: "2026-11-25T12:54:59.123Z".into(),
            body: serde_json::json!({ "deploy": 12 }),
        }
    }

    #[test]
    fn stamps_sort_as_the_store_writes_them() {
        let at = Timestamp::from_millisecond(1_764_075_299_123).unwrap();
        assert_eq!(stamp(at), "2025-11-25T12:54:59.123Z");
        assert_eq!(stamp(Timestamp::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn filters_and_texts() {
        let settings = |events: Option<&[&str]>, environments: Option<&[&str]>| NotifySettings {
            name: "chat".into(),
            kind: NotifyKind::Slack,
            url: UrlSource::Env("X".into()),
            events: events.map(|l| l.iter().map(|s| (*s).to_owned()).collect()),
            environments: environments.map(|l| l.iter().map(|s| (*s).to_owned()).collect()),
            line: 1,
            events_line: None,
        };
        let gprd = Some(&["gprd"][..]);
        assert!(wanted(&settings(None, None), &row("publish", "tools", None)));
        assert!(wanted(&settings(Some(&["lock.*"]), gprd), &row("lock", "*", None)));
        assert!(!wanted(&settings(Some(&["lock.*"]), gprd), &row("lock", "gstg", None)));
        assert!(!wanted(&settings(Some(&["deploy.*"]), None), &row("lock", "gprd", None)));
        assert!(!wanted(&settings(None, gprd), &row("publish", "tools", None)));

        let mut record: DeployRecord = serde_json::from_value(serde_json::json!({
            "environment": "gprd", "pipeline": "upgrade", "packages": { "gitlab-ee": "11.8.0" },
            "previous": {}, "state": "failed", "started_by": "alice", "via": "cli",
            "automated": false, "overrides": [], "warnings": [], "stages": [],
            "started_at": "2026-11-25T12:54:59.123Z", "finished_at": null
        }))
        .unwrap();
        let failed = row("deploy.failed", "gprd", Some("stage install: web03 failed"));
        assert_eq!(
            text(&failed, Some((12, &record))),
            "deploy 12 of gitlab-ee 11.8.0 to gprd failed: stage install: web03 failed"
        );
        record.overrides.push(wharf_store::deploy::Override {
            kind: "ignore-production-checks".into(),
            reason: "canary verified".into(),
            by: "bob".into(),
        });
        assert_eq!(
            text(&row("deploy.succeeded", "gprd", None), Some((12, &record))),
            "deploy 12 of gitlab-ee 11.8.0 to gprd succeeded \
             (overrides: ignore-production-checks by bob: canary verified)"
        );
        assert_eq!(text(&row("unlock", "*", None), None), "alice unlocked every environment");
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let s = Duration::from_secs;
        let cases = [(0, 1), (1, 1), (2, 2), (3, 4), (4, 8), (9, 256), (10, 300), (1000, 300)];
        for (failures, expected) in cases {
            assert_eq!(backoff(failures, s(1), s(300)), s(expected), "{failures}");
        }
    }
}
