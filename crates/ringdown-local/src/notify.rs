//! The fallback channel of the embedded default: the log, and a JSON-lines
//! file an operator (or a script) can watch.

use async_trait::async_trait;
use ringdown_core::escalation::Incident;
use ringdown_engine::{Clock, Notifier};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub struct FileNotifier {
    path: Option<PathBuf>,
    clock: Arc<dyn Clock>,
    sent: Mutex<Vec<serde_json::Value>>,
}

impl FileNotifier {
    pub fn new(path: Option<PathBuf>, clock: Arc<dyn Clock>) -> Self {
        FileNotifier {
            path,
            clock,
            sent: Mutex::new(Vec::new()),
        }
    }

    /// Everything sent so far (for the demo and tests).
    pub fn sent(&self) -> Vec<serde_json::Value> {
        self.sent.lock().expect("sent lock").clone()
    }

    fn write(&self, kind: &str, incident: &Incident, text: &str) -> Result<(), String> {
        let line = serde_json::json!({
            "at": self.clock.now().to_rfc3339(),
            "kind": kind,
            "incident": incident.id,
            "title": incident.title(),
            "phase": incident.phase.as_str(),
            "message": text,
        });
        self.sent.lock().expect("sent lock").push(line.clone());
        if let Some(path) = &self.path {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
            writeln!(f, "{line}").map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        Ok(())
    }
}

#[async_trait]
impl Notifier for FileNotifier {
    async fn fallback(&self, incident: &Incident, reason: &str) -> Result<(), String> {
        tracing::warn!(incident = %incident.id, "FALLBACK: {reason}");
        self.write("fallback", incident, reason)
    }

    async fn operator_alert(&self, incident: &Incident, message: &str) -> Result<(), String> {
        tracing::error!(incident = %incident.id, "OPERATOR: {message}");
        self.write("operator", incident, message)
    }
}
