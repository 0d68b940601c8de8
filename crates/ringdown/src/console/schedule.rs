//! Schedule: the next 14 days per rotation as a picture (shifts, hand-offs,
//! overrides, holidays, business hours, clock changes) and as tables, with
//! an iCalendar feed per rotation and per person.

use super::page::{Ctx, LangQuery};
use super::Console;
use crate::schedule::{schedule, to_ics, Schedule, Shift};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use maud::{html, Markup};
use ringdown_core::roster::rotation::local_to_utc;
use ringdown_core::roster::{Roster, Window};

const DAYS: i64 = 14;
/// What a subscribed calendar holds: a week back, three months ahead.
const FEED_BACK_DAYS: i64 = 7;
const FEED_AHEAD_DAYS: i64 = 90;

/// Local midnight of the day `t` falls on.
fn midnight(roster: &Roster, date: NaiveDate) -> DateTime<Utc> {
    local_to_utc(
        roster.timezone,
        date.and_hms_opt(0, 0, 0).expect("midnight"),
    )
    .unwrap_or_else(|| date.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
}

pub async fn page(
    State(c): State<Console>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Response {
    let ctx = Ctx::new(&c, &headers, q.lang.as_deref());
    let Some(roster) = ctx.roster.clone() else {
        return ctx
            .no_roster(ctx.t("Schedule", "スケジュール"), "schedule")
            .into_response();
    };
    let today = ctx.now.with_timezone(&roster.timezone).date_naive();
    let from = midnight(&roster, today);
    let to = midnight(&roster, today + Duration::days(DAYS));
    let s = schedule(&roster, from, to);
    let body = html! {
        h1 { (ctx.t("The next 14 days", "今後14日間")) }
        (picture(&ctx, &roster, &s, from, to))
        @for rot in roster.rotations.keys() {
            (rotation_table(&ctx, rot, &s))
        }
        h2 { (ctx.t("Holidays", "祝日・休日")) }
        @if s.holidays.is_empty() {
            p.muted { (ctx.t("No holiday in these 14 days.", "この14日間に休日はありません。")) }
        } @else {
            ul #holidays {
                @for h in &s.holidays {
                    li.holiday data-date=(h.date) {
                        strong { (h.date.format("%Y-%m-%d (%a)")) } " " (h.calendar) ": " (h.note) " · "
                        a.ask href=(ctx.href(&format!("/console/now?at={}T03:00", h.date))) {
                            (ctx.t("who is called at 03:00 that day", "この日の03:00に電話する相手"))
                        }
                    }
                }
            }
        }
        h2 { (ctx.t("Clock changes", "時刻の切り替え（夏時間）")) }
        @if s.offset_changes.is_empty() {
            p.muted #no-clock-change { (ctx.t("None in these 14 days in ", "この14日間はありません: ")) (s.timezone) }
        } @else {
            ul #clock-changes {
                @for (at, off) in &s.offset_changes {
                    li { (ctx.time(*at)) " → UTC" (off) }
                }
            }
        }
        h2 { (ctx.t("Business hours", "業務時間")) }
        ul {
            @for (w, who) in windows(&roster) {
                li { (w.describe()) ": " (who.join(", ")) }
            }
        }
        h2 { (ctx.t("Subscribe", "カレンダー購読")) }
        p {
            @for rot in roster.rotations.keys() {
                a.ics href={ "/console/schedule/rotation/" (super::page::url_encode(rot)) ".ics" } { (rot) ".ics" } " "
            }
            @for (id, p) in &roster.people {
                a.ics href={ "/console/schedule/person/" (super::page::url_encode(id)) ".ics" } {
                    (if p.name.is_empty() { id.as_str() } else { p.name.as_str() }) ".ics"
                } " "
            }
        }
    };
    ctx.page(ctx.t("Schedule", "スケジュール"), "schedule", body)
        .into_response()
}

