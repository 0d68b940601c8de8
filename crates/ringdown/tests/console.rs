//! The console in a real browser: Debian's chromium, headless, opens the
//! pages a real `ringdown run` (embedded default) serves, with a roster and
//! incidents this test makes; the assertions read the DOM chromium rendered
//! (scripts run), and every page is saved as a screenshot.
//!
//! Four questions an SRE must answer from the pages alone: who is called for
//! `systemname=payments` at 03:00 on the next holiday; when the next
//! hand-off is; what happened in an incident and who pressed what; and,
//! behind the token, acting on one.
//!
//! Without chromium the tests say so and pass, unless
//! `RINGDOWN_REQUIRE_BROWSER=1` (tests/run.sh installs chromium and sets it).

use chrono::{
    DateTime, Datelike, Duration as Days, FixedOffset, NaiveDate, TimeZone, Utc, Weekday,
};
use scraper::{Html, Selector};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("RINGDOWN_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if path.exists() {
        return Some(path);
    }
    if std::env::var("RINGDOWN_REQUIRE_BROWSER").as_deref() == Ok("1") {
        panic!(
            "RINGDOWN_REQUIRE_BROWSER=1 but there is no chromium at {}",
            path.display()
        );
    }
    eprintln!(
        "skipped: no chromium at {} (apt-get install chromium)",
        path.display()
    );
    None
}

struct Browser {
    bin: PathBuf,
    profile: PathBuf,
    shots: PathBuf,
}

impl Browser {
    fn new(dir: &Path) -> Option<Browser> {
        let shots = std::env::var_os("RINGDOWN_SCREENSHOTS")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console"));
        std::fs::create_dir_all(&shots).unwrap();
        Some(Browser {
            bin: chromium()?,
            profile: dir.join("chromium-profile"),
            shots,
        })
    }

    /// Chromium as this machine allows it (root, no network beyond
    /// loopback), in the viewer's zone `tz`.
    fn command(&self, tz: &str) -> Command {
        let mut c = Command::new(&self.bin);
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--virtual-time-budget=3000",
        ])
        .arg(format!("--user-data-dir={}", self.profile.display()))
        .env("TZ", tz)
        .stdin(Stdio::null())
        .stderr(Stdio::null());
        c
    }

    /// The DOM after the page's scripts ran, parsed.
    fn open(&self, url: &str, tz: &str) -> Html {
        let out = self
            .command(tz)
            .arg("--dump-dom")
            .arg(url)
            .output()
            .expect("chromium runs");
        assert!(out.status.success(), "chromium failed on {url}");
        let dom = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(dom.contains("</html>"), "no page from {url}: {dom}");
        Html::parse_document(&dom)
    }

    fn screenshot(&self, url: &str, name: &str, height: u32) -> PathBuf {
        let path = self.shots.join(format!("{name}.png"));
        let status = self
            .command("Asia/Tokyo")
            .arg(format!("--window-size=1280,{height}"))
            .arg(format!("--screenshot={}", path.display()))
            .arg(url)
            .stdout(Stdio::null())
            .status()
            .expect("chromium runs");
        assert!(status.success(), "no screenshot of {url}");
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert!(size > 10_000, "{} is only {size} bytes", path.display());
        path
    }
}

fn select<'a>(doc: &'a Html, css: &str) -> Vec<scraper::ElementRef<'a>> {
    let sel = Selector::parse(css).unwrap();
    doc.select(&sel).collect()
}

