//! Japanese public holidays (国民の祝日 and 休日), computed by rule.
//!
//! Covered years: **2000–2099**. Outside that range no built-in holiday is
//! known and every day is an ordinary day (only `extra_holidays` apply).
//!
//! Rules, as the law stood in each year:
//!
//! * Fixed dates: 元日 1/1, 建国記念の日 2/11, 天皇誕生日 (12/23 until 2018,
//!   none in 2019, 2/23 from 2020), 昭和の日 4/29 (2007–; みどりの日 4/29
//!   before 2007), 憲法記念日 5/3, みどりの日 5/4 (2007–), こどもの日 5/5,
//!   山の日 8/11 (2016–), 文化の日 11/3, 勤労感謝の日 11/23.
//! * Happy Monday: 成人の日 2nd Monday of January, 海の日 3rd Monday of July
//!   (2003–; 7/20 before), 敬老の日 3rd Monday of September (2003–; 9/15
//!   before), スポーツの日 (体育の日 until 2019) 2nd Monday of October.
//! * 春分の日 / 秋分の日 by the standard formula
//!   `floor(20.8431 + 0.242194·(y−1980) − floor((y−1980)/4))` (spring) and
//!   `floor(23.2488 + 0.242194·(y−1980) − floor((y−1980)/4))` (autumn),
//!   valid 1980–2099. (The official dates are only fixed by the Cabinet Office
//!   in February of the previous year; the formula matches them.)
//! * One-off days: 2019-05-01 天皇の即位の日, 2019-10-22 即位礼正殿の儀; the
//!   Olympic moves of 2020 (海の日 7/23, スポーツの日 7/24, 山の日 8/10) and
//!   2021 (海の日 7/22, スポーツの日 7/23, 山の日 8/8) are special-cased.
//! * 振替休日 (substitute holiday): a 国民の祝日 on a Sunday makes the next day
//!   that is not itself a 国民の祝日 a holiday (2007 amendment: e.g. 5/3 on a
//!   Sunday → 5/6). Before 2007 only the following Monday.
//! * 国民の休日: a day that is not a 国民の祝日 but whose previous and next day
//!   both are becomes a holiday (e.g. 2026-09-22 between 敬老の日 and 秋分の日,
//!   2019-04-30 and 2019-05-02).
use chrono::{Datelike, Duration, NaiveDate, Weekday};

/// A holiday's name in Japanese and English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holiday {
    pub ja: &'static str,
    pub en: &'static str,
}

impl Holiday {
    const fn new(ja: &'static str, en: &'static str) -> Self {
        Holiday { ja, en }
    }
    /// `勤労感謝の日 Labour Thanksgiving Day`
    pub fn label(&self) -> String {
        format!("{} {}", self.ja, self.en)
    }
}

const SUBSTITUTE: Holiday = Holiday::new("振替休日", "Substitute Holiday");
const CITIZENS: Holiday = Holiday::new("国民の休日", "Citizens' Holiday");

/// First year with built-in holidays.
pub const FIRST_YEAR: i32 = 2000;
/// Last year with built-in holidays.
pub const LAST_YEAR: i32 = 2099;

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    // Only called with valid dates for years in FIRST_YEAR..=LAST_YEAR.
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN)
}

fn nth_monday(y: i32, m: u32, n: u8) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(y, m, Weekday::Mon, n).unwrap_or(NaiveDate::MIN)
}

/// Day of March of 春分の日 (valid 1980–2099).
pub fn vernal_equinox_day(y: i32) -> u32 {
    let t = f64::from(y - 1980);
    (20.8431 + 0.242194 * t - (t / 4.0).floor()).floor() as u32
}

/// Day of September of 秋分の日 (valid 1980–2099).
pub fn autumnal_equinox_day(y: i32) -> u32 {
    let t = f64::from(y - 1980);
    (23.2488 + 0.242194 * t - (t / 4.0).floor()).floor() as u32
}

