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

mod store;

use store::StoreFigures;

use crate::AppState;
use crate::error::ApiError;

/// The OpenMetrics text format, as Prometheus asks for it.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// How long a scrape waits for the store before leaving its series out.
const STORE_TIMEOUT: Duration = Duration::from_secs(3);

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
    /// What the duration histograms take from each finished deploy, by id (a finished
    /// deploy's record never changes): a scrape reads only the records it lacks.
    durations: tokio::sync::Mutex<HashMap<i64, Arc<store::Durations>>>,
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
                durations: tokio::sync::Mutex::default(),
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
}
