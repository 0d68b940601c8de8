//! The shadow log: one JSON line per event of a shadow run (a start, a
//! would-be call, a would-be notice, a stop), appended as it happens.
//! Phone numbers in it are always masked.

use chrono::{DateTime, Utc};
use ringdown_core::Labels;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The disconnect reason of every shadow call: it was never dialled, so
/// nobody answered it.
pub const NOT_DIALLED: &str = "SHADOW_NOT_DIALLED";

/// One line of the shadow log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// A shadow run started (each start of a process).
    Started { at: DateTime<Utc>, instance: String },
    /// A shadow run stopped cleanly.
    Stopped { at: DateTime<Utc>, instance: String },
    /// A call ringdown would have placed.
    Call(WouldCall),
    /// A notice ringdown would have sent to the fallback channel.
    Notice(WouldNotice),
}

impl Entry {
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Entry::Started { at, .. } | Entry::Stopped { at, .. } => *at,
            Entry::Call(c) => c.at,
            Entry::Notice(n) => n.at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WouldCall {
    pub at: DateTime<Utc>,
    pub incident_id: String,
    pub call_id: String,
    /// The roster's person id.
    pub person: String,
    /// The roster's display name, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Masked.
    pub phone: String,
    /// The incident's title: its group and first alert.
    pub alert: String,
    /// The labels every alert of the incident carried.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    pub step: u32,
    pub attempt: u32,
    /// 0 for the first walk of the policy, then each `repeat`.
    #[serde(default)]
    pub pass: u32,
    /// Why this person, this phone, now.
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WouldNotice {
    pub at: DateTime<Utc>,
    pub incident_id: String,
    /// `fallback` (nobody could be reached) or `operator` (something to fix).
    pub notice: String,
    pub alert: String,
    pub message: String,
}

/// The shadow log being written: appends are whole lines, one write each.
pub struct ShadowLog {
    path: PathBuf,
    file: Mutex<std::fs::File>,
    /// Calls already in the log: a call re-issued (after a restart, say) is
    /// recorded once, as Connect would place it once.
    calls: Mutex<HashSet<String>>,
}

impl ShadowLog {
    /// Opens (or creates) the log at `path` for appending.
    pub fn open(path: &Path) -> std::io::Result<ShadowLog> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)?;
        let mut text = String::new();
        file.read_to_string(&mut text)?;
        let calls = text
            .lines()
            .filter_map(|l| match serde_json::from_str(l) {
                Ok(Entry::Call(c)) => Some(c.call_id),
                _ => None,
            })
            .collect();
        // A line cut short (the disk filled up) stays alone on its line.
        if !text.is_empty() && !text.ends_with('\n') {
            file.write_all(b"\n")?;
        }
        file.seek(std::io::SeekFrom::End(0))?;
        Ok(ShadowLog {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            calls: Mutex::new(calls),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether `call_id` is in the log already.
    pub fn has_call(&self, call_id: &str) -> bool {
        self.calls.lock().expect("calls lock").contains(call_id)
    }

    /// Appends `entry`; a call already in the log is not written again
    /// (false).
    pub fn append(&self, entry: &Entry) -> std::io::Result<bool> {
        let mut line = serde_json::to_string(entry).map_err(std::io::Error::other)?;
        line.push('\n');
        let mut calls = self.calls.lock().expect("calls lock");
        if let Entry::Call(c) = entry {
            if calls.contains(&c.call_id) {
                return Ok(false);
            }
        }
        self.file
            .lock()
            .expect("shadow log lock")
            .write_all(line.as_bytes())?;
        if let Entry::Call(c) = entry {
            calls.insert(c.call_id.clone());
        }
        Ok(true)
    }
}

/// Reads a shadow log; a line that is not an entry is the user's error,
/// named by file and line.
pub fn read(path: &Path) -> anyhow::Result<Vec<Entry>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| crate::commands::user(format!("cannot read {}: {e}", path.display())))?;
    parse(&text, &path.display().to_string())
}

/// The entries of a shadow log's `text`; `name` names it in errors.
pub fn parse(text: &str, name: &str) -> anyhow::Result<Vec<Entry>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let entry = serde_json::from_str(line).map_err(|e| {
            crate::commands::user(format!("{name}:{}: not a shadow log entry: {e}", i + 1))
        })?;
        out.push(entry);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: &str) -> Entry {
        Entry::Call(WouldCall {
            at: "2026-11-24T03:12:30+09:00".parse().unwrap(),
            incident_id: "inc-1".into(),
            call_id: id.into(),
            person: "tanaka".into(),
            name: Some("Tanaka Taro".into()),
            phone: "+81******0001".into(),
            alert: "systemname web: p99 latency above 4 s".into(),
            labels: Labels::new(),
            step: 1,
            attempt: 1,
            pass: 0,
            why: "step 1 attempt 1: person:tanaka".into(),
        })
    }

    #[test]
    fn a_call_is_written_once_even_by_a_second_process_on_the_same_log() {
        let dir = std::env::temp_dir().join(format!("ringdown-shadowlog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("once.jsonl");
        let _ = std::fs::remove_file(&path);
        let log = ShadowLog::open(&path).unwrap();
        assert!(log.append(&call("inc-1-p0s1a1t0r0")).unwrap());
        assert!(!log.append(&call("inc-1-p0s1a1t0r0")).unwrap());
        drop(log);
        // Cut short, as if the disk had filled up mid-line.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"{\"kind\":\"ca").unwrap();
        let log = ShadowLog::open(&path).unwrap();
        assert!(log.has_call("inc-1-p0s1a1t0r0"));
        assert!(!log.append(&call("inc-1-p0s1a1t0r0")).unwrap());
        assert!(log.append(&call("inc-1-p0s2a1t0r0")).unwrap());
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        let err = read(&path).unwrap_err().to_string();
        let at = format!("{}:2: not a shadow log entry", path.display());
        assert!(err.starts_with(&at), "{err}");
    }

    #[test]
    fn entries_read_back_as_written() {
        let line = serde_json::to_string(&call("c1")).unwrap();
        assert!(line.starts_with("{\"kind\":\"call\",\"at\":"), "{line}");
        let back = parse(&format!("{line}\n\n"), "x").unwrap();
        assert_eq!(back, [call("c1")]);
        let err = parse("{\"kind\":\"dial\"}", "x.jsonl").unwrap_err();
        assert!(err.to_string().starts_with("x.jsonl:1: "), "{err}");
    }
}