/// The 国民の祝日 of a year (without substitute and sandwiched days).
fn national_holidays(y: i32) -> Vec<(NaiveDate, Holiday)> {
    let mut v = vec![
        (ymd(y, 1, 1), Holiday::new("元日", "New Year's Day")),
        (
            nth_monday(y, 1, 2),
            Holiday::new("成人の日", "Coming of Age Day"),
        ),
        (
            ymd(y, 2, 11),
            Holiday::new("建国記念の日", "National Foundation Day"),
        ),
        (
            ymd(y, 3, vernal_equinox_day(y)),
            Holiday::new("春分の日", "Vernal Equinox Day"),
        ),
        (
            ymd(y, 5, 3),
            Holiday::new("憲法記念日", "Constitution Memorial Day"),
        ),
        (ymd(y, 5, 5), Holiday::new("こどもの日", "Children's Day")),
        (
            ymd(y, 9, autumnal_equinox_day(y)),
            Holiday::new("秋分の日", "Autumnal Equinox Day"),
        ),
        (ymd(y, 11, 3), Holiday::new("文化の日", "Culture Day")),
        (
            ymd(y, 11, 23),
            Holiday::new("勤労感謝の日", "Labour Thanksgiving Day"),
        ),
    ];
    let emperor = Holiday::new("天皇誕生日", "Emperor's Birthday");
    if y <= 2018 {
        v.push((ymd(y, 12, 23), emperor));
    } else if y >= 2020 {
        v.push((ymd(y, 2, 23), emperor));
    }
    if y >= 2007 {
        v.push((ymd(y, 4, 29), Holiday::new("昭和の日", "Showa Day")));
        v.push((ymd(y, 5, 4), Holiday::new("みどりの日", "Greenery Day")));
    } else {
        v.push((ymd(y, 4, 29), Holiday::new("みどりの日", "Greenery Day")));
    }
    let marine = Holiday::new("海の日", "Marine Day");
    let mountain = Holiday::new("山の日", "Mountain Day");
    let sports = if y >= 2020 {
        Holiday::new("スポーツの日", "Sports Day")
    } else {
        Holiday::new("体育の日", "Health and Sports Day")
    };
    match y {
        2020 => {
            v.push((ymd(y, 7, 23), marine));
            v.push((ymd(y, 7, 24), sports));
            v.push((ymd(y, 8, 10), mountain));
        }
        2021 => {
            v.push((ymd(y, 7, 22), marine));
            v.push((ymd(y, 7, 23), sports));
            v.push((ymd(y, 8, 8), mountain));
        }
        _ => {
            v.push((
                if y >= 2003 {
                    nth_monday(y, 7, 3)
                } else {
                    ymd(y, 7, 20)
                },
                marine,
            ));
            v.push((nth_monday(y, 10, 2), sports));
            if y >= 2016 {
                v.push((ymd(y, 8, 11), mountain));
            }
        }
    }
    v.push((
        if y >= 2003 {
            nth_monday(y, 9, 3)
        } else {
            ymd(y, 9, 15)
        },
        Holiday::new("敬老の日", "Respect for the Aged Day"),
    ));
    if y == 2019 {
        v.push((
            ymd(y, 5, 1),
            Holiday::new("天皇の即位の日", "Enthronement Day"),
        ));
        v.push((
            ymd(y, 10, 22),
            Holiday::new("即位礼正殿の儀", "Enthronement Ceremony Day"),
        ));
    }
    v.sort_by_key(|(d, _)| *d);
    v
}

/// Every Japanese public holiday of `year` (祝日, 振替休日 and 国民の休日),
/// sorted by date. Empty outside [`FIRST_YEAR`]..=[`LAST_YEAR`].
pub fn jp_holidays(year: i32) -> Vec<(NaiveDate, Holiday)> {
    if !(FIRST_YEAR..=LAST_YEAR).contains(&year) {
        return Vec::new();
    }
    let national = national_holidays(year);
    let is_national = |d: NaiveDate| national.iter().any(|(n, _)| *n == d);
    let mut out = national.clone();
    // 国民の休日: sandwiched between two 国民の祝日.
    for (d, _) in &national {
        let next = *d + Duration::days(1);
        let after = *d + Duration::days(2);
        if !is_national(next) && is_national(after) && next.year() == year {
            out.push((next, CITIZENS));
        }
    }
    // 振替休日.
    for (d, _) in &national {
        if d.weekday() != Weekday::Sun {
            continue;
        }
        let mut sub = *d + Duration::days(1);
        if year >= 2007 {
            while is_national(sub) {
                sub += Duration::days(1);
            }
        }
        // A substitute for 12/31 would fall in the next year; never happens
        // with the current fixed dates, but keep the year consistent.
        if sub.year() == year && !out.iter().any(|(o, _)| *o == sub) {
            out.push((sub, SUBSTITUTE));
        }
    }
    out.sort_by_key(|(d, _)| *d);
    out
}