/// Every distinct time window a phone or person is limited to, with whose.
fn windows(roster: &Roster) -> Vec<(Window, Vec<String>)> {
    let mut out: Vec<(Window, Vec<String>)> = Vec::new();
    for (id, p) in &roster.people {
        let ws = p
            .phones
            .iter()
            .filter_map(|r| r.when.clone())
            .chain(p.only.clone());
        for w in ws {
            match out.iter_mut().find(|(x, _)| *x == w) {
                Some((_, who)) if !who.contains(id) => who.push(id.clone()),
                Some(_) => {}
                None => out.push((w, vec![id.clone()])),
            }
        }
    }
    out
}

/// The next hand-off: the first shift after now that puts someone else on
/// call (a one-person rotation's new shift hands nothing over), with the
/// shift it ends.
fn next_handoff<'a>(shifts: &[&'a Shift], now: DateTime<Utc>) -> Option<(&'a Shift, &'a Shift)> {
    shifts
        .windows(2)
        .find(|w| w[1].from > now && w[1].person != w[0].person)
        .map(|w| (w[0], w[1]))
}

/// `jp-business 09:00-18:00`: short enough for the picture's margin.
fn window_label(w: &Window) -> String {
    match (&w.calendar, &w.hours) {
        (None, None) => "any time".into(),
        (Some(c), None) => c.clone(),
        (None, Some(h)) => h.to_string(),
        (Some(c), Some(h)) => format!("{c} {h}"),
    }
}

fn rotation_table(ctx: &Ctx, rot: &str, s: &Schedule) -> Markup {
    let shifts: Vec<&Shift> = s.shifts.iter().filter(|x| x.rotation == rot).collect();
    html! {
        section.card.rotation data-rotation=(rot) {
            h2 { (ctx.t("Rotation ", "ローテーション ")) (rot) }
            @match next_handoff(&shifts, ctx.now) {
                Some((before, after)) => p.next-handoff id={ "next-handoff-" (rot) } data-at=(after.from.to_rfc3339()) {
                    (ctx.t("Next hand-off: ", "次の交代: ")) strong { (ctx.time(after.from)) } " — "
                    span.from { (before.name) } " → " strong.to { (after.name) }
                },
                None => p.muted { (ctx.t("No hand-off in these 14 days.", "この14日間に交代はありません。")) },
            }
            table {
                thead { tr { th { (ctx.t("From", "開始")) } th { (ctx.t("To", "終了")) } th { (ctx.t("On call", "担当")) } th { (ctx.t("Why", "理由")) } } }
                tbody {
                    @for sh in &shifts {
                        tr.shift.next[sh.from <= ctx.now && ctx.now < sh.to] data-person=(sh.person) {
                            td { (ctx.time(sh.from)) } td { (ctx.time(sh.to)) } td { (sh.name) } td.muted { (sh.reason) }
                        }
                    }
                }
            }
        }
    }
}

const PALETTE: [&str; 8] = [
    "#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#72b7b2", "#9d755d", "#bab0ac",
];

