//! When people answer: the service hours (`handoff.hours`) over a working-day calendar that
//! follows the State Council's yearly holiday notice (statutory holidays off, make-up working
//! days on). The calendar file (`calendar/workdays.toml`) lists, per year, the holidays and the
//! weekend days that are worked; a year it lacks counts Monday to Friday and says so.

use anyhow::{Context, Result};
use chrono::{Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Weekday};
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::LazyLock;

/// Holidays and make-up working days by year.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    holidays: BTreeSet<NaiveDate>,
    workdays: BTreeSet<NaiveDate>,
    years: BTreeSet<i32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarFile {
    #[serde(default)]
    years: BTreeMap<String, YearEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YearEntry {
    #[serde(default)]
    holidays: Vec<String>,
    #[serde(default)]
    workdays: Vec<String>,
}

impl Calendar {
    /// Reads a calendar file; every mistake names the year and the date.
    pub fn load(path: &Path) -> Result<Calendar> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("读取工作日历 {}", path.display()))?;
        Calendar::parse(&text).with_context(|| format!("工作日历 {} 有误", path.display()))
    }

    pub fn parse(text: &str) -> Result<Calendar> {
        let file: CalendarFile = toml::from_str(text).context("不是有效的 TOML")?;
        let mut cal = Calendar::default();
        for (year, entry) in file.years {
            let y: i32 = year
                .parse()
                .ok()
                .filter(|y| (2000..=2100).contains(y))
                .with_context(|| format!("[years.{year}]：年份应为四位数字"))?;
            let date = |s: &String, what: &str| -> Result<NaiveDate> {
                let d = NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .with_context(|| format!("[years.{y}] {what}：“{s}”不是 YYYY-MM-DD 日期"))?;
                anyhow::ensure!(d.year() == y, "[years.{y}] {what}：{s} 不在 {y} 年");
                Ok(d)
            };
            for s in &entry.holidays {
                cal.holidays.insert(date(s, "holidays")?);
            }
            for s in &entry.workdays {
                let d = date(s, "workdays")?;
                anyhow::ensure!(
                    matches!(d.weekday(), Weekday::Sat | Weekday::Sun),
                    "[years.{y}] workdays：{s} 不是周末，不必列为调休上班日"
                );
                anyhow::ensure!(
                    !cal.holidays.contains(&d),
                    "[years.{y}]：{s} 既是放假日又是上班日"
                );
                cal.workdays.insert(d);
            }
            cal.years.insert(y);
        }
        Ok(cal)
    }

    /// Whether the calendar has the State Council's arrangement for `year`.
    pub fn covers(&self, year: i32) -> bool {
        self.years.contains(&year)
    }

    pub fn years(&self) -> impl Iterator<Item = i32> + '_ {
        self.years.iter().copied()
    }

    /// A 工作日: not a statutory holiday, and Monday to Friday or a make-up working day.
    pub fn is_workday(&self, d: NaiveDate) -> bool {
        if self.holidays.contains(&d) {
            return false;
        }
        self.workdays.contains(&d) || !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
    }

    /// The date `n` working days after `from` (a time limit of n 工作日 counted from the day
    /// after `from`).
    pub fn add_workdays(&self, from: NaiveDate, n: u32) -> NaiveDate {
        let mut d = from;
        let mut left = n;
        while left > 0 {
            d += Duration::days(1);
            if self.is_workday(d) {
                left -= 1;
            }
        }
        d
    }
}

/// The working-day calendar with the service's time zone: what the service hours and the due
/// dates of answers count on.
#[derive(Debug, Clone)]
pub struct WorkingDays {
    pub calendar: Calendar,
    pub offset: FixedOffset,
}