/// The Japanese public holiday on `date`, if any.
pub fn jp_holiday(date: NaiveDate) -> Option<Holiday> {
    jp_holidays(date.year())
        .into_iter()
        .find(|(d, _)| *d == date)
        .map(|(_, h)| h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }
    fn name(s: &str) -> Option<&'static str> {
        jp_holiday(d(s)).map(|h| h.ja)
    }

    #[test]
    fn labour_thanksgiving_2026_is_a_monday_holiday() {
        assert_eq!(d("2026-11-23").weekday(), Weekday::Mon);
        assert_eq!(name("2026-11-23"), Some("勤労感謝の日"));
        assert_eq!(
            name("2026-11-24"),
            None,
            "no substitute: it was not a Sunday"
        );
    }

    #[test]
    fn golden_week_2026_substitute_skips_to_may_6() {
        assert_eq!(d("2026-05-03").weekday(), Weekday::Sun);
        assert_eq!(name("2026-05-03"), Some("憲法記念日"));
        assert_eq!(name("2026-05-04"), Some("みどりの日"));
        assert_eq!(name("2026-05-05"), Some("こどもの日"));
        assert_eq!(name("2026-05-06"), Some("振替休日"));
        assert_eq!(name("2026-05-07"), None);
    }

    #[test]
    fn silver_week_2026_citizens_holiday() {
        assert_eq!(name("2026-09-21"), Some("敬老の日"));
        assert_eq!(name("2026-09-22"), Some("国民の休日"));
        assert_eq!(name("2026-09-23"), Some("秋分の日"));
    }

    #[test]
    fn substitute_for_sunday_labour_thanksgiving_2025() {
        assert_eq!(d("2025-11-23").weekday(), Weekday::Sun);
        assert_eq!(name("2025-11-24"), Some("振替休日"));
    }

    #[test]
    fn equinoxes() {
        assert_eq!(name("2026-03-20"), Some("春分の日"));
        assert_eq!(name("2026-09-23"), Some("秋分の日"));
        // Published dates for other years.
        assert_eq!(name("2024-03-20"), Some("春分の日"));
        assert_eq!(name("2024-09-22"), Some("秋分の日"));
        assert_eq!(name("2025-03-20"), Some("春分の日"));
        assert_eq!(name("2025-09-23"), Some("秋分の日"));
        assert_eq!(name("2027-03-21"), Some("春分の日"));
        assert_eq!(name("2027-09-23"), Some("秋分の日"));
    }

    #[test]
    fn new_year_2027() {
        assert_eq!(name("2027-01-01"), Some("元日"));
        assert_eq!(name("2027-01-02"), None, "1/2 is not a public holiday");
        assert_eq!(name("2027-01-11"), Some("成人の日"));
    }

    #[test]
    fn full_list_2026() {
        let got: Vec<String> = jp_holidays(2026)
            .iter()
            .map(|(d, h)| format!("{d} {}", h.ja))
            .collect();
        let want = [
            "2026-01-01 元日",
            "2026-01-12 成人の日",
            "2026-02-11 建国記念の日",
            "2026-02-23 天皇誕生日",
            "2026-03-20 春分の日",
            "2026-04-29 昭和の日",
            "2026-05-03 憲法記念日",
            "2026-05-04 みどりの日",
            "2026-05-05 こどもの日",
            "2026-05-06 振替休日",
            "2026-07-20 海の日",
            "2026-08-11 山の日",
            "2026-09-21 敬老の日",
            "2026-09-22 国民の休日",
            "2026-09-23 秋分の日",
            "2026-10-12 スポーツの日",
            "2026-11-03 文化の日",
            "2026-11-23 勤労感謝の日",
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn special_years() {
        assert_eq!(name("2019-04-30"), Some("国民の休日"));
        assert_eq!(name("2019-05-01"), Some("天皇の即位の日"));
        assert_eq!(name("2019-05-02"), Some("国民の休日"));
        assert_eq!(name("2019-05-06"), Some("振替休日"));
        assert_eq!(name("2019-12-23"), None);
        assert_eq!(name("2020-07-24"), Some("スポーツの日"));
        assert_eq!(name("2020-10-12"), None);
        assert_eq!(name("2021-08-09"), Some("振替休日"));
        assert_eq!(name("2015-09-22"), Some("国民の休日"));
    }

    #[test]
    fn outside_range_is_empty() {
        assert!(jp_holidays(1999).is_empty());
        assert!(jp_holidays(2100).is_empty());
        assert!(jp_holiday(NaiveDate::MIN).is_none());
        assert!(jp_holiday(NaiveDate::MAX).is_none());
    }
}
