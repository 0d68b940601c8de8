//! Incidents: recent ones, filterable by state and policy; one incident's
//! timeline as a picture and as a list (alerts in, each call with who, the
//! masked number, ringing, answered, what was pressed, the outcome and
//! DisconnectReason, escalations, silences); the buttons that act on it.

use super::page::Ctx;
use super::{trouble, Console};
use crate::actions::{event, Action, ActionRequest};
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use ringdown_core::escalation::{HistoryKind, Incident, Phase};
use ringdown_core::outcome::Outcome;
use ringdown_engine::{ContactRow, IncidentFilter};
use serde::Deserialize;

fn phase_name(ctx: &Ctx, p: Phase) -> &'static str {
    match p {
        Phase::Grouping => ctx.t("grouping", "集約中"),
        Phase::Calling => ctx.t("calling", "発信中"),
        Phase::Waiting => ctx.t("waiting", "待機中"),
        Phase::Suppressed => ctx.t("suppressed", "抑制中"),
        Phase::Acknowledged => ctx.t("acknowledged", "応答済み"),
        Phase::Resolved => ctx.t("resolved", "解決"),
        Phase::Silenced => ctx.t("silenced", "サイレンス"),
        Phase::Exhausted => ctx.t("exhausted", "全員不応答"),
    }
}

pub fn state(ctx: &Ctx, p: Phase) -> Markup {
    html! { span class={ "state state-" (p.as_str()) } data-state=(p.as_str()) { (phase_name(ctx, p)) } }
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    lang: Option<String>,
    state: Option<String>,
    policy: Option<String>,
}

