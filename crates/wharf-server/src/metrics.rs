//! `/metrics`: every series Wharf exports, declared here and nowhere else, in the
//! OpenMetrics text format Prometheus scrapes (`prometheus-client`).
//!
//! Two kinds of series:
//! - **In-process** — counted by this server as things happen: HTTP requests (the
//!   [`track`] middleware, by route template), and the hooks other modules call on the
//!   shared [`Metrics`]: publishes run by the server, webhook deliveries, schedule runs.
//! - **From the store** — computed at scrape time through `wharf_app`'s `Context`, so
//!   deploys, checks, locks, holds, repositories and node reachability count what every
//!   process did (CLI runs included), not only this server: [`StoreFigures::gather`].
//!   If the store does not answer, those series are left out and `wharf_store_up` is 0.
//!
//! `[server] metrics_token_env` makes the endpoint require `Authorization: Bearer TOKEN`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use wharf_app::{Actor, Context};
use wharf_store::deploy::{DeployRow, DeployState};
use wharf_store::guard::{EnvLock, PackageHold};
use wharf_store::{AptKind, Store};

use crate::AppState;
use crate::error::ApiError;

/// The OpenMetrics text format, as Prometheus asks for it.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// How long a scrape waits for the store before leaving its series out.
const STORE_TIMEOUT: Duration = Duration::from_secs(3);
/// Deploys counted (newest first): older ones drop out of the store-derived series.
const DEPLOY_WINDOW: u32 = 10_000;
/// Node reachability comes from the node runs of this many newest deploys.
const REACHABILITY_DEPLOYS: usize = 20;
/// Deploy events read per store query when tallying checks.
const EVENT_PAGE: u32 = 1_000;

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Request latencies: 0.5 ms … ~16 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_5, 2.0, 16))
}