fn text(e: &scraper::ElementRef) -> String {
    e.text()
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

struct Daemon {
    child: Child,
    addr: String,
    dir: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Daemon {
    /// `time_scale`: how much faster than real time the simulated phones run.
    fn start(name: &str, roster: &str, time_scale: f64, env: &[(&str, &str)]) -> Daemon {
        let dir =
            std::env::temp_dir().join(format!("ringdown-console-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("roster.yaml"), roster).unwrap();
        std::fs::write(dir.join("personas.yaml"), PERSONAS).unwrap();
        let cfg = dir.join("ringdown.toml");
        std::fs::write(
            &cfg,
            format!(
                "roster_file = {:?}\n[store]\nsqlite_path = {:?}\n[fallback]\nfile = {:?}\n\
                 [http]\nlisten = \"127.0.0.1:0\"\n[simulator]\npersonas_file = {:?}\ntime_scale = {time_scale:?}\n\
                 [log]\nformat = \"text\"\n",
                dir.join("roster.yaml"),
                dir.join("ringdown.sqlite"),
                dir.join("fallback.jsonl"),
                dir.join("personas.yaml"),
            ),
        )
        .unwrap();
        let log = dir.join("daemon.log");
        let child = Command::new(env!("CARGO_BIN_EXE_ringdown"))
            .args(["run", "--config", cfg.to_str().unwrap()])
            .env_remove("RINGDOWN_HTTP_TOKEN")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        // Owned from here: a failed start still kills the process.
        let mut daemon = Daemon {
            child,
            addr: String::new(),
            dir,
        };
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(addr) = text
                .lines()
                .find_map(|l| l.split("console on http://").nth(1))
                .and_then(|r| r.split('/').next())
            {
                daemon.addr = addr.to_string();
                return daemon;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "daemon did not start:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// One HTTP/1.1 exchange: (status, headers and body as text).
    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\ncontent-length: {}\r\n",
            self.addr,
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(body);
        s.write_all(req.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let status = out
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (status, out)
    }

    /// Posts one alert; the incident id it went to.
    fn alert(&self, system: &str, title: &str) -> String {
        let body = format!(r#"{{"title": "{title}", "labels": {{"systemname": "{system}"}}}}"#);
        let (status, out) = self.request(
            "POST",
            "/v1/alerts",
            &[("content-type", "application/json")],
            &body,
        );
        assert_eq!(status, 202, "{out}");
        let json = out.split("\r\n\r\n").nth(1).unwrap();
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        v["incidents"][0].as_str().unwrap().to_string()
    }

    /// Waits until the incident's page shows `state`.
    fn until_state(&self, id: &str, state: &str) {
        let started = Instant::now();
        loop {
            let (_, page) = self.request("GET", &format!("/console/incidents/{id}"), &[], "");
            if page.contains(&format!(
                "<h1>Incident {id} <span class=\"state state-{state}\""
            )) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "incident {id} never became {state}:\n{page}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn tokyo() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).unwrap()
}

/// The first Monday–Friday at least two days after today in Tokyo: the
/// holiday this test declares.
fn holiday_ahead() -> NaiveDate {
    let mut d = Utc::now().with_timezone(&tokyo()).date_naive() + Days::days(2);
    while matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
        d += Days::days(1);
    }
    d
}

/// Weekly from Monday 2026-11-09 10:00 Tokyo, tanaka then emma.
fn primary_at(t: DateTime<Utc>) -> &'static str {
    let start = tokyo().with_ymd_and_hms(2026, 11, 9, 10, 0, 0).unwrap();
    let k = (t - start.with_timezone(&Utc))
        .num_seconds()
        .div_euclid(7 * 86400);
    ["tanaka", "emma"][k.rem_euclid(2) as usize]
}

fn roster(holiday: NaiveDate) -> String {
    format!(
        r#"
timezone: Asia/Tokyo
calendars:
  office: {{ weekdays: [mon, tue, wed, thu, fri], holidays: none, extra_holidays: ["{holiday}"] }}
people:
  sato:
    name: Sato Jiro
    phones: [{{ number: "+819012340003" }}]
    only: {{ calendar: office }}
  tanaka:
    name: Tanaka Taro
    phones:
      - {{ number: "+81312340001", when: {{ calendar: office, hours: "09:00-18:00" }} }}
      - {{ number: "+819012340001" }}
  emma:
    name: Emma Wilson
    language: en-US
    phones: [{{ number: "+14155550104" }}]
  suzuki:
    name: Suzuki Hanako
    phones: [{{ number: "+819012340002" }}]
rotations:
  primary:
    members: [tanaka, emma]
    shift: 1w
    start: "2026-11-09T10:00"
  dba:
    members: [suzuki]
    shift: 1d
    start: "2026-11-09T09:00"
    overrides:
      - {{ person: sato, from: "{holiday}T09:00", to: "{holiday}T18:00" }}
policies:
  - name: payments
    match: {{ systemname: payments }}
    group_wait_secs: 0
    steps:
      - targets: [person:sato]
      - targets: [rotation:primary]
      - targets: [person:suzuki]
  - name: queue
    match: {{ systemname: queue }}
    group_wait_secs: 0
    steps:
      - targets: [person:suzuki]
  - name: default
    match: {{}}
    group_wait_secs: 0
    steps:
      - targets: [person:emma]
      - targets: [person:tanaka]
"#
    )
}

/// Emma's phone goes to voicemail; Tanaka's mobile answers and presses 1
/// (the default caller); Suzuki lets it ring out.
const PERSONAS: &str = r#"
default: { answer_after_secs: 3, keys: [{ key: "1", delay_secs: 1 }, { key: "1", delay_secs: 1 }] }
personas:
  "+14155550104": { voicemail: { answer_after_secs: 8 } }
  "+819012340002": { answer_after_secs: 600 }
"#;

/// The people a plan list calls, in order (skipped ones left out).
fn called(doc: &Html, list: &str) -> Vec<String> {
    select(doc, &format!("ol[data-list={list}] li.target"))
        .iter()
        .filter(|li| {
            li.select(&Selector::parse("code.phone").unwrap())
                .next()
                .is_some()
        })
        .map(|li| li.value().attr("data-person").unwrap().to_string())
        .collect()
}

#[test]
fn who_is_called_for_payments_at_03_00_on_the_next_holiday_and_when_the_next_hand_off_is() {
    let holiday = holiday_ahead();
    let d = Daemon::start("schedule", &roster(holiday), 20.0, &[]);
    let Some(browser) = Browser::new(&d.dir) else {
        return;
    };

    // The schedule names the next holiday and links to the question.
    let schedule = browser.open(&d.url("/console/schedule"), "America/New_York");
    let holidays = select(&schedule, "li.holiday");
    assert_eq!(holidays.len(), 1, "{}", schedule.html());
    assert_eq!(
        holidays[0].value().attr("data-date"),
        Some(holiday.to_string().as_str())
    );
    let ask = select(&schedule, "li.holiday a.ask")[0]
        .value()
        .attr("href")
        .unwrap()
        .to_string();
    assert!(ask.contains(&format!("at={holiday}T03:00")), "{ask}");

    // Following it with the labels: Sato works office days only and is
    // skipped; the primary rotation's engineer, then Suzuki.
    let url = d.url(&format!("{ask}&labels=systemname%3Dpayments"));
    let answer = browser.open(&url, "America/New_York");
    let at = tokyo()
        .from_local_datetime(&holiday.and_hms_opt(3, 0, 0).unwrap())
        .unwrap()
        .with_timezone(&Utc);
    assert_eq!(
        called(&answer, "plan"),
        vec![primary_at(at), "suzuki"],
        "{}",
        answer.html()
    );
    let skipped = select(&answer, "ol[data-list=plan] li.target[data-person=sato]");
    assert!(
        text(&skipped[0]).contains("skipped"),
        "{}",
        text(&skipped[0])
    );
    assert_eq!(text(&select(&answer, "#answer .policy")[0]), "payments");
    // The viewer in New York sees their own clock beside Tokyo's.
    let zone = text(&select(&answer, "#viewer-zone")[0]);
    assert!(zone.contains("America/New_York"), "{zone}");
    assert!(!select(&answer, "time + span.viewer").is_empty());

    // The next working day at 03:00 Sato is first: the holiday made the difference.
    let mut workday = holiday + Days::days(1);
    while matches!(workday.weekday(), Weekday::Sat | Weekday::Sun) {
        workday += Days::days(1);
    }
    let plain = browser.open(
        &d.url(&format!(
            "/console/now?at={workday}T03:00&labels=systemname%3Dpayments"
        )),
        "Asia/Tokyo",
    );
    assert_eq!(
        called(&plain, "plan").first().map(String::as_str),
        Some("sato")
    );

    // The next hand-off of the primary rotation: the next Monday 10:00
    // Tokyo, from whoever is on now to the other.
    let now = Utc::now();
    let start = tokyo()
        .with_ymd_and_hms(2026, 11, 9, 10, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    let k = (now - start).num_seconds().div_euclid(7 * 86400) + 1;
    let expected = start + Days::weeks(k);
    let next = &select(&schedule, "#next-handoff-primary")[0];
    let at: DateTime<Utc> = next.value().attr("data-at").unwrap().parse().unwrap();
    assert_eq!(at, expected);
    let names = |w: &str| {
        if w == "tanaka" {
            "Tanaka Taro"
        } else {
            "Emma Wilson"
        }
    };
    assert_eq!(
        text(
            &next
                .select(&Selector::parse(".from").unwrap())
                .next()
                .unwrap()
        ),
        names(primary_at(now))
    );
    assert_eq!(
        text(
            &next
                .select(&Selector::parse(".to").unwrap())
                .next()
                .unwrap()
        ),
        names(primary_at(expected))
    );
    // The one-person rotation hands nothing over but Sato's override does.
    let dba = text(&select(&schedule, "section.rotation[data-rotation=dba]")[0]);
    assert!(dba.contains("Suzuki Hanako → Sato Jiro"), "{dba}");
    assert!(!select(&schedule, "#schedule-picture g.shift[data-person=sato]").is_empty());
    // Each rotation and each person has a calendar feed.
    let (status, ics) = d.request("GET", "/console/schedule/rotation/primary.ics", &[], "");
    assert_eq!(status, 200);
    assert!(
        ics.contains("BEGIN:VCALENDAR") && ics.contains("Tanaka Taro"),
        "{ics}"
    );
    let (_, ics) = d.request("GET", "/console/schedule/person/emma.ics", &[], "");
    assert!(
        ics.contains("Emma Wilson") && !ics.contains("Tanaka Taro"),
        "{ics}"
    );

    browser.screenshot(&d.url("/console/schedule"), "schedule", 1250);
    browser.screenshot(&url.replace("lang=en", "lang=ja"), "now-ja", 1000);
}

#[test]
fn the_incident_page_tells_who_was_rung_and_who_pressed_what() {
    let d = Daemon::start("incident", &roster(holiday_ahead()), 20.0, &[]);
    let Some(browser) = Browser::new(&d.dir) else {
        return;
    };
    // Emma's phone goes to voicemail, Tanaka presses 1.
    let id = d.alert("db", "Disk full on db-1");
    d.until_state(&id, "acknowledged");

    let page = browser.open(&d.url(&format!("/console/incidents/{id}")), "Asia/Tokyo");
    let rows = select(&page, "#calls tr.call");
    let who: Vec<&str> = rows
        .iter()
        .map(|r| r.value().attr("data-person").unwrap())
        .collect();
    assert_eq!(who, ["emma", "tanaka"], "{}", page.html());
    let cell = |r: &scraper::ElementRef, c: &str| {
        text(&r.select(&Selector::parse(c).unwrap()).next().unwrap())
    };
    assert_eq!(rows[0].value().attr("data-outcome"), Some("UNREACHABLE"));
    assert!(cell(&rows[0], "td.answered").starts_with("no"));
    assert_eq!(cell(&rows[0], "td.pressed"), "nothing");
    assert_eq!(rows[1].value().attr("data-outcome"), Some("ACKNOWLEDGED"));
    assert_eq!(cell(&rows[1], "td.pressed"), "1 (acknowledge)");
    assert!(cell(&rows[1], "td.who").contains("Tanaka Taro"));
    // Masked (Tanaka's office line or mobile, by the hour the test runs).
    let numbers: Vec<String> = select(&page, "#calls td code").iter().map(text).collect();
    assert_eq!(numbers[0], "+14*****0104");
    assert!(
        numbers[1].starts_with("+81***") && numbers[1].ends_with("0001"),
        "{numbers:?}"
    );
    assert_eq!(text(&select(&page, "#acked-by")[0]), "tanaka");
    // The timeline, in order.
    let kinds: Vec<&str> = select(&page, "#timeline li")
        .iter()
        .map(|li| li.value().attr("data-kind").unwrap())
        .collect();
    let wanted = [
        "opened",
        "alerts",
        "call_placed",
        "call_outcome",
        "call_placed",
        "call_outcome",
        "acknowledged",
    ];
    let mut it = kinds.iter();
    for w in wanted {
        assert!(
            it.any(|k| *k == w),
            "{w} missing or out of order in {kinds:?}"
        );
    }
    // The picture has a bar per call and no buttons: it is closed to acting.
    assert_eq!(select(&page, "#incident-picture g.call-bar").len(), 2);

    // The list finds it by state and policy, and not under another.
    let list = browser.open(
        &d.url("/console/incidents?state=acknowledged&policy=default"),
        "Asia/Tokyo",
    );
    assert_eq!(select(&list, "tr.incident").len(), 1);
    let none = browser.open(
        &d.url("/console/incidents?state=acknowledged&policy=payments"),
        "Asia/Tokyo",
    );
    assert!(select(&none, "tr.incident").is_empty());

    // The month's report counts both calls, with the chart.
    let report = browser.open(&d.url("/console/report"), "Asia/Tokyo");
    let all: Vec<String> = select(&report, "#overall tbody tr:first-child > *")
        .iter()
        .map(text)
        .collect();
    assert_eq!(
        all[..4],
        ["All", "2", "1", "50%"],
        "calls, answered, answer rate: {all:?}"
    );
    assert!(!select(&report, "#chart svg").is_empty());

    browser.screenshot(&d.url(&format!("/console/incidents/{id}")), "incident", 900);
    browser.screenshot(&d.url("/console/report"), "report", 1000);
}

#[test]
fn buttons_act_only_with_the_token_and_reading_changes_nothing() {
    // In real time: Suzuki's phone rings for 30 s and nobody answers.
    let d = Daemon::start("act", &roster(holiday_ahead()), 1.0, &[]);
    let Some(browser) = Browser::new(&d.dir) else {
        return;
    };
    let id = d.alert("queue", "Queue stuck");
    d.until_state(&id, "calling");
    let before = browser.open(&d.url(&format!("/console/incidents/{id}")), "Asia/Tokyo");
    let entries = select(&before, "#timeline li").len();
    assert_eq!(
        select(&before, "form#act").len(),
        1,
        "an open incident has buttons"
    );
    for path in [
        "/console/now",
        "/console/schedule",
        "/console/incidents",
        "/console/report",
        "/console/roster",
    ] {
        let page = browser.open(&d.url(path), "Asia/Tokyo");
        assert!(!select(&page, "main h1").is_empty(), "{path}");
    }
    let after = browser.open(&d.url(&format!("/console/incidents/{id}")), "Asia/Tokyo");
    assert_eq!(
        select(&after, "#timeline li").len(),
        entries,
        "reading changed the incident"
    );

    // A wrong token is refused and changes nothing.
    let form = |token: &str| format!("action=ack&by=Sato+from+the+console&token={token}&lang=en");
    let ct = [("content-type", "application/x-www-form-urlencoded")];
    let (status, _) = d.request(
        "POST",
        &format!("/console/incidents/{id}/act"),
        &ct,
        &form("guess"),
    );
    assert_eq!(status, 401);
    let still = browser.open(&d.url(&format!("/console/incidents/{id}")), "Asia/Tokyo");
    assert_eq!(
        select(&still, "span.state")[0].value().attr("data-state"),
        Some("calling")
    );

    // The token beside the database acknowledges, and the ringing phone is hung up.
    let token = std::fs::read_to_string(d.dir.join("ringdown.sqlite.token")).unwrap();
    let (status, out) = d.request(
        "POST",
        &format!("/console/incidents/{id}/act"),
        &ct,
        &form(token.trim()),
    );
    assert_eq!(status, 303, "{out}");
    let done = browser.open(
        &d.url(&format!("/console/incidents/{id}?done=ack")),
        "Asia/Tokyo",
    );
    assert_eq!(
        select(&done, "h1 span.state")[0].value().attr("data-state"),
        Some("acknowledged")
    );
    assert_eq!(
        text(&select(&done, "#acked-by")[0]),
        "Sato from the console"
    );
    let kinds: Vec<&str> = select(&done, "#timeline li")
        .iter()
        .map(|li| li.value().attr("data-kind").unwrap())
        .collect();
    assert!(kinds.contains(&"call_stopped"), "{kinds:?}");

    // Japanese, from the browser's language or ?lang=ja.
    let ja = browser.open(&d.url("/console/now?lang=ja"), "Asia/Tokyo");
    assert_eq!(select(&ja, "html")[0].value().attr("lang"), Some("ja"));
    assert_eq!(text(&select(&ja, "main h1")[0]), "誰に電話するか");
}

#[test]
fn the_roster_preview_shows_problems_and_the_diff_before_anyone_applies_it() {
    let holiday = holiday_ahead();
    let live = roster(holiday);
    let d = Daemon::start("preview", &live, 20.0, &[]);
    let boundary = "----ringdown-test";
    let multipart = |yaml: &str| {
        format!(
            "--{boundary}\r\ncontent-disposition: form-data; name=\"roster\"\r\n\r\n{yaml}\r\n\
             --{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"\"\r\n\
             content-type: application/octet-stream\r\n\r\n\r\n--{boundary}--\r\n"
        )
    };
    let ct = format!("multipart/form-data; boundary={boundary}");
    let post = |yaml: &str| {
        let (status, out) = d.request(
            "POST",
            "/console/roster",
            &[("content-type", ct.as_str())],
            &multipart(yaml),
        );
        assert_eq!(status, 200, "{out}");
        Html::parse_document(out.split("\r\n\r\n").nth(1).unwrap())
    };
    // A change: Suzuki leaves the payments policy's last step.
    let changed = live.replace(
        "      - targets: [person:suzuki]\n",
        "      - targets: [person:tanaka]\n",
    );
    let page = post(&changed);
    assert_eq!(select(&page, "#valid").len(), 1);
    let diff = text(&select(&page, "#diff")[0]);
    assert!(
        diff.contains("- - targets: [person:suzuki]")
            && diff.contains("+ - targets: [person:tanaka]"),
        "{diff}"
    );
    // A broken one: every problem, none applied.
    let broken = live.replace("[rotation:primary]", "[rotation:nightshift]");
    let page = post(&broken);
    let problems: Vec<String> = select(&page, "#problems li").iter().map(text).collect();
    assert!(
        problems.iter().any(|p| p.contains("nightshift")),
        "{problems:?}"
    );
    // The live roster is as it was.
    let page = post(&live);
    assert_eq!(select(&page, "#no-changes").len(), 1);
    if let Some(browser) = Browser::new(&d.dir) {
        browser.screenshot(&d.url("/console/roster"), "roster-preview", 700);
    }
}

#[test]
fn with_a_token_the_console_asks_for_it_and_a_cookie_keeps_it() {
    let token = "console-test-token-0123456789";
    let d = Daemon::start(
        "token",
        &roster(holiday_ahead()),
        20.0,
        &[("RINGDOWN_HTTP_TOKEN", token)],
    );
    let (status, out) = d.request("GET", "/console/now", &[], "");
    assert_eq!(status, 303, "{out}");
    assert!(
        out.contains("location: /console/login?next=/console/now"),
        "{out}"
    );
    let ct = [("content-type", "application/x-www-form-urlencoded")];
    let (status, out) = d.request(
        "POST",
        "/console/login",
        &ct,
        "token=wrong&next=/console/now",
    );
    assert_eq!(status, 303);
    assert!(
        out.contains("failed=1") && !out.contains("set-cookie"),
        "{out}"
    );
    let (status, out) = d.request(
        "POST",
        "/console/login",
        &ct,
        &format!("token={token}&next=https://elsewhere.example/"),
    );
    assert_eq!(status, 303);
    assert!(
        out.contains("location: /console/now"),
        "never a redirect off the console: {out}"
    );
    assert!(out.contains("HttpOnly; SameSite=Strict"), "{out}");
    let cookie = format!("ringdown_console={token}");
    let (status, _) = d.request(
        "GET",
        "/console/schedule",
        &[("cookie", cookie.as_str())],
        "",
    );
    assert_eq!(status, 200);
    let bearer = format!("Bearer {token}");
    let (status, _) = d.request(
        "GET",
        "/console/incidents",
        &[("authorization", bearer.as_str())],
        "",
    );
    assert_eq!(status, 200);
}
