//! The console: server-rendered pages on the daemon's operations listener
//! for the people who tune the roster and the ones on call. Read-mostly:
//! every GET only reads the store and the roster the daemon runs with; the
//! only writes are the incident buttons (behind the action token, as the
//! API) and the login cookie. No JavaScript is needed to read any page; a
//! few lines add the viewer's own clock beside the roster's.

mod incidents;
mod now;
mod page;
mod report;
mod roster;
mod schedule;

use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use ringdown_engine::Engine;
use serde::Deserialize;
use std::sync::Arc;

pub(crate) use page::Ctx;

/// What the console needs from the daemon.
#[derive(Clone)]
pub struct Console {
    engine: Engine,
    /// Asked of every request when set: the ingest token (a header, or the
    /// cookie the login form sets). Unset only on a loopback listener.
    view_token: Option<Arc<str>>,
    /// The incident buttons' token: the one `POST /v1/incidents/…` takes.
    action_token: Arc<str>,
}

const COOKIE: &str = "ringdown_console";

impl Console {
    pub fn new(engine: Engine, view_token: Option<String>, action_token: String) -> Console {
        Console {
            engine,
            view_token: view_token.map(Into::into),
            action_token: action_token.into(),
        }
    }

    /// `/console/…`, guarded by the view token when there is one.
    pub fn router(self) -> axum::Router {
        let guarded = axum::Router::new()
            .route("/console", get(|| async { Redirect::to("/console/now") }))
            .route("/console/", get(|| async { Redirect::to("/console/now") }))
            .route("/console/now", get(now::page))
            .route("/console/schedule", get(schedule::page))
            .route(
                "/console/schedule/rotation/{name}",
                get(schedule::ics_rotation),
            )
            .route("/console/schedule/person/{id}", get(schedule::ics_person))
            .route("/console/incidents", get(incidents::list))
            .route("/console/incidents/{id}", get(incidents::show))
            .route("/console/incidents/{id}/act", post(incidents::act))
            .route("/console/report", get(report::page))
            .route("/console/roster", get(roster::form).post(roster::preview))
            .layer(axum::middleware::from_fn_with_state(self.clone(), guard));
        axum::Router::new()
            .route("/console/login", get(login_form).post(login))
            .merge(guarded)
            .with_state(self)
    }

    fn may_view(&self, headers: &HeaderMap) -> bool {
        let Some(want) = &self.view_token else {
            return true;
        };
        if ringdown_local::has_token(headers, want) {
            return true;
        }
        cookie(headers, COOKIE)
            .is_some_and(|got| ringdown_local::same_secret(want.as_bytes(), got.as_bytes()))
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

async fn guard(
    State(c): State<Console>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if c.may_view(req.headers()) {
        return next.run(req).await;
    }
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/console/now".into());
    let to = format!("/console/login?next={}", page::url_encode(&target));
    Redirect::to(&to).into_response()
}

#[derive(Deserialize, Default)]
struct LoginQuery {
    next: Option<String>,
    lang: Option<String>,
    failed: Option<u8>,
}

async fn login_form(
    State(c): State<Console>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let ctx = Ctx::new(&c, &headers, q.lang.as_deref());
    let next = safe_next(q.next.as_deref());
    let body = maud::html! {
        h1 { (ctx.t("Sign in", "サインイン")) }
        @if q.failed.is_some() {
            p.problem role="alert" { (ctx.t("That token is not the one this daemon takes.", "このデーモンのトークンと一致しません。")) }
        }
        p { (ctx.t(
            "This console asks for the ingest token (RINGDOWN_HTTP_TOKEN or http.token_file).",
            "このコンソールにはインジェスト用トークン（RINGDOWN_HTTP_TOKEN または http.token_file）が必要です。")) }
        form method="post" action="/console/login" {
            input type="hidden" name="next" value=(next);
            label { (ctx.t("Token", "トークン")) " " input type="password" name="token" autocomplete="current-password" required; }
            " " button type="submit" { (ctx.t("Sign in", "サインイン")) }
        }
    };
    ctx.page(ctx.t("Sign in", "サインイン"), "", body)
        .into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
    next: Option<String>,
}

async fn login(State(c): State<Console>, Form(f): Form<LoginForm>) -> Response {
    let next = safe_next(f.next.as_deref());
    let ok = c
        .view_token
        .as_ref()
        .is_none_or(|want| ringdown_local::same_secret(want.as_bytes(), f.token.trim().as_bytes()));
    if !ok {
        tracing::warn!("console sign-in refused: wrong token");
        let to = format!("/console/login?failed=1&next={}", page::url_encode(&next));
        return Redirect::to(&to).into_response();
    }
    let cookie = format!(
        "{COOKIE}={}; Path=/console; HttpOnly; SameSite=Strict",
        f.token.trim()
    );
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, next), (header::SET_COOKIE, cookie)],
    )
        .into_response()
}

/// Only a path on this console: never a redirect elsewhere.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/console") && !n.starts_with("//") => n.to_string(),
        _ => "/console/now".into(),
    }
}

/// A page that could not be built (the store failed): said plainly.
pub(crate) fn trouble(ctx: &Ctx, what: impl std::fmt::Display) -> Response {
    let body = maud::html! {
        h1 { (ctx.t("Something failed", "エラー")) }
        p.problem role="alert" { (what.to_string()) }
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        ctx.page(ctx.t("Something failed", "エラー"), "", body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_only_ever_returns_to_a_console_page() {
        assert_eq!(
            safe_next(Some("/console/incidents?state=calling")),
            "/console/incidents?state=calling"
        );
        for elsewhere in [
            "https://elsewhere.example/",
            "//elsewhere.example",
            "/metrics",
            "",
        ] {
            assert_eq!(safe_next(Some(elsewhere)), "/console/now", "{elsewhere}");
        }
        assert_eq!(safe_next(None), "/console/now");
    }

    #[test]
    fn the_console_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            "a=1; ringdown_console=s3cret ; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&h, COOKIE), Some("s3cret"));
        assert_eq!(cookie(&h, "missing"), None);
    }
}
