//! Business-day calendars and time windows (`when:` on phones, `only:` on
//! people). Everything here works on *local* dates and times of the roster
//! time zone; the caller converts `now` first.
use super::holidays::{self, Holiday};
use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike, Weekday};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Which built-in holiday set a calendar uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HolidaySet {
    /// No built-in holidays (only `extra_holidays`).
    #[default]
    None,
    /// Japanese public holidays, see [`super::holidays`].
    Jp,
}

/// A business-day calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    pub name: String,
    /// Working weekdays (default Monday–Friday).
    pub weekdays: BTreeSet<WeekdayOrd>,
    pub holidays: HolidaySet,
    /// Extra non-working days (company holidays, year-end closing).
    pub extra_holidays: BTreeSet<NaiveDate>,
    /// Extra working days, overriding weekends and holidays.
    pub extra_workdays: BTreeSet<NaiveDate>,
}

/// `chrono::Weekday` with an order (Monday first), so it fits a `BTreeSet`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WeekdayOrd(pub u8);

impl WeekdayOrd {
    pub fn from_weekday(w: Weekday) -> Self {
        WeekdayOrd(w.num_days_from_monday() as u8)
    }
    pub fn weekday(self) -> Weekday {
        match self.0 {
            0 => Weekday::Mon,
            1 => Weekday::Tue,
            2 => Weekday::Wed,
            3 => Weekday::Thu,
            4 => Weekday::Fri,
            5 => Weekday::Sat,
            _ => Weekday::Sun,
        }
    }
}

/// What kind of day a date is for a calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayKind {
    /// A business day (listed weekday, not a holiday, or an `extra_workdays` date).
    Business,
    /// A weekday not in `weekdays`.
    Weekend(Weekday),
    /// A built-in public holiday.
    Holiday(Holiday),
    /// One of `extra_holidays`.
    ExtraHoliday,
}

impl Calendar {
    pub fn day_kind(&self, date: NaiveDate) -> DayKind {
        if self.extra_workdays.contains(&date) {
            return DayKind::Business;
        }
        if self.extra_holidays.contains(&date) {
            return DayKind::ExtraHoliday;
        }
        if self.holidays == HolidaySet::Jp {
            if let Some(h) = holidays::jp_holiday(date) {
                return DayKind::Holiday(h);
            }
        }
        let w = date.weekday();
        if !self.weekdays.contains(&WeekdayOrd::from_weekday(w)) {
            return DayKind::Weekend(w);
        }
        DayKind::Business
    }

    pub fn is_business_day(&self, date: NaiveDate) -> bool {
        self.day_kind(date) == DayKind::Business
    }

    /// `2026-11-23 is a holiday (勤労感謝の日 Labour Thanksgiving Day)`,
    /// `2026-11-28 is a Saturday`, `2026-11-24 is a business day`.
    pub fn describe(&self, date: NaiveDate) -> String {
        match self.day_kind(date) {
            DayKind::Business => format!("{date} is a business day of {}", self.name),
            DayKind::Weekend(w) => format!(
                "{date} is a {} (not a working weekday of {})",
                weekday_name(w),
                self.name
            ),
            DayKind::Holiday(h) => format!("{date} is a holiday ({})", h.label()),
            DayKind::ExtraHoliday => {
                format!("{date} is a holiday (extra_holidays of {})", self.name)
            }
        }
    }
}

pub fn weekday_name(w: Weekday) -> &'static str {
    match w {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

/// Parses `mon`, `Monday`, `TUE`… (three-letter or full English names).
pub fn parse_weekday(s: &str) -> Option<Weekday> {
    let l = s.trim().to_ascii_lowercase();
    let all = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];
    all.into_iter().find(|w| {
        let full = weekday_name(*w).to_ascii_lowercase();
        l == full || l == full[..3]
    })
}

/// A daily time range `HH:MM-HH:MM`, start inclusive, end exclusive.
/// `end` may be `24:00`. When `end <= start` the range is *overnight*: it
/// runs from `start` until `end` on the next morning (`18:00-09:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hours {
    /// Minutes after midnight, 0..1440.
    pub start: u32,
    /// Minutes after midnight, 1..=1440.
    pub end: u32,
}

