//! Now: who each policy would call, in order and why; the question "who is
//! called for these labels at that moment"; the incidents still open.

use super::page::Ctx;
use super::{trouble, Console};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDateTime, Utc};
use maud::{html, Markup};
use ringdown_core::escalation::Incident;
use ringdown_core::roster::{Policy, Roster};
use ringdown_engine::IncidentFilter;
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct NowQuery {
    lang: Option<String>,
    /// `name=value` pairs, separated by commas, spaces or new lines.
    labels: Option<String>,
    /// Wall-clock time in the roster's zone, `YYYY-MM-DDTHH:MM`.
    at: Option<String>,
}

pub async fn page(
    State(c): State<Console>,
    headers: HeaderMap,
    Query(q): Query<NowQuery>,
) -> Response {
    let ctx = Ctx::new(&c, &headers, q.lang.as_deref());
    let open = match c
        .engine()
        .store()
        .incidents(&IncidentFilter {
            since: None,
            phase: None,
            limit: Some(500),
        })
        .await
    {
        Ok(list) => list
            .into_iter()
            .filter(|i| !i.phase.is_closed())
            .collect::<Vec<_>>(),
        Err(e) => return trouble(&ctx, e),
    };
    let Some(roster) = ctx.roster.clone() else {
        return ctx.no_roster(ctx.t("Now", "現在"), "now").into_response();
    };
    let at_text = q.at.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let at = at_text.map(|s| parse_local(&roster, s));
    let when = match at {
        Some(Ok(t)) => t,
        _ => ctx.now,
    };
    let labels_text = q.labels.as_deref().unwrap_or("").trim().to_string();
    let body = html! {
        h1 { (ctx.t("Who is called", "誰に電話するか")) }
        (question_form(&ctx, &labels_text, at_text.unwrap_or("")))
        @if let Some(Err(why)) = &at {
            p.problem role="alert" { (why) }
        }
        @if !labels_text.is_empty() {
            (answer(&ctx, &roster, &labels_text, when))
        }
        h2 { (ctx.t("Every policy at ", "各ポリシー: ")) (ctx.time(when)) }
        (day_notes(&roster, when))
        @for p in &roster.policies {
            (policy_card(&ctx, &roster, p, when))
        }
        h2 { (ctx.t("Open incidents", "対応中のインシデント")) }
        (open_incidents(&ctx, &open))
    };
    ctx.page(ctx.t("Now", "現在"), "now", body).into_response()
}

fn parse_local(roster: &Roster, s: &str) -> Result<DateTime<Utc>, String> {
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|e| format!("{s:?} is not a time like 2026-12-08T03:00: {e}"))?;
    ringdown_core::roster::rotation::local_to_utc(roster.timezone, naive)
        .ok_or_else(|| format!("{s:?} is out of range"))
}

fn question_form(ctx: &Ctx, labels: &str, at: &str) -> Markup {
    html! {
        form #ask method="get" action="/console/now" {
            input type="hidden" name="lang" value=(ctx.lang.code());
            label { (ctx.t("Labels", "ラベル")) " "
                input type="text" name="labels" value=(labels) placeholder="systemname=payments" size="30";
            }
            " "
            label { (ctx.t("at", "日時")) " "
                input type="datetime-local" name="at" value=(at);
            }
            " " button type="submit" { (ctx.t("Who would be called?", "誰に電話する？")) }
        }
    }
}

fn answer(ctx: &Ctx, roster: &Roster, labels_text: &str, when: DateTime<Utc>) -> Markup {
    let pairs: Vec<String> = labels_text
        .split([',', ' ', '\n', '\r'])
        .filter(|s| !s.trim().is_empty())
        .map(str::to_string)
        .collect();
    let labels = match crate::commands::parse_labels(&pairs) {
        Ok(l) => l,
        Err(e) => return html! { p.problem role="alert" { (e.to_string()) } },
    };
    html! {
        section.card #answer {
            h2 { (labels_text) " · " (ctx.time(when)) }
            @match roster.policy_for(&labels) {
                None => p.problem { (ctx.t("No policy matches: nobody would be called.", "一致するポリシーがなく、誰にも電話しません。")) },
                Some(p) => {
                    p { (ctx.t("Policy ", "ポリシー ")) strong.policy { (p.name) } }
                    (call_order(ctx, roster, p, when, "plan"))
                }
            }
        }
    }
}

