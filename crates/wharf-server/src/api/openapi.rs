//! The OpenAPI 3.1 document of `/api/v1`, built with utoipa's builders from the route
//! table ([`super::ROUTES`]) — the same table the router is made from, so the two cannot
//! drift apart; a test checks both ways. Request and response bodies are described by
//! the wire type they carry (`docs/json.md` lists their fields).

use axum::Json;
use axum::response::IntoResponse;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, ObjectBuilder, OpenApi, OpenApiBuilder, Paths,
    Required, ResponseBuilder,
};

use super::ROUTES;

fn method(name: &str) -> HttpMethod {
    match name {
        "post" => HttpMethod::Post,
        "delete" => HttpMethod::Delete,
        "put" => HttpMethod::Put,
        "patch" => HttpMethod::Patch,
        _ => HttpMethod::Get,
    }
}

fn json_response(description: impl Into<String>) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new().schema(Some(ObjectBuilder::new())).build(),
        )
        .build()
}

/// The document.
pub(crate) fn document() -> OpenApi {
    let mut paths = Paths::new();
    for route in ROUTES {
        let full = format!("/api/v1{}", route.path);
        let mut operation = OperationBuilder::new()
            .summary(Some(route.summary))
            .description(Some(format!(
                "Needs a token with role `{}` (or `admin`). Answers `{}`.",
                route.role, route.answers
            )))
            .operation_id(Some(format!(
                "{}{}",
                route.method,
                route.path.replace(['/', '{', '}'], "_")
            )))
            .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
            .response("200", json_response(format!("`{}`", route.answers)))
            .response(
                "401",
                json_response("`unauthorized`: no token, or an unknown, expired or revoked one"),
            )
            .response("403", json_response("`forbidden`: the token's role may not do this"))
            .response("400", json_response("`invalid`: the request is wrong"))
            .response("404", json_response("`not_found`"))
            .response("409", json_response("`refused` by a guard, or `conflict`"));
        if route.method == "post" && route.path.starts_with("/deploys")
            || route.path.ends_with("/rollback")
        {
            operation =
                operation.response("202", json_response("`DeployResult`: runs in the background"));
        }
        for segment in route.path.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                operation = operation.parameter(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True),
                );
            }
        }
        paths.add_path_operation(full, vec![method(route.method)], operation.build());
    }
    let components = ComponentsBuilder::new()
        .security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)))
        .build();
    OpenApiBuilder::new()
        .info(InfoBuilder::new().title("Wharf API").version(env!("CARGO_PKG_VERSION")).description(
            Some("Errors are `{\"error\": {\"code\", \"message\"}}`; see docs/api.md."),
        ))
        .paths(paths)
        .components(Some(components))
        .build()
}

/// `GET /api/v1/openapi.json`.
pub(crate) async fn serve() -> impl IntoResponse {
    Json(document())
}
