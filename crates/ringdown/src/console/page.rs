//! The page shell every console page shares: language, the roster's zone,
//! navigation, styles, and how a moment is shown.

use super::Console;
use axum::http::{header, HeaderMap};
use axum::response::Html;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use ringdown_core::roster::Roster;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Ja,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ja => "ja",
        }
    }
}

/// `?lang=` alone: the query of the pages that take nothing else.
#[derive(serde::Deserialize, Default)]
pub struct LangQuery {
    pub lang: Option<String>,
}

/// One request's view: who reads (language), in which zone, at what moment.
pub struct Ctx {
    pub lang: Lang,
    pub roster: Option<Arc<Roster>>,
    pub tz: Tz,
    pub now: DateTime<Utc>,
}

impl Ctx {
    /// `?lang=` first, then the browser's Accept-Language, else English.
    pub fn new(c: &Console, headers: &HeaderMap, lang: Option<&str>) -> Ctx {
        let lang = match lang {
            Some("ja") => Lang::Ja,
            Some("en") => Lang::En,
            _ => headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .filter(|first| first.trim().starts_with("ja"))
                .map_or(Lang::En, |_| Lang::Ja),
        };
        let roster = c.engine().roster();
        let tz = roster.as_ref().map_or(chrono_tz::UTC, |r| r.timezone);
        Ctx {
            lang,
            roster,
            tz,
            now: c.engine().now(),
        }
    }

    pub fn t(&self, en: &'static str, ja: &'static str) -> &'static str {
        match self.lang {
            Lang::En => en,
            Lang::Ja => ja,
        }
    }

    /// A console link that keeps the reader's language.
    pub fn href(&self, path: &str) -> String {
        let sep = if path.contains('?') { '&' } else { '?' };
        format!("{path}{sep}lang={}", self.lang.code())
    }

    /// A moment in the roster's zone; the browser adds the viewer's own
    /// when it differs (`data-viewer`).
    pub fn time(&self, t: DateTime<Utc>) -> Markup {
        let local = t.with_timezone(&self.tz);
        html! {
            time datetime=(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)) {
                (local.format("%Y-%m-%d %H:%M %Z"))
            }
        }
    }

    /// Only the clock (the date is on the row).
    pub fn clock(&self, t: DateTime<Utc>) -> Markup {
        let local = t.with_timezone(&self.tz);
        html! {
            time datetime=(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)) {
                (local.format("%H:%M:%S"))
            }
        }
    }

    /// The page a roster-less daemon (it has not loaded one yet) shows.
    pub fn no_roster(&self, title: &str, active: &str) -> Html<String> {
        let body = html! { p.problem { (self.t("No roster is loaded yet.", "ロスターがまだ読み込まれていません。")) } };
        self.page(title, active, body)
    }

    pub fn page(&self, title: &str, active: &str, body: Markup) -> Html<String> {
        let nav = [
            ("now", "/console/now", self.t("Now", "現在")),
            (
                "schedule",
                "/console/schedule",
                self.t("Schedule", "スケジュール"),
            ),
            (
                "incidents",
                "/console/incidents",
                self.t("Incidents", "インシデント"),
            ),
            ("report", "/console/report", self.t("Report", "レポート")),
            (
                "roster",
                "/console/roster",
                self.t("Roster preview", "ロスター確認"),
            ),
        ];
        let other = match self.lang {
            Lang::En => ("ja", "日本語"),
            Lang::Ja => ("en", "English"),
        };
        let markup = html! {
            (DOCTYPE)
            html lang=(self.lang.code()) {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · ringdown" }
                    style { (PreEscaped(STYLE)) }
                }
                body data-zone=(self.tz.name()) {
                    header {
                        nav {
                            strong { "ringdown" }
                            @for (key, path, label) in nav {
                                @if key == active {
                                    a.active href=(self.href(path)) aria-current="page" { (label) }
                                } @else {
                                    a href=(self.href(path)) { (label) }
                                }
                            }
                            a.lang href={ "?lang=" (other.0) } hreflang=(other.0) { (other.1) }
                        }
                        p.zone {
                            (self.t("Times in the roster's zone, ", "時刻はロスターのタイムゾーン "))
                            strong #zone { (self.tz.name()) }
                            span #viewer-zone {}
                            " · " (self.t("now", "現在")) " " (self.time(self.now))
                        }
                    }
                    main { (body) }
                    script { (PreEscaped(SCRIPT)) }
                }
            }
        };
        Html(markup.into_string())
    }
}

