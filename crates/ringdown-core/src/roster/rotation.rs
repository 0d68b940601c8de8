//! Rotations: who is on call at an instant, with wall-clock hand-offs.
//!
//! # Hand-off rules (DST)
//!
//! Hand-off *k* (k = 0, 1, 2, …) is at the **wall-clock** time
//! `start + k × shift` in the roster time zone, for every shift length
//! (`1w`, `1d`, `12h`, `30m` …). So a `1d` rotation starting at 09:00 hands
//! off at 09:00 local before and after a DST change; the shift containing the
//! change is 23 h or 25 h long. A `12h` rotation starting 09:00 hands off at
//! 09:00 and 21:00 local all year.
//!
//! Turning a wall-clock time into an instant:
//!
//! * **Non-existent** (spring-forward gap, e.g. 02:30 on 2026-03-08 in
//!   America/New_York): the first instant after the gap (03:00 EDT).
//! * **Ambiguous** (fall-back, e.g. 01:30 on 2026-11-01 in New York): the
//!   earlier occurrence (01:30 EDT).
//!
//! If two hand-offs land on the same instant (a sub-hour shift inside a
//! gap) the shift between them has zero length and is skipped.
//!
//! Before the first hand-off (`start`) the first member is on call.
//!
//! # Overrides
//!
//! `{person, from, to}` with wall-clock `from`/`to` (converted by the same
//! rules) replace the rotation's person for `from <= now < to`. When
//! overrides overlap, the one listed **last** wins.
use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use std::fmt;

/// Length of one shift, in whole minutes of wall-clock time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShiftLen {
    pub minutes: i64,
}

/// Longest shift accepted: 52 weeks.
pub const MAX_SHIFT_MINUTES: i64 = 52 * 7 * 24 * 60;

impl ShiftLen {
    /// `30m`, `12h`, `1d`, `1w`, `2w`: a positive whole number and one unit
    /// (m = minutes, h = hours, d = days, w = weeks).
    pub fn parse(s: &str) -> Result<ShiftLen, String> {
        let hint = "write a whole number and a unit m, h, d or w, e.g. \"12h\", \"1d\", \"1w\"";
        let t = s.trim();
        let Some(unit) = t.chars().last() else {
            return Err(format!("empty shift length: {hint}"));
        };
        let per = match unit {
            'm' => 1,
            'h' => 60,
            'd' => 24 * 60,
            'w' => 7 * 24 * 60,
            _ => return Err(format!("{s:?} has no unit: {hint}")),
        };
        let num = &t[..t.len() - 1];
        let n: i64 = match num.parse() {
            Ok(n) if num.chars().all(|c| c.is_ascii_digit()) => n,
            _ => return Err(format!("{s:?} is not a shift length: {hint}")),
        };
        if n == 0 {
            return Err(format!("{s:?} is zero: a shift must be at least 1m"));
        }
        let minutes = n.saturating_mul(per);
        if minutes > MAX_SHIFT_MINUTES {
            return Err(format!("{s:?} is longer than the maximum of 52w"));
        }
        Ok(ShiftLen { minutes })
    }
}

impl fmt::Display for ShiftLen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.minutes;
        if m % (7 * 1440) == 0 {
            write!(f, "{}w", m / (7 * 1440))
        } else if m % 1440 == 0 {
            write!(f, "{}d", m / 1440)
        } else if m % 60 == 0 {
            write!(f, "{}h", m / 60)
        } else {
            write!(f, "{m}m")
        }
    }
}

/// A replacement of the rotation's person for a wall-clock interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub person: String,
    pub from: NaiveDateTime,
    pub to: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    pub name: String,
    /// Person ids, in rotation order. Never empty after validation.
    pub members: Vec<String>,
    pub shift: ShiftLen,
    /// First hand-off, wall clock in the roster time zone.
    pub start: NaiveDateTime,
    pub overrides: Vec<Override>,
}

/// Who a rotation has on call at an instant, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnCall {
    pub person: String,
    pub reason: String,
    /// When this assignment began (`None`: before the start, or unbounded).
    pub since: Option<DateTime<Utc>>,
    /// When it ends (`None`: unbounded).
    pub until: Option<DateTime<Utc>>,
}

/// The instant of a wall-clock time in `tz`: gaps resolve to the first
/// instant after the gap, ambiguous times to the earlier occurrence.
/// `None` only at the very ends of chrono's range.
pub fn local_to_utc(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => Some(a.min(b).with_timezone(&Utc)),
        LocalResult::None => {
            // Smallest instant whose local time is >= `local`. The gap is far
            // shorter than a day, so search ±30 h around `local` read as UTC.
            let guess = local.and_utc().timestamp();
            let mut lo = guess.checked_sub(30 * 3600)?;
            let mut hi = guess.checked_add(30 * 3600)?;
            let local_at =
                |t: i64| DateTime::from_timestamp(t, 0).map(|u| u.with_timezone(&tz).naive_local());
            // Invariant: local(lo) < local <= local(hi); whole seconds.
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if local_at(mid)? >= local {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            DateTime::from_timestamp(hi, 0)
        }
    }
}

/// `2026-11-16 10:00`
pub fn fmt_local(tz: Tz, t: DateTime<Utc>) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

