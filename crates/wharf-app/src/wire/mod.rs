//! The JSON shapes Wharf reports in: what the CLI prints with `--json` and the HTTP API
//! serves. One place, serde only (no HTTP framework): field names here are a contract —
//! extend them, never rename. Every field is documented where it is declared.

mod check;
mod config;
mod deploy;
mod fleet;
mod guard;
mod nodeset;
mod repo;

pub use check::CheckOutcome;
pub use config::{AptSummary, ConfigSummary, EnvironmentSummary, GroupSummary};
pub use deploy::{DryRunReport, PlannedStageView, RefusalView};
pub use fleet::{NodeErrorView, NodeResultView};
pub use guard::{HoldReport, LockReport, MaintenanceReport, UnlockReport, WindowView};
pub use nodeset::NodesetView;
pub use repo::{
    AddReport, CheckView, CleanupReport, CollectionView, DropReport, HealthReport, PackageView,
    PublishReport, PublishView, RemoveReport, SnapshotReport, VerifyReport,
};
pub use wharf_store::guard::{EnvLock, Maintenance, PackageHold};
pub use wharf_store::{AuditEntry, AuditVerification};