pub async fn list(
    State(c): State<Console>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    let ctx = Ctx::new(&c, &headers, q.lang.as_deref());
    let phase = q
        .state
        .as_deref()
        .and_then(|s| Phase::ALL.into_iter().find(|p| p.as_str() == s));
    let policy = q.policy.as_deref().filter(|p| !p.is_empty());
    let list = match c
        .engine()
        .store()
        .incidents(&IncidentFilter {
            since: None,
            phase,
            limit: Some(if policy.is_some() { 2000 } else { 200 }),
        })
        .await
    {
        Ok(l) => l,
        Err(e) => return trouble(&ctx, e),
    };
    let list: Vec<&Incident> = list
        .iter()
        .filter(|i| policy.is_none_or(|p| i.policy == p))
        .take(200)
        .collect();
    let policies: Vec<String> = ctx
        .roster
        .as_ref()
        .map(|r| r.policies.iter().map(|p| p.name.clone()).collect())
        .unwrap_or_default();
    let body = html! {
        h1 { (ctx.t("Incidents", "インシデント")) }
        form #filter method="get" action="/console/incidents" {
            input type="hidden" name="lang" value=(ctx.lang.code());
            label { (ctx.t("State", "状態")) " "
                select name="state" {
                    option value="" { (ctx.t("any", "すべて")) }
                    @for p in Phase::ALL {
                        option value=(p.as_str()) selected[phase == Some(p)] { (phase_name(&ctx, p)) }
                    }
                }
            }
            " "
            label { (ctx.t("Policy", "ポリシー")) " "
                select name="policy" {
                    option value="" { (ctx.t("any", "すべて")) }
                    @for p in &policies {
                        option value=(p) selected[policy == Some(p.as_str())] { (p) }
                    }
                }
            }
            " " button type="submit" { (ctx.t("Filter", "絞り込み")) }
        }
        @if list.is_empty() {
            p.muted #none { (ctx.t("No incidents.", "インシデントはありません。")) }
        } @else {
            table #incidents {
                thead { tr {
                    th { "ID" } th { (ctx.t("Opened", "発生")) } th { (ctx.t("System", "システム")) }
                    th { (ctx.t("Policy", "ポリシー")) } th { (ctx.t("State", "状態")) }
                    th { (ctx.t("Alerts", "アラート")) } th { (ctx.t("Calls", "発信")) } th { (ctx.t("Acknowledged by", "応答者")) }
                } }
                tbody {
                    @for i in &list {
                        tr.incident data-id=(i.id) data-policy=(i.policy) {
                            td { a href=(ctx.href(&format!("/console/incidents/{}", i.id))) { (i.id) } }
                            td { (ctx.time(i.opened_at)) }
                            td { (crate::timeline::incident_label(i)) }
                            td { (i.policy) }
                            td { (state(&ctx, i.phase)) }
                            td { (i.alerts_received) }
                            td { (i.calls_placed) }
                            td { (i.acked_by.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
    };
    ctx.page(ctx.t("Incidents", "インシデント"), "incidents", body)
        .into_response()
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    lang: Option<String>,
    done: Option<String>,
}

pub async fn show(
    State(c): State<Console>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Response {
    let ctx = Ctx::new(&c, &headers, q.lang.as_deref());
    let store = c.engine().store();
    let inc = match store.load_incident(&id).await {
        Ok(Some(i)) => i.incident,
        Ok(None) => {
            let body = html! { h1 { (ctx.t("No such incident", "インシデントがありません")) } p.problem { (id) } };
            return (StatusCode::NOT_FOUND, ctx.page("404", "incidents", body)).into_response();
        }
        Err(e) => return trouble(&ctx, e),
    };
    let contacts = match store.contacts_for_incident(&id).await {
        Ok(c) => c,
        Err(e) => return trouble(&ctx, e),
    };
    let calls = calls(&inc, &contacts);
    let body = html! {
        h1 { (ctx.t("Incident ", "インシデント ")) (inc.id) " " (state(&ctx, inc.phase)) }
        @if let Some(done) = q.done.as_deref() {
            p.ok #done role="status" { (ctx.t("Done: ", "実行しました: ")) (done) }
        }
        p {
            (crate::timeline::incident_label(&inc)) " · " (ctx.t("policy ", "ポリシー ")) (inc.policy) " · "
            (inc.alerts_received) (ctx.t(" alert(s) · ", " 件のアラート · ")) (inc.calls_placed) (ctx.t(" call(s)", " 回の発信"))
            @if let Some(by) = &inc.acked_by { " · " (ctx.t("acknowledged by ", "応答: ")) strong #acked-by { (by) } }
        }
        (picture(&ctx, &inc, &calls))
        h2 { (ctx.t("Calls", "発信")) }
        (calls_table(&ctx, &calls))
        h2 { (ctx.t("Timeline", "経過")) }
        ol #timeline {
            @for h in &inc.history {
                li data-kind=(kind_name(&h.kind)) {
                    (ctx.time(h.at)) " " (crate::timeline::describe(&h.kind))
                }
            }
        }
        @if !inc.phase.is_closed() {
            h2 { (ctx.t("Act on it", "操作")) }
            (act_form(&ctx, &inc))
        }
    };
    ctx.page(
        &format!("{} {}", ctx.t("Incident", "インシデント"), inc.id),
        "incidents",
        body,
    )
    .into_response()
}

fn kind_name(k: &HistoryKind) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.get("event").and_then(|k| k.as_str()).map(str::to_string))
        .unwrap_or_else(|| "entry".into())
}

/// One call as the page shows it: what the incident decided joined with
/// the contact row the store kept.
struct CallView {
    call_id: String,
    person: String,
    phone: String,
    step: u32,
    placed_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    outcome: Option<Outcome>,
    disconnect_reason: Option<String>,
    stopped: bool,
}

fn calls(inc: &Incident, contacts: &[ContactRow]) -> Vec<CallView> {
    let mut out: Vec<CallView> = Vec::new();
    for h in &inc.history {
        match &h.kind {
            HistoryKind::CallPlaced {
                call_id,
                person,
                phone,
                step,
                ..
            } => {
                let row = contacts.iter().find(|r| &r.call_id == call_id);
                out.push(CallView {
                    call_id: call_id.clone(),
                    person: person.clone(),
                    phone: phone.clone(),
                    step: *step,
                    placed_at: h.at,
                    ended_at: row.and_then(|r| r.ended_at),
                    outcome: row.and_then(|r| r.outcome),
                    disconnect_reason: row.and_then(|r| r.disconnect_reason.clone()),
                    stopped: false,
                });
            }
            HistoryKind::CallOutcome {
                call_id,
                outcome,
                disconnect_reason,
                ..
            } => {
                if let Some(v) = out.iter_mut().find(|v| &v.call_id == call_id) {
                    v.outcome = v.outcome.or(Some(*outcome));
                    v.ended_at = v.ended_at.or(Some(h.at));
                    if v.disconnect_reason.is_none() {
                        v.disconnect_reason = disconnect_reason.clone();
                    }
                }
            }
            HistoryKind::CallStopped { call_id, .. } => {
                if let Some(v) = out.iter_mut().find(|v| &v.call_id == call_id) {
                    v.stopped = true;
                    v.ended_at = v.ended_at.or(Some(h.at));
                }
            }
            _ => {}
        }
    }
    out
}

/// The roster's name for a person id, else the id.
fn display_name(ctx: &Ctx, id: &str) -> String {
    ctx.roster
        .as_ref()
        .and_then(|r| r.person(id))
        .map(|p| p.name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| id.to_string())
}

/// Whether a human answered, as far as the outcome tells.
fn answered(ctx: &Ctx, v: &CallView) -> &'static str {
    match v.outcome {
        Some(
            Outcome::Acknowledged | Outcome::Silenced { .. } | Outcome::Declined | Outcome::HungUp,
        ) => ctx.t("yes", "はい"),
        Some(Outcome::Unreachable | Outcome::Unknown) => ctx.t(
            "no (no answer, busy or voicemail)",
            "いいえ（不在・話し中・留守電）",
        ),
        Some(Outcome::CallFailed | Outcome::Misconfigured) => {
            ctx.t("no (call failed)", "いいえ（発信失敗）")
        }
        None if v.stopped => ctx.t("hung up by ringdown", "ringdown が切断"),
        None => ctx.t("ringing…", "呼び出し中…"),
    }
}

/// The keys the contact flow heard.
fn pressed(ctx: &Ctx, o: Option<Outcome>) -> String {
    match o {
        Some(Outcome::Acknowledged) => format!("1 ({})", ctx.t("acknowledge", "応答")),
        Some(Outcome::Declined) => format!("2 ({})", ctx.t("pass to the next person", "次の人へ")),
        Some(Outcome::Silenced { hours }) => {
            format!("9 → {hours} h ({})", ctx.t("silence", "サイレンス"))
        }
        Some(_) => ctx.t("nothing", "なし").to_string(),
        None => String::new(),
    }
}

fn calls_table(ctx: &Ctx, calls: &[CallView]) -> Markup {
    html! {
        @if calls.is_empty() {
            p.muted { (ctx.t("No call placed.", "発信はありません。")) }
        } @else {
            table #calls {
                thead { tr {
                    th { (ctx.t("Ringing from", "呼び出し開始")) } th { (ctx.t("Who", "相手")) } th { (ctx.t("Number", "番号")) }
                    th { (ctx.t("Step", "ステップ")) } th { (ctx.t("Answered", "応答")) } th { (ctx.t("Pressed", "押したキー")) }
                    th { (ctx.t("Outcome", "結果")) } th { "DisconnectReason" } th { (ctx.t("Ended", "終了")) }
                } }
                tbody {
                    @for v in calls {
                        tr.call data-person=(v.person) data-outcome=(v.outcome.map(|o| o.as_str()).unwrap_or("")) {
                            td { (ctx.time(v.placed_at)) }
                            td.who { strong.name { (display_name(ctx, &v.person)) } " " span.muted { "(" (v.person) ")" } }
                            td { code { (v.phone) } }
                            td { (v.step) }
                            td.answered { (answered(ctx, v)) }
                            td.pressed { (pressed(ctx, v.outcome)) }
                            td.outcome { (v.outcome.map(|o| o.as_str()).unwrap_or(if v.stopped { "STOPPED" } else { "" })) }
                            td { (v.disconnect_reason.as_deref().unwrap_or("")) }
                            td { @if let Some(e) = v.ended_at { (ctx.clock(e)) } }
                        }
                    }
                }
            }
        }
    }
}

fn outcome_color(v: &CallView) -> &'static str {
    match v.outcome {
        Some(Outcome::Acknowledged | Outcome::Silenced { .. }) => "#18794e",
        Some(Outcome::Declined) => "#f5a623",
        Some(Outcome::Unreachable | Outcome::HungUp | Outcome::Unknown) => "#a4000f",
        Some(Outcome::CallFailed | Outcome::Misconfigured) => "#7a3cff",
        None if v.stopped => "#9aa4ae",
        None => "#4c78a8",
    }
}

/// The incident as a picture: a time axis from the first alert to the
/// close (or now), alerts as dots, each call as a bar from ringing to its
/// end, escalations and silences as marks.
fn picture(ctx: &Ctx, inc: &Incident, calls: &[CallView]) -> Markup {
    const W: f64 = 1100.0;
    const LEFT: f64 = 130.0;
    const ROW: f64 = 26.0;
    let t0 = inc.opened_at;
    let end = inc
        .closed_at
        .or_else(|| inc.history.last().map(|h| h.at))
        .unwrap_or(ctx.now)
        .max(calls.iter().filter_map(|c| c.ended_at).max().unwrap_or(t0))
        .max(t0 + chrono::Duration::seconds(60));
    let span = (end - t0).num_milliseconds().max(1) as f64;
    let x =
        |t: DateTime<Utc>| LEFT + ((t - t0).num_milliseconds() as f64 / span) * (W - LEFT - 10.0);
    let h = 40.0 + ROW * (calls.len() as f64 + 2.0);
    let marks: Vec<(DateTime<Utc>, &'static str, String)> = inc
        .history
        .iter()
        .filter_map(|e| {
            let (sym, text) = match &e.kind {
                HistoryKind::Escalated { .. } | HistoryKind::AckTimedOut { .. } => {
                    ("▲", crate::timeline::describe(&e.kind))
                }
                HistoryKind::SilenceCreated { .. } | HistoryKind::Suppressed { .. } => {
                    ("◆", crate::timeline::describe(&e.kind))
                }
                HistoryKind::Acknowledged { .. }
                | HistoryKind::ResolvedBy { .. }
                | HistoryKind::Resolved
                | HistoryKind::Exhausted => ("■", crate::timeline::describe(&e.kind)),
                _ => return None,
            };
            Some((e.at, sym, text))
        })
        .collect();
    html! {
        svg #incident-picture role="img" width=(W) height=(h) viewBox={ "0 0 " (W) " " (h) } xmlns="http://www.w3.org/2000/svg" {
            title { (ctx.t("Incident timeline", "インシデントの経過")) }
            line x1=(LEFT) x2=(W - 10.0) y1="24" y2="24" stroke="#66707a" {}
            @for k in 0..=4 {
                @let t = t0 + chrono::Duration::milliseconds((span * k as f64 / 4.0) as i64);
                text x=(x(t)) y="14" font-size="10" text-anchor="middle" fill="#444" {
                    (crate::timeline::offset(t0, t))
                }
            }
            text x="4" y="42" font-size="11" font-weight="600" { (ctx.t("alerts", "アラート")) }
            @for e in inc.history.iter().filter(|e| matches!(e.kind, HistoryKind::Alerts { .. } | HistoryKind::Opened { .. })) {
                circle.alert cx=(x(e.at)) cy="38" r="5" fill="#4c78a8" { title { (crate::timeline::describe(&e.kind)) } }
            }
            @for (i, v) in calls.iter().enumerate() {
                @let y = 40.0 + ROW * (i as f64 + 1.0);
                @let (a, b) = (x(v.placed_at), x(v.ended_at.unwrap_or(ctx.now.min(end))));
                text x="4" y=(y + 14.0) font-size="11" { (display_name(ctx, &v.person)) }
                g.call-bar data-person=(v.person) {
                    rect x=(a) y=(y + 2.0) width=((b - a).max(4.0)) height=(ROW - 8.0) rx="3" fill=(outcome_color(v)) {
                        title { (v.person) " " (v.phone) " · " (v.outcome.map(|o| o.as_str()).unwrap_or("")) " " (v.disconnect_reason.as_deref().unwrap_or("")) }
                    }
                    text x=(b + 4.0) y=(y + 14.0) font-size="10" fill="#1d232a" {
                        (v.outcome.map(|o| o.as_str()).unwrap_or(if v.stopped { "STOPPED" } else { "…" }))
                        @let keys = pressed(ctx, v.outcome);
                        @if !keys.is_empty() && v.outcome.is_some_and(|o| !matches!(o, Outcome::Unreachable | Outcome::HungUp | Outcome::Unknown | Outcome::CallFailed | Outcome::Misconfigured)) {
                            " · " (ctx.t("pressed ", "キー ")) (keys)
                        }
                    }
                }
            }
            @let y = 40.0 + ROW * (calls.len() as f64 + 1.0);
            @for (at, sym, text) in &marks {
                text.mark x=(x(*at)) y=(y + 14.0) font-size="13" text-anchor="middle" fill="#1d232a" { (sym) title { (text) } }
            }
        }
    }
}

fn act_form(ctx: &Ctx, inc: &Incident) -> Markup {
    html! {
        form #act method="post" action=(format!("/console/incidents/{}/act", inc.id)) {
            input type="hidden" name="lang" value=(ctx.lang.code());
            label { (ctx.t("Your name", "名前")) " " input type="text" name="by" required size="12"; }
            " "
            label { (ctx.t("Action token", "操作トークン")) " " input type="password" name="token" required; }
            " "
            button type="submit" name="action" value="ack" { (ctx.t("Acknowledge", "応答する")) }
            " "
            button type="submit" name="action" value="escalate" { (ctx.t("Escalate now", "次の人へ")) }
            " "
            button type="submit" name="action" value="resolve" { (ctx.t("Resolve", "解決にする")) }
            " "
            label { (ctx.t("or silence for", "またはサイレンス")) " " input type="number" name="hours" min="1" max="72" size="3"; " h " }
            button type="submit" name="action" value="silence" { (ctx.t("Silence", "サイレンス")) }
        }
        p.muted { (ctx.t(
            "The token is the one `ringdown incident ack` uses: the ingest token, or on the embedded default the file beside the database (<sqlite_path>.token).",
            "トークンは `ringdown incident ack` と同じもの（インジェスト用トークン、または組み込み構成ではデータベース横のファイル <sqlite_path>.token）です。")) }
    }
}

