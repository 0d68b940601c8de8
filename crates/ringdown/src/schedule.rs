//! `ringdown oncall --from T1 --to T2`: who is on call over a period, per
//! rotation (hand-offs and overrides), with the holidays of the roster's
//! calendars and the daylight-saving changes in between; as text, JSON or an
//! iCalendar feed engineers can subscribe to.

use chrono::{DateTime, Duration, NaiveDate, Offset, TimeZone, Utc};
use ringdown_core::roster::calendar::HolidaySet;
use ringdown_core::roster::Roster;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shift {
    pub rotation: String,
    pub person: String,
    pub name: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayNote {
    pub date: NaiveDate,
    pub calendar: String,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Schedule {
    pub timezone: String,
    pub shifts: Vec<Shift>,
    pub holidays: Vec<DayNote>,
    /// Moments the zone's UTC offset changes (DST), with the new offset.
    pub offset_changes: Vec<(DateTime<Utc>, String)>,
}

pub fn schedule(roster: &Roster, from: DateTime<Utc>, to: DateTime<Utc>) -> Schedule {
    let mut shifts = Vec::new();
    for name in roster.rotations.keys() {
        let handoffs = roster.next_handoffs(name, from, to);
        for (i, h) in handoffs.iter().enumerate() {
            let end = handoffs.get(i + 1).map(|n| n.at).unwrap_or(to);
            let display = roster
                .person(&h.person)
                .map(|p| p.name.clone())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| h.person.clone());
            shifts.push(Shift {
                rotation: name.clone(),
                person: h.person.clone(),
                name: display,
                from: h.at.max(from),
                to: end,
                reason: h.reason.clone(),
            });
        }
    }
    let tz = roster.timezone;
    let mut holidays = Vec::new();
    let (first, last) = (
        from.with_timezone(&tz).date_naive(),
        to.with_timezone(&tz).date_naive(),
    );
    let mut day = first;
    while day <= last {
        for (cname, cal) in &roster.calendars {
            let builtin = match cal.holidays {
                HolidaySet::Jp => ringdown_core::roster::holidays::jp_holiday(day)
                    .map(|h| format!("{} ({})", h.en, h.ja)),
                _ => None,
            };
            let note = builtin.or_else(|| {
                cal.extra_holidays
                    .contains(&day)
                    .then(|| "extra holiday".to_string())
            });
            if let Some(note) = note {
                holidays.push(DayNote {
                    date: day,
                    calendar: cname.clone(),
                    note,
                });
            }
        }
        day = day.succ_opt().unwrap_or(last + Duration::days(1));
    }
    let mut offset_changes = Vec::new();
    let offset_at = |t: DateTime<Utc>| {
        tz.offset_from_utc_datetime(&t.naive_utc())
            .fix()
            .local_minus_utc()
    };
    let mut t = from;
    let mut current = offset_at(t);
    while t < to {
        let next = (t + Duration::hours(1)).min(to);
        let o = offset_at(next);
        if o != current {
            // Narrow down to the minute.
            let mut lo = t;
            while (next - lo) > Duration::minutes(1) {
                let mid = lo + (next - lo) / 2;
                if offset_at(mid) == current {
                    lo = mid;
                } else {
                    break;
                }
            }
            let at = next.with_timezone(&tz);
            offset_changes.push((next, at.format("%:z").to_string()));
            current = o;
        }
        t = next;
    }
    Schedule {
        timezone: tz.name().to_string(),
        shifts,
        holidays,
        offset_changes,
    }
}

pub fn to_text(roster: &Roster, s: &Schedule) -> String {
    let tz = roster.timezone;
    let fmt = |t: DateTime<Utc>| {
        t.with_timezone(&tz)
            .format("%a %Y-%m-%d %H:%M %Z")
            .to_string()
    };
    let mut out = String::new();
    for rot in roster.rotations.keys() {
        out.push_str(&format!("rotation {rot} ({})\n", s.timezone));
        for sh in s.shifts.iter().filter(|x| &x.rotation == rot) {
            out.push_str(&format!(
                "  {} → {}  {:<16} {}\n",
                fmt(sh.from),
                fmt(sh.to),
                sh.name,
                sh.reason
            ));
        }
    }
    if !s.holidays.is_empty() {
        out.push_str("holidays\n");
        for h in &s.holidays {
            out.push_str(&format!(
                "  {} {}  {}\n",
                h.date.format("%a %Y-%m-%d"),
                h.calendar,
                h.note
            ));
        }
    }
    for (at, off) in &s.offset_changes {
        out.push_str(&format!(
            "clock change: from {} the UTC offset is {off}\n",
            fmt(*at)
        ));
    }
    out
}

fn ics_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace(';', "\\;")
        .replace(',', "\\,")
        .replace('\n', "\\n")
}

