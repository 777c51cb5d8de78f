//! Conformance cases for deploy records (`wharf_store::deploy`): run by the suite in
//! `conformance.rs` on both backends.

use std::collections::BTreeMap;

use serde_json::json;
use wharf_store::deploy::{
    DeployRecord, DeployState, DeploySummary, NodeCounts, NodeRun, Override, StageRecord,
};
use wharf_store::{AuditQuery, NewAuditEntry};

use crate::conformance::TestDb;

pub(crate) fn record(environment: &str, version: &str) -> DeployRecord {
    DeployRecord {
        environment: environment.into(),
        pipeline: "upgrade".into(),
        packages: BTreeMap::from([("gitlab-ee".into(), version.into())]),
        previous: BTreeMap::from([("gitlab-ee".into(), "11.7.0-ee.0".into())]),
        state: DeployState::Running,
        started_by: "alice".into(),
        via: "cli".into(),
        automated: false,
        overrides: vec![Override {
            kind: "ignore-production-checks".into(),
            reason: "canary verified by hand".into(),
            by: "alice".into(),
        }],
        warnings: Vec::new(),
        stages: vec![StageRecord {
            name: "install".into(),
            kind: "install".into(),
            state: "running".into(),
            nodes: NodeCounts::default(),
            point_of_no_return: false,
            started_at: Some("2026-12-01T10:00:01.000Z".into()),
            finished_at: None,
            approved_by: None,
        }],
        started_at: "2026-12-01T10:00:00.000Z".into(),
        finished_at: None,
        reason: None,
        issue: Some("https://gitlab.example/issues/123".into()),
        downgrade: false,
        hold: false,
    }
}

/// A deploy is created with its audit entry, written as it goes, listed newest first,
/// and its node results and events read back in order.
pub(crate) async fn deploy_records_story(db: &TestDb) {
    let store = &db.store;
    let (id, audited) = store
        .create_deploy(&record("gstg", "11.8.0-ee.0"), |id| {
            NewAuditEntry::new("alice", "deploy.start", "gstg")
                .reason("canary verified by hand")
                .details(json!({ "deploy": id }))
        })
        .await
        .unwrap();
    assert_eq!(audited.details["deploy"], id);
    let (other, _) = store
        .create_deploy(&record("gprd", "11.8.0-ee.0"), |_| {
            NewAuditEntry::new("bob", "deploy.start", "gprd")
        })
        .await
        .unwrap();
    assert!(other > id);

    let mut finished = record("gstg", "11.8.0-ee.0");
    finished.state = DeployState::Succeeded;
    finished.finished_at = Some("2026-12-01T10:05:00.000Z".into());
    finished.stages[0].state = "succeeded".into();
    finished.stages[0].nodes = NodeCounts { succeeded: 2, failed: 0, skipped: 0 };
    let entry = NewAuditEntry::new("alice", "deploy.finish", "gstg");
    assert!(store.update_deploy(id, &finished, Some(&entry)).await.unwrap().is_some());
    assert!(store.update_deploy(id, &finished, None).await.unwrap().is_none());
    assert!(store.update_deploy(999_999, &finished, None).await.is_err(), "no such deploy");
    let shown = store.deploy(id).await.unwrap().unwrap();
    assert_eq!((shown.id, &shown.record), (id, &finished));
    assert!(store.deploy(999_999).await.unwrap().is_none());
    let gstg: Vec<i64> =
        store.deploys(Some("gstg"), 10).await.unwrap().iter().map(|d| d.id).collect();
    assert_eq!(gstg, [id]);
    let all: Vec<i64> = store.deploys(None, 10).await.unwrap().iter().map(|d| d.id).collect();
    assert_eq!(all, [other, id], "newest first");
    let in_state = |environment: Option<&'static str>, state| async move {
        let rows = store.deploys_in_state(environment, state, 10).await.unwrap();
        rows.iter().map(|d| d.id).collect::<Vec<i64>>()
    };
    assert_eq!(in_state(None, DeployState::Succeeded).await, [id]);
    assert_eq!(in_state(None, DeployState::Running).await, [other]);
    assert_eq!(in_state(Some("gprd"), DeployState::Running).await, [other]);
    assert_eq!(in_state(Some("gstg"), DeployState::Running).await, Vec::<i64>::new());
    assert_eq!(in_state(None, DeployState::Failed).await, Vec::<i64>::new());
    // Without records: what counting deploys needs; and the deploys that may hold a lease.
    let summaries = store.deploy_summaries(10).await.unwrap();
    assert_eq!(
        summaries,
        [
            DeploySummary { id: other, environment: "gprd".into(), state: DeployState::Running },
            DeploySummary { id, environment: "gstg".into(), state: DeployState::Succeeded },
        ]
    );
    assert_eq!(store.deploy_summaries(1).await.unwrap().len(), 1);
    let active: Vec<i64> = store.active_deploys().await.unwrap().iter().map(|d| d.id).collect();
    assert_eq!(active, [other], "a finished deploy is not active");
    // The JSON a front end prints: the record's fields with the id.
    let view = serde_json::to_value(&shown).unwrap();
    assert_eq!((view["id"].as_i64(), view["state"].as_str()), (Some(id), Some("succeeded")));

    let run = |node: &str, state: &str| NodeRun {
        stage: 0,
        node: node.into(),
        state: state.into(),
        exit_code: (state != "running").then_some(0),
        output_tail: format!("{node}: {state}"),
        started_at: "2026-12-01T10:00:02.000Z".into(),
        finished_at: (state != "running").then(|| "2026-12-01T10:00:09.000Z".into()),
    };
    store.record_nodes(id, &[run("web01", "running"), run("web02", "running")]).await.unwrap();
    store.record_node(id, &run("web01", "succeeded")).await.unwrap();
    store.record_nodes(id, &[run("web02", "succeeded")]).await.unwrap();
    let runs = store.deploy_nodes(id).await.unwrap();
    assert_eq!(runs, [run("web01", "succeeded"), run("web02", "succeeded")]);
    assert!(store.deploy_nodes(other).await.unwrap().is_empty());

    let first = store
        .append_deploy_event(id, "deploy.started", &json!({ "version": "11.8.0-ee.0" }))
        .await
        .unwrap();
    let second = store.append_deploy_event(other, "deploy.started", &json!({})).await.unwrap();
    let events = store.deploy_events(0, 10).await.unwrap();
    assert_eq!(events.iter().map(|e| e.id).collect::<Vec<_>>(), [first, second]);
    assert_eq!(events[0].body["version"], "11.8.0-ee.0");
    assert_eq!(store.deploy_events(first, 10).await.unwrap().len(), 1, "resumes after an id");
    let ours = store.events_of_deploy(id).await.unwrap();
    assert_eq!(ours.iter().map(|e| e.id).collect::<Vec<_>>(), [first], "one deploy's events");

    let actions: Vec<String> =
        store.audit(&AuditQuery::default()).await.unwrap().into_iter().map(|e| e.action).collect();
    assert_eq!(actions, ["deploy.start", "deploy.start", "deploy.finish"]);
    assert!(store.verify_audit().await.unwrap().ok);
}
