//! Report: the month's figures and the chart `ringdown report` draws.

use super::page::Ctx;
use super::{trouble, Console};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, PreEscaped};
use ringdown_core::report::Stats;
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct ReportQuery {
    lang: Option<String>,
    /// `YYYY-MM`; this month in the roster's zone when absent.
    month: Option<String>,
}

fn pct(v: Option<f64>) -> String {
    v.map(|p| format!("{p:.0}%")).unwrap_or_else(|| "–".into())
}

fn secs(v: Option<f64>) -> String {
    v.map(|s| format!("{s:.0} s")).unwrap_or_else(|| "–".into())
}

fn stats_cells(s: &Stats) -> Markup {
    html! {
        td { (s.calls) } td { (s.answered) } td { (pct(s.answer_rate_pct)) } td { (s.acknowledged) }
        td { (s.silenced) } td { (s.declined) } td { (s.unreachable) } td { (s.failed) }
        td { (secs(s.median_time_to_ack_secs)) } td { (secs(s.p90_time_to_ack_secs)) }
    }
}

pub async fn page(
    State(c): State<Console>,
    headers: HeaderMap,
    Query(q): Query<ReportQuery>,
) -> Response {
    let ctx = Ctx::new(&c, &headers, q.lang.as_deref());
    let month = q
        .month
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| ctx.now.with_timezone(&ctx.tz).format("%Y-%m").to_string());
    let report = match crate::report::build(c.engine().store().as_ref(), &month).await {
        Ok(r) => r,
        Err(e) => return trouble(&ctx, e),
    };
    let head = html! {
        th { (ctx.t("Calls", "発信")) } th { (ctx.t("Answered", "応答")) } th { (ctx.t("Answer rate", "応答率")) }
        th { (ctx.t("Acknowledged", "承認")) } th { (ctx.t("Silenced", "サイレンス")) } th { (ctx.t("Passed on", "次へ")) }
        th { (ctx.t("Unreachable", "不在")) } th { (ctx.t("Failed", "失敗")) }
        th { (ctx.t("Median to ack", "応答まで中央値")) } th { (ctx.t("p90 to ack", "応答まで p90")) }
    };
    let body = html! {
        h1 { (ctx.t("Report for ", "月次レポート ")) (report.month) }
        form method="get" action="/console/report" {
            input type="hidden" name="lang" value=(ctx.lang.code());
            label { (ctx.t("Month", "月")) " " input type="month" name="month" value=(report.month); }
            " " button type="submit" { (ctx.t("Show", "表示")) }
        }
        p #incident-count { (report.incidents) (ctx.t(" incident(s) opened", " 件のインシデント")) }
        table #overall {
            thead { tr { th {} (head) } }
            tbody {
                tr { th { (ctx.t("All", "全体")) } (stats_cells(&report.overall)) }
                @for (person, s) in &report.people {
                    tr.person data-person=(person) { th { (person) } (stats_cells(s)) }
                }
            }
        }
        @if !report.exhausted_incidents.is_empty() {
            h2 { (ctx.t("Nobody acknowledged", "誰も応答しなかったインシデント")) }
            ul { @for id in &report.exhausted_incidents { li { a href=(ctx.href(&format!("/console/incidents/{id}"))) { (id) } } } }
        }
        h2 { (ctx.t("Chart", "グラフ")) }
        figure #chart { (PreEscaped(crate::report::to_svg(&report))) }
    };
    ctx.page(ctx.t("Report", "レポート"), "report", body)
        .into_response()
}
