//! The JSON API under `/api/v1/`: every endpoint calls the same `wharf_app` function the
//! CLI calls and answers with the wire types its `--json` prints; errors are one shape,
//! `{code, message}` ([`crate::ApiError`]).
//!
//! One table ([`ROUTES`], written by `table!`) declares every route: method, path, the
//! role it needs, the handler, what it answers. The router and the OpenAPI document
//! (`openapi.rs`, served at `/api/v1/openapi.json`) are both made from it, and every route
//! passes through `auth::authorize` with its role — an endpoint cannot skip the check.
//! See `docs/api.md`.
//!
//! Modules: `auth` (tokens, roles, the extractors whose rejections are API errors),
//! `deploys` (start, dry-run, show, history, approve, resume, cancel, rollback),
//! `events` (a deploy's events as server-sent events), `guards` (locks, holds, windows,
//! maintenance), `repos` (repositories, snapshots, upload,
//! publish), `mirrors` (mirrors of remote repositories), `reads` (status, audit, nodes, node sets, tokens, health, schedules, the
//! loaded configuration), `openapi`.

mod apply;
pub(crate) mod auth;
pub(crate) mod cache;
pub(crate) mod deploys;
pub(crate) mod events;
pub(crate) mod guards;
mod mirrors;
mod openapi;
mod reads;
mod repos;

use std::sync::Arc;

use axum::Router;
use axum::middleware::from_fn_with_state;
use wharf_app::token::Role;

use crate::AppState;

/// One route of the API, as the table declares it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RouteDoc {
    /// `get`, `post` or `delete`.
    pub(crate) method: &'static str,
    /// Below `/api/v1`, with `{name}` parameters.
    pub(crate) path: &'static str,
    /// The weakest role allowed.
    pub(crate) role: Role,
    pub(crate) summary: &'static str,
    /// The wire type of a success (`docs/json.md`).
    pub(crate) answers: &'static str,
}

macro_rules! table {
    ($( $method:ident $path:literal $role:ident $handler:path => $answers:literal, $summary:literal; )*) => {
        /// Every route of the API.
        pub(crate) const ROUTES: &[RouteDoc] = &[$(
            RouteDoc {
                method: stringify!($method),
                path: $path,
                role: Role::$role,
                summary: $summary,
                answers: $answers,
            },
        )*];

        fn table(state: &Arc<AppState>) -> Router<Arc<AppState>> {
            let mut router = Router::new();
            $(
                router = router.route(
                    $path,
                    axum::routing::$method($handler).route_layer(from_fn_with_state(
                        (state.clone(), Role::$role),
                        auth::authorize,
                    )),
                );
            )*
            router
        }
    };
}