/// Publishes, deploys and stages: 0.1 s … ~1.8 h.
fn long_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.1, 3.0, 12))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    method: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PrefixLabels {
    prefix: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookLabels {
    destination: String,
    /// `delivered` or `failed` (one failed attempt; a retry that succeeds counts again).
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScheduleLabels {
    schedule: String,
    result: String,
}

/// The in-process series and the caches of the store-derived ones; one per server,
/// shared by every request (cheap to clone).
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// `Authorization: Bearer` value `/metrics` requires, when configured.
    token: Option<String>,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: HistogramFamily<RouteLabels>,
    publish_duration: HistogramFamily<PrefixLabels>,
    webhook_deliveries: Family<WebhookLabels, Counter>,
    schedule_runs: Family<ScheduleLabels, Counter>,
    /// Check results tallied from `checks.finished` deploy events (append-only, so only
    /// events after the last one read are fetched).
    checks: tokio::sync::Mutex<CheckTally>,
    /// Bytes of each repository by its generation: recomputed only after a change.
    repo_bytes: tokio::sync::Mutex<HashMap<String, (i64, u64)>>,
}

#[derive(Debug, Default)]
struct CheckTally {
    last_event: i64,
    /// (check name, `passed`/`failed`) → count.
    counts: BTreeMap<(String, String), u64>,
}

#[allow(dead_code)] // The hooks are for the API, notifications and schedules, landing next.
impl Metrics {
    pub(crate) fn new(token: Option<String>) -> Metrics {
        Metrics {
            inner: Arc::new(Inner {
                token,
                http_requests: Family::default(),
                http_duration: Family::new_with_constructor(latency_histogram),
                publish_duration: Family::new_with_constructor(long_histogram),
                webhook_deliveries: Family::default(),
                schedule_runs: Family::default(),
                checks: tokio::sync::Mutex::default(),
                repo_bytes: tokio::sync::Mutex::default(),
            }),
        }
    }

    /// Hook: a publish this server ran (API, schedule) took `took`.
    pub(crate) fn publish_finished(&self, prefix: &str, took: Duration) {
        self.inner
            .publish_duration
            .get_or_create(&PrefixLabels { prefix: prefix.to_owned() })
            .observe(took.as_secs_f64());
    }

    /// Hook: one webhook delivery attempt to `destination` succeeded or failed.
    pub(crate) fn webhook_delivery(&self, destination: &str, delivered: bool) {
        let result = if delivered { "delivered" } else { "failed" };
        self.inner
            .webhook_deliveries
            .get_or_create(&WebhookLabels {
                destination: destination.to_owned(),
                result: result.to_owned(),
            })
            .inc();
    }

    /// Hook: schedule `schedule` ran with `result` (`succeeded`, `failed`, `refused`,
    /// `skipped`, …).
    pub(crate) fn schedule_run(&self, schedule: &str, result: &str) {
        self.inner
            .schedule_runs
            .get_or_create(&ScheduleLabels {
                schedule: schedule.to_owned(),
                result: result.to_owned(),
            })
            .inc();
    }

    fn http_request(&self, route: &str, method: &str, status: StatusCode, took: Duration) {
        self.inner
            .http_requests
            .get_or_create(&HttpLabels {
                route: route.to_owned(),
                method: method.to_owned(),
                status: status.as_u16().to_string(),
            })
            .inc();
        self.inner
            .http_duration
            .get_or_create(&RouteLabels { route: route.to_owned() })
            .observe(took.as_secs_f64());
    }

    /// Every series, as text: the in-process ones, then those from the store (`None`:
    /// the store did not answer).
    fn render(&self, store: Option<&StoreFigures>) -> String {
        let mut registry = Registry::default();
        let inner = &self.inner;
        registry.register(
            "wharf_http_requests",
            "HTTP requests answered, by route template, method and status",
            inner.http_requests.clone(),
        );
        registry.register(
            "wharf_http_request_duration_seconds",
            "Time to answer an HTTP request (until the response headers), by route template",
            inner.http_duration.clone(),
        );
        registry.register(
            "wharf_publish_duration_seconds",
            "Publishes run by this server (API, schedules), by prefix",
            inner.publish_duration.clone(),
        );
        registry.register(
            "wharf_webhook_deliveries",
            "Notification delivery attempts by destination and result (delivered, failed)",
            inner.webhook_deliveries.clone(),
        );
        registry.register(
            "wharf_schedule_runs",
            "Scheduled runs by schedule and result",
            inner.schedule_runs.clone(),
        );
        let store_up = Gauge::<i64>::default();
        store_up.set(i64::from(store.is_some()));
        registry.register(
            "wharf_store_up",
            "1 when the store answered this scrape; the store-derived series are absent otherwise",
            store_up,
        );
        if let Some(figures) = store {
            figures.register(&mut registry);
        }
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
        text
    }
}

/// Middleware: counts every request by its route template (`/healthz`,
/// `/api/v1/deploys/{id}`, `/apt/{prefix}/{*path}`), never the raw path, so the label
/// values stay few whatever clients ask for.
pub(crate) async fn track(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = match request.extensions().get::<MatchedPath>() {
        Some(matched) => matched.as_str().to_owned(),
        None if request.uri().path().starts_with("/apt/") => "/apt/{prefix}/{*path}".to_owned(),
        None => "unmatched".to_owned(),
    };
    let method: &'static str = match request.method().as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let response = next.run(request).await;
    state.metrics.http_request(&route, method, response.status(), started.elapsed());
    response
}

/// `GET /metrics`.
pub(crate) async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.metrics.inner.token
        && !bearer_matches(&headers, token)
    {
        let mut response = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "/metrics needs `Authorization: Bearer TOKEN` with the token of [server] metrics_token_env",
        )
        .into_response();
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    let figures =
        match tokio::time::timeout(STORE_TIMEOUT, StoreFigures::gather(&state.app, &state.metrics))
            .await
        {
            Ok(Ok(figures)) => Some(figures),
            Ok(Err(err)) => {
                tracing::warn!("/metrics: store-derived series left out: {err}");
                None
            }
            Err(_) => {
                tracing::warn!("/metrics: the store did not answer within {STORE_TIMEOUT:?}");
                None
            }
        };
    let text = state.metrics.render(figures.as_ref());
    ([(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))], text).into_response()
}

