//! The JSON shapes Wharf reports in: what the CLI prints with `--json` and the HTTP API
//! serves. One place, serde only (no HTTP framework): field names here are a contract —
//! extend them, never rename. Every field is documented where it is declared.

mod apply;
mod backup;
mod check;
mod config;
mod deploy;
mod fleet;
mod guard;
mod key;
mod nodeset;
mod notify;
mod repo;
mod schedule;
mod status;
mod token;

pub use apply::{ApplyReport, FieldDiff, ImportReport, ImportedView, UndeclaredView};
pub use backup::{BackupReport, RestoreReport};
pub use check::CheckOutcome;
pub use config::{AptSummary, ConfigSummary, EnvironmentSummary, GroupSummary};
pub use deploy::{
    DeployResult, DeployView, DryRunReport, NodeCountsView, OverrideView, PlannedStageView,
    RefusalView, StageView,
};
pub use fleet::{NodeErrorView, NodeResultView};
pub use guard::{
    HoldDisagreement, HoldReport, HoldsCheck, LockReport, MaintenanceReport, UnlockReport,
    WindowView,
};
pub use key::SigningKeyView;
pub use nodeset::NodesetView;
pub use notify::{NotificationDeployView, NotificationView};
pub use repo::{
    AddReport, CheckView, CleanupReport, CollectionView, CopyReport, DiffEntry, DiffReport,
    DropReport, HealthReport, IncludeReport, IncomingReport, IncomingSkip, MirrorUpdateReport,
    MirrorView, PackageView, PolicySnapshots, PublishReport, PublishView, RemoveReport,
    SnapshotPolicyView, SnapshotReport, VerifyReport,
};
pub use schedule::ScheduleView;
pub use status::{
    DeployDetail, DeployEventView, DeployedVersion, DisagreeingNodeView, EnvironmentStatus,
    NodeRunView, OpenWindowView, RunningDeployView,
};
pub use token::{TokenCreated, TokenRevoked, TokenView};
pub use wharf_store::guard::{EnvLock, Maintenance, PackageHold};
pub use wharf_store::{AuditEntry, AuditVerification};