impl WorkingDays {
    /// Reads `handoff.calendar` (a missing file counts Monday to Friday, with a warning; a
    /// wrong one is an error naming the date) and `handoff.utc_offset`.
    pub fn from_config(config: &crate::config::HandoffConfig) -> Result<WorkingDays> {
        let calendar = if config.calendar.exists() {
            Calendar::load(&config.calendar)?
        } else {
            tracing::warn!(
                calendar = %config.calendar.display(),
                "no working-day calendar: holidays are not known, Monday to Friday count as working days"
            );
            Calendar::default()
        };
        let offset = parse_offset(&config.utc_offset).map_err(anyhow::Error::msg)?;
        Ok(WorkingDays { calendar, offset })
    }

    /// The date and time in the service's time zone.
    pub fn now(&self) -> NaiveDateTime {
        chrono::Utc::now().with_timezone(&self.offset).naive_local()
    }

    /// [`due_note`] for an answer given now.
    pub fn due_note(&self, answer: &str) -> Option<String> {
        due_note(&self.calendar, self.now().date(), answer)
    }
}

/// A time limit in 工作日 as a passage states it (`5个工作日`, `20个工作日内`).
static WORKDAY_LIMIT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(\d{1,3})\s*个工作日").expect("valid regex"));

/// Most time limits of one line given a date.
const MAX_LIMITS: usize = 3;

/// The line an answer adds when it states a time limit in 工作日: the date by which it is due
/// if submitted `today`, counted on the calendar. The limit is taken from a line about the
/// time limit (时限, 办结), the promised one (承诺) first; a line with several limits gives a
/// date for each. A year the calendar lacks is counted Monday to Friday, and the line says so.
pub fn due_note(cal: &Calendar, today: NaiveDate, answer: &str) -> Option<String> {
    let about_limit = |l: &&str| l.contains("时限") || l.contains("办结");
    let limits = |l: &str| -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        for c in WORKDAY_LIMIT.captures_iter(l) {
            if let Ok(n) = c[1].parse::<u32>()
                && n > 0
                && !out.contains(&n)
            {
                out.push(n);
            }
        }
        out.truncate(MAX_LIMITS);
        out
    };
    let lines: Vec<&str> = answer.lines().filter(about_limit).collect();
    let days = lines
        .iter()
        .filter(|l| l.contains("承诺"))
        .chain(lines.iter())
        .map(|l| limits(l))
        .find(|n| !n.is_empty())?;
    let due: Vec<(u32, NaiveDate)> = days
        .iter()
        .map(|&n| (n, cal.add_workdays(today, n)))
        .collect();
    let last = due
        .iter()
        .map(|(_, d)| d.year())
        .max()
        .unwrap_or(today.year());
    let missing: Vec<String> = (today.year()..=last)
        .filter(|y| !cal.covers(*y))
        .map(|y| format!("{y}年"))
        .collect();
    let counted = if missing.is_empty() {
        "按法定节假日和调休计算".to_string()
    } else {
        format!(
            "按周一至周五计算（工作日历里还没有{}的节假日和调休安排，没有算进去）",
            missing.join("、")
        )
    };
    let when = match due.as_slice() {
        [(n, d)] => format!("约在{}前办结（{n}个工作日）", chinese_date(*d)),
        many => many
            .iter()
            .map(|(n, d)| format!("{n}个工作日约到{}", chinese_date(*d)))
            .collect::<Vec<_>>()
            .join("，"),
    };
    Some(format!(
        "在今天（{}）提交的，{counted}，{when}。这是按本系统的工作日历和今天的日期估算的，以办理部门的告知为准。",
        chinese_date(today)
    ))
}

/// 2026年10月13日.
pub fn chinese_date(d: NaiveDate) -> String {
    format!("{}年{}月{}日", d.year(), d.month(), d.day())
}

/// Which days the service is staffed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Days {
    /// 工作日 by the calendar.
    Workdays,
    /// Every day of the year.
    Daily,
}

/// `handoff.hours`: `"always"`, or days and a time window (`"workdays 09:00-17:30"`,
/// `"工作日 09:00-17:30"`, `"daily 08:00-20:00"`, `"每天 08:00-20:00"`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Hours {
    Always,
    Window {
        days: Days,
        open: NaiveTime,
        close: NaiveTime,
    },
}

