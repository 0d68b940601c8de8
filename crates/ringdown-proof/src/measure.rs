//! What the benchmark reads off a running daemon: memory from /proc and
//! counters from its Prometheus endpoint.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A `/proc/<pid>/status` field in kB (`VmRSS`, `VmHWM`), as bytes.
pub fn proc_status_bytes(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

/// CPU time used so far by `pid` (user + system), from `/proc/<pid>/stat`.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields overall.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on Linux.
    Some(Duration::from_millis(ticks * 10))
}

/// Samples `VmRSS` of `pid` every 20 ms until dropped; the highest value
/// seen is [`RssSampler::peak`]. (`VmHWM` gives the kernel's own peak; both
/// are reported, the sampler also works for a process that restarted.)
pub struct RssSampler {
    peak: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl RssSampler {
    pub fn start(pid: u32) -> RssSampler {
        let peak = Arc::new(AtomicU64::new(0));
        let p = peak.clone();
        let task = tokio::spawn(async move {
            loop {
                if let Some(rss) = proc_status_bytes(pid, "VmRSS") {
                    p.fetch_max(rss, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        RssSampler { peak, task }
    }

    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Sum of every sample of `name` in a Prometheus text exposition whose
/// labels include all of `labels`; `None` when there is no such sample.
pub fn metric_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut sum = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') {
            continue;
        }
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (label_text, value) = if rest.starts_with('{') {
            match rest.rfind('}') {
                Some(end) => (&rest[..=end], &rest[end + 1..]),
                None => continue,
            }
        } else if rest.starts_with([' ', '\t']) {
            ("", rest)
        } else {
            continue; // a longer name sharing the prefix
        };
        if !labels
            .iter()
            .all(|(k, v)| label_text.contains(&format!("{k}=\"{v}\"")))
        {
            continue;
        }
        if let Some(v) = value
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        {
            *sum.get_or_insert(0.0) += v;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_the_series_that_match() {
        let text = "# HELP x\n\
            ringdown_aws_requests_total{service=\"sqs\",op=\"ReceiveMessage\"} 12\n\
            ringdown_aws_requests_total{service=\"sqs\",op=\"DeleteMessageBatch\"} 3\n\
            ringdown_aws_requests_total{service=\"dynamodb\",op=\"GetItem\"} 5\n\
            ringdown_aws_requests_total_other 100\n\
            ringdown_calls_placed_total 7\n";
        assert_eq!(
            metric_sum(text, "ringdown_aws_requests_total", &[("service", "sqs")]),
            Some(15.0)
        );
        assert_eq!(
            metric_sum(text, "ringdown_aws_requests_total", &[]),
            Some(20.0)
        );
        assert_eq!(
            metric_sum(text, "ringdown_calls_placed_total", &[]),
            Some(7.0)
        );
        assert_eq!(metric_sum(text, "missing", &[]), None);
        let odd = "alertmanager_alerts_received_total{note=\"a } b\"} 1e1\n";
        assert_eq!(
            metric_sum(odd, "alertmanager_alerts_received_total", &[]),
            Some(10.0)
        );
    }

    #[test]
    fn reads_this_process_memory_and_cpu() {
        let me = std::process::id();
        assert!(proc_status_bytes(me, "VmRSS").unwrap() > 1024 * 1024);
        assert!(
            proc_status_bytes(me, "VmHWM").unwrap() >= proc_status_bytes(me, "VmRSS").unwrap() / 2
        );
        assert!(proc_status_bytes(me, "NoSuchField").is_none());
        assert!(cpu_time(me).is_some());
    }
}
