//! The scheduler: every few seconds, claim the `[[schedules]]` fire times that have come
//! (`wharf_app::schedule::due` — of several servers on one database exactly one wins each)
//! and run them in the background as `schedule:NAME`, through the server's work tracker so
//! that a shutdown drains them like any deploy.

use std::sync::Arc;
use std::time::Duration;

use wharf_app::deploy::Session;
use wharf_app::schedule::Claimed;

use crate::AppState;

/// How often the scheduler looks (well inside `wharf_deploy::schedule::GRACE`).
const TICK: Duration = Duration::from_secs(5);

/// Start the scheduler; abort the handle to stop it.
pub(crate) fn spawn(state: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let server = format!("{}:{}", hostname(), std::process::id());
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(err) = once(&state, &server).await {
                tracing::warn!("scheduler: {err}");
            }
        }
    })
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map_or_else(|_| "localhost".to_owned(), |h| h.trim().to_owned())
}

async fn once(state: &Arc<AppState>, server: &str) -> Result<(), String> {
    let loaded = state.app.config();
    let schedules = loaded.config.resolve_schedules(&loaded.source).map_err(|e| e.to_string())?;
    if schedules.is_empty() {
        return Ok(());
    }
    let ctx = state
        .app
        .context(wharf_app::Actor::cli("wharf-server"))
        .await
        .map_err(|e| e.to_string())?;
    let now = jiff::Timestamp::now();
    let claimed =
        wharf_app::schedule::due(&ctx, &schedules, server, now).await.map_err(|e| e.to_string())?;
    // After the claims: a line saying this server looked and what it won (tests read it to
    // know that a server saw a fire time and left it to another).
    let names: Vec<&str> = claimed.iter().map(|c| c.schedule.name.as_str()).collect();
    tracing::debug!(at = %now, claimed = ?names, "scheduler looked");
    for claim in claimed {
        tracing::info!(schedule = %claim.schedule.name, fire = %claim.fire, "running");
        let state = state.clone();
        drop(state.clone().work.spawn(async move { run(&state, &claim).await }));
    }
    Ok(())
}

async fn run(state: &AppState, claim: &Claimed) {
    let loaded = state.app.config();
    let ctx = match state.app.context(wharf_app::schedule::actor(&claim.schedule)).await {
        Ok(ctx) => ctx,
        Err(err) => return tracing::warn!(schedule = %claim.schedule.name, "cannot run: {err}"),
    };
    let options = wharf_exec::FanoutOptions::default();
    let fleet = wharf_app::fleet::Fleet {
        config: &loaded.config,
        source: &loaded.source,
        inventory: &loaded.inventory,
        env: state.app.local_env(),
        options: &options,
    };
    let session = Session {
        ctx: &ctx,
        fleet,
        clock: wharf_app::deploy::system_clock(),
        notices: None,
        started: None,
    };
    let name = &claim.schedule.name;
    match wharf_app::schedule::run(&session, claim).await {
        Ok(result) => {
            // `succeeded: deploy 12` → `succeeded`; `refused: …` → `refused`.
            let word = result.split(':').next().unwrap_or("succeeded");
            state.metrics.schedule_run(name, word);
            tracing::info!(schedule = %name, "{result}");
        }
        Err(err) => {
            state.metrics.schedule_run(name, "failed");
            tracing::warn!(schedule = %name, "failed: {err}");
        }
    }
}