impl Default for Hours {
    fn default() -> Self {
        Hours::Window {
            days: Days::Workdays,
            open: NaiveTime::from_hms_opt(9, 0, 0).expect("valid"),
            close: NaiveTime::from_hms_opt(17, 30, 0).expect("valid"),
        }
    }
}

impl FromStr for Hours {
    type Err = String;
    fn from_str(s: &str) -> Result<Hours, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("always") || s == "全天" {
            return Ok(Hours::Always);
        }
        let bad = || {
            format!(
                "handoff.hours 应为 \"always\"，或 \"workdays 09:00-17:30\"、\"daily 08:00-20:00\" 这样的天与时段，而不是“{s}”"
            )
        };
        let (days, window) = s.split_once(char::is_whitespace).ok_or_else(bad)?;
        let days = match days {
            "workdays" | "工作日" => Days::Workdays,
            "daily" | "每天" => Days::Daily,
            _ => return Err(bad()),
        };
        let (a, b) = window.trim().split_once(['-', '–', '—']).ok_or_else(bad)?;
        let time = |t: &str| NaiveTime::parse_from_str(t.trim(), "%H:%M").map_err(|_| bad());
        let (open, close) = (time(a)?, time(b)?);
        if open >= close {
            return Err(format!(
                "handoff.hours：开始时间 {a} 应早于结束时间 {b}（不支持跨夜时段）"
            ));
        }
        Ok(Hours::Window { days, open, close })
    }
}

impl fmt::Display for Hours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hours::Always => f.write_str("always"),
            Hours::Window { days, open, close } => write!(
                f,
                "{} {}-{}",
                match days {
                    Days::Workdays => "workdays",
                    Days::Daily => "daily",
                },
                open.format("%H:%M"),
                close.format("%H:%M")
            ),
        }
    }
}

impl fmt::Debug for Hours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hours({self})")
    }
}

impl Serialize for Hours {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Hours {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Hours, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl Hours {
    /// Whether people answer at local time `t`.
    pub fn open_at(&self, cal: &Calendar, t: NaiveDateTime) -> bool {
        match *self {
            Hours::Always => true,
            Hours::Window { days, open, close } => {
                let day_ok = match days {
                    Days::Workdays => cal.is_workday(t.date()),
                    Days::Daily => true,
                };
                day_ok && t.time() >= open && t.time() < close
            }
        }
    }

    /// The next time (local) the service opens after `t`, within a year; `None` for
    /// `always` or a calendar with no working day ahead.
    pub fn next_opening(&self, cal: &Calendar, t: NaiveDateTime) -> Option<NaiveDateTime> {
        let Hours::Window { days, open, .. } = *self else {
            return None;
        };
        let mut d = t.date();
        for _ in 0..400 {
            let day_ok = match days {
                Days::Workdays => cal.is_workday(d),
                Days::Daily => true,
            };
            let at = d.and_time(open);
            if day_ok && at > t {
                return Some(at);
            }
            d += Duration::days(1);
        }
        None
    }

