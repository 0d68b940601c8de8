//! Roster preview: paste or upload a roster and see what `roster validate`
//! says of it and its diff against the roster in force, before anyone
//! applies it. Nothing is stored.

use super::page::{Ctx, LangQuery};
use super::{trouble, Console};
use axum::extract::{Multipart, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use ringdown_core::roster::Roster;

/// A roster larger than this is not a roster.
const MAX_ROSTER_BYTES: usize = 1 << 20;

fn editor(ctx: &Ctx, text: &str) -> Markup {
    html! {
        form #preview method="post" action=(ctx.href("/console/roster")) enctype="multipart/form-data" {
            p { label { (ctx.t("Paste a roster (YAML)", "ロスター（YAML）を貼り付け")) br;
                textarea name="roster" rows="18" { (text) } } }
            p { label { (ctx.t("or upload a file", "またはファイルを選択")) " " input type="file" name="file" accept=".yaml,.yml,text/yaml"; } }
            button type="submit" { (ctx.t("Check it", "確認する")) }
        }
    }
}

fn form_page(ctx: &Ctx, text: &str, result: Option<Markup>) -> Response {
    let body = html! {
        h1 { (ctx.t("Roster preview", "ロスター確認")) }
        p.muted { (ctx.t("Checks a roster and compares it with the one in force. Nothing is applied: `ringdown roster apply FILE` does that.",
                         "ロスターを検証し、現在のものと比較します。適用はしません（適用は `ringdown roster apply FILE`）。")) }
        @if let Some(r) = result { (r) }
        (editor(ctx, text))
    };
    ctx.page(ctx.t("Roster preview", "ロスター確認"), "roster", body)
        .into_response()
}

pub async fn form(
    State(c): State<Console>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Response {
    let ctx = Ctx::new(&c, &headers, q.lang.as_deref());
    form_page(&ctx, "", None)
}

pub async fn preview(
    State(c): State<Console>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
    mut parts: Multipart,
) -> Response {
    let ctx = Ctx::new(&c, &headers, q.lang.as_deref());
    let (mut pasted, mut uploaded) = (String::new(), String::new());
    loop {
        let field = match parts.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        };
        let name = field.name().unwrap_or("").to_string();
        let bytes = match field.bytes().await {
            Ok(b) if b.len() <= MAX_ROSTER_BYTES => b,
            Ok(_) => {
                return (StatusCode::PAYLOAD_TOO_LARGE, "a roster is at most 1 MiB").into_response()
            }
            Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        };
        let text = String::from_utf8_lossy(&bytes).into_owned();
        match name.as_str() {
            "roster" => pasted = text,
            "file" => uploaded = text,
            _ => {}
        }
    }
    let text = if uploaded.trim().is_empty() {
        pasted
    } else {
        uploaded
    };
    let stored = match c.engine().store().load_roster().await {
        Ok(s) => s,
        Err(e) => return trouble(&ctx, e),
    };
    let result = check(&ctx, &text, stored.as_ref());
    form_page(&ctx, &text, Some(result))
}

fn check(ctx: &Ctx, text: &str, stored: Option<&ringdown_engine::RosterDoc>) -> Markup {
    if text.trim().is_empty() {
        return html! { p.problem role="alert" { (ctx.t("The roster is empty.", "ロスターが空です。")) } };
    }
    let verdict = match Roster::from_yaml(text) {
        Ok(r) => html! {
            p.ok #valid { (ctx.t("Valid: ", "有効: "))
                (r.people.len()) (ctx.t(" people, ", " 人、")) (r.rotations.len()) (ctx.t(" rotations, ", " ローテーション、"))
                (r.policies.len()) (ctx.t(" policies", " ポリシー")) }
            @let advice = r.advice();
            @if !advice.is_empty() {
                ul #advice { @for a in &advice { li.warning { (a) } } }
            }
        },
        Err(errs) => html! {
            p.problem #invalid role="alert" { (ctx.t("Not a valid roster: ", "無効なロスター: ")) (errs.0.len()) (ctx.t(" problem(s)", " 件の問題")) }
            ul #problems { @for e in &errs.0 { li.problem { (e) } } }
        },
    };
    let (old, name) = match stored {
        Some(d) => (
            d.yaml.as_str(),
            format!("stored roster (version {})", d.version),
        ),
        None => ("", "stored roster (none)".to_string()),
    };
    let diff = crate::commands::roster_diff_text(old, text, &name, "preview");
    html! {
        section.card #result {
            (verdict)
            h2 { (ctx.t("Changes against the roster in force", "現在のロスターとの差分")) }
            @if diff.is_empty() {
                p #no-changes { (ctx.t("No changes.", "変更はありません。")) }
            } @else {
                pre.diff #diff {
                    @for line in diff.lines() {
                        @let class = if line.starts_with('+') && !line.starts_with("+++") { "add" }
                            else if line.starts_with('-') && !line.starts_with("---") { "del" } else { "" };
                        span class=(class) { (line) } "\n"
                    }
                }
            }
        }
    }
}