fn ics_time(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// RFC 5545 calendar: one event per shift (UTC times, so subscribers see
/// DST-correct local times), CRLF line endings.
pub fn to_ics(s: &Schedule, stamp: DateTime<Utc>) -> String {
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_string(),
        "VERSION:2.0".into(),
        "PRODID:-//ringdown//on-call schedule//EN".into(),
        "CALSCALE:GREGORIAN".into(),
        format!("X-WR-CALNAME:{}", ics_escape("ringdown on-call")),
    ];
    for sh in &s.shifts {
        lines.push("BEGIN:VEVENT".into());
        lines.push(format!(
            "UID:{}-{}@ringdown",
            ics_escape(&sh.rotation),
            ics_time(sh.from)
        ));
        lines.push(format!("DTSTAMP:{}", ics_time(stamp)));
        lines.push(format!("DTSTART:{}", ics_time(sh.from)));
        lines.push(format!("DTEND:{}", ics_time(sh.to)));
        lines.push(format!(
            "SUMMARY:{}",
            ics_escape(&format!("On call ({}): {}", sh.rotation, sh.name))
        ));
        lines.push(format!("DESCRIPTION:{}", ics_escape(&sh.reason)));
        lines.push("END:VEVENT".into());
    }
    lines.push("END:VCALENDAR".into());
    let mut out = lines.join("\r\n");
    out.push_str("\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROSTER: &str = r#"
timezone: America/New_York
calendars:
  us: { holidays: none, extra_holidays: ["2026-11-26"] }
  jp: { holidays: jp }
people:
  alice: { name: "Alice, SRE", phones: [{ number: "+14155550001" }] }
  bob: { phones: [{ number: "+14155550002" }] }
rotations:
  primary:
    members: [alice, bob]
    shift: 1d
    start: "2026-10-30T09:00"
    overrides:
      - { person: bob, from: "2026-11-02T12:00", to: "2026-11-02T18:00" }
policies:
  - name: default
    steps: [{ targets: [rotation:primary] }]
"#;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_period_over_the_fall_back_with_an_override_and_holidays() {
        let roster = Roster::from_yaml(ROSTER).unwrap();
        let s = schedule(
            &roster,
            t("2026-10-31T13:00:00Z"),
            t("2026-11-03T14:00:00Z"),
        );
        let got: Vec<(String, String)> = s
            .shifts
            .iter()
            .map(|x| (x.from.to_rfc3339(), x.person.clone()))
            .collect();
        // Hand-offs at 09:00 New York time: 13:00Z in EDT, 14:00Z after the
        // clocks go back on Sunday 2026-11-01; the override cuts 11-02.
        // Hand-offs at 09:00 New York time: 13:00Z while on EDT, 14:00Z once
        // the clocks went back (Sunday 2026-11-01 02:00). The override
        // (12:00-18:00 EST on 11-02) splits Bob's own day in three.
        let want = [
            ("2026-10-31T13:00:00+00:00", "bob"),
            ("2026-11-01T14:00:00+00:00", "alice"),
            ("2026-11-02T14:00:00+00:00", "bob"),
            ("2026-11-02T17:00:00+00:00", "bob"),
            ("2026-11-02T23:00:00+00:00", "bob"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(got, want);
        assert!(
            s.shifts[3].reason.contains("override"),
            "{}",
            s.shifts[3].reason
        );
        assert_eq!(s.shifts.last().unwrap().to, t("2026-11-03T14:00:00Z"));
        assert_eq!(s.offset_changes.len(), 1);
        assert_eq!(s.offset_changes[0].1, "-05:00");
        assert!(
            s.holidays
                .iter()
                .any(|h| h.date.to_string() == "2026-11-03" && h.calendar == "jp"),
            "{:?}",
            s.holidays
        );
    }

    #[test]
    fn the_ics_feed_is_rfc5545_shaped_and_escaped() {
        let roster = Roster::from_yaml(ROSTER).unwrap();
        let s = schedule(
            &roster,
            t("2026-11-20T00:00:00Z"),
            t("2026-11-23T00:00:00Z"),
        );
        let ics = to_ics(&s, t("2026-11-22T00:00:00Z"));
        assert!(ics.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"));
        assert!(ics.ends_with("END:VCALENDAR\r\n"));
        assert_eq!(ics.matches("BEGIN:VEVENT").count(), s.shifts.len());
        assert!(
            ics.contains("SUMMARY:On call (primary): Alice\\, SRE"),
            "{ics}"
        );
        assert!(ics.contains("DTSTART:20261120"), "{ics}");
        assert!(!ics.contains("+1415"), "no phone numbers in the feed");
    }
}