table! {
    get "/deploys" Viewer deploys::history => "DeployView[]", "The newest deploys (`?environment=&limit=`), newest first (`wharf history`).";
    post "/deploys" Deployer deploys::start => "DeployView | DryRunReport", "Start a deploy (202, runs in the background) or, with `dry_run`, plan it (200; 409 when refused) (`wharf deploy`).";
    get "/deploys/{id}" Viewer deploys::show => "DeployDetail", "One deploy in full (`wharf show`).";
    get "/deploys/{id}/events" Viewer events::events => "text/event-stream of DeployEventView", "A deploy's events as they happen (server-sent events; resumable with `Last-Event-ID`).";
    post "/deploys/{id}/approve" Deployer deploys::approve => "DeployResult", "Let a deploy waiting at a manual stage go on (`wharf approve`).";
    post "/deploys/{id}/resume" Deployer deploys::resume => "DeployResult", "Continue an interrupted deploy (`wharf resume`).";
    post "/deploys/{id}/cancel" Deployer deploys::cancel => "DeployResult", "Cancel a deploy, saying why (`wharf cancel`).";
    post "/environments/{env}/rollback" Deployer deploys::rollback => "DeployView", "Roll an environment back (202, runs in the background) (`wharf rollback`).";
    get "/status" Viewer reads::status => "EnvironmentStatus[]", "Where each environment stands (`?environment=&check=&at=`) (`wharf status`).";
    get "/locks" Viewer guards::locks => "EnvLock[]", "Every lock (`wharf locks`).";
    post "/locks" Deployer guards::lock => "LockReport", "Lock an environment or all (`wharf lock`).";
    delete "/locks/{env}" Deployer guards::unlock => "UnlockReport", "Lift a lock; `*` is the global one (`wharf unlock`).";
    get "/holds" Viewer guards::holds => "PackageHold[] | HoldsCheck", "The recorded holds; `?check=true` asks the nodes too (`wharf holds`).";
    post "/holds" Deployer guards::hold => "HoldReport", "Hold a package on an environment (`wharf hold`).";
    delete "/holds/{env}/{package}" Deployer guards::unhold => "HoldReport", "Release a hold (`wharf unhold`).";
    get "/windows" Viewer guards::windows => "WindowView[]", "Change-lock windows (`?environment=&at=`) (`wharf windows`).";
    get "/maintenance" Viewer guards::maintenance => "Maintenance[]", "Nodes in maintenance (`wharf maintenance list`).";
    post "/maintenance" Deployer guards::start_maintenance => "MaintenanceReport", "Put nodes in maintenance (`wharf maintenance start`).";
    delete "/maintenance/{nodeset}" Deployer guards::stop_maintenance => "MaintenanceReport", "Take nodes out of maintenance (`wharf maintenance stop`).";
    get "/audit" Viewer reads::audit => "AuditEntry[]", "The audit log (`?limit=&action=&target=`) (`wharf audit`).";
    post "/audit" Deployer reads::note => "AuditEntry", "Add an operator's note (`{target, message}`) (`wharf log`).";
    get "/audit/verify" Viewer reads::verify_audit => "AuditVerification", "Check the audit log's hash chain (`wharf audit --verify`).";
    get "/repos" Viewer repos::list => "CollectionView[]", "Repositories (`wharf repo list`).";
    post "/repos" Publisher repos::create => "CollectionView", "Create a repository (`wharf repo create`).";
    get "/repos/{name}" Viewer repos::show => "CollectionView", "One repository (`?packages=true` lists them, `?query=` only those it matches) (`wharf repo show`).";
    patch "/repos/{name}" Publisher repos::edit => "CollectionView", "Change a repository's settings (`{contents}`); the next publish applies them (`wharf repo edit`).";
    delete "/repos/{name}" Publisher repos::drop_repo => "DropReport", "Delete a repository; `?force=true` even while published (`wharf repo drop`).";
    post "/repos/{name}/packages" Publisher repos::upload => "AddReport", "Upload `.deb` files (or a `.dsc` with the files it lists): a raw body or multipart; all or nothing (`wharf repo add`).";
    post "/repos/{name}/include" Publisher repos::include => "IncludeReport", "Upload a `.changes` and the files it lists as multipart parts; signature and checksums checked, all or nothing (`wharf repo include`).";
    delete "/repos/{name}/packages" Publisher repos::remove => "RemoveReport", "Remove the packages `?query=` matches (`wharf repo remove`).";
    post "/repos/{name}/copy" Publisher repos::copy => "CopyReport", "Copy packages into this repository (`{from, queries, all, with_deps, dry_run}`) (`wharf repo copy`).";
    post "/repos/{name}/move" Publisher repos::move_packages => "CopyReport", "Move packages from another repository into this one (`{from, queries, all, with_deps, dry_run}`) (`wharf repo move`).";
    post "/repos/verify" Publisher repos::verify => "VerifyReport", "Read stored package files back and check their SHA-256 (`{names, all}`; `all`: every object too); 200 with `ok: false` and the problems when any (`wharf repo verify`).";
    post "/repos/cleanup" Publisher repos::cleanup => "CleanupReport", "Forget packages no repository or snapshot holds and delete the files nothing refers to any more (`wharf repo cleanup`).";
    post "/apply" Admin apply::apply => "ApplyReport", "Create the repositories `[[repositories]]` declares and report drift (`{dry_run, prune, prune_with_packages}`) (`wharf apply`).";
    get "/diff" Viewer repos::diff => "DiffReport", "Compare two repositories or snapshots (`?left=&right=`) (`wharf repo diff`).";
    get "/snapshots" Viewer repos::snapshots => "CollectionView[]", "Snapshots (`wharf snapshot list`).";
    post "/snapshots" Publisher repos::create_snapshot => "SnapshotReport", "Freeze a repository (`{name, from}`) (`wharf snapshot create`).";
    get "/snapshots/{name}" Viewer repos::show_snapshot => "CollectionView", "One snapshot, its packages included (`?query=`: only those it matches) (`wharf snapshot show`).";
    delete "/snapshots/{name}" Publisher repos::drop_snapshot => "DropReport", "Delete a snapshot; `?force=true` even while published (`wharf snapshot drop`).";
    get "/mirrors" Viewer mirrors::list => "CollectionView[]", "Mirrors of remote repositories (`wharf mirror list`).";
    post "/mirrors" Publisher mirrors::create => "CollectionView", "Create a mirror (`{name, url, distribution, components, architectures, filter, filter_with_deps, keyring (armored), ignore_signatures, with_sources}`); nothing is fetched yet (`wharf mirror create`).";
    get "/mirrors/{name}" Viewer mirrors::show => "CollectionView", "One mirror (`?packages=true` lists its packages) (`wharf mirror show`).";
    post "/mirrors/{name}/update" Publisher mirrors::update => "MirrorUpdateReport", "Fetch what changed on the remote, checked, all or nothing; answers when done (`wharf mirror update`).";
    delete "/mirrors/{name}" Publisher mirrors::drop_mirror => "DropReport", "Delete a mirror; its packages stay stored (`wharf mirror drop`).";
    get "/publish" Viewer repos::published => "PublishView[]", "Published prefixes (`wharf publish list`).";
    post "/publish/{name}" Publisher repos::publish => "PublishReport", "Publish a repository (`?snapshot=true&prefix=`) (`wharf publish`).";
    delete "/publish/{name}" Publisher repos::unpublish => "DropReport", "Remove the tree published at a prefix (`wharf publish drop`).";
    get "/health" Viewer reads::health => "HealthReport", "Repositories, store and disk (`?min_free_percent=`) (`wharf health`).";
    get "/key" Viewer reads::key => "SigningKeyView", "The repository signing key's public half, for apt's `signed-by=` (`wharf key export`).";
    get "/schedules" Viewer reads::schedules => "ScheduleView[]", "The schedules with their last and next run (`wharf schedules`).";
    get "/config" Admin reads::config => "ConfigSummary", "The configuration the server runs and its settings (`wharf config check`).";
    get "/nodes" Viewer reads::nodes => "Node[]", "Inventory nodes (`?nodeset=`) (`wharf nodes`).";
    get "/nodeset" Viewer reads::nodeset => "NodesetView", "Expand a node-set expression (`?expr=`) (`wharf nodeset`).";
    get "/tokens" Admin reads::tokens => "TokenView[]", "API tokens, never their secrets (`wharf token list`).";
    post "/tokens" Admin reads::create_token => "TokenCreated", "Create a token; the answer holds it, once (`wharf token create`).";
    delete "/tokens/{name}" Admin reads::revoke_token => "TokenRevoked", "Revoke a token (`wharf token revoke`).";
}

