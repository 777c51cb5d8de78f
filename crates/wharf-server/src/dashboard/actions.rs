//! The deploy page's actions — approve a manual stage, resume, cancel, roll back — each
//! a link to a confirmation page (with a reason field where the CLI needs one) whose form
//! posts here. A POST checks, in order: the session, its CSRF token, the role the API
//! route of the same action needs; then it runs the API handler's own flow
//! (`api::deploys::run` in the server's work tracker, or `wharf_app::deploy::cancel`).

use std::sync::Arc;

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use wharf_app::deploy::RollbackRequest;
use wharf_app::token::Role;
use wharf_app::wire::DeployView;

use super::layout::{self, Nav};
use super::session::Session;
use crate::api::auth::Path;
use crate::api::deploys::Op;
use crate::{ApiError, AppState};

/// An action on one deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Approve,
    Resume,
    Cancel,
}

impl Action {
    fn parse(word: &str) -> Option<Action> {
        match word {
            "approve" => Some(Action::Approve),
            "resume" => Some(Action::Resume),
            "cancel" => Some(Action::Cancel),
            _ => None,
        }
    }

    fn word(self) -> &'static str {
        match self {
            Action::Approve => "approve",
            Action::Resume => "resume",
            Action::Cancel => "cancel",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Action::Approve => "Approve",
            Action::Resume => "Resume",
            Action::Cancel => "Cancel deploy",
        }
    }

    /// Whether it applies to a deploy in `state`.
    fn applies(self, state: &str) -> bool {
        match self {
            Action::Approve => state == "waiting",
            Action::Resume => state == "interrupted",
            Action::Cancel => matches!(state, "planned" | "running" | "waiting" | "interrupted"),
        }
    }
}

/// The stage a waiting deploy waits at.
fn waiting_stage(deploy: &DeployView) -> Option<&str> {
    deploy.stages.iter().find(|s| s.state == "waiting").map(|s| s.name.as_str())
}

/// The action links a deployer sees on a deploy's page.
pub(crate) fn buttons(deploy: &DeployView) -> Markup {
    let actions: Vec<Action> = [Action::Approve, Action::Resume, Action::Cancel]
        .into_iter()
        .filter(|a| a.applies(&deploy.state))
        .collect();
    let rollback = super::deploy::is_settled(&deploy.state);
    html! {
        section id="actions" aria-labelledby="actions-h" {
            h2 id="actions-h" { "Actions" }
            ul.actions {
                @for action in actions {
                    li { a.button href={ "/deploys/" (deploy.id) "/" (action.word()) } {
                        (action.label())
                        @if action == Action::Approve {
                            @if let Some(stage) = waiting_stage(deploy) { " stage " (stage) }
                        }
                    } }
                }
                @if rollback {
                    li { a.button href={ "/environments/" (deploy.environment) "/rollback" } {
                        "Roll back " (deploy.environment)
                    } }
                }
            }
        }
    }
}

async fn deploy_of(state: &AppState, session: &Session, id: i64) -> Result<DeployView, ApiError> {
    let ctx = session.caller.context(state).await?;
    Ok(wharf_app::status::show(&ctx, id).await?.deploy)
}

/// `GET /deploys/{id}/{action}`: "are you sure?", with a reason where one is needed.
pub(crate) async fn confirm(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path((id, word)): Path<(i64, String)>,
) -> Response {
    let Some(action) = Action::parse(&word) else {
        return not_an_action(&word, &session);
    };
    if let Some(refused) = session.refusal(Role::Deployer, &format!("{word} a deploy")) {
        return refused;
    }
    let deploy = match deploy_of(&state, &session, id).await {
        Ok(deploy) => deploy,
        Err(err) => return layout::api_error(&err, Some(&session)),
    };
    let stage = waiting_stage(&deploy);
    let question = match action {
        Action::Approve => format!(
            "Let deploy #{id} to {} go on past stage {}?",
            deploy.environment,
            stage.unwrap_or("?")
        ),
        Action::Resume => format!("Resume deploy #{id} to {}?", deploy.environment),
        Action::Cancel => format!("Cancel deploy #{id} to {}?", deploy.environment),
    };
    let body = html! {
        p { (question) " It is " (layout::state(&deploy.state)) "." }
        form.stack method="post" action={ "/deploys/" (id) "/" (word) } {
            (layout::csrf_field(&session))
            @if let (Action::Approve, Some(stage)) = (action, stage) {
                input type="hidden" name="stage" value=(stage);
            }
            @if action == Action::Cancel {
                label for="reason" { "Reason (recorded in the audit log)" }
                input id="reason" name="reason" type="text" required;
            }
            div.row {
                button type="submit" { "Yes, " (action.label().to_lowercase()) }
                a href={ "/deploys/" (id) } { "No, go back" }
            }
        }
    };
    let verb = match action {
        Action::Approve => "Approve",
        Action::Resume => "Resume",
        Action::Cancel => "Cancel",
    };
    layout::page(&format!("{verb} deploy #{id}"), Nav::History, Some(&session), &body)
}

#[derive(Debug, Deserialize)]
pub(crate) struct ActionForm {
    csrf: String,
    stage: Option<String>,
    reason: Option<String>,
}