impl Hours {
    pub fn parse(s: &str) -> Result<Hours, String> {
        let hint = "write HH:MM-HH:MM in 24-hour time, e.g. \"09:00-18:00\", or \"18:00-09:00\" for overnight";
        let Some((a, b)) = s.split_once('-') else {
            return Err(format!("{s:?} is not a time range: {hint}"));
        };
        let start = parse_hhmm(a.trim(), false)
            .ok_or_else(|| format!("{s:?}: start {:?} is not a time: {hint}", a.trim()))?;
        let end = parse_hhmm(b.trim(), true)
            .ok_or_else(|| format!("{s:?}: end {:?} is not a time: {hint}", b.trim()))?;
        if start == end {
            return Err(format!(
                "{s:?} is an empty range (start equals end): for all day leave `hours` out or write \"00:00-24:00\""
            ));
        }
        Ok(Hours { start, end })
    }

    pub fn is_overnight(&self) -> bool {
        self.end <= self.start
    }

    /// Whether the local time-of-day `minute` is inside, and if so whether it
    /// is in the *morning tail* of an overnight range (which belongs to the
    /// previous day's window).
    fn position(&self, minute: u32) -> Option<Tail> {
        if self.is_overnight() {
            if minute >= self.start {
                Some(Tail::SameDay)
            } else if minute < self.end {
                Some(Tail::PreviousDay)
            } else {
                None
            }
        } else if minute >= self.start && minute < self.end {
            Some(Tail::SameDay)
        } else {
            None
        }
    }
}

enum Tail {
    SameDay,
    PreviousDay,
}

fn parse_hhmm(s: &str, allow_24: bool) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let h: u32 = h.parse().ok()?;
    let m: u32 = m.parse().ok()?;
    if m >= 60 {
        return None;
    }
    if h == 24 && m == 0 && allow_24 {
        return Some(1440);
    }
    if h >= 24 {
        return None;
    }
    Some(h * 60 + m)
}

impl fmt::Display for Hours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.start / 60,
            self.start % 60,
            self.end / 60,
            self.end % 60
        )
    }
}

/// A time window: `{calendar?, hours?}`. Both parts must hold.
///
/// * `calendar` alone: the whole of every business day of that calendar.
/// * `hours` alone: those hours every day.
/// * both: those hours on business days. For an overnight range
///   (`18:00-09:00`) the *morning tail* belongs to the day the range started:
///   Friday 18:00 → Saturday 09:00 is inside when Friday is a business day.
/// * neither: always.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Window {
    pub calendar: Option<String>,
    pub hours: Option<Hours>,
}

impl Window {
    /// `Ok(description)` when `local` is inside, `Err(why not)` otherwise.
    /// Unknown calendars (impossible after validation) count as "outside".
    pub fn check(
        &self,
        local: NaiveDateTime,
        calendars: &BTreeMap<String, Calendar>,
    ) -> Result<String, String> {
        let minute = local.time().hour() * 60 + local.time().minute();
        let mut day = local.date();
        let mut parts = Vec::new();
        if let Some(h) = &self.hours {
            match h.position(minute) {
                None => return Err(format!("{} is outside {h}", local.time().format("%H:%M"))),
                Some(Tail::PreviousDay) => {
                    day = day.pred_opt().unwrap_or(day);
                }
                Some(Tail::SameDay) => {}
            }
            parts.push(format!("{} is within {h}", local.time().format("%H:%M")));
        }
        if let Some(name) = &self.calendar {
            let Some(cal) = calendars.get(name) else {
                return Err(format!("unknown calendar {name:?}"));
            };
            let desc = cal.describe(day);
            if !cal.is_business_day(day) {
                return Err(desc);
            }
            parts.insert(0, desc);
        }
        if parts.is_empty() {
            parts.push("any time".to_string());
        }
        Ok(parts.join(", "))
    }

    /// `business days of jp-business 09:00-18:00`, `any time`.
    pub fn describe(&self) -> String {
        match (&self.calendar, &self.hours) {
            (None, None) => "any time".into(),
            (Some(c), None) => format!("business days of {c}"),
            (None, Some(h)) => format!("{h} every day"),
            (Some(c), Some(h)) => format!("{h} on business days of {c}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_parse() {
        assert_eq!(
            Hours::parse("09:00-18:00").unwrap(),
            Hours {
                start: 540,
                end: 1080
            }
        );
        assert!(Hours::parse("18:00-09:00").unwrap().is_overnight());
        assert_eq!(Hours::parse("00:00-24:00").unwrap().end, 1440);
        assert_eq!(
            Hours::parse("9:30-17:45").unwrap().to_string(),
            "09:30-17:45"
        );
        for bad in [
            "09:00",
            "25:00-10:00",
            "09:60-10:00",
            "9-18",
            "10:00-10:00",
            "24:00-10:00",
            "a-b",
        ] {
            assert!(Hours::parse(bad).is_err(), "{bad}");
        }
    }
}
