//! The store-derived series of `/metrics`: deploys, checks, locks, holds, repositories
//! and node reachability, read through `wharf_app` at scrape time so they count what every
//! process did (CLI runs included).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use wharf_app::{Actor, Context};
use wharf_store::deploy::{DeployRecord, DeployState, DeploySummary};
use wharf_store::guard::{EnvLock, PackageHold};
use wharf_store::{AptKind, Store};

use super::{HistogramFamily, Metrics, long_histogram};

/// Deploys counted (newest first): older ones drop out of the store-derived series.
const DEPLOY_WINDOW: u32 = 10_000;
/// Node reachability comes from the node runs of this many newest deploys.
const REACHABILITY_DEPLOYS: usize = 20;
/// Deploy events read per store query when tallying checks.
const EVENT_PAGE: u32 = 1_000;
/// More records than this to read in one scrape (the first one): one query for all.
const RECORDS_ONE_BY_ONE: usize = 50;

/// What the duration histograms take from one deploy's record. Kept per finished deploy
/// (its record never changes again), so a scrape reads only the records of deploys that
/// finished since the last one, and those still going.
#[derive(Debug, Default)]
pub(super) struct Durations {
    /// Environment and seconds, for a finished deploy that ran.
    deploy: Option<(String, f64)>,
    /// Stage kind and seconds, for each finished stage.
    stages: Vec<(String, f64)>,
}

impl Durations {
    fn of(record: &DeployRecord) -> Durations {
        let deploy = (record.state.is_final() && record.state != DeployState::Refused)
            .then(|| seconds_between(&record.started_at, &record.finished_at))
            .flatten()
            .map(|seconds| (record.environment.clone(), seconds));
        let stages = record
            .stages
            .iter()
            .filter_map(|stage| {
                let seconds = seconds_between(stage.started_at.as_ref()?, &stage.finished_at)?;
                Some((stage.kind.clone(), seconds))
            })
            .collect();
        Durations { deploy, stages }
    }
}

/// What the store says as of this scrape.
#[derive(Debug, Default)]
pub(super) struct StoreFigures {
    /// Repository → (packages, bytes).
    pub(super) repositories: BTreeMap<String, (i64, u64)>,
    /// Newest first, at most [`DEPLOY_WINDOW`].
    pub(super) deploys: Vec<DeploySummary>,
    /// Of the same deploys.
    pub(super) durations: Vec<Arc<Durations>>,
    pub(super) locks: Vec<EnvLock>,
    pub(super) holds: Vec<PackageHold>,
    /// Node → whether its last deploy step reached it.
    pub(super) reachable: BTreeMap<String, bool>,
    /// (check, result) → count.
    pub(super) checks: BTreeMap<(String, String), u64>,
}

impl StoreFigures {
    pub(super) async fn gather(
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
            deploys: store.deploy_summaries(DEPLOY_WINDOW).await.map_err(|e| e.to_string())?,
            ..StoreFigures::default()
        };
        figures.durations = durations(store, metrics, &figures.deploys).await?;
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

    pub(super) fn register(&self, registry: &mut Registry) {
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
        for deploy in &self.deploys {
            let state = deploy.state.as_str().to_owned();
            let environment = deploy.environment.clone();
            if deploy.state.is_final() {
                finished.get_or_create(&DeployResult { environment, result: state }).inc();
            } else {
                unfinished.get_or_create(&DeployUnfinished { environment, state }).inc();
            }
        }
        for durations in &self.durations {
            if let Some((environment, seconds)) = &durations.deploy {
                deploy_duration
                    .get_or_create(&Environment { environment: environment.clone() })
                    .observe(*seconds);
            }
            for (kind, seconds) in &durations.stages {
                stage_duration.get_or_create(&StageKind { kind: kind.clone() }).observe(*seconds);
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

/// The durations of `deploys`: finished ones from the cache (read once), the rest read now.
async fn durations(
    store: &Store,
    metrics: &Metrics,
    deploys: &[DeploySummary],
) -> Result<Vec<Arc<Durations>>, String> {
    let mut cache = metrics.inner.durations.lock().await;
    let window: HashSet<i64> = deploys.iter().map(|d| d.id).collect();
    cache.retain(|id, _| window.contains(id));
    let to_read: Vec<i64> =
        deploys.iter().filter(|d| !cache.contains_key(&d.id)).map(|d| d.id).collect();
    let mut fresh: HashMap<i64, Arc<Durations>> = HashMap::new();
    let mut keep = |id: i64, record: &DeployRecord| {
        let durations = Arc::new(Durations::of(record));
        if record.state.is_final() {
            cache.insert(id, durations.clone());
        }
        fresh.insert(id, durations);
    };
    if to_read.len() > RECORDS_ONE_BY_ONE {
        for row in store.deploys(None, DEPLOY_WINDOW).await.map_err(|e| e.to_string())? {
            keep(row.id, &row.record);
        }
    } else {
        for id in to_read {
            if let Some(row) = store.deploy(id).await.map_err(|e| e.to_string())? {
                keep(row.id, &row.record);
            }
        }
    }
    Ok(deploys
        .iter()
        .filter_map(|d| fresh.get(&d.id).or_else(|| cache.get(&d.id)).cloned())
        .collect())
}

/// Each node's last finished step in the newest deploys.
async fn reachability(
    store: &Store,
    deploys: &[DeploySummary],
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
    fn durations_need_both_ends_in_order() {
        let start = "2026-01-01T10:00:00Z";
        assert_eq!(seconds_between(start, &Some("2026-01-01T10:01:30Z".into())), Some(90.0));
        assert_eq!(seconds_between(start, &None), None);
        assert_eq!(seconds_between(start, &Some("2026-01-01T09:00:00Z".into())), None);
        assert_eq!(seconds_between("garbage", &Some(start.into())), None);
    }
}