/// Percent-encodes a query value.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

const STYLE: &str = r#"
body{font:15px/1.45 system-ui,"Hiragino Sans","Noto Sans CJK JP",sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
header{background:#1d232a;color:#fff;padding:.5rem 1rem}
nav{display:flex;gap:1rem;align-items:baseline;flex-wrap:wrap}
nav a{color:#cfd8e3;text-decoration:none}nav a.active{color:#fff;border-bottom:2px solid #f5a623}
nav a.lang{margin-left:auto}
.zone{margin:.25rem 0 0;font-size:.85rem;color:#cfd8e3}
main{padding:1rem;max-width:1200px}
h1{font-size:1.4rem;margin:.2rem 0 1rem}h2{font-size:1.1rem;margin:1.4rem 0 .5rem}
table{border-collapse:collapse;background:#fff;margin:.3rem 0 1rem}
th,td{border:1px solid #d8dde3;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#eef1f4;font-weight:600}
section.card{background:#fff;border:1px solid #d8dde3;border-radius:6px;padding:.6rem 1rem;margin:.6rem 0}
.muted{color:#66707a}.problem{color:#a4000f;font-weight:600}.ok{color:#18794e;font-weight:600}
.warning{color:#8a5a00}
ol.order li{margin:.15rem 0}
.viewer{color:#66707a;font-size:.85em}
.state{display:inline-block;padding:0 .4rem;border-radius:3px;background:#e4e8ec;font-size:.85em}
.state-calling,.state-waiting{background:#ffe1b3}.state-acknowledged{background:#d3f0dd}
.state-exhausted{background:#f8d0d4}.state-resolved,.state-silenced{background:#e4e8ec}
pre.diff{background:#fff;border:1px solid #d8dde3;padding:.5rem;overflow:auto}
.add{color:#18794e}.del{color:#a4000f}
form.inline{display:inline}
textarea{width:100%;font-family:ui-monospace,monospace}
svg text{font-family:system-ui,sans-serif}
.next{background:#fff6d6}
"#;

/// Adds the viewer's clock beside each moment when the viewer's zone is
/// not the roster's. Pages read the same without it.
const SCRIPT: &str = r#"
(function(){
  var zone=document.body.getAttribute('data-zone');
  var mine=Intl.DateTimeFormat().resolvedOptions().timeZone;
  if(!mine||mine===zone)return;
  var lang=document.documentElement.lang;
  document.getElementById('viewer-zone').textContent=' ('+(lang==='ja'?'あなたの時刻: ':'yours: ')+mine+')';
  var fmt=new Intl.DateTimeFormat(lang,{month:'2-digit',day:'2-digit',hour:'2-digit',minute:'2-digit',timeZoneName:'short'});
  document.querySelectorAll('time[datetime]').forEach(function(t){
    var s=document.createElement('span');s.className='viewer';
    s.textContent=' ('+fmt.format(new Date(t.getAttribute('datetime')))+')';
    t.after(s);
  });
})();
"#;

#[cfg(test)]
mod tests {
    #[test]
    fn query_values_are_percent_encoded_but_paths_stay_readable() {
        assert_eq!(
            super::url_encode("/console/now?at=x&y"),
            "/console/now%3Fat%3Dx%26y"
        );
        assert_eq!(super::url_encode("日"), "%E6%97%A5");
    }
}