/// The 14 days as one SVG: a row per rotation, a row per business-hours
/// window, holidays shaded, clock changes and now marked.
fn picture(
    ctx: &Ctx,
    roster: &Roster,
    s: &Schedule,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Markup {
    const W: f64 = 1140.0;
    const LEFT: f64 = 170.0;
    const TOP: f64 = 34.0;
    const ROW: f64 = 34.0;
    let span = (to - from).num_seconds().max(1) as f64;
    let x = |t: DateTime<Utc>| LEFT + ((t - from).num_seconds() as f64 / span) * (W - LEFT - 6.0);
    let wins = windows(roster);
    let rows = roster.rotations.len() + wins.len();
    let h = TOP + ROW * rows as f64 + 8.0;
    let people: Vec<&String> = roster.people.keys().collect();
    let color = |p: &str| PALETTE[people.iter().position(|x| *x == p).unwrap_or(0) % PALETTE.len()];
    let tz = roster.timezone;
    let days: Vec<NaiveDate> = (0..DAYS)
        .map(|d| from.with_timezone(&tz).date_naive() + Duration::days(d))
        .collect();
    html! {
        svg #schedule-picture role="img" width=(W) height=(h) viewBox={ "0 0 " (W) " " (h) } xmlns="http://www.w3.org/2000/svg" {
            title { (ctx.t("On-call schedule, next 14 days", "今後14日間のオンコール")) }
            @for d in &days {
                @let (a, b) = (x(midnight(roster, *d)), x(midnight(roster, *d + Duration::days(1))));
                @let holiday = s.holidays.iter().find(|hd| hd.date == *d);
                @if let Some(hd) = holiday {
                    rect.holiday x=(a) y="0" width=(b - a) height=(h) fill="#fde2e1" { title { (hd.note) } }
                } @else if matches!(chrono::Datelike::weekday(d), chrono::Weekday::Sat | chrono::Weekday::Sun) {
                    rect x=(a) y="0" width=(b - a) height=(h) fill="#eef1f4" {}
                }
                line x1=(a) x2=(a) y1="0" y2=(h) stroke="#c9d0d8" stroke-width="0.5" {}
                text x=(a + 3.0) y="12" font-size="10" fill="#444" { (d.format("%m/%d %a")) }
                @if holiday.is_some() { text x=(a + 3.0) y="25" font-size="10" fill="#a4000f" { (ctx.t("holiday", "祝日")) } }
            }
            @for (i, rot) in roster.rotations.keys().enumerate() {
                @let y = TOP + ROW * i as f64;
                text x="4" y=(y + 20.0) font-size="12" font-weight="600" { (rot) }
                @for (sh, until) in merged(s, rot) {
                    @let (a, b) = (x(sh.from), x(until));
                    @let over = sh.reason.contains("override");
                    g.shift data-person=(sh.person) {
                        rect x=(a) y=(y + 4.0) width=((b - a).max(1.0)) height=(ROW - 10.0) rx="3"
                            fill=(color(&sh.person)) opacity=(if over { "1" } else { "0.75" })
                            stroke=(if over { "#1d232a" } else { "none" }) stroke-dasharray="4 2" {
                            title { (sh.name) " · " (sh.reason) }
                        }
                        @if b - a > 40.0 {
                            text x=(a + 4.0) y=(y + 21.0) font-size="11" fill="#fff" { (sh.name) @if over { " ✎" } }
                        }
                    }
                }
            }
            @for (j, (w, _)) in wins.iter().enumerate() {
                @let y = TOP + ROW * (roster.rotations.len() + j) as f64;
                text x="4" y=(y + 16.0) font-size="10" { (window_label(w)) title { (w.describe()) } }
                @for d in &days {
                    @if let Some((a, b)) = window_span(roster, w, *d) {
                        rect x=(x(a)) y=(y + 8.0) width=((x(b) - x(a)).max(1.0)) height="12" fill="#18794e" opacity="0.5" {}
                    }
                }
            }
            @for (at, off) in &s.offset_changes {
                line x1=(x(*at)) x2=(x(*at)) y1="0" y2=(h) stroke="#7a3cff" stroke-dasharray="5 3" {}
                text x=(x(*at) + 3.0) y=(h - 4.0) font-size="10" fill="#7a3cff" { "UTC" (off) }
            }
            @if ctx.now >= from && ctx.now < to {
                line #now-marker x1=(x(ctx.now)) x2=(x(ctx.now)) y1="0" y2=(h) stroke="#e00" stroke-width="2" {}
            }
        }
    }
}

/// A rotation's shifts with the same person's back-to-back shifts drawn as
/// one bar (a one-person daily rotation is one bar, not fourteen).
fn merged<'a>(s: &'a Schedule, rot: &str) -> Vec<(&'a Shift, DateTime<Utc>)> {
    let mut out: Vec<(&Shift, DateTime<Utc>)> = Vec::new();
    for sh in s.shifts.iter().filter(|x| x.rotation == rot) {
        match out.last_mut() {
            Some((prev, until)) if prev.person == sh.person && *until == sh.from => *until = sh.to,
            _ => out.push((sh, sh.to)),
        }
    }
    out
}

