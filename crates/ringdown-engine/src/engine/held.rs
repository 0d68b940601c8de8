//! Work the store or a channel refused for now, kept in memory and tried
//! again with backoff: outcomes (whose contact record is already
//! checkpointed) and notices (which stay in their incident's outbox).

use chrono::{DateTime, Utc};
use std::sync::Mutex;

/// One refused item: when to try again and how often it failed so far.
#[derive(Debug)]
pub(super) struct Held<T> {
    pub retry_at: DateTime<Utc>,
    pub failures: u32,
    pub item: T,
}

/// An outcome the store could not take yet.
pub(super) type HeldOutcome = Held<crate::ports::OutcomeReport>;

/// A notice the channel refused, by where it is stored.
#[derive(Debug)]
pub(super) struct NoticeRef {
    pub incident_id: String,
    pub notice_id: String,
}

pub(super) struct HeldQueue<T>(Mutex<Vec<Held<T>>>);

impl<T> Default for HeldQueue<T> {
    fn default() -> Self {
        HeldQueue(Mutex::new(Vec::new()))
    }
}

impl<T> HeldQueue<T> {
    pub fn hold(&self, retry_at: DateTime<Utc>, failures: u32, item: T) {
        self.lock().push(Held {
            retry_at,
            failures,
            item,
        });
    }

    /// Removes and returns the items due at `now`.
    pub fn take_due(&self, now: DateTime<Utc>) -> Vec<Held<T>> {
        self.take_where(|h| h.retry_at <= now)
    }

    /// Removes and returns the items `pick` selects.
    pub fn take_where(&self, pick: impl Fn(&Held<T>) -> bool) -> Vec<Held<T>> {
        let mut q = self.lock();
        let (taken, kept): (Vec<_>, Vec<_>) = q.drain(..).partition(|h| pick(h));
        *q = kept;
        taken
    }

    /// When the earliest item is due.
    pub fn next_at(&self) -> Option<DateTime<Utc>> {
        self.lock().iter().map(|h| h.retry_at).min()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Held<T>>> {
        self.0.lock().expect("held queue")
    }
}
