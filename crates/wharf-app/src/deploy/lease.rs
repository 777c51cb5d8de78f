//! The environment's deploy lease: who runs a deploy (`host:pid:start-time`), the
//! heartbeat that keeps it, and [`reap`], which finds deploys whose owner is gone.
//!
//! **One deploy per environment**: the store's lease (one conditional upsert) admits one
//! deploy at a time across processes and servers. A deploy marked running whose owner is
//! gone — the process no longer exists on this host, or the lease expired without a
//! heartbeat — is marked `interrupted` at the stage it reached.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use serde_json::json;
use wharf_store::deploy::DeployState;
use wharf_store::guard::Lease;

use crate::context::Context;
use crate::error::Result;
use crate::wire::RefusalView;

/// How long a lease lasts without a heartbeat.
pub(crate) const LEASE_TTL: Duration = Duration::from_secs(30);
/// How often the heartbeat renews it.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(5);

/// This process, as a lease owner: `host:pid:start-time`.
pub(crate) fn owner() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned());
    let pid = std::process::id();
    format!("{host}:{pid}:{}", start_time(pid).unwrap_or_default())
}

/// A process's start time in clock ticks since boot (field 22 of `/proc/PID/stat`), so a
/// reused pid is not mistaken for the owner.
pub(crate) fn start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces; fields after it follow its `)`.
    let after = &stat[stat.rfind(')')? + 2..];
    after.split(' ').nth(19).map(str::to_owned)
}

/// Whether a lease owner is still running: `Some(false)` when it was a process on this
/// host that is gone, `None` when it is elsewhere (then only the lease's expiry tells).
pub(crate) fn owner_alive(owner: &str) -> Option<bool> {
    let mut parts = owner.rsplitn(3, ':');
    let (start, pid, host) = (parts.next()?, parts.next()?, parts.next()?);
    let here = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    if host != here.trim() {
        return None;
    }
    let pid: u32 = pid.parse().ok()?;
    Some(start_time(pid).is_some_and(|s| s == start))
}

pub(crate) fn ms(at: Timestamp) -> i64 {
    at.as_millisecond()
}

/// Mark every running deploy whose owner is gone `interrupted`, and free its lease.
/// Returns the ids marked.
pub async fn reap(ctx: &Context) -> Result<Vec<i64>> {
    // Every history read asks, and mostly nothing is going: one query then.
    if ctx.store().active_deploys().await?.is_empty() {
        return Ok(Vec::new());
    }
    // Leases before deploys: a deploy that finishes in between is then seen finished, never
    // as running without its (released) lease.
    let leases = ctx.store().leases().await?;
    let now = ms(Timestamp::now());
    let mut reaped = Vec::new();
    for row in ctx.store().active_deploys().await? {
        let lease = leases.iter().find(|l| l.deploy_id == row.id);
        let gone = match lease {
            // Recorded, lease not taken yet: gone only once that has taken too long.
            None if row.record.state == DeployState::Planned => {
                super::instant(&row.record.started_at).as_millisecond()
                    + i64::try_from(LEASE_TTL.as_millis()).unwrap_or(30_000)
                    <= now
            }
            None => true,
            Some(lease) => owner_alive(&lease.owner) == Some(false) || lease.expires_ms <= now,
        };
        if !gone {
            continue;
        }
        let mut record = row.record;
        let stage = record.stages.iter().find(|s| s.state == "running").map(|s| s.name.clone());
        let why = format!(
            "the process running it is gone{}; `wharf resume {}` continues it",
            stage.map(|s| format!(" (during stage {s})")).unwrap_or_default(),
            row.id
        );
        record.state = DeployState::Interrupted;
        record.reason = Some(why.clone());
        let entry = ctx
            .entry("deploy.interrupted", &record.environment, json!({ "deploy": row.id }))
            .reason(&why);
        ctx.store().update_deploy(row.id, &record, Some(&entry)).await?;
        ctx.store()
            .append_deploy_event(
                row.id,
                "deploy.paused",
                &json!({ "state": "interrupted", "reason": why }),
            )
            .await?;
        if lease.is_some() {
            ctx.store().release_lease(&record.environment, row.id).await?;
        }
        reaped.push(row.id);
    }
    Ok(reaped)
}

pub(crate) async fn running_deploy(ctx: &Context, environment: &str) -> Result<Option<Lease>> {
    let now = ms(Timestamp::now());
    Ok(ctx
        .store()
        .leases()
        .await?
        .into_iter()
        .find(|l| l.environment == environment && l.expires_ms > now))
}

pub(crate) fn another_running(lease: &Lease) -> RefusalView {
    RefusalView {
        guard: "running".into(),
        message: format!("deploy {} is running on {}", lease.deploy_id, lease.environment),
        lift: format!("wait for it, or `wharf cancel {} --reason R`", lease.deploy_id),
    }
}

pub(crate) async fn take_lease(
    ctx: &Context,
    environment: &str,
    id: i64,
) -> Result<std::result::Result<Lease, Lease>> {
    let now = Timestamp::now();
    let lease = Lease {
        environment: environment.to_owned(),
        deploy_id: id,
        owner: owner(),
        expires_ms: ms(now) + i64::try_from(LEASE_TTL.as_millis()).unwrap_or(30_000),
    };
    Ok(match ctx.store().acquire_lease(&lease, ms(now)).await? {
        Ok(()) => Ok(lease),
        Err(holder) => Err(holder),
    })
}

pub(crate) async fn heartbeat(
    store: wharf_store::Store,
    environment: String,
    id: i64,
    lost: Arc<AtomicBool>,
) {
    let owner = owner();
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        let lease = Lease {
            environment: environment.clone(),
            deploy_id: id,
            owner: owner.clone(),
            expires_ms: ms(Timestamp::now())
                + i64::try_from(LEASE_TTL.as_millis()).unwrap_or(30_000),
        };
        match store.renew_lease(&lease).await {
            Ok(true) => {}
            Ok(false) => {
                lost.store(true, Ordering::SeqCst);
                return;
            }
            Err(err) => tracing::warn!("could not renew the lease of deploy {id}: {err}"),
        }
    }
}

/// Mark every deploy this process runs `interrupted` with `why` and free its lease: what a
/// server does on its way down once the drain timeout has passed (the deploys' tasks were
/// stopped first). Returns the ids marked.
pub async fn interrupt_own(ctx: &Context, why: &str) -> Result<Vec<i64>> {
    let me = owner();
    let mut marked = Vec::new();
    for lease in ctx.store().leases().await?.into_iter().filter(|l| l.owner == me) {
        let Some(row) = ctx.store().deploy(lease.deploy_id).await? else { continue };
        let mut record = row.record;
        if matches!(record.state, DeployState::Running | DeployState::Planned) {
            let reason = format!("{why}; `wharf resume {}` continues it", row.id);
            record.state = DeployState::Interrupted;
            record.reason = Some(reason.clone());
            let entry = ctx
                .entry("deploy.interrupted", &record.environment, json!({ "deploy": row.id }))
                .reason(&reason);
            ctx.store().update_deploy(row.id, &record, Some(&entry)).await?;
            ctx.store()
                .append_deploy_event(
                    row.id,
                    "deploy.paused",
                    &json!({ "state": "interrupted", "reason": reason }),
                )
                .await?;
            marked.push(row.id);
        }
        ctx.store().release_lease(&lease.environment, lease.deploy_id).await?;
    }
    Ok(marked)
}