/// The business-hours span of window `w` starting on day `d`, if any.
fn window_span(
    roster: &Roster,
    w: &Window,
    d: NaiveDate,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    if let Some(cal) = w.calendar.as_ref().and_then(|c| roster.calendars.get(c)) {
        if !cal.is_business_day(d) {
            return None;
        }
    }
    let start = midnight(roster, d);
    match &w.hours {
        None => Some((start, midnight(roster, d + Duration::days(1)))),
        Some(h) => {
            let at = |m: u32| {
                let day = if m >= 1440 { d + Duration::days(1) } else { d };
                local_to_utc(
                    roster.timezone,
                    day.and_hms_opt(0, 0, 0)? + Duration::minutes((m % 1440) as i64),
                )
            };
            let a = at(h.start)?;
            let b = if h.is_overnight() {
                local_to_utc(
                    roster.timezone,
                    (d + Duration::days(1)).and_hms_opt(0, 0, 0)? + Duration::minutes(h.end as i64),
                )?
            } else {
                at(h.end)?
            };
            Some((a, b))
        }
    }
}

fn feed(c: &Console, keep: impl Fn(&Shift) -> bool) -> Response {
    let Some(roster) = c.engine().roster() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "no roster loaded").into_response();
    };
    let now = c.engine().now();
    let mut s = schedule(
        &roster,
        now - Duration::days(FEED_BACK_DAYS),
        now + Duration::days(FEED_AHEAD_DAYS),
    );
    s.shifts.retain(|x| keep(x));
    (
        [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
        to_ics(&s, now),
    )
        .into_response()
}

fn strip_ics(name: &str) -> &str {
    name.strip_suffix(".ics").unwrap_or(name)
}

pub async fn ics_rotation(State(c): State<Console>, Path(name): Path<String>) -> Response {
    let name = strip_ics(&name).to_string();
    if !c
        .engine()
        .roster()
        .is_some_and(|r| r.rotations.contains_key(&name))
    {
        return (StatusCode::NOT_FOUND, format!("no rotation {name:?}")).into_response();
    }
    feed(&c, |s| s.rotation == name)
}

pub async fn ics_person(State(c): State<Console>, Path(id): Path<String>) -> Response {
    let id = strip_ics(&id).to_string();
    if !c
        .engine()
        .roster()
        .is_some_and(|r| r.people.contains_key(&id))
    {
        return (StatusCode::NOT_FOUND, format!("no person {id:?}")).into_response();
    }
    feed(&c, |s| s.person == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn shift(person: &str, from_h: u32, to_h: u32) -> Shift {
        let at = |h: u32| {
            Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap() + Duration::hours(h as i64)
        };
        Shift {
            rotation: "r".into(),
            person: person.into(),
            name: person.into(),
            from: at(from_h),
            to: at(to_h),
            reason: String::new(),
        }
    }

    #[test]
    fn the_next_hand_off_puts_someone_else_on_call() {
        let s = [
            shift("ann", 0, 24),
            shift("ann", 24, 48),
            shift("bob", 48, 72),
            shift("ann", 72, 96),
        ];
        let refs: Vec<&Shift> = s.iter().collect();
        let now = s[0].from + Duration::hours(1);
        let (before, after) = next_handoff(&refs, now).unwrap();
        assert_eq!(
            (before.person.as_str(), after.person.as_str()),
            ("ann", "bob")
        );
        assert_eq!(after.from, s[2].from);
        let later = s[2].from + Duration::hours(1);
        assert_eq!(next_handoff(&refs, later).unwrap().1.from, s[3].from);
        assert!(
            next_handoff(&refs[..2], now).is_none(),
            "one person: no hand-off"
        );
    }

    #[test]
    fn back_to_back_shifts_of_one_person_are_one_bar() {
        let sched = Schedule {
            timezone: "UTC".into(),
            shifts: vec![
                shift("ann", 0, 24),
                shift("ann", 24, 48),
                shift("bob", 48, 72),
            ],
            holidays: vec![],
            offset_changes: vec![],
        };
        let bars = merged(&sched, "r");
        assert_eq!(bars.len(), 2);
        assert_eq!(bars[0].1, sched.shifts[1].to);
    }
}