/// Whether `Authorization: Bearer VALUE` carries `token`; compared in constant time
/// (for a given length).
fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
    else {
        return false;
    };
    constant_time_eq(given.trim().as_bytes(), token.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What the store says as of this scrape.
#[derive(Debug, Default)]
struct StoreFigures {
    /// Repository → (packages, bytes).
    repositories: BTreeMap<String, (i64, u64)>,
    /// Newest first, at most [`DEPLOY_WINDOW`].
    deploys: Vec<DeployRow>,
    locks: Vec<EnvLock>,
    holds: Vec<PackageHold>,
    /// Node → whether its last deploy step reached it.
    reachable: BTreeMap<String, bool>,
    /// (check, result) → count.
    checks: BTreeMap<(String, String), u64>,
}

impl StoreFigures {
    async fn gather(
        app: &crate::app::AppHandle,
        metrics: &Metrics,
    ) -> Result<StoreFigures, String> {
        let ctx: Context =
            app.context(Actor::cli("wharf-server metrics")).await.map_err(|err| err.to_string())?;
        let err = |err: wharf_app::AppError| err.to_string();
        let store = ctx.store();
        let mut figures = StoreFigures {
            locks: wharf_app::guard::locks(&ctx).await.map_err(err)?,
            holds: wharf_app::hold::holds(&ctx).await.map_err(err)?,
            deploys: store.deploys(None, DEPLOY_WINDOW).await.map_err(|e| e.to_string())?,
            ..StoreFigures::default()
        };
        let repositories = wharf_app::repo::list(&ctx, AptKind::Repo).await.map_err(err)?;
        let mut bytes_cache = metrics.inner.repo_bytes.lock().await;
        bytes_cache.retain(|name, _| repositories.iter().any(|r| &r.name == name));
        for repo in repositories {
            let bytes = match bytes_cache.get(&repo.name) {
                Some((generation, bytes)) if *generation == repo.generation => *bytes,
                _ => {
                    let members = store.apt_members(AptKind::Repo, &repo.name).await;
                    let members = members.map_err(|e| e.to_string())?;
                    let bytes =
                        members.iter().map(|m| u64::try_from(m.package.size).unwrap_or(0)).sum();
                    bytes_cache.insert(repo.name.clone(), (repo.generation, bytes));
                    bytes
                }
            };
            figures.repositories.insert(repo.name, (repo.packages, bytes));
        }
        drop(bytes_cache);
        figures.reachable = reachability(store, &figures.deploys).await?;
        figures.checks = tally_checks(store, metrics).await?;
        Ok(figures)
    }

    fn register(&self, registry: &mut Registry) {
        #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
        struct Repository {
            repository: String,
        }
        #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
        struct DeployResult {
            environment: String,
            result: String,
        }
        #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
        struct DeployUnfinished {
            environment: String,
            state: String,
        }
        #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
        struct Environment {
            environment: String,
        }
        #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
        struct StageKind {
            kind: String,
        }
        #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
        struct CheckResult {
            check: String,
            result: String,
        }
        #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
        struct Held {
            environment: String,
            package: String,
        }
        #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
        struct Node {
            node: String,
        }

        let packages = Family::<Repository, Gauge>::default();
        let bytes = Family::<Repository, Gauge>::default();
        for (name, (count, size)) in &self.repositories {
            let labels = Repository { repository: name.clone() };
            packages.get_or_create(&labels).set(*count);
            bytes.get_or_create(&labels).set(i64::try_from(*size).unwrap_or(i64::MAX));
        }
        registry.register(
            "wharf_repository_packages",
            "Packages in each repository (from the store)",
            packages,
        );
        registry.register(
            "wharf_repository_bytes",
            "Bytes of the package files of each repository (from the store)",
            bytes,
        );

        let finished = Family::<DeployResult, Counter>::default();
        let unfinished = Family::<DeployUnfinished, Gauge>::default();
        let deploy_duration: HistogramFamily<Environment> =
            Family::new_with_constructor(long_histogram);
        let stage_duration: HistogramFamily<StageKind> =
            Family::new_with_constructor(long_histogram);
        for row in &self.deploys {
            let record = &row.record;
            let state = record.state.as_str().to_owned();
            if record.state.is_final() {
                finished
                    .get_or_create(&DeployResult {
                        environment: record.environment.clone(),
                        result: state,
                    })
                    .inc();
            } else {
                unfinished
                    .get_or_create(&DeployUnfinished {
                        environment: record.environment.clone(),
                        state,
                    })
                    .inc();
            }
            if record.state.is_final()
                && record.state != DeployState::Refused
                && let Some(seconds) = seconds_between(&record.started_at, &record.finished_at)
            {
                deploy_duration
                    .get_or_create(&Environment { environment: record.environment.clone() })
                    .observe(seconds);
            }
            for stage in &record.stages {
                if let Some(started) = &stage.started_at
                    && let Some(seconds) = seconds_between(started, &stage.finished_at)
                {
                    stage_duration
                        .get_or_create(&StageKind { kind: stage.kind.clone() })
                        .observe(seconds);
                }
            }
        }
        registry.register(
            "wharf_deploys",
            "Finished deploys by environment and result: succeeded, failed, cancelled, refused \
             (from the store; the newest 10,000 deploys)",
            finished,
        );
        registry.register(
            "wharf_deploys_unfinished",
            "Deploys not finished, by environment and state: planned, running, waiting, \
             interrupted (from the store)",
            unfinished,
        );
        registry.register(
            "wharf_deploy_duration_seconds",
            "Start to end of finished deploys that ran, by environment (from the store)",
            deploy_duration,
        );
        registry.register(
            "wharf_stage_duration_seconds",
            "Start to end of finished deploy stages, by stage kind (from the store)",
            stage_duration,
        );

        let checks = Family::<CheckResult, Counter>::default();
        for ((check, result), count) in &self.checks {
            checks
                .get_or_create(&CheckResult { check: check.clone(), result: result.clone() })
                .inc_by(*count);
        }
        registry.register(
            "wharf_checks",
            "Deploy check results by check (package, fleet-version, maintenance, or a \
             [[checks]] name) and result: passed, failed (from the store)",
            checks,
        );

        let locks = Gauge::<i64>::default();
        locks.set(i64::try_from(self.locks.len()).unwrap_or(i64::MAX));
        registry.register("wharf_locks", "Environment locks in force (from the store)", locks);
        let locked = Family::<Environment, Gauge>::default();
        for lock in &self.locks {
            locked.get_or_create(&Environment { environment: lock.environment.clone() }).set(1);
        }
        registry.register(
            "wharf_locked",
            "1 for each locked environment (`*`: the global lock) (from the store)",
            locked,
        );
        let holds = Gauge::<i64>::default();
        holds.set(i64::try_from(self.holds.len()).unwrap_or(i64::MAX));
        registry.register("wharf_holds", "Package holds in force (from the store)", holds);
        let held = Family::<Held, Gauge>::default();
        for hold in &self.holds {
            held.get_or_create(&Held {
                environment: hold.environment.clone(),
                package: hold.package.clone(),
            })
            .set(1);
        }
        registry.register(
            "wharf_held",
            "1 for each package held in an environment (from the store)",
            held,
        );

        let reachable = Family::<Node, Gauge>::default();
        for (node, ok) in &self.reachable {
            reachable.get_or_create(&Node { node: node.clone() }).set(i64::from(*ok));
        }
        registry.register(
            "wharf_node_reachable",
            "Per node, from its last finished step in the 20 newest deploys: 1 when the \
             command ran there, 0 when it ended without an exit code (unreachable, timed out \
             or killed) (from the store)",
            reachable,
        );
    }
}

/// Seconds from `start` to `end` (RFC 3339), when both parse and `end` is not earlier.
fn seconds_between(start: &str, end: &Option<String>) -> Option<f64> {
    let start: jiff::Timestamp = start.parse().ok()?;
    let end: jiff::Timestamp = end.as_deref()?.parse().ok()?;
    let span = end.duration_since(start);
    (!span.is_negative()).then(|| span.as_secs_f64())
}

/// Each node's last finished step in the newest deploys.
async fn reachability(
    store: &Store,
    deploys: &[DeployRow],
) -> Result<BTreeMap<String, bool>, String> {
    let mut out = BTreeMap::new();
    for row in deploys.iter().take(REACHABILITY_DEPLOYS) {
        let mut runs = store.deploy_nodes(row.id).await.map_err(|e| e.to_string())?;
        // Latest first within a deploy.
        runs.sort_by(|a, b| b.finished_at.cmp(&a.finished_at));
        for run in runs {
            if run.finished_at.is_none() || run.state == "skipped" {
                continue;
            }
            let reached = run.state == "succeeded" || run.exit_code.is_some();
            out.entry(run.node).or_insert(reached);
        }
    }
    Ok(out)
}

/// Check results from the `checks.finished` events not read yet, added to the tally.
async fn tally_checks(
    store: &Store,
    metrics: &Metrics,
) -> Result<BTreeMap<(String, String), u64>, String> {
    let mut tally = metrics.inner.checks.lock().await;
    loop {
        let events =
            store.deploy_events(tally.last_event, EVENT_PAGE).await.map_err(|e| e.to_string())?;
        let n_events = events.len();
        for event in events {
            tally.last_event = tally.last_event.max(event.id);
            if event.kind != "checks.finished" {
                continue;
            }
            for result in event.body["results"].as_array().into_iter().flatten() {
                let Some(name) = result["name"].as_str() else { continue };
                let passed = result["passed"].as_bool().unwrap_or(false);
                let outcome = if passed { "passed" } else { "failed" };
                *tally.counts.entry((name.to_owned(), outcome.to_owned())).or_default() += 1;
            }
        }
        if n_events < EVENT_PAGE as usize {
            return Ok(tally.counts.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_compare_whole() {
        fn check(header: Option<&str>, expected: bool) {
            let mut headers = HeaderMap::new();
            if let Some(value) = header {
                headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            }
            assert_eq!(bearer_matches(&headers, "s3cret"), expected, "{header:?}");
        }
        check(Some("Bearer s3cret"), true);
        check(Some("Bearer s3cre"), false);
        check(Some("Bearer s3cret2"), false);
        check(Some("Bearer S3CRET"), false);
        check(Some("Basic s3cret"), false);
        check(Some("s3cret"), false);
        check(None, false);
    }

    #[test]
    fn render_names_every_series_once() {
        let metrics = Metrics::new(None);
        metrics.http_request("/healthz", "GET", StatusCode::OK, Duration::from_millis(2));
        metrics.publish_finished("tools", Duration::from_secs(1));
        metrics.webhook_delivery("slack", false);
        metrics.schedule_run("nightly", "succeeded");
        let text = metrics.render(None);
        for line in [
            "wharf_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 1",
            "wharf_http_request_duration_seconds_count{route=\"/healthz\"} 1",
            "wharf_publish_duration_seconds_count{prefix=\"tools\"} 1",
            "wharf_webhook_deliveries_total{destination=\"slack\",result=\"failed\"} 1",
            "wharf_schedule_runs_total{schedule=\"nightly\",result=\"succeeded\"} 1",
            "wharf_store_up 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        assert!(!text.contains("wharf_deploys"), "store series without a store:\n{text}");
        let figures = StoreFigures {
            repositories: BTreeMap::from([("tools".to_owned(), (3, 2048))]),
            ..StoreFigures::default()
        };
        let text = metrics.render(Some(&figures));
        for line in [
            "wharf_store_up 1",
            "wharf_repository_packages{repository=\"tools\"} 3",
            "wharf_repository_bytes{repository=\"tools\"} 2048",
            "wharf_locks 0",
            "wharf_holds 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn durations_need_both_ends_in_order() {
        let start = "2026-01-01T10:00:00Z";
        assert_eq!(seconds_between(start, &Some("2026-01-01T10:01:30Z".into())), Some(90.0));
        assert_eq!(seconds_between(start, &None), None);
        assert_eq!(seconds_between(start, &Some("2026-01-01T09:00:00Z".into())), None);
        assert_eq!(seconds_between("garbage", &Some(start.into())), None);
    }
}