fn fmt_naive(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

impl Rotation {
    /// Wall-clock time of hand-off `k` (k may be negative).
    fn handoff_local(&self, k: i64) -> Option<NaiveDateTime> {
        let mins = k.checked_mul(self.shift.minutes)?;
        self.start.checked_add_signed(Duration::try_minutes(mins)?)
    }

    /// Instant of hand-off `k`. Non-decreasing in `k`.
    pub fn handoff_at(&self, tz: Tz, k: i64) -> Option<DateTime<Utc>> {
        local_to_utc(tz, self.handoff_local(k)?)
    }

    fn member(&self, k: i64) -> &str {
        let n = self.members.len().max(1) as i64;
        self.members
            .get(k.rem_euclid(n) as usize)
            .map(String::as_str)
            .unwrap_or("")
    }

    /// Index of the shift containing `now` (the largest `k` with
    /// `handoff_at(k) <= now`), or `None` before the start or out of range.
    pub fn shift_index(&self, tz: Tz, now: DateTime<Utc>) -> Option<i64> {
        let first = self.handoff_at(tz, 0)?;
        if now < first {
            return None;
        }
        // Estimate from the wall-clock distance; the real distance differs
        // by at most the difference of two UTC offsets (< 27 h). Then binary
        // search: `handoff_at` is non-decreasing in `k`.
        let local_now = now.with_timezone(&tz).naive_local();
        let diff = local_now.signed_duration_since(self.start).num_minutes();
        let estimate = diff.div_euclid(self.shift.minutes).max(0);
        let margin = 27 * 60 / self.shift.minutes + 2;
        let fits = |k: i64| self.handoff_at(tz, k).is_some_and(|t| t <= now);
        let mut lo = estimate.saturating_sub(margin).max(0);
        if !fits(lo) {
            lo = 0; // handoff 0 fits: checked above
        }
        let mut hi = estimate.saturating_add(margin);
        let mut guard = 0;
        while fits(hi) && guard < 64 {
            lo = hi;
            hi = hi.saturating_add(margin.saturating_mul(2));
            guard += 1;
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if fits(mid) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(lo)
    }

    /// The shift's own member at `now`, ignoring overrides.
    fn scheduled(&self, tz: Tz, now: DateTime<Utc>) -> OnCall {
        match self.shift_index(tz, now) {
            None => {
                let first = self.handoff_at(tz, 0);
                OnCall {
                    person: self.member(0).to_string(),
                    reason: format!(
                        "rotation {}: before its start {} {tz}, first member on call",
                        self.name,
                        fmt_naive(self.start)
                    ),
                    since: None,
                    until: first.filter(|f| *f > now),
                }
            }
            Some(k) => {
                let since = self.handoff_at(tz, k);
                let until = self.handoff_at(tz, k + 1);
                let show = |t: Option<DateTime<Utc>>| {
                    t.map(|t| fmt_local(tz, t)).unwrap_or_else(|| "…".into())
                };
                OnCall {
                    person: self.member(k).to_string(),
                    reason: format!(
                        "rotation {}: shift {} ({} → {} {tz})",
                        self.name,
                        k.saturating_add(1),
                        show(since),
                        show(until),
                    ),
                    since,
                    until,
                }
            }
        }
    }

    /// Instants of an override, by the wall-clock rules.
    pub fn override_span(&self, tz: Tz, o: &Override) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        Some((local_to_utc(tz, o.from)?, local_to_utc(tz, o.to)?))
    }

    /// Who is on call at `now`, overrides included.
    pub fn on_call(&self, tz: Tz, now: DateTime<Utc>) -> OnCall {
        for (i, o) in self.overrides.iter().enumerate().rev() {
            if let Some((from, to)) = self.override_span(tz, o) {
                if from <= now && now < to {
                    return OnCall {
                        person: o.person.clone(),
                        reason: format!(
                            "rotation {}: override {} → {} {tz} (overrides[{i}])",
                            self.name,
                            fmt_naive(o.from),
                            fmt_naive(o.to)
                        ),
                        since: Some(from),
                        until: Some(to),
                    };
                }
            }
        }
        self.scheduled(tz, now)
    }

    /// Every instant in `(from, to)` at which the on-call assignment may
    /// change: shift hand-offs and override starts/ends. Capped at `limit`.
    fn boundaries(
        &self,
        tz: Tz,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut k = self.shift_index(tz, from).map(|k| k + 1).unwrap_or(0);
        while out.len() < limit {
            match self.handoff_at(tz, k) {
                Some(t) if t < to => {
                    if t > from {
                        out.push(t);
                    }
                }
                _ => break,
            }
            k = match k.checked_add(1) {
                Some(k) => k,
                None => break,
            };
        }
        for o in &self.overrides {
            if let Some((a, b)) = self.override_span(tz, o) {
                for t in [a, b] {
                    if t > from && t < to {
                        out.push(t);
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        out.truncate(limit);
        out
    }

    /// The schedule over `[from, to)`: who is on call at `from`, then every
    /// change. Consecutive identical assignments are merged. At most `limit`
    /// entries.
    pub fn schedule(
        &self,
        tz: Tz,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Vec<Handoff> {
        if to <= from || limit == 0 {
            return Vec::new();
        }
        let mut out: Vec<Handoff> = Vec::new();
        let first = self.on_call(tz, from);
        out.push(Handoff {
            at: from,
            person: first.person,
            reason: first.reason,
        });
        for t in self.boundaries(tz, from, to, limit) {
            if out.len() >= limit {
                break;
            }
            let oc = self.on_call(tz, t);
            if out.last().is_some_and(|l| l.reason == oc.reason) {
                continue;
            }
            out.push(Handoff {
                at: t,
                person: oc.person,
                reason: oc.reason,
            });
        }
        out
    }
}

/// One entry of a rotation schedule: from `at`, `person` is on call.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Handoff {
    pub at: DateTime<Utc>,
    pub person: String,
    pub reason: String,
}