#[derive(Deserialize)]
pub struct ActForm {
    lang: Option<String>,
    action: String,
    by: String,
    token: String,
    hours: Option<String>,
}

pub async fn act(
    State(c): State<Console>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<ActForm>,
) -> Response {
    let ctx = Ctx::new(&c, &headers, f.lang.as_deref());
    let refuse = |status: StatusCode, why: String| {
        let body = html! {
            h1 { (ctx.t("Not done", "実行できませんでした")) }
            p.problem role="alert" { (why) }
            p { a href=(ctx.href(&format!("/console/incidents/{id}"))) { (ctx.t("Back to the incident", "インシデントへ戻る")) } }
        };
        (
            status,
            ctx.page(ctx.t("Not done", "実行できませんでした"), "incidents", body),
        )
            .into_response()
    };
    if !ringdown_local::same_secret(c.action_token.as_bytes(), f.token.trim().as_bytes()) {
        tracing::warn!(incident = %id, "console action refused: wrong token");
        return refuse(
            StatusCode::UNAUTHORIZED,
            ctx.t("That is not the action token.", "操作トークンが違います。")
                .into(),
        );
    }
    let Some(action) = Action::parse(&f.action) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            format!("unknown action {:?}", f.action),
        );
    };
    let hours = match f.hours.as_deref().map(str::trim).filter(|h| !h.is_empty()) {
        None => None,
        Some(h) => match h.parse::<u32>() {
            Ok(h) => Some(h),
            Err(_) => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    format!("hours {h:?} is not a number"),
                )
            }
        },
    };
    let req = ActionRequest {
        by: f.by.trim().to_string(),
        hours,
    };
    let ev = match event(action, &req) {
        Ok(e) => e,
        Err(why) => return refuse(StatusCode::BAD_REQUEST, why),
    };
    match c.engine().store().load_incident(&id).await {
        Ok(Some(inc)) if inc.phase.is_closed() => {
            return refuse(
                StatusCode::CONFLICT,
                format!("{id}: {}", phase_name(&ctx, inc.phase)),
            )
        }
        Ok(Some(_)) => {}
        Ok(None) => return refuse(StatusCode::NOT_FOUND, id.clone()),
        Err(e) => return refuse(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
    match c.engine().apply(&id, ev).await {
        Ok(Some(inc)) => {
            tracing::info!(incident = %id, action = action.as_str(), by = %req.by, state = inc.phase.as_str(), "incident acted on from the console");
            Redirect::to(&format!(
                "/console/incidents/{id}?lang={}&done={}",
                ctx.lang.code(),
                action.as_str()
            ))
            .into_response()
        }
        Ok(None) => refuse(StatusCode::CONFLICT, format!("{id}: closed meanwhile")),
        Err(e) => refuse(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use ringdown_core::escalation::HistoryEntry;

    fn placed(call_id: &str, person: &str) -> HistoryKind {
        HistoryKind::CallPlaced {
            call_id: call_id.into(),
            person: person.into(),
            phone: "+81******0001".into(),
            step: 1,
            attempt: 1,
            pass: 0,
        }
    }

    #[test]
    fn a_call_joins_its_contact_row_and_the_outcome_in_the_history() {
        let t = Utc.with_ymd_and_hms(2026, 12, 1, 18, 0, 0).unwrap();
        let roster = ringdown_core::roster::Roster::from_yaml(
            "timezone: UTC\npeople: { ann: { phones: [{ number: \"+819012340001\" }] } }\npolicies: [{ name: default, match: {}, steps: [{ targets: [person:ann] }] }]\n",
        )
        .unwrap();
        let mut inc = Incident::open("i", "g", &roster.policies[0], Default::default(), t);
        let entry = |s: i64, kind| HistoryEntry {
            at: t + chrono::Duration::seconds(s),
            kind,
        };
        inc.history = vec![
            entry(0, placed("c1", "ann")),
            entry(
                40,
                HistoryKind::CallOutcome {
                    call_id: "c1".into(),
                    person: "ann".into(),
                    outcome: Outcome::Unreachable,
                    disconnect_reason: Some("CONTACT_FLOW_DISCONNECT".into()),
                },
            ),
            entry(41, placed("c2", "bob")),
            entry(
                60,
                HistoryKind::CallStopped {
                    call_id: "c2".into(),
                    person: "bob".into(),
                    why: "acknowledged by ann".into(),
                },
            ),
        ];
        let row = ContactRow {
            contact_id: "k1".into(),
            call_id: "c1".into(),
            incident_id: "i".into(),
            person: "ann".into(),
            phone_masked: "+81******0001".into(),
            placed_at: t,
            ended_at: Some(t + chrono::Duration::seconds(35)),
            outcome: Some(Outcome::Unreachable),
            disconnect_reason: Some("CONTACT_FLOW_DISCONNECT".into()),
        };
        let v = calls(&inc, &[row]);
        assert_eq!(v.len(), 2);
        assert_eq!(
            v[0].ended_at,
            Some(t + chrono::Duration::seconds(35)),
            "the contact row's end wins"
        );
        assert_eq!(v[0].outcome, Some(Outcome::Unreachable));
        assert!(v[1].stopped && v[1].outcome.is_none());
        assert_eq!(v[1].ended_at, Some(t + chrono::Duration::seconds(60)));
    }
}