    /// How the hours read to a citizen: 「工作日 09:00—17:30」.
    pub fn describe(&self) -> String {
        match self {
            Hours::Always => "全天".to_string(),
            Hours::Window { days, open, close } => format!(
                "{}{}—{}",
                match days {
                    Days::Workdays => "工作日",
                    Days::Daily => "每天",
                },
                open.format("%H:%M"),
                close.format("%H:%M")
            ),
        }
    }
}

/// A UTC offset as configured (`"+08:00"`).
pub fn parse_offset(s: &str) -> Result<FixedOffset, String> {
    let bad = || format!("handoff.utc_offset 应为 \"+08:00\" 这样的时差，而不是“{s}”");
    let t = s.trim();
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = rest.split_once(':').ok_or_else(bad)?;
    let h: i32 = h.parse().map_err(|_| bad())?;
    let m: i32 = m.parse().map_err(|_| bad())?;
    if h > 14 || m > 59 {
        return Err(bad());
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60)).ok_or_else(bad)
}

/// 「12月7日（周一）09:00」.
pub fn describe_time(t: NaiveDateTime) -> String {
    let wd = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"]
        [t.weekday().num_days_from_monday() as usize];
    format!(
        "{}月{}日（{wd}）{}",
        t.month(),
        t.day(),
        t.time().format("%H:%M")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> Calendar {
        Calendar::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("calendar/workdays.toml"))
            .expect("the shipped calendar loads")
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    /// DOMAIN.md "Working days and human help": 工作日 exclude the statutory holidays and
    /// include the make-up working days of the State Council's yearly notice (2026: notice of
    /// 4 November 2025).
    #[test]
    fn the_2026_notice_moves_working_days() {
        let cal = shipped();
        assert!(cal.covers(2026));
        // 春节: 15–23 February off, Saturday 14 and Saturday 28 February worked.
        assert!(!cal.is_workday(d("2026-02-16")), "a Monday of 春节");
        assert!(!cal.is_workday(d("2026-02-23")));
        assert!(cal.is_workday(d("2026-02-14")), "a Saturday worked");
        assert!(cal.is_workday(d("2026-02-28")));
        // 国庆: Sunday 20 September and Saturday 10 October worked.
        assert!(cal.is_workday(d("2026-09-20")));
        assert!(cal.is_workday(d("2026-10-10")));
        assert!(!cal.is_workday(d("2026-10-05")));
        // An ordinary week.
        assert!(cal.is_workday(d("2026-12-07")));
        assert!(!cal.is_workday(d("2026-12-05")), "a plain Saturday");
    }

    #[test]
    fn a_year_without_its_notice_counts_weekdays_and_says_so() {
        let cal = shipped();
        assert!(!cal.covers(2027));
        assert!(cal.is_workday(d("2027-03-01")));
        assert!(!cal.is_workday(d("2027-03-06")));
    }

    #[test]
    fn time_limits_count_working_days() {
        let cal = shipped();
        // Five working days from Wednesday 30 September 2026: 1–7 October off, Saturday 10
        // October worked → 8, 9, 10, 12, 13 October.
        assert_eq!(cal.add_workdays(d("2026-09-30"), 5), d("2026-10-13"));
        assert_eq!(cal.add_workdays(d("2026-12-07"), 0), d("2026-12-07"));
    }

    #[test]
    fn an_answer_stating_a_working_day_limit_gets_its_due_date() {
        let cal = shipped();
        // Submitted on Wednesday 30 September 2026: 1–7 October off, Saturday 10 October
        // worked, so 5 working days end on Tuesday 13 October.
        let answer = "办理时限：\n- 法定办结时限：20个工作日\n- 承诺办结时限：5个工作日";
        assert_eq!(
            due_note(&cal, d("2026-09-30"), answer).unwrap(),
            "在今天（2026年9月30日）提交的，按法定节假日和调休计算，约在2026年10月13日前办结（5个工作日）。这是按本系统的工作日历和今天的日期估算的，以办理部门的告知为准。"
        );
        // Without a promised limit the stated one counts; a Sunday worked before 国庆
        // (20 September) is one of the days: 18 (Fri) → 20, 21, 22, 23, 24 September.
        let note = due_note(&cal, d("2026-09-18"), "一般诉求：5个工作日内办结并答复。").unwrap();
        assert!(note.contains("约在2026年9月24日前办结"), "{note}");
        // Two limits on the promised line: a date for each.
        let note = due_note(
            &cal,
            d("2026-09-30"),
            "承诺办结时限：首次签发1个工作日；补发、换发10个工作日",
        )
        .unwrap();
        assert!(
            note.contains("1个工作日约到2026年10月8日，10个工作日约到2026年10月20日"),
            "{note}"
        );
        // Office hours and limits in calendar days say nothing to count.
        assert_eq!(
            due_note(&cal, d("2026-09-30"), "工作日 上午9:00—12:00"),
            None
        );
        assert_eq!(due_note(&cal, d("2026-09-30"), "法定办结时限：60日"), None);
        assert_eq!(
            due_note(&cal, d("2026-09-30"), "咨询电话：12345，1个工作日内回复"),
            None
        );
    }

    #[test]
    fn a_due_date_in_a_year_without_its_notice_says_it_counts_weekdays() {
        let cal = shipped();
        // Friday 18 December 2026 + 20 working days runs into 2027, whose notice the calendar
        // lacks: 1 January 2027 counts as a working day, and the note says so.
        let note = due_note(&cal, d("2026-12-18"), "承诺办结时限：20个工作日").unwrap();
        assert!(note.contains("约在2027年1月15日前办结"), "{note}");
        assert!(note.contains("按周一至周五计算"), "{note}");
        assert!(note.contains("还没有2027年的节假日"), "{note}");
        assert!(!note.contains("按法定节假日和调休计算"), "{note}");
    }

    #[test]
    fn hours_open_on_working_days_within_the_window() {
        let cal = shipped();
        let h = Hours::default();
        assert_eq!(h.to_string(), "workdays 09:00-17:30");
        assert!(h.open_at(&cal, at("2026-12-07 09:00")));
        assert!(h.open_at(&cal, at("2026-12-07 17:29")));
        assert!(!h.open_at(&cal, at("2026-12-07 17:30")));
        assert!(!h.open_at(&cal, at("2026-12-07 08:59")));
        assert!(!h.open_at(&cal, at("2026-12-05 10:00")), "Saturday");
        assert!(h.open_at(&cal, at("2026-02-14 10:00")), "make-up Saturday");
        assert!(!h.open_at(&cal, at("2026-10-02 10:00")), "国庆");
        assert!(Hours::Always.open_at(&cal, at("2026-10-02 03:00")));
        // Friday evening before 国庆 → Thursday 8 October 09:00.
        assert_eq!(
            h.next_opening(&cal, at("2026-09-30 18:00")),
            Some(at("2026-10-08 09:00"))
        );
        assert_eq!(
            describe_time(at("2026-10-08 09:00")),
            "10月8日（周四）09:00"
        );
        assert_eq!(
            h.next_opening(&cal, at("2026-12-07 08:00")),
            Some(at("2026-12-07 09:00"))
        );
    }

    #[test]
    fn hours_parse_with_clear_errors() {
        assert_eq!("always".parse::<Hours>().unwrap(), Hours::Always);
        let h: Hours = "每天 08:00-20:00".parse().unwrap();
        assert_eq!(h.to_string(), "daily 08:00-20:00");
        assert_eq!(h.describe(), "每天08:00—20:00");
        assert!("工作日 09:00—17:30".parse::<Hours>().is_ok());
        assert!("weekends 09:00-17:00".parse::<Hours>().is_err());
        assert!(
            "workdays 18:00-09:00"
                .parse::<Hours>()
                .unwrap_err()
                .contains("早于")
        );
        assert!("workdays 9-5".parse::<Hours>().is_err());
        assert_eq!(parse_offset("+08:00").unwrap().local_minus_utc(), 8 * 3600);
        assert!(parse_offset("8").is_err());
    }

    #[test]
    fn calendar_mistakes_are_named() {
        let e = Calendar::parse("[years.2026]\nholidays = [\"2026-13-01\"]\n").unwrap_err();
        assert!(format!("{e:#}").contains("2026-13-01"), "{e:#}");
        let e = Calendar::parse("[years.2026]\nworkdays = [\"2026-12-07\"]\n").unwrap_err();
        assert!(format!("{e:#}").contains("不是周末"), "{e:#}");
        let e = Calendar::parse("[years.2026]\nholidays = [\"2025-10-01\"]\n").unwrap_err();
        assert!(format!("{e:#}").contains("不在 2026 年"), "{e:#}");
    }
}