/// The largest request body: uploads of `.deb` files as multipart (a raw body is streamed
/// to disk whatever its size). Bodies are only read after the token was checked.
const BODY_LIMIT: usize = 2 << 30;

/// The routes below `/api/v1`: the table, each behind its role, and the OpenAPI document
/// (public, like `/healthz`: it describes, it does not act).
pub(crate) fn routes(state: Arc<AppState>) -> Router<Arc<AppState>> {
    table(&state)
        .route("/openapi.json", axum::routing::get(openapi::serve))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The document lists exactly the routes of the table (the router is made from the same
    /// table; the black-box test in `crates/wharf/tests/it/api.rs` calls every documented
    /// operation and gets 401, not 404), and it is OpenAPI 3.1.
    #[test]
    fn openapi_document_matches_the_route_table() {
        let doc = serde_json::to_value(openapi::document()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                documented.insert((method.clone(), path.clone()));
            }
        }
        let routed: BTreeSet<(String, String)> =
            ROUTES.iter().map(|r| (r.method.to_owned(), format!("/api/v1{}", r.path))).collect();
        assert_eq!(documented, routed);
        let unique: BTreeSet<(&str, &str)> = ROUTES.iter().map(|r| (r.method, r.path)).collect();
        assert_eq!(unique.len(), ROUTES.len(), "a route is declared twice");
        assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    }

    /// Token management is admin only; every change needs more than viewer.
    #[test]
    fn roles_of_the_table() {
        for route in ROUTES {
            if route.path.starts_with("/tokens") {
                assert_eq!(route.role, Role::Admin, "{}", route.path);
            } else if route.method != "get" {
                assert_ne!(route.role, Role::Viewer, "{} {}", route.method, route.path);
            }
        }
    }
}