/// What each calendar says of the day (holiday, weekend, business day).
fn day_notes(roster: &Roster, when: DateTime<Utc>) -> Markup {
    let date = when.with_timezone(&roster.timezone).date_naive();
    html! {
        @if !roster.calendars.is_empty() {
            ul.muted.days {
                @for cal in roster.calendars.values() {
                    li { (cal.describe(date)) }
                }
            }
        }
    }
}

fn policy_card(ctx: &Ctx, roster: &Roster, p: &Policy, when: DateTime<Utc>) -> Markup {
    let matchers: Vec<String> = p.matchers.iter().map(|m| m.to_string()).collect();
    html! {
        section.card.policy data-policy=(p.name) {
            h2 { (p.name) " "
                span.muted { @if matchers.is_empty() { (ctx.t("(every other alert)", "（その他すべて）")) } @else { (matchers.join(", ")) } }
            }
            (call_order(ctx, roster, p, when, "order"))
        }
    }
}

/// The policy's steps as they resolve at `when`: one line per person, in
/// the order they would be rung, with the reason and the number used.
fn call_order(ctx: &Ctx, roster: &Roster, p: &Policy, when: DateTime<Utc>, id: &str) -> Markup {
    html! {
        ol.order data-list=(id) {
            @for (i, step) in p.steps.iter().enumerate() {
                @let targets = roster.resolve_step(p, i, when);
                @if targets.is_empty() {
                    li.muted { (ctx.t("step ", "ステップ ")) (i + 1) ": " (ctx.t("nobody on call", "担当者なし")) }
                }
                @for t in &targets {
                    li.target data-person=(t.person) data-step=(i + 1) {
                        (ctx.t("step ", "ステップ ")) (i + 1)
                        @if step.attempts > 1 { " ×" (step.attempts) }
                        @if step.mode != ringdown_core::roster::StepMode::InOrder { " (" (step.mode.as_str()) ")" }
                        ": " strong.name { (if t.name.is_empty() { &t.person } else { &t.name }) }
                        " "
                        @match &t.phone {
                            Some(n) => code.phone { (ringdown_core::phone::mask(n)) },
                            None => span.warning { (ctx.t("skipped", "スキップ")) },
                        }
                        " " span.muted.reason { (t.reason) }
                    }
                }
            }
            @if p.repeat > 0 {
                li.muted { (ctx.t("then the whole policy again ×", "その後ポリシー全体を繰り返し ×")) (p.repeat) }
            }
            li.muted { (ctx.t("then the fallback channel", "その後フォールバック通知")) }
        }
    }
}

fn open_incidents(ctx: &Ctx, open: &[Incident]) -> Markup {
    html! {
        @if open.is_empty() {
            p.muted #no-open { (ctx.t("No open incidents.", "対応中のインシデントはありません。")) }
        } @else {
            table #open {
                thead { tr {
                    th { "ID" } th { (ctx.t("System", "システム")) } th { (ctx.t("State", "状態")) }
                    th { (ctx.t("Opened", "発生")) } th { (ctx.t("Call in progress", "発信中")) }
                } }
                tbody {
                    @for i in open {
                        tr {
                            td { a href=(ctx.href(&format!("/console/incidents/{}", i.id))) { (i.id) } }
                            td { (crate::timeline::incident_label(i)) }
                            td { (super::incidents::state(ctx, i.phase)) }
                            td { (ctx.time(i.opened_at)) }
                            td {
                                @for call in i.calls() {
                                    div { strong { (call.person) } " " code { (call.phone) } " "
                                        span.muted { (ctx.t("since ", "発信 ")) (ctx.clock(call.placed_at)) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