/// `POST /deploys/{id}/{action}`.
pub(crate) async fn act(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path((id, word)): Path<(i64, String)>,
    Form(form): Form<ActionForm>,
) -> Response {
    if let Some(refused) = session.csrf_refusal(&form.csrf) {
        return refused;
    }
    let Some(action) = Action::parse(&word) else {
        return not_an_action(&word, &session);
    };
    if let Some(refused) =
        session.refusal(Role::Deployer, &format!("POST /api/v1/deploys/{id}/{word}"))
    {
        return refused;
    }
    let ctx = match session.caller.context(&state).await {
        Ok(ctx) => ctx,
        Err(err) => return layout::api_error(&err, Some(&session)),
    };
    let outcome = match action {
        Action::Approve => {
            let stage = form.stage.filter(|s| !s.trim().is_empty());
            crate::api::deploys::run(&state, ctx, Op::Approve(id, stage)).await
        }
        Action::Resume => crate::api::deploys::run(&state, ctx, Op::Resume(id)).await,
        Action::Cancel => {
            let reason = form.reason.unwrap_or_default();
            if reason.trim().is_empty() {
                let err = ApiError::invalid("cancelling needs a reason: say why in the form");
                return layout::api_error(&err, Some(&session));
            }
            match wharf_app::deploy::cancel(&ctx, id, reason.trim()).await {
                Ok(_) => return see_deploy(id),
                Err(err) => Err(ApiError::from(err)),
            }
        }
    };
    after(outcome, id, &session).await
}

/// `GET /environments/{env}/rollback`: confirm a rollback.
pub(crate) async fn confirm_rollback(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(environment): Path<String>,
) -> Response {
    if let Some(refused) = session.refusal(Role::Deployer, "rolling back") {
        return refused;
    }
    if !state.app.config().inventory.environments().iter().any(|e| e.name == environment) {
        let err = ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no environment named {environment:?}"),
        );
        return layout::api_error(&err, Some(&session));
    }
    let body = html! {
        p { "Deploy the previous successful version to " strong { (environment) } " again, with its rollback pipeline?" }
        form.stack method="post" action={ "/environments/" (environment) "/rollback" } {
            (layout::csrf_field(&session))
            label for="to" { "To version (empty: the previous successful one)" }
            input id="to" name="to" type="text";
            label for="force" { "Force, with this reason (only when a guard refuses and you must)" }
            input id="force" name="force" type="text";
            div.row {
                button type="submit" { "Yes, roll back " (environment) }
                a href="/" { "No, go back" }
            }
        }
    };
    layout::page(&format!("Roll back {environment}"), Nav::Overview, Some(&session), &body)
}

#[derive(Debug, Deserialize)]
pub(crate) struct RollbackForm {
    csrf: String,
    to: Option<String>,
    force: Option<String>,
}

/// `POST /environments/{env}/rollback`.
pub(crate) async fn rollback(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(environment): Path<String>,
    Form(form): Form<RollbackForm>,
) -> Response {
    if let Some(refused) = session.csrf_refusal(&form.csrf) {
        return refused;
    }
    if let Some(refused) = session
        .refusal(Role::Deployer, &format!("POST /api/v1/environments/{environment}/rollback"))
    {
        return refused;
    }
    let nonempty =
        |text: Option<String>| text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    let request = RollbackRequest {
        environment,
        to: nonempty(form.to),
        reviewed_by: None,
        force: nonempty(form.force),
        automated: session.caller.identity.automated,
        issue: None,
    };
    let ctx = match session.caller.context(&state).await {
        Ok(ctx) => ctx,
        Err(err) => return layout::api_error(&err, Some(&session)),
    };
    after(crate::api::deploys::run(&state, ctx, Op::Rollback(request)).await, 0, &session).await
}

/// What the API answered, as the next page: the deploy it is about, or the refusal.
async fn after(outcome: Result<Response, ApiError>, id: i64, session: &Session) -> Response {
    let response = match outcome {
        Ok(response) => response,
        Err(err) => return layout::api_error(&err, Some(session)),
    };
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap_or_default();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    // A `DeployResult` (the deploy's fields and `refusals`), or an error whose `deploy` is one.
    let deploy_id = json["id"].as_i64().or_else(|| json["deploy"]["id"].as_i64()).unwrap_or(id);
    if status.is_success() {
        return see_deploy(deploy_id);
    }
    let message = json["message"].as_str().unwrap_or("the action was refused");
    let body = html! {
        p.error role="alert" { (message) }
        @if deploy_id > 0 { p { a href={ "/deploys/" (deploy_id) } { "See deploy #" (deploy_id) } } }
    };
    layout::page_with_status(status, "Refused", Nav::None, Some(session), &body)
}

fn see_deploy(id: i64) -> Response {
    Redirect::to(&format!("/deploys/{id}")).into_response()
}

fn not_an_action(word: &str, session: &Session) -> Response {
    let message = format!("{word:?} is not an action: approve, resume or cancel");
    layout::error_page(StatusCode::NOT_FOUND, "Not found", &message, Some(session))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which action a deploy in each state offers (what `wharf approve|resume|cancel`
    /// accept in that state).
    #[test]
    fn actions_by_state() {
        let check = |state: &str, want: &[&str]| {
            let offered: Vec<&str> = [Action::Approve, Action::Resume, Action::Cancel]
                .into_iter()
                .filter(|a| a.applies(state))
                .map(Action::word)
                .collect();
            assert_eq!(offered, want, "{state}");
        };
        check("planned", &["cancel"]);
        check("running", &["cancel"]);
        check("waiting", &["approve", "cancel"]);
        check("interrupted", &["resume", "cancel"]);
        for over in ["succeeded", "failed", "cancelled", "refused"] {
            check(over, &[]);
        }
        for word in ["approve", "resume", "cancel"] {
            assert_eq!(Action::parse(word).map(Action::word), Some(word));
        }
        assert_eq!(Action::parse("rollback"), None);
    }
}
