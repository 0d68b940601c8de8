//! The escalation state machine: `decide(incident, event, ctx, now) -> (incident, effects)`.
//!
//! An [`Incident`] is one outage: the alerts of one group, and where the
//! escalation stands (pass over the policy, step, attempt, target). [`decide`]
//! is a pure function. It never performs a call; it returns [`Effect`]s such as
//! [`Effect::PlaceCall`] that the shell executes, and the shell feeds what
//! happened back as [`Event`]s. The shell persists the returned incident before
//! executing effects, so a crash between the two replays the same decision and
//! the deterministic call id (`ClientToken`) makes the replayed call a no-op at
//! Amazon Connect.
//!
//! Walk of a policy (documented for operators in the README):
//! - a *step*'s targets resolve to an ordered list of people at the moment the
//!   round starts (a rotation resolves to whoever is on call then);
//! - an *attempt* is one round calling each callable person of the step in
//!   turn; a person who does not acknowledge passes the call to the next one
//!   at once;
//! - after a round with no acknowledgement ringdown waits `retry_after_secs`
//!   and starts the next attempt, up to `attempts`; then the next step;
//! - after the last step the policy is walked again `repeat` more times (after
//!   the last step's `retry_after_secs`), then the incident is *exhausted* and
//!   goes to the fallback channel.

use crate::alert::{Alert, Labels, Language, Status};
use crate::fingerprint::{Fingerprint, FiringSet};
use crate::inhibit::{self, SourceAlert, MAX_SOURCES};
use crate::matcher::Matcher;
use crate::outcome::Outcome;
use crate::phone::{mask, mask_once};
use crate::roster::{Policy, ResolvedTarget, Roster, StepMode};
use crate::silence::{Silence, SilenceIndex, FINGERPRINT_LABEL};
use crate::storm::{self, LastCall, Lines, MemberCommand, Storm, StormMember, StormNote, Verdict};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Tunables of the escalation that are not part of the roster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    /// How long a call can last and how late its outcome can come: the
    /// outcome deadline of every call derives from it.
    pub call_timing: CallTiming,
    /// Wait before retrying the same person after a telecom failure; doubles
    /// with each further failure.
    pub call_failed_backoff_secs: u64,
    /// Telecom failures in a row on one number before ringdown moves on to the
    /// next person and flags the number.
    pub max_call_failures: u32,
    /// Longest text the call reads out, in characters of the SSML document.
    pub message_max_chars: usize,
    /// Most fingerprints tracked per incident; more alerts are still counted.
    pub max_tracked_alerts: usize,
    /// An incident that could not track all its alerts (more than
    /// `max_tracked_alerts` fired) cannot tell when the last one resolves.
    /// Once its tracked alerts have resolved, it resolves only when no alert
    /// past the tracked ones has fired for this long. Alertmanager resends
    /// every firing alert at least once per `repeat_interval` (4 h by
    /// default): keep this above it.
    pub untracked_quiet_secs: u64,
    /// Most timeline entries kept per incident (oldest dropped first).
    pub history_limit: usize,
    /// A call decided but still waiting for a live-call slot is re-confirmed
    /// this often (its owner's write shows other replicas it is at work).
    /// Waiting in line never times a call out.
    pub queued_check_secs: u64,
    /// Times a call whose contact id never became known is placed again
    /// (after asking Connect whether the earlier attempt got through)
    /// before it counts as UNKNOWN.
    pub max_reissues: u32,
}

impl Settings {
    /// The most a call can read out: the message and, when 3 is pressed,
    /// the list, each at most `message_max_chars`.
    pub fn longest_spoken_chars(&self) -> usize {
        self.message_max_chars * 2
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            call_timing: CallTiming::default(),
            call_failed_backoff_secs: 30,
            max_call_failures: 2,
            message_max_chars: 1500,
            max_tracked_alerts: 5000,
            untracked_quiet_secs: 4 * 3600 + 600,
            history_limit: 500,
            queued_check_secs: 30,
            max_reissues: 2,
        }
    }
}

/// What a call can last, in seconds of telephone time, and how late its
/// outcome may be learnt. A call's outcome deadline starts when it is
/// dialled (never while it waits for a live-call slot) and is the longest
/// the call can take plus the contact record's lag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallTiming {
    /// How long the phone rings before Amazon Connect gives up: 60 s for the
    /// GENERAL traffic ringdown places (RingTimeoutInSeconds is honoured
    /// only for campaign calls).
    pub ring_secs: u64,
    /// The longest run of the contact flow's own prompts and input waits,
    /// the alert message aside (checked against `contact-flows/` by a test).
    pub flow_secs: u64,
    /// Speaking time per character of the alert message, an upper bound
    /// (Japanese neural voices read about 8 characters a second).
    pub speech_ms_per_char: u64,
    /// How late a contact record may reach the stream after the call ended
    /// (Amazon Connect: one to two minutes).
    pub record_lag_secs: u64,
    /// Room after the record's lag for asking Connect directly
    /// (DescribeContact) before the outcome counts as UNKNOWN.
    pub lookup_grace_secs: u64,
    /// A call without an outcome this long after dialling is looked up
    /// (its contact event may have been lost), then every `probe_every_secs`.
    pub probe_after_secs: u64,
    pub probe_every_secs: u64,
    /// Telephone seconds per real second: 1 against Amazon Connect; the
    /// simulator's `time_scale` in rehearsals against connect-sim, so that
    /// ringdown's expectations run as fast as the simulated calls.
    pub time_scale: f64,
}

impl Default for CallTiming {
    fn default() -> Self {
        CallTiming {
            ring_secs: 60,
            flow_secs: 180,
            speech_ms_per_char: 150,
            record_lag_secs: 120,
            lookup_grace_secs: 120,
            probe_after_secs: 30,
            probe_every_secs: 5,
            time_scale: 1.0,
        }
    }
}

impl CallTiming {
    /// `secs` of telephone time in real time.
    pub fn real_secs(&self, secs: u64) -> Duration {
        self.real(secs * 1000)
    }

    fn real(&self, telephone_ms: u64) -> Duration {
        let scale = if self.time_scale > 0.0 {
            self.time_scale
        } else {
            1.0
        };
        Duration::milliseconds((telephone_ms as f64 / scale).round() as i64)
    }

    /// The longest a call reading `message_chars` characters can last.
    pub fn call_max(&self, message_chars: usize) -> Duration {
        let ms = (self.ring_secs + self.flow_secs) * 1000
            + message_chars as u64 * self.speech_ms_per_char;
        self.real(ms)
    }

    /// When a call's contact record is overdue, from its dialling, leaving
    /// the message aside: from then on Connect may be asked directly.
    pub fn record_overdue_after(&self) -> Duration {
        self.real((self.ring_secs + self.flow_secs + self.record_lag_secs) * 1000)
    }

    /// When to start asking Connect (DescribeContact) about a call whose
    /// outcome has not come, and how often after that: a call is usually
    /// over well within `probe_after_secs`, and its contact event (or,
    /// without one, this look-up) frees its live-call slot.
    pub fn probe_after(&self) -> Duration {
        self.real(self.probe_after_secs * 1000)
    }

    pub fn probe_every(&self) -> Duration {
        self.real(self.probe_every_secs * 1000)
    }

    /// From dialling to the moment a call without an outcome counts as
    /// UNKNOWN.
    pub fn outcome_deadline(&self, message_chars: usize) -> Duration {
        self.call_max(message_chars)
            + self.real((self.record_lag_secs + self.lookup_grace_secs) * 1000)
    }
}

/// Everything outside the incident that a decision may consult.
pub struct Context<'a> {
    pub roster: &'a Roster,
    pub silences: &'a SilenceIndex,
    pub settings: &'a Settings,
    /// Everyone's phone as the shell knows it: who is on a call or was
    /// just rung, and whose storm is open (see [`crate::storm`]).
    pub lines: &'a Lines,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Collecting alerts for `group_wait` before the first call.
    Grouping,
    /// A call is in flight; waiting for its outcome.
    Calling,
    /// Between calls: retry delay or backoff.
    Waiting,
    /// A silence matches; resumes when it ends if still firing.
    Suppressed,
    /// Someone acknowledged; open until its alerts resolve. No more calls.
    Acknowledged,
    /// Closed: every alert resolved.
    Resolved,
    /// Closed: silenced from the keypad (the silence covers later alerts).
    Silenced,
    /// Closed: nobody acknowledged after every step and repeat.
    Exhausted,
}

impl Phase {
    /// Every phase, in the order an incident may pass through them.
    pub const ALL: [Phase; 8] = [
        Phase::Grouping,
        Phase::Calling,
        Phase::Waiting,
        Phase::Suppressed,
        Phase::Acknowledged,
        Phase::Resolved,
        Phase::Silenced,
        Phase::Exhausted,
    ];

    /// Closed incidents release their group: a later alert opens a new one.
    pub fn is_closed(self) -> bool {
        matches!(self, Phase::Resolved | Phase::Silenced | Phase::Exhausted)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Grouping => "grouping",
            Phase::Calling => "calling",
            Phase::Waiting => "waiting",
            Phase::Suppressed => "suppressed",
            Phase::Acknowledged => "acknowledged",
            Phase::Resolved => "resolved",
            Phase::Silenced => "silenced",
            Phase::Exhausted => "exhausted",
        }
    }
}

/// Where the walk of the policy stands. All counters are 0-based.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// 0 for the first walk of the policy, then 1..=repeat.
    pub pass: u32,
    pub step: u32,
    pub attempt: u32,
    /// Index into the current round's targets.
    pub target: u32,
    /// Telecom failures in a row on the current target.
    pub failures: u32,
}

/// The call ringdown is waiting on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallInFlight {
    pub call_id: String,
    pub person: String,
    /// Masked.
    pub phone: String,
    /// When the call was decided (it may then wait for a live-call slot).
    pub placed_at: DateTime<Utc>,
    /// When ringdown last set out to dial it (the request to Connect was
    /// about to leave); `None` while it waits in line.
    #[serde(default)]
    pub dialled_at: Option<DateTime<Utc>>,
    /// How often ringdown set out to dial it. More than one: an earlier
    /// attempt may have reached Connect, which must be asked before
    /// dialling again.
    #[serde(default)]
    pub dial_attempts: u32,
    pub contact_id: Option<String>,
    /// The request as decided, so a restarted shell can re-issue it unchanged
    /// (same `ClientToken`) when it cannot know whether Connect received it.
    pub request: CallRequest,
    /// When ringdown next looks at this call (its slot re-confirmed while
    /// it waits in line, its outcome deadline once dialled). `None` in
    /// records of earlier releases: the incident's `next_action_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<DateTime<Utc>>,
    /// Rung to remind the person who acknowledged that the incident still
    /// fires (the policy's `ack_timeout_secs`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reminder: bool,
    /// One of the calls of a step that rings everyone at once.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub together: bool,
}

/// What the shell must do to place a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRequest {
    pub incident_id: String,
    /// Deterministic id of this call; used as the `ClientToken`.
    pub call_id: String,
    pub person: String,
    /// As decided and stored: masked. The shell puts the roster's full
    /// number here (`phone_index` of the person's phones) only in the copy
    /// it hands the dialer.
    pub phone: String,
    #[serde(default)]
    pub phone_index: usize,
    pub language: Language,
    /// SSML, escaped and bounded.
    pub message: String,
    /// What pressing 9 would silence, in words the call says before the
    /// engineer confirms (plain text, bounded).
    #[serde(default)]
    pub scope: String,
    /// SSML read when the engineer presses 3: every incident of a storm,
    /// or every alert title the incident keeps (escaped and bounded).
    #[serde(default)]
    pub list: String,
}

/// A person of the current round, as resolved from the roster when the round
/// started (kept so a roster edit mid-round does not reshuffle who is next).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundTarget {
    pub person: String,
    pub language: Language,
    /// The number to call, masked (`+81******5678`): incidents never hold a
    /// full number; the shell takes it from the roster when it dials.
    /// `None`: may not be called now (`reason` says why).
    pub phone: Option<String>,
    /// Which of the person's phones in the roster.
    #[serde(default)]
    pub phone_index: Option<usize>,
    pub reason: String,
}

impl From<ResolvedTarget> for RoundTarget {
    fn from(t: ResolvedTarget) -> Self {
        RoundTarget {
            person: t.person,
            language: t.language,
            phone: t.phone.as_deref().map(mask),
            phone_index: t.phone_index,
            reason: t.reason,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertSummary {
    pub title: String,
    pub status: Status,
}

/// One line of an incident's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub kind: HistoryKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum HistoryKind {
    Opened {
        group_key: String,
        policy: String,
    },
    Alerts {
        firing: u32,
        resolved: u32,
        titles: Vec<String>,
    },
    Skipped {
        person: String,
        reason: String,
    },
    Suppressed {
        silence_id: String,
        until: DateTime<Utc>,
    },
    CallPlaced {
        call_id: String,
        person: String,
        phone: String,
        step: u32,
        attempt: u32,
        pass: u32,
    },
    CallOutcome {
        call_id: String,
        person: String,
        outcome: Outcome,
        disconnect_reason: Option<String>,
    },
    CallRejected {
        call_id: String,
        person: String,
        error: String,
    },
    SilenceCreated {
        silence_id: String,
        hours: u32,
        by: String,
    },
    NumberFlagged {
        person: String,
        phone: String,
    },
    Acknowledged {
        by: String,
    },
    /// A call no longer needed was hung up (someone else acknowledged
    /// first): not an unanswered call.
    CallStopped {
        call_id: String,
        person: String,
        why: String,
    },
    /// Still firing `after_secs` after `acked_by` acknowledged: paged again.
    AckTimedOut {
        acked_by: String,
        after_secs: u64,
    },
    /// Someone moved the escalation on by hand (`ringdown incident escalate`).
    Escalated {
        by: String,
    },
    /// Someone closed the incident by hand (`ringdown incident resolve`)
    /// while its alerts still fired.
    ResolvedBy {
        by: String,
    },
    Resolved,
    Exhausted,
    Note {
        text: String,
    },
    /// This incident joined a storm: the storm calls for it from now on.
    JoinedStorm {
        storm_id: String,
    },
    /// Incidents joined this storm (`systems`: the first few).
    MembersJoined {
        members: u32,
        systems: Vec<String>,
    },
    /// A member of this storm closed.
    MemberClosed {
        member_id: String,
        phase: Phase,
    },
    /// Alerts an alert of this incident inhibited (they ring nobody).
    Inhibited {
        alerts: u32,
        titles: Vec<String>,
    },
    /// A call waits: the person's phone is busy or was just rung.
    LineBusy {
        person: String,
        why: String,
    },
}

/// What a notice is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// Nobody could be reached: the fallback channel (SMS, e-mail, chat).
    Fallback,
    /// Something an operator must fix (a number Connect refuses).
    OperatorAlert,
}

/// A notice to send, kept with the incident until the channel took it: an
/// outbox, saved in the same write as the decision that raised it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub id: String,
    pub kind: NoticeKind,
    pub text: String,
    pub raised_at: DateTime<Utc>,
}

/// An incident: one group of alerts and its escalation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub id: String,
    pub group_key: String,
    pub policy: String,
    pub group_labels: Labels,
    /// Labels every alert of the incident carried (Alertmanager's CommonLabels);
    /// silences are checked against these before every call.
    pub common_labels: Labels,
    pub phase: Phase,
    pub opened_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Fingerprints of the alerts currently firing.
    pub firing: FiringSet,
    /// A few alert titles for the call's message (first seen first).
    pub samples: Vec<AlertSummary>,
    pub alerts_received: u64,
    pub cursor: Cursor,
    /// The people of the current round, resolved when the round started.
    pub round: Vec<RoundTarget>,
    pub call: Option<CallInFlight>,
    /// The other calls of a step ringing everyone at once (`call` is the
    /// first of them). Empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_calls: Vec<CallInFlight>,
    /// This incident's turn in its policy's round-robin steps, given by the
    /// shell when it opens: the step starts with person `turn % n`.
    #[serde(default)]
    pub turn: u64,
    /// Reminders rung since the last acknowledgement timed out (their call
    /// ids count from it).
    #[serde(default)]
    pub reminders: u32,
    pub next_action_at: Option<DateTime<Utc>>,
    pub acked_by: Option<String>,
    pub acked_at: Option<DateTime<Utc>>,
    pub calls_placed: u32,
    pub history: Vec<HistoryEntry>,
    /// Notices raised and not yet delivered (the shell confirms each with
    /// `Event::NoticeDelivered`, even after the incident closed).
    #[serde(default)]
    pub outbox: Vec<Notice>,
    /// Notices raised so far (their ids count from it).
    #[serde(default)]
    pub notices_raised: u32,
    /// Firing alerts that arrived while `firing` was full and were not
    /// tracked: while any may still fire, the incident does not resolve
    /// when its tracked alerts do.
    #[serde(default)]
    pub untracked_alerts: u64,
    /// When the last of those arrived.
    #[serde(default)]
    pub last_untracked_at: Option<DateTime<Utc>>,
    /// When the incident resolves if no alert fires before (its tracked
    /// alerts all resolved, some untracked may still fire).
    #[serde(default)]
    pub resolve_check_at: Option<DateTime<Utc>>,
    /// Names of group or common labels too large to keep whole (see
    /// [`MAX_LABEL_BYTES`]). A silence naming one never applies to the
    /// incident, and the keypad silence names its alerts instead.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub labels_omitted: BTreeSet<String>,
    /// Some group labels were too large to keep: `group_labels` is not the
    /// whole group (the group key still is).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub group_labels_cut: bool,
    /// Set on a storm: the incidents it calls for (see [`crate::storm`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storm: Option<Storm>,
    /// The storm this incident belongs to: it places no call of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_of: Option<String>,
    /// Waiting to join this person's storm (the shell forms or finds it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storm_pending: Option<String>,
    /// The last call this incident placed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_call: Option<LastCall>,
    /// Its firing alerts that may inhibit others (`inhibit_rules`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceAlert>,
    /// Alerts this incident's sources inhibited (they opened no incident).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub inhibited: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Bytes of group labels, and of common labels, an incident keeps whole;
/// labels past it are named in `labels_omitted`. With the other bounds
/// (16-byte fingerprints, clipped titles, [`MAX_HISTORY_BYTES`]) a stored
/// incident stays far below DynamoDB's 400 KB item limit.
pub const MAX_LABEL_BYTES: usize = 16 * 1024;
/// Bytes of timeline an incident keeps (oldest entries dropped first; the
/// opening entry stays).
pub const MAX_HISTORY_BYTES: usize = 64 * 1024;
/// Characters of an alert title kept in the timeline.
const HISTORY_TITLE_CHARS: usize = 160;
/// Titles an alerts entry of the timeline names.
const HISTORY_TITLES: usize = 3;
/// Alerts within this long of the timeline's last entry, when it is alerts
/// too, are counted in that entry.
const ALERTS_MERGE_SECS: i64 = 60;
/// Characters of an alert title kept among the samples the call reads.
const SAMPLE_TITLE_CHARS: usize = 500;

/// `s` cut to `max` characters (with `…` when cut), control characters as
/// spaces: what an incident stores of text a sender chose.
pub fn clip(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

/// The labels that fit in [`MAX_LABEL_BYTES`] (in name order; a label too
/// large is skipped and smaller ones after it still kept); the names of
/// the others go to `omitted`.
fn bound_labels(labels: &Labels, omitted: &mut BTreeSet<String>) -> Labels {
    let mut used = 0;
    let mut kept = Labels::new();
    for (k, v) in labels {
        let cost = k.len() + v.len() + 8;
        if used + cost <= MAX_LABEL_BYTES {
            used += cost;
            kept.insert(k.clone(), v.clone());
        } else {
            omitted.insert(k.clone());
        }
    }
    kept
}

/// About what `e` takes in the stored incident (JSON), without encoding it.
fn entry_bytes(e: &HistoryEntry) -> usize {
    let text: usize = match &e.kind {
        HistoryKind::Opened { group_key, policy } => group_key.len() + policy.len(),
        HistoryKind::Alerts { titles, .. } => titles.iter().map(|t| t.len() + 3).sum(),
        HistoryKind::Skipped { person, reason } => person.len() + reason.len(),
        HistoryKind::Suppressed { silence_id, .. } => silence_id.len(),
        HistoryKind::CallPlaced {
            call_id,
            person,
            phone,
            ..
        } => call_id.len() + person.len() + phone.len(),
        HistoryKind::CallOutcome {
            call_id,
            person,
            disconnect_reason,
            ..
        } => call_id.len() + person.len() + disconnect_reason.as_ref().map_or(0, String::len),
        HistoryKind::CallRejected {
            call_id,
            person,
            error,
        } => call_id.len() + person.len() + error.len(),
        HistoryKind::SilenceCreated { silence_id, by, .. } => silence_id.len() + by.len(),
        HistoryKind::NumberFlagged { person, phone } => person.len() + phone.len(),
        HistoryKind::Acknowledged { by }
        | HistoryKind::Escalated { by }
        | HistoryKind::ResolvedBy { by } => by.len(),
        HistoryKind::CallStopped {
            call_id,
            person,
            why,
        } => call_id.len() + person.len() + why.len(),
        HistoryKind::AckTimedOut { acked_by, .. } => acked_by.len(),
        HistoryKind::Resolved | HistoryKind::Exhausted => 0,
        HistoryKind::Note { text } => text.len(),
        HistoryKind::JoinedStorm { storm_id } => storm_id.len(),
        HistoryKind::Inhibited { titles, .. } => titles.iter().map(|t| t.len() + 3).sum(),
        HistoryKind::MembersJoined { systems, .. } => systems.iter().map(|t| t.len() + 3).sum(),
        HistoryKind::MemberClosed { member_id, .. } => member_id.len(),
        HistoryKind::LineBusy { person, why } => person.len() + why.len(),
    };
    // Field names, the timestamp and JSON punctuation; quotes and
    // backslashes in the text may double it.
    120 + 2 * text
}

/// What happened, as the shell reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Alerts routed to this incident's group.
    Alerts(Vec<Alert>),
    /// `next_action_at` was reached (or the shell just wants a re-evaluation).
    Tick,
    /// The shell is about to send the call to Amazon Connect (it had a
    /// live-call slot and a token): the outcome deadline starts now.
    Dialing { call_id: String },
    /// Amazon Connect accepted the call.
    CallPlaced { call_id: String, contact_id: String },
    /// Amazon Connect refused the call after the dialer's own retries.
    CallRejected {
        call_id: String,
        kind: RejectKind,
        message: String,
    },
    /// The call is over and classified.
    CallEnded {
        call_id: String,
        outcome: Outcome,
        disconnect_reason: Option<String>,
    },
    /// Someone acknowledged outside a call (CLI, console, chat). Again
    /// while acknowledged: the acknowledgement timeout starts over.
    Acknowledge { by: String },
    /// Someone closed the incident by hand: its calls stop, and a later
    /// alert of its group opens a new incident.
    Resolve { by: String },
    /// Someone moved the escalation to its next step now (from an
    /// acknowledgement too: they want help).
    Escalate { by: String },
    /// Someone silenced the incident's scope for `hours` (as pressing 9
    /// does) and closed it.
    Silence { by: String, hours: u32 },
    /// The channel took notice `id` (fallback or operator alert); it leaves
    /// the outbox. Applies to closed incidents too.
    NoticeDelivered { id: String },
    /// This incident is now a member of storm `storm_id`.
    JoinStorm { storm_id: String },
    /// Incidents joined this storm.
    MembersJoined(Vec<StormMember>),
    /// A member of this storm reports.
    FromMember(StormNote),
    /// This incident's storm ended without anyone answering.
    StormEnded { reason: String },
    /// Alerts this incident's source alerts inhibit: listed, never called.
    Inhibited(Vec<Alert>),
    /// Call `call_id`, about to be dialled, found the person's phone held
    /// by another ringdown call: incident `holder`'s, seen through the
    /// store (another replica's call this process's lines cannot see).
    LineTaken { call_id: String, holder: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectKind {
    /// DestinationNotAllowed / InvalidParameter: calling this number cannot work.
    Misconfigured,
    /// Connect kept failing or throttling beyond the dialer's retries.
    Unavailable,
}

/// Instructions for the shell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    PlaceCall(CallRequest),
    /// Hang up a call that is no longer needed (the incident resolved).
    StopCall {
        call_id: String,
        contact_id: Option<String>,
    },
    CreateSilence(Silence),
    /// Call `decide(.., Event::Tick, ..)` at this time.
    WakeAt {
        at: DateTime<Utc>,
    },
    /// Nobody could be reached: publish to the fallback channel. The notice
    /// is in the incident's outbox until delivered.
    Fallback {
        incident_id: String,
        notice_id: String,
        reason: String,
    },
    /// Something an operator must fix (a number Connect refuses); also in
    /// the outbox until delivered.
    OperatorAlert {
        incident_id: String,
        notice_id: String,
        message: String,
    },
    /// The incident closed: its group may open a new incident.
    ReleaseGroup {
        group_key: String,
    },
    /// Put incident `incident_id` into `person`'s storm, forming the storm
    /// (with the incidents that crowd the person's phone) if there is none.
    JoinStorm {
        incident_id: String,
        person: String,
        /// An incident whose call holds the person's phone (known from the
        /// store, not from the shell's lines): it forms the storm too.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        with: Option<String>,
    },
    /// Tell this incident's storm.
    ToStorm {
        storm_id: String,
        note: StormNote,
    },
    /// Apply `command` to these members of storm `storm_id`.
    ForMembers {
        storm_id: String,
        members: Vec<String>,
        command: MemberCommand,
    },
}

const MAX_SAMPLES: usize = 5;

impl Incident {
    /// A new incident for a group; the first call is due after `group_wait`.
    pub fn open(
        id: &str,
        group_key: &str,
        policy: &Policy,
        group_labels: Labels,
        now: DateTime<Utc>,
    ) -> Incident {
        let first_call = now + Duration::seconds(policy.group_wait_secs as i64);
        let mut inc = Incident {
            id: id.to_string(),
            group_key: group_key.to_string(),
            policy: policy.name.clone(),
            common_labels: Labels::new(),
            group_labels: Labels::new(),
            phase: Phase::Grouping,
            opened_at: now,
            updated_at: now,
            closed_at: None,
            firing: FiringSet::new(),
            samples: Vec::new(),
            alerts_received: 0,
            cursor: Cursor::default(),
            round: Vec::new(),
            call: None,
            more_calls: Vec::new(),
            turn: 0,
            reminders: 0,
            next_action_at: Some(first_call),
            acked_by: None,
            acked_at: None,
            calls_placed: 0,
            history: Vec::new(),
            outbox: Vec::new(),
            notices_raised: 0,
            untracked_alerts: 0,
            last_untracked_at: None,
            resolve_check_at: None,
            labels_omitted: BTreeSet::new(),
            group_labels_cut: false,
            storm: None,
            member_of: None,
            storm_pending: None,
            last_call: None,
            sources: Vec::new(),
            inhibited: 0,
        };
        inc.group_labels = bound_labels(&group_labels, &mut inc.labels_omitted);
        inc.group_labels_cut = !inc.labels_omitted.is_empty();
        inc.common_labels = inc.group_labels.clone();
        inc.history.push(HistoryEntry {
            at: now,
            kind: HistoryKind::Opened {
                group_key: group_key.to_string(),
                policy: policy.name.clone(),
            },
        });
        inc
    }

    /// A new storm for `person`, walking `policy` (its first member's); it
    /// calls once members join.
    pub fn open_storm(id: &str, person: &str, policy: &Policy, now: DateTime<Utc>) -> Incident {
        let mut inc = Incident::open(id, &storm::group_key(person), policy, Labels::new(), now);
        inc.next_action_at = None;
        inc.storm = Some(Storm {
            person: person.to_string(),
            members: Vec::new(),
        });
        inc
    }

    /// Deterministic call id for the current cursor: the same incident, pass,
    /// step, attempt, target and failure count always give the same id, so a
    /// replayed decision reuses Connect's idempotency (`ClientToken`).
    pub fn call_id(&self) -> String {
        self.call_id_for(self.cursor.target)
    }

    /// The call id of round target `target` at the current cursor (a step
    /// ringing everyone at once places one call per target).
    fn call_id_for(&self, target: u32) -> String {
        let c = self.cursor;
        format!(
            "{}-p{}s{}a{}t{}r{}",
            self.id,
            c.pass,
            c.step + 1,
            c.attempt + 1,
            target,
            c.failures
        )
    }

    /// Every call in flight: `call`, then the others of a ring-all step.
    pub fn calls(&self) -> impl Iterator<Item = &CallInFlight> {
        self.call.iter().chain(self.more_calls.iter())
    }

    /// The call in flight with this id.
    pub fn find_call(&self, call_id: &str) -> Option<&CallInFlight> {
        self.calls().find(|c| c.call_id == call_id)
    }

    /// When the shell must next call `decide(.., Event::Tick, ..)`: the
    /// escalation's next action, or the check whether the incident resolved.
    /// Stores index open incidents by it.
    pub fn wake_at(&self) -> Option<DateTime<Utc>> {
        if self.phase.is_closed() {
            return None;
        }
        match (self.next_action_at, self.resolve_check_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn title(&self) -> String {
        if let Some(storm) = &self.storm {
            let first = storm.members.first().map_or("", |m| m.title.as_str());
            return format!("storm: {} incidents: {first}", storm.members.len());
        }
        let first = self
            .samples
            .first()
            .map(|s| s.title.as_str())
            .unwrap_or("alert");
        if self.group_labels.is_empty() {
            first.to_string()
        } else {
            let scope: Vec<String> = self
                .group_labels
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            format!("{}: {first}", scope.join(", "))
        }
    }
}

/// The pure decision function.
pub fn decide(
    incident: &Incident,
    event: Event,
    ctx: &Context<'_>,
    now: DateTime<Utc>,
) -> (Incident, Vec<Effect>) {
    let mut m = Machine {
        inc: incident.clone(),
        effects: Vec::new(),
        ctx,
        now,
    };
    m.handle(event);
    m.inc.updated_at = now;
    let limit = ctx.settings.history_limit.max(10);
    if m.inc.history.len() > limit {
        let excess = m.inc.history.len() - limit;
        m.inc.history.drain(1..=excess);
    }
    let mut bytes: usize = m.inc.history.iter().map(entry_bytes).sum();
    let mut drop = 0;
    while bytes > MAX_HISTORY_BYTES && 1 + drop < m.inc.history.len() - 1 {
        drop += 1;
        bytes -= entry_bytes(&m.inc.history[drop]);
    }
    if drop > 0 {
        m.inc.history.drain(1..=drop);
    }
    if let Some(at) = m.inc.wake_at() {
        m.effects.push(Effect::WakeAt { at });
    }
    (m.inc, m.effects)
}

struct Machine<'a, 'c> {
    inc: Incident,
    effects: Vec<Effect>,
    ctx: &'a Context<'c>,
    now: DateTime<Utc>,
}

impl Machine<'_, '_> {
    fn log(&mut self, kind: HistoryKind) {
        self.inc.history.push(HistoryEntry { at: self.now, kind });
    }

    /// Alerts arriving shortly after the timeline's last entry, itself
    /// alerts, are counted in it: a storm is one line of the timeline, not
    /// one per request (and the stored incident does not grow per request).
    fn log_alerts(&mut self, firing: u32, resolved: u32, titles: Vec<String>) {
        self.log_merged(
            HistoryKind::Alerts {
                firing,
                resolved,
                titles,
            },
            |last, new| match (last, new) {
                (
                    HistoryKind::Alerts {
                        firing: f,
                        resolved: r,
                        titles: t,
                    },
                    HistoryKind::Alerts {
                        firing,
                        resolved,
                        titles,
                    },
                ) => {
                    *f += firing;
                    *r += resolved;
                    Some((t, titles))
                }
                _ => None,
            },
        );
    }

    /// Logs `kind`, or adds it to the last entry when that is of the same
    /// kind and less than `ALERTS_MERGE_SECS` old (a storm's webhooks make
    /// one line, not hundreds): `merge` adds the counts and hands back both
    /// title lists, or says the kinds differ.
    fn log_merged(
        &mut self,
        kind: HistoryKind,
        merge: impl FnOnce(&mut HistoryKind, HistoryKind) -> Option<(&mut Vec<String>, Vec<String>)>,
    ) {
        if let Some(last) = self.inc.history.last_mut() {
            if self.now - last.at < Duration::seconds(ALERTS_MERGE_SECS)
                && std::mem::discriminant(&last.kind) == std::mem::discriminant(&kind)
            {
                if let Some((kept, titles)) = merge(&mut last.kind, kind) {
                    for title in titles {
                        if kept.len() < HISTORY_TITLES && !kept.contains(&title) {
                            kept.push(title);
                        }
                    }
                }
                return;
            }
        }
        self.log(kind);
    }

    fn handle(&mut self, event: Event) {
        if let Event::NoticeDelivered { id } = &event {
            self.inc.outbox.retain(|n| &n.id != id);
            return;
        }
        if self.inc.phase.is_closed() {
            // A closed incident never acts again; late events are ignored.
            return;
        }
        match event {
            Event::Alerts(alerts) => self.on_alerts(alerts),
            Event::Tick => {
                if self.inc.resolve_check_at.is_some_and(|t| t <= self.now)
                    && self.inc.firing.is_empty()
                    && self.try_resolve()
                {
                    return;
                }
                self.on_tick()
            }
            Event::Dialing { call_id } => self.on_dialing(call_id),
            Event::CallPlaced {
                call_id,
                contact_id,
            } => {
                if let Some(call) = self.call_mut(&call_id) {
                    call.contact_id = Some(contact_id);
                }
            }
            Event::CallRejected {
                call_id,
                kind,
                message,
            } => self.on_rejected(call_id, kind, message),
            Event::CallEnded {
                call_id,
                outcome,
                disconnect_reason,
            } => self.on_ended(call_id, outcome, disconnect_reason),
            Event::Acknowledge { by } => self.acknowledge(by),
            Event::Resolve { by } => {
                self.tell_members(MemberCommand::Resolve { by: by.clone() });
                self.stop_calls(&format!("{by} resolved the incident"));
                self.log(HistoryKind::ResolvedBy { by });
                self.close(Phase::Resolved);
            }
            Event::Escalate { by } => self.escalate(by),
            Event::Silence { by, hours } => {
                let hours = hours.clamp(1, crate::outcome::MAX_SILENCE_HOURS);
                let id_base = format!("{}-by-hand", self.inc.id);
                self.silence_scope(by.clone(), by, &id_base, hours);
            }
            Event::NoticeDelivered { .. } => {}
            Event::JoinStorm { storm_id } => self.join_storm(storm_id),
            Event::MembersJoined(members) => self.members_joined(members),
            Event::FromMember(note) => self.on_member_note(note),
            Event::Inhibited(alerts) => self.on_inhibited(alerts),
            Event::LineTaken { call_id, holder } => self.on_line_taken(call_id, holder),
            Event::StormEnded { reason } => {
                self.log(HistoryKind::Note {
                    text: clip(&format!("its storm ended: {reason}"), 500),
                });
                self.stop_calls("its storm ended");
                self.close(Phase::Exhausted);
            }
        }
    }

    fn on_alerts(&mut self, alerts: Vec<Alert>) {
        let (mut firing, mut resolved) = (0u32, 0u32);
        let mut titles = Vec::new();
        for alert in &alerts {
            self.inc.alerts_received += 1;
            match alert.status {
                Status::Firing => {
                    firing += 1;
                    let fp = Fingerprint::of(&alert.fingerprint);
                    if let Some(src) = inhibit::as_source(&self.ctx.roster.inhibit_rules, alert) {
                        if self.inc.sources.len() < MAX_SOURCES
                            && !self.inc.sources.iter().any(|s| s.fingerprint == fp)
                        {
                            self.inc.sources.push(src);
                        }
                    }
                    if self.inc.firing.len() < self.ctx.settings.max_tracked_alerts
                        || self.inc.firing.contains(&fp)
                    {
                        self.inc.firing.insert(fp);
                    } else {
                        self.inc.untracked_alerts += 1;
                        self.inc.last_untracked_at = Some(self.now);
                    }
                    if self.inc.samples.is_empty() {
                        // First firing alert: the common labels start as its labels.
                        self.inc.common_labels =
                            bound_labels(&alert.labels, &mut self.inc.labels_omitted);
                    } else {
                        self.inc
                            .common_labels
                            .retain(|k, v| alert.labels.get(k).is_some_and(|x| x == v));
                    }
                    if self.inc.samples.len() < MAX_SAMPLES {
                        let title = clip(alert.title(), SAMPLE_TITLE_CHARS);
                        if !self.inc.samples.iter().any(|s| s.title == title) {
                            self.inc.samples.push(AlertSummary {
                                title,
                                status: Status::Firing,
                            });
                        }
                    }
                    if titles.len() < HISTORY_TITLES {
                        titles.push(clip(alert.title(), HISTORY_TITLE_CHARS));
                    }
                }
                Status::Resolved => {
                    resolved += 1;
                    let fp = Fingerprint::of(&alert.fingerprint);
                    self.inc.firing.remove(&fp);
                    self.inc.sources.retain(|s| s.fingerprint != fp);
                }
            }
        }
        self.log_alerts(firing, resolved, titles);
        if self.inc.firing.is_empty() {
            self.try_resolve();
        } else {
            self.inc.resolve_check_at = None;
        }
    }

    fn on_inhibited(&mut self, alerts: Vec<Alert>) {
        self.inc.inhibited += alerts.len() as u64;
        let titles: Vec<String> = alerts
            .iter()
            .map(|a| clip(a.title(), HISTORY_TITLE_CHARS))
            .take(HISTORY_TITLES)
            .collect();
        self.log_merged(
            HistoryKind::Inhibited {
                alerts: alerts.len() as u32,
                titles,
            },
            |last, new| match (last, new) {
                (
                    HistoryKind::Inhibited {
                        alerts: n,
                        titles: t,
                    },
                    HistoryKind::Inhibited { alerts, titles },
                ) => {
                    *n += alerts;
                    Some((t, titles))
                }
                _ => None,
            },
        );
    }

    /// Resolves the incident, whose tracked alerts have all resolved,
    /// unless alerts it could not track may still fire: then it waits until
    /// none has fired for `untracked_quiet_secs` (a firing one joins the
    /// tracked alerts meanwhile). True when it resolved.
    fn try_resolve(&mut self) -> bool {
        let quiet = Duration::seconds(self.ctx.settings.untracked_quiet_secs as i64);
        let until = match self.inc.last_untracked_at {
            Some(last) if self.inc.untracked_alerts > 0 && self.now < last + quiet => last + quiet,
            _ => {
                self.resolve();
                return true;
            }
        };
        if self.inc.resolve_check_at != Some(until) {
            self.log(HistoryKind::Note {
                text: format!(
                    "the tracked alerts have resolved, but {} firing alerts past the first {} were not tracked and may still fire: resolving at {} unless an alert fires before",
                    self.inc.untracked_alerts,
                    self.ctx.settings.max_tracked_alerts,
                    until.format("%Y-%m-%d %H:%M:%S UTC"),
                ),
            });
        }
        self.inc.resolve_check_at = Some(until);
        false
    }

    fn resolve(&mut self) {
        self.stop_calls("the alerts resolved");
        self.log(HistoryKind::Resolved);
        self.close(Phase::Resolved);
    }

    fn close(&mut self, phase: Phase) {
        self.inc.phase = phase;
        self.inc.closed_at = Some(self.now);
        self.inc.next_action_at = None;
        self.inc.round.clear();
        self.inc.storm_pending = None;
        self.effects.push(Effect::ReleaseGroup {
            group_key: self.inc.group_key.clone(),
        });
        if let Some(storm_id) = self.inc.member_of.clone() {
            self.effects.push(Effect::ToStorm {
                storm_id,
                note: StormNote::Closed {
                    member_id: self.inc.id.clone(),
                    phase,
                },
            });
        }
    }

    /// A storm passes `command` to its open members.
    fn tell_members(&mut self, command: MemberCommand) {
        let Some(storm) = &self.inc.storm else {
            return;
        };
        let members: Vec<String> = storm.open_members().map(|m| m.id.clone()).collect();
        if !members.is_empty() {
            self.effects.push(Effect::ForMembers {
                storm_id: self.inc.id.clone(),
                members,
                command,
            });
        }
    }

    fn join_storm(&mut self, storm_id: String) {
        if self.inc.storm.is_some() || self.inc.member_of.as_deref() == Some(storm_id.as_str()) {
            return;
        }
        self.inc.member_of = Some(storm_id.clone());
        self.inc.storm_pending = None;
        self.log(HistoryKind::JoinedStorm {
            storm_id: storm_id.clone(),
        });
        if self.inc.calls().next().is_none() {
            // The storm may have adopted a call whose outcome came here
            // before this join did: it hears it now, or it would wait for
            // an outcome that already came.
            let last = self.inc.history.iter().rev().find_map(|h| match &h.kind {
                HistoryKind::CallOutcome {
                    call_id,
                    person,
                    outcome,
                    ..
                } => Some((call_id.clone(), person.clone(), *outcome)),
                _ => None,
            });
            if let Some((call_id, person, outcome)) = last {
                self.effects.push(Effect::ToStorm {
                    storm_id,
                    note: StormNote::CallEnded {
                        member_id: self.inc.id.clone(),
                        call_id,
                        person,
                        outcome,
                    },
                });
            }
        }
        if self.inc.phase == Phase::Acknowledged {
            return;
        }
        if self.inc.calls().next().is_some() {
            // A call in flight goes on; the storm adopted it.
            self.inc.phase = Phase::Calling;
        } else {
            self.inc.phase = Phase::Waiting;
            self.inc.next_action_at = None;
        }
    }

    fn members_joined(&mut self, members: Vec<StormMember>) {
        let Some(storm) = self.inc.storm.as_mut() else {
            return;
        };
        let added: Vec<StormMember> = members
            .into_iter()
            .filter(|m| !storm.is_member(&m.id))
            .collect();
        if added.is_empty() {
            return;
        }
        storm.members.extend(added.iter().cloned());
        self.log(HistoryKind::MembersJoined {
            members: added.len() as u32,
            systems: added
                .iter()
                .take(HISTORY_TITLES)
                .map(|m| clip(&m.system, HISTORY_TITLE_CHARS))
                .collect(),
        });
        match self.inc.phase {
            Phase::Acknowledged => {
                // Someone is on the storm: the newcomers are theirs too.
                let by = self.inc.acked_by.clone().unwrap_or_default();
                self.effects.push(Effect::ForMembers {
                    storm_id: self.inc.id.clone(),
                    members: added.into_iter().map(|m| m.id).collect(),
                    command: MemberCommand::Acknowledge { by },
                });
            }
            Phase::Grouping => {
                if self.storm_adopted() {
                    self.wait_for_adopted();
                } else {
                    self.dial_next();
                }
            }
            // Announced on the storm's next call.
            _ => {}
        }
    }

    fn storm_adopted(&self) -> bool {
        self.inc
            .storm
            .as_ref()
            .is_some_and(|s| s.adopted().next().is_some())
    }

    /// A storm whose first call is a member's call already ringing: its
    /// round starts at that person, and its outcome is the storm's.
    fn wait_for_adopted(&mut self) {
        if self.inc.round.is_empty() {
            if let Some(policy) = self.policy().cloned() {
                self.start_round(&policy);
            }
        }
        let person = self.inc.storm.as_ref().map(|s| s.person.clone());
        if let Some(i) = self
            .inc
            .round
            .iter()
            .position(|t| Some(&t.person) == person.as_ref())
        {
            self.inc.cursor.target = i as u32;
        }
        self.inc.phase = Phase::Calling;
        // A backstop only: the member counts its call's missing outcome as
        // UNKNOWN at its own deadline and tells the storm; this fires only
        // if that never comes.
        let deadline = self
            .ctx
            .settings
            .call_timing
            .outcome_deadline(self.ctx.settings.longest_spoken_chars());
        self.inc.next_action_at = Some(self.now + deadline * 2);
    }

    fn on_member_note(&mut self, note: StormNote) {
        match note {
            StormNote::CallEnded {
                member_id,
                call_id,
                person,
                outcome,
            } => {
                let Some(storm) = self.inc.storm.as_mut() else {
                    return;
                };
                // Usually the adopted call's own outcome. A member that
                // learnt of the storm late (the join failed for a while)
                // may have escalated on its own meanwhile: its latest call's
                // outcome stands for the adopted call, which is over.
                let Some(m) = storm
                    .members
                    .iter_mut()
                    .find(|m| m.id == member_id && m.adopted_call.is_some())
                else {
                    return;
                };
                m.adopted_call = None;
                self.log(HistoryKind::CallOutcome {
                    call_id,
                    person: person.clone(),
                    outcome,
                    disconnect_reason: None,
                });
                if self.inc.phase == Phase::Acknowledged {
                    return;
                }
                if outcome.is_ack() {
                    // Pressing 9 silenced that member's scope only (the
                    // words the call said); the rest is acknowledged.
                    self.acknowledge(person);
                } else if self.inc.call.is_none() && !self.storm_adopted() {
                    self.next_target();
                    self.dial_next();
                }
            }
            StormNote::Closed { member_id, phase } => {
                let Some(storm) = self.inc.storm.as_mut() else {
                    return;
                };
                let Some(m) = storm
                    .members
                    .iter_mut()
                    .find(|m| m.id == member_id && m.closed.is_none())
                else {
                    return;
                };
                m.closed = Some(phase);
                let open = storm.open_members().count();
                self.log(HistoryKind::MemberClosed { member_id, phase });
                if open == 0 {
                    self.stop_calls("every incident of the storm closed");
                    self.log(HistoryKind::Resolved);
                    self.close(Phase::Resolved);
                } else if self.inc.phase == Phase::Calling
                    && self.inc.call.is_none()
                    && !self.storm_adopted()
                {
                    // It waited on the closed member's call.
                    self.next_target();
                    self.dial_next();
                }
            }
        }
    }

    /// Someone is on it: calls stop, and the acknowledgement timeout (if
    /// the policy has one) starts, or starts over.
    fn acknowledge(&mut self, by: String) {
        if self.inc.phase == Phase::Acknowledged && self.inc.member_of.is_some() {
            // Its own call was answered already; the storm says so too.
            return;
        }
        self.tell_members(MemberCommand::Acknowledge { by: by.clone() });
        self.stop_calls(&format!("{by} acknowledged"));
        self.inc.phase = Phase::Acknowledged;
        self.inc.acked_at = Some(self.now);
        self.inc.acked_by = Some(by.clone());
        self.inc.next_action_at = self
            .policy()
            .and_then(|p| p.ack_timeout_secs)
            .map(|t| self.now + Duration::seconds(t as i64));
        self.log(HistoryKind::Acknowledged { by });
    }

    /// Hangs up every call in flight; each is in the timeline as stopped
    /// (`why`), not as unanswered.
    fn stop_calls(&mut self, why: &str) {
        let calls: Vec<CallInFlight> = self
            .inc
            .call
            .take()
            .into_iter()
            .chain(self.inc.more_calls.drain(..))
            .collect();
        for call in calls {
            self.log(HistoryKind::CallStopped {
                call_id: call.call_id.clone(),
                person: call.person.clone(),
                why: clip(why, 200),
            });
            self.effects.push(Effect::StopCall {
                call_id: call.call_id,
                contact_id: call.contact_id,
            });
        }
    }

    fn call_mut(&mut self, call_id: &str) -> Option<&mut CallInFlight> {
        self.inc
            .call
            .iter_mut()
            .chain(self.inc.more_calls.iter_mut())
            .find(|c| c.call_id == call_id)
    }

    /// Removes call `call_id` from the calls in flight (the next of a
    /// ring-all step becomes `call`).
    fn take_call(&mut self, call_id: &str) -> Option<CallInFlight> {
        if self.inc.call.as_ref().is_some_and(|c| c.call_id == call_id) {
            let taken = self.inc.call.take();
            if !self.inc.more_calls.is_empty() {
                self.inc.call = Some(self.inc.more_calls.remove(0));
            }
            return taken;
        }
        let i = self
            .inc
            .more_calls
            .iter()
            .position(|c| c.call_id == call_id)?;
        Some(self.inc.more_calls.remove(i))
    }

    /// The next look at the calls in flight: the earliest call's.
    fn rearm_calls(&mut self) {
        let fallback = self.now + Duration::seconds(self.ctx.settings.queued_check_secs as i64);
        self.inc.next_action_at = self
            .inc
            .calls()
            .map(|c| c.due_at.unwrap_or(fallback))
            .min()
            .or(self.inc.next_action_at);
    }

    /// `escalate`: stop what is ringing and go to the next step now (from
    /// the group wait: the first step now).
    fn escalate(&mut self, by: String) {
        self.log(HistoryKind::Escalated { by: by.clone() });
        self.stop_calls(&format!("{by} escalated"));
        let c = self.inc.cursor;
        if self.inc.phase != Phase::Grouping {
            self.inc.cursor = Cursor {
                pass: c.pass,
                step: c.step + 1,
                ..Cursor::default()
            };
        }
        self.inc.round.clear();
        self.inc.phase = Phase::Waiting;
        self.dial_next();
    }

    /// Still firing `ack_timeout_secs` after the acknowledgement: ring the
    /// person who acknowledged, or, if they cannot be called now, go on
    /// with the escalation at once. A silence covering the incident ends
    /// the timeout.
    fn ack_timed_out(&mut self) {
        if self.inc.member_of.is_some() {
            // The storm reminds, not each member.
            self.inc.next_action_at = None;
            return;
        }
        let acked_by = self.inc.acked_by.clone().unwrap_or_default();
        let after_secs = self
            .inc
            .acked_at
            .map_or(0, |t| (self.now - t).num_seconds().max(0) as u64);
        if let Some(s) = active_silence(self.ctx, &self.inc, self.now.timestamp()) {
            self.log(HistoryKind::Note {
                text: format!(
                    "still firing {after_secs} s after {acked_by} acknowledged, but silence {} covers it: no reminder",
                    s.id
                ),
            });
            self.inc.next_action_at = None;
            return;
        }
        self.log(HistoryKind::AckTimedOut {
            acked_by: acked_by.clone(),
            after_secs,
        });
        let roster = self.ctx.roster;
        let choice = roster
            .person(&acked_by)
            .map(|p| (p, roster.phone_choice(p, self.now)));
        match choice {
            Some((person, Ok((index, number, why)))) => {
                let target = RoundTarget {
                    person: person.id.clone(),
                    language: person.language,
                    phone: Some(mask(&number)),
                    phone_index: Some(index),
                    reason: why,
                };
                self.inc.reminders += 1;
                let call_id = format!("{}-k{}", self.inc.call_id(), self.inc.reminders);
                let minutes = after_secs.div_ceil(60);
                let c = self.inc.cursor;
                self.place_call_as(
                    &target,
                    mask(&number),
                    c,
                    call_id,
                    CallKind::Reminder { minutes },
                );
            }
            other => {
                let reason = match other {
                    Some((_, Err(why))) => why,
                    _ => format!("{acked_by} is not a person of the roster"),
                };
                self.log(HistoryKind::Skipped {
                    person: acked_by,
                    reason,
                });
                self.resume_escalation();
            }
        }
    }

    /// After an acknowledgement that timed out and was not renewed: the
    /// escalation goes on from where it stood, past the person who had
    /// acknowledged.
    fn resume_escalation(&mut self) {
        let acker = self.inc.acked_by.clone();
        let at_acker = self
            .inc
            .round
            .get(self.inc.cursor.target as usize)
            .is_some_and(|t| Some(&t.person) == acker.as_ref());
        if at_acker {
            self.next_target();
        }
        self.inc.phase = Phase::Waiting;
        self.dial_next();
    }

    fn due(&self) -> bool {
        self.inc.next_action_at.is_some_and(|t| t <= self.now)
    }

    fn on_dialing(&mut self, call_id: String) {
        let timing = self.ctx.settings.call_timing.clone();
        let now = self.now;
        let Some(call) = self.call_mut(&call_id) else {
            return;
        };
        call.dialled_at = Some(now);
        call.dial_attempts += 1;
        let chars = call.request.message.chars().count() + call.request.list.chars().count();
        call.due_at = Some(now + timing.outcome_deadline(chars));
        self.rearm_calls();
    }

    fn on_tick(&mut self) {
        if let Some(person) = self.inc.storm_pending.clone() {
            if self.due() {
                // The shell has not confirmed the join yet: ask again.
                self.inc.next_action_at =
                    Some(self.now + Duration::seconds(self.ctx.settings.queued_check_secs as i64));
                self.effects.push(Effect::JoinStorm {
                    incident_id: self.inc.id.clone(),
                    person,
                    with: None,
                });
            }
            return;
        }
        if self.inc.storm.is_some()
            && self.inc.phase == Phase::Calling
            && self.inc.call.is_none()
            && self.due()
        {
            self.log(HistoryKind::Note {
                text: "no outcome came for the members' calls the storm adopted: the storm goes on"
                    .into(),
            });
            if let Some(storm) = self.inc.storm.as_mut() {
                for m in &mut storm.members {
                    m.adopted_call = None;
                }
            }
            self.next_target();
            self.dial_next();
            return;
        }
        match self.inc.phase {
            Phase::Grouping | Phase::Waiting | Phase::Suppressed if self.due() => self.dial_next(),
            Phase::Calling if self.due() => {
                let due_at = self.inc.next_action_at;
                let due: Vec<CallInFlight> = self
                    .inc
                    .calls()
                    .filter(|c| c.due_at.or(due_at).is_some_and(|t| t <= self.now))
                    .cloned()
                    .collect();
                for call in due {
                    if self.inc.phase != Phase::Calling {
                        break;
                    }
                    self.call_due(call);
                }
                if self.inc.phase == Phase::Calling {
                    self.rearm_calls();
                }
            }
            Phase::Acknowledged if self.due() => self.ack_timed_out(),
            _ => {}
        }
    }

    /// A call whose time came: still in line (re-confirmed), never known
    /// to Connect (placed again), or without an outcome (UNKNOWN).
    fn call_due(&mut self, call: CallInFlight) {
        if call.dialled_at.is_none() {
            // Still waiting for a live-call slot: never a timeout.
            self.rearm_queued(&call.call_id);
        } else if call.contact_id.is_none() && call.dial_attempts <= self.ctx.settings.max_reissues
        {
            // Dialled, but no contact id was ever stored (the process died
            // in between, or the request never reached Connect): place it
            // again; the shell asks Connect first whether the earlier
            // attempt got through, so nobody is rung twice.
            self.log(HistoryKind::Note {
                text: format!(
                    "call {} has no contact id by its deadline: asking Amazon Connect whether it was placed, and placing it if not",
                    call.call_id
                ),
            });
            if let Some(c) = self.call_mut(&call.call_id) {
                c.dialled_at = None;
            }
            self.rearm_queued(&call.call_id);
            self.effects.push(Effect::PlaceCall(call.request.clone()));
        } else {
            // The outcome never came (no contact record, no event, no
            // answer from Connect).
            let waited = (self.now - call.dialled_at.unwrap_or(call.placed_at)).num_seconds();
            self.log(HistoryKind::Note {
                text: format!(
                    "no outcome for call {} within {waited} s of dialling: treated as UNKNOWN (unreachable)",
                    call.call_id
                ),
            });
            self.on_ended(call.call_id, Outcome::Unknown, None);
        }
    }

    fn rearm_queued(&mut self, call_id: &str) {
        let at = self.now + Duration::seconds(self.ctx.settings.queued_check_secs as i64);
        if let Some(c) = self.call_mut(call_id) {
            c.due_at = Some(at);
        }
        self.rearm_calls();
    }

    /// Another incident's call holds the phone this call was about to
    /// ring. An incident's call in turn steps back and joins the person's
    /// storm with the holder; a storm's own call waits and tries again. A
    /// reminder or a ring-all call goes ahead (the call stays, and the shell
    /// dials it): nobody is left out of a ring-all for a busy line.
    fn on_line_taken(&mut self, call_id: String, holder: String) {
        let Some(call) = self.inc.find_call(&call_id).cloned() else {
            return;
        };
        if call.contact_id.is_some() || call.reminder || call.together || holder == self.inc.id {
            return;
        }
        self.take_call(&call_id);
        self.inc.calls_placed = self.inc.calls_placed.saturating_sub(1);
        let person = call.person.clone();
        self.log(HistoryKind::LineBusy {
            person: person.clone(),
            why: format!("{person} is on another ringdown call (incident {holder})"),
        });
        if self.inc.call.is_some() {
            return;
        }
        self.inc.phase = Phase::Waiting;
        if self.inc.storm.is_some() || self.inc.member_of.is_some() {
            self.inc.next_action_at = Some(self.now + Duration::seconds(storm::BUSY_RECHECK_SECS));
            return;
        }
        self.inc.storm_pending = Some(person.clone());
        self.inc.next_action_at =
            Some(self.now + Duration::seconds(self.ctx.settings.queued_check_secs as i64));
        self.effects.push(Effect::JoinStorm {
            incident_id: self.inc.id.clone(),
            person,
            with: Some(holder),
        });
    }

    fn on_rejected(&mut self, call_id: String, kind: RejectKind, message: String) {
        let Some(call) = self.inc.find_call(&call_id).cloned() else {
            return;
        };
        self.log(HistoryKind::CallRejected {
            call_id: call_id.clone(),
            person: call.person.clone(),
            error: clip(&message, 500),
        });
        match kind {
            RejectKind::Misconfigured => {
                self.notify(
                    NoticeKind::OperatorAlert,
                    format!("cannot call {} at {}: {message}", call.person, call.phone),
                );
                self.on_ended(call_id, Outcome::Misconfigured, None);
            }
            RejectKind::Unavailable => {
                self.notify(
                    NoticeKind::Fallback,
                    format!(
                        "Amazon Connect unavailable while calling {}: {message}",
                        call.person
                    ),
                );
                self.on_ended(call_id, Outcome::CallFailed, None);
            }
        }
    }

    fn on_ended(&mut self, call_id: String, outcome: Outcome, disconnect_reason: Option<String>) {
        let Some(call) = self.take_call(&call_id) else {
            // Duplicate or stale outcome (at-least-once contact records) ...
            self.late_acknowledgement(&call_id, outcome, disconnect_reason);
            return;
        };
        self.log(HistoryKind::CallOutcome {
            call_id: call_id.clone(),
            person: call.person.clone(),
            outcome,
            disconnect_reason,
        });
        if let Some(storm_id) = self.inc.member_of.clone() {
            // The storm adopted this call: it decides what comes next.
            self.effects.push(Effect::ToStorm {
                storm_id,
                note: StormNote::CallEnded {
                    member_id: self.inc.id.clone(),
                    call_id,
                    person: call.person.clone(),
                    outcome,
                },
            });
            match outcome {
                Outcome::Acknowledged => self.acknowledge(call.person),
                Outcome::Silenced { hours } => self.silence_from_keypad(&call, hours),
                _ if self.inc.call.is_none() => {
                    self.inc.phase = Phase::Waiting;
                    self.inc.next_action_at = None;
                }
                _ => self.rearm_calls(),
            }
            return;
        }
        match outcome {
            Outcome::Acknowledged => self.acknowledge(call.person),
            Outcome::Silenced { hours } => self.silence_from_keypad(&call, hours),
            _ if call.reminder => {
                self.log(HistoryKind::Note {
                    text: format!(
                        "{} did not acknowledge the reminder: the escalation goes on",
                        call.person
                    ),
                });
                self.resume_escalation();
            }
            _ if call.together => {
                // One of everyone rung at once did not acknowledge: the
                // round is over when the last of them is.
                if self.inc.call.is_some() {
                    self.rearm_calls();
                } else {
                    self.dial_next();
                }
            }
            Outcome::Declined
            | Outcome::Unreachable
            | Outcome::HungUp
            | Outcome::Unknown
            | Outcome::Misconfigured => {
                self.next_target();
                self.dial_next();
            }
            Outcome::CallFailed => {
                self.inc.cursor.failures += 1;
                if self.inc.cursor.failures >= self.ctx.settings.max_call_failures {
                    self.log(HistoryKind::NumberFlagged {
                        person: call.person.clone(),
                        phone: call.phone.clone(),
                    });
                    self.next_target();
                    self.dial_next();
                } else {
                    let backoff = self.ctx.settings.call_failed_backoff_secs
                        << (self.inc.cursor.failures - 1).min(8);
                    self.inc.phase = Phase::Waiting;
                    self.inc.next_action_at = Some(self.now + Duration::seconds(backoff as i64));
                }
            }
        }
    }

    /// ... unless it says that someone pressed 1 or 9 on an earlier call
    /// of this incident whose outcome came only after ringdown had given up
    /// waiting: that person is on it, so the escalation stops.
    fn late_acknowledgement(
        &mut self,
        call_id: &str,
        outcome: Outcome,
        disconnect_reason: Option<String>,
    ) {
        if !matches!(outcome, Outcome::Acknowledged | Outcome::Silenced { .. })
            || self.inc.phase == Phase::Acknowledged
        {
            return;
        }
        let Some(person) = self.inc.history.iter().find_map(|h| match &h.kind {
            HistoryKind::CallPlaced {
                call_id: c, person, ..
            } if c == call_id => Some(person.clone()),
            _ => None,
        }) else {
            return;
        };
        self.log(HistoryKind::CallOutcome {
            call_id: call_id.to_string(),
            person: person.clone(),
            outcome,
            disconnect_reason,
        });
        self.log(HistoryKind::Note {
            text: format!(
                "{person} answered call {call_id} after ringdown had stopped waiting for it: acknowledged{}",
                if matches!(outcome, Outcome::Silenced { .. }) {
                    " (the keypad silence was not created; add it with `ringdown silence add`)"
                } else {
                    ""
                }
            ),
        });
        self.acknowledge(person);
    }

    fn silence_from_keypad(&mut self, call: &CallInFlight, hours: u32) {
        let by = format!("phone:{} ({})", call.phone, call.person);
        self.silence_scope(by, call.person.clone(), &call.call_id, hours);
    }

    /// Silences the incident's scope for `hours` (what pressing 9 does) and
    /// closes it; `acker` is who acknowledged, `id_base` makes the silence
    /// ids (deterministic: a replayed decision stores the same silence).
    fn silence_scope(&mut self, by: String, acker: String, id_base: &str, hours: u32) {
        if let Some(storm) = &self.inc.storm {
            // Each member silences its own scope: the storm's is theirs.
            let n = storm.open_members().count();
            self.tell_members(MemberCommand::Silence {
                by: by.clone(),
                hours,
            });
            self.stop_calls(&format!("{acker} silenced the storm"));
            self.log(HistoryKind::Note {
                text: format!("{by} silenced the {n} open incidents of the storm for {hours} h"),
            });
            self.inc.acked_at = Some(self.now);
            self.inc.acked_by = Some(acker);
            self.close(Phase::Silenced);
            return;
        }
        self.stop_calls(&format!("{acker} silenced the incident"));
        let Some(scope) = keypad_scope(&self.inc) else {
            self.log(HistoryKind::Note {
                text: format!(
                    "keypad silence: this incident's alerts cannot be named narrowly enough (no group labels, and {} alerts firing, more than {MAX_SILENCED_ALERTS}); recorded as an acknowledgement only: add a silence with `ringdown silence add`",
                    self.inc.firing.len()
                ),
            });
            self.acknowledge(acker);
            return;
        };
        let starts_at = self.now.timestamp();
        let ends_at = starts_at + i64::from(hours) * 3600;
        let reason = format!(
            "silenced for {hours} h from the keypad during incident {}",
            self.inc.id
        );
        let mut silences: Vec<Silence> = Vec::new();
        match scope {
            KeypadScope::Group(matchers) => silences.push(Silence {
                id: format!("{id_base}-silence"),
                matchers,
                starts_at,
                ends_at,
                created_by: by.clone(),
                reason,
            }),
            KeypadScope::Alerts(fingerprints) => {
                for (i, fp) in fingerprints.iter().enumerate() {
                    let Ok(m) = Matcher::equal(FINGERPRINT_LABEL, fp) else {
                        continue;
                    };
                    silences.push(Silence {
                        id: format!("{id_base}-silence-{i}"),
                        matchers: vec![m],
                        starts_at,
                        ends_at,
                        created_by: by.clone(),
                        reason: reason.clone(),
                    });
                }
            }
        }
        for s in silences {
            self.log(HistoryKind::SilenceCreated {
                silence_id: s.id.clone(),
                hours,
                by: by.clone(),
            });
            self.effects.push(Effect::CreateSilence(s));
        }
        self.inc.acked_at = Some(self.now);
        self.inc.acked_by = Some(acker);
        self.close(Phase::Silenced);
    }

    fn next_target(&mut self) {
        self.inc.cursor.target += 1;
        self.inc.cursor.failures = 0;
    }

    fn policy(&self) -> Option<&Policy> {
        self.ctx.roster.policy(&self.inc.policy)
    }

    /// Places the next call the policy allows, or schedules the wait before it,
    /// or exhausts the incident.
    fn dial_next(&mut self) {
        if self.inc.firing.is_empty() && self.inc.alerts_received > 0 && self.try_resolve() {
            return;
        }
        if self.inc.member_of.is_some() {
            // Its storm calls.
            if self.inc.phase != Phase::Acknowledged && self.inc.call.is_none() {
                self.inc.phase = Phase::Waiting;
            }
            self.inc.next_action_at = None;
            return;
        }
        let silenced = if self.inc.storm.is_some() {
            // A storm has no labels of its own; its members' silences end
            // them (and with the last of them, the storm).
            None
        } else {
            active_silence(self.ctx, &self.inc, self.now.timestamp())
        };
        if let Some(s) = silenced {
            let until = DateTime::from_timestamp(s.ends_at, 0).unwrap_or(self.now);
            if self.inc.phase != Phase::Suppressed {
                self.log(HistoryKind::Suppressed {
                    silence_id: s.id.clone(),
                    until,
                });
            }
            self.inc.phase = Phase::Suppressed;
            self.inc.next_action_at = Some(until.max(self.now + Duration::seconds(1)));
            return;
        }
        let Some(policy) = self.policy().cloned() else {
            let reason = format!(
                "policy `{}` no longer exists in the roster",
                self.inc.policy
            );
            self.exhaust(reason);
            return;
        };
        // Each iteration moves the cursor forward; bounded by the policy size.
        let max_iterations = (policy.repeat as usize + 1) * (policy.steps.len() + 1) * 64 + 16;
        for _ in 0..max_iterations {
            let c = self.inc.cursor;
            let Some(step) = policy.steps.get(c.step as usize) else {
                // Past the last step: walk the policy again or give up.
                if c.pass < policy.repeat {
                    self.inc.cursor = Cursor {
                        pass: c.pass + 1,
                        ..Cursor::default()
                    };
                    self.inc.round.clear();
                    let wait = policy.steps.last().map(|s| s.retry_after_secs).unwrap_or(0);
                    if wait > 0 {
                        return self.wait(wait);
                    }
                    continue;
                }
                let reason = format!(
                    "nobody acknowledged after {} pass(es) over policy `{}`",
                    policy.repeat + 1,
                    policy.name
                );
                return self.exhaust(reason);
            };
            if c.attempt >= step.attempts {
                self.inc.cursor = Cursor {
                    pass: c.pass,
                    step: c.step + 1,
                    ..Cursor::default()
                };
                self.inc.round.clear();
                continue;
            }
            if self.inc.round.is_empty() {
                self.start_round(&policy);
            }
            let callable = self.inc.round.iter().any(|t| t.phone.is_some());
            if callable && step.mode == StepMode::All && c.target == 0 {
                return self.ring_all(c);
            }
            if !callable {
                // Nobody in this step may be called now: retrying the same
                // step is pointless, go to the next step at once.
                self.inc.cursor = Cursor {
                    pass: c.pass,
                    step: c.step + 1,
                    ..Cursor::default()
                };
                self.inc.round.clear();
                continue;
            }
            match self.inc.round.get(c.target as usize).cloned() {
                Some(target) => match target.phone.clone() {
                    Some(phone) => return self.place_call(&target, phone, c),
                    None => {
                        self.inc.cursor.target += 1;
                        continue;
                    }
                },
                None => {
                    // Round over without an acknowledgement.
                    self.inc.cursor = Cursor {
                        pass: c.pass,
                        step: c.step,
                        attempt: c.attempt + 1,
                        ..Cursor::default()
                    };
                    self.inc.round.clear();
                    if self.inc.cursor.attempt < step.attempts && step.retry_after_secs > 0 {
                        return self.wait(step.retry_after_secs);
                    }
                    continue;
                }
            }
        }
        self.exhaust("escalation made no progress (roster changed underneath?)".into());
    }

    /// Rings every callable person of the round at once; the round is over
    /// when the last call ends without an acknowledgement.
    fn ring_all(&mut self, c: Cursor) {
        let targets: Vec<(u32, RoundTarget, String)> = self
            .inc
            .round
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.phone.clone().map(|p| (i as u32, t.clone(), p)))
            .collect();
        for (i, target, phone) in targets {
            let call_id = self.inc.call_id_for(i);
            self.place_call_as(&target, phone, c, call_id, CallKind::Together);
        }
        self.inc.cursor.target = self.inc.round.len() as u32;
    }

    fn start_round(&mut self, policy: &Policy) {
        let step = self.inc.cursor.step as usize;
        let mut round = self.ctx.roster.resolve_step(policy, step, self.now);
        if policy.steps.get(step).map(|s| s.mode) == Some(StepMode::RoundRobin) && !round.is_empty()
        {
            // Each new incident starts with the next person.
            let first = (self.inc.turn % round.len() as u64) as usize;
            round.rotate_left(first);
            if let Some(t) = round.first_mut() {
                t.reason = format!("round robin, incident turn {}: {}", self.inc.turn, t.reason);
            }
        }
        for t in round.iter().filter(|t| t.phone.is_none()) {
            self.inc.history.push(HistoryEntry {
                at: self.now,
                kind: HistoryKind::Skipped {
                    person: t.person.clone(),
                    reason: t.reason.clone(),
                },
            });
        }
        self.inc.round = round.into_iter().map(RoundTarget::from).collect();
    }

    fn wait(&mut self, secs: u64) {
        self.inc.phase = Phase::Waiting;
        self.inc.next_action_at = Some(self.now + Duration::seconds(secs as i64));
    }

    fn place_call(&mut self, target: &RoundTarget, phone: String, c: Cursor) {
        let rules = &self.ctx.roster.storm;
        match storm::verdict(self.ctx.lines, &self.inc, &target.person, rules, self.now) {
            Verdict::Free => {}
            Verdict::Storm => {
                self.log(HistoryKind::Note {
                    text: format!(
                        "{} is being called about other incidents: this one joins their storm",
                        target.person
                    ),
                });
                self.inc.storm_pending = Some(target.person.clone());
                self.inc.phase = Phase::Waiting;
                self.inc.next_action_at =
                    Some(self.now + Duration::seconds(self.ctx.settings.queued_check_secs as i64));
                self.effects.push(Effect::JoinStorm {
                    incident_id: self.inc.id.clone(),
                    person: target.person.clone(),
                    with: None,
                });
                return;
            }
            Verdict::Wait { until, why } => {
                let logged = matches!(
                    self.inc.history.last(),
                    Some(HistoryEntry { kind: HistoryKind::LineBusy { person, .. }, .. })
                        if person == &target.person
                );
                if !logged {
                    self.log(HistoryKind::LineBusy {
                        person: target.person.clone(),
                        why,
                    });
                }
                self.inc.phase = Phase::Waiting;
                self.inc.next_action_at = Some(until);
                return;
            }
        }
        let call_id = self.inc.call_id();
        self.place_call_as(target, phone, c, call_id, CallKind::InTurn);
    }

    fn place_call_as(
        &mut self,
        target: &RoundTarget,
        phone: String,
        c: Cursor,
        call_id: String,
        kind: CallKind,
    ) {
        // Stored incidents hold masked numbers only (older ones held full
        // numbers: masked here on their next call).
        let phone = mask_once(&phone);
        let details: Vec<String> = self
            .inc
            .samples
            .iter()
            .skip(1)
            .map(|s| s.title.clone())
            .collect();
        let title = match kind {
            CallKind::Reminder { minutes } => {
                format!(
                    "{} {}",
                    reminder_words(target.language, minutes),
                    self.inc.title()
                )
            }
            _ => self.inc.title(),
        };
        let (title, details, count) = match &self.inc.storm {
            Some(st) => {
                let (t, d, n) = storm::message_parts(st, target.language, self.ctx.roster.timezone);
                match kind {
                    CallKind::Reminder { minutes } => (
                        format!("{} {t}", reminder_words(target.language, minutes)),
                        d,
                        n,
                    ),
                    _ => (t, d, n),
                }
            }
            None => (title, details, self.inc.firing.len().max(1)),
        };
        let message = crate::ssml::render_message(
            target.language,
            &title,
            &details,
            count,
            self.ctx.settings.message_max_chars,
        );
        self.inc.last_call = Some(LastCall {
            person: target.person.clone(),
            at: self.now,
        });
        self.inc.phase = Phase::Calling;
        self.inc.calls_placed += 1;
        let request = CallRequest {
            incident_id: self.inc.id.clone(),
            call_id: call_id.clone(),
            person: target.person.clone(),
            phone: phone.clone(),
            phone_index: target.phone_index.unwrap_or(0),
            language: target.language,
            message,
            scope: match &self.inc.storm {
                Some(st) => storm::scope_words(st, target.language),
                None => keypad_scope_words(&self.inc, target.language),
            },
            list: {
                let (heading, items) = match &self.inc.storm {
                    Some(st) => storm::list_parts(st, target.language),
                    None => list_parts(&self.inc, target.language),
                };
                crate::ssml::render_list(
                    target.language,
                    &heading,
                    &items,
                    self.ctx.settings.message_max_chars,
                )
            },
        };
        let call = CallInFlight {
            call_id: call_id.clone(),
            person: target.person.clone(),
            phone: phone.clone(),
            placed_at: self.now,
            dialled_at: None,
            dial_attempts: 0,
            contact_id: None,
            request: request.clone(),
            due_at: None,
            reminder: matches!(kind, CallKind::Reminder { .. }),
            together: kind == CallKind::Together,
        };
        if self.inc.call.is_none() {
            self.inc.call = Some(call);
        } else {
            self.inc.more_calls.push(call);
        }
        // The outcome deadline starts when the call is dialled
        // (`Event::Dialing`); until then it only waits in line.
        self.rearm_queued(&call_id);
        self.log(HistoryKind::CallPlaced {
            call_id: call_id.clone(),
            person: target.person.clone(),
            phone: mask_once(&phone),
            step: c.step + 1,
            attempt: c.attempt + 1,
            pass: c.pass,
        });
        self.effects.push(Effect::PlaceCall(request));
    }

    fn exhaust(&mut self, reason: String) {
        self.tell_members(MemberCommand::Ended {
            reason: reason.clone(),
        });
        self.log(HistoryKind::Exhausted);
        self.notify(NoticeKind::Fallback, reason);
        self.close(Phase::Exhausted);
    }

    /// Raises a notice: into the outbox (saved with this decision) and out
    /// as an effect.
    fn notify(&mut self, kind: NoticeKind, text: String) {
        self.inc.notices_raised += 1;
        let id = format!("{}-n{}", self.inc.id, self.inc.notices_raised);
        self.inc.outbox.push(Notice {
            id: id.clone(),
            kind,
            text: text.clone(),
            raised_at: self.now,
        });
        let incident_id = self.inc.id.clone();
        self.effects.push(match kind {
            NoticeKind::Fallback => Effect::Fallback {
                incident_id,
                notice_id: id,
                reason: text,
            },
            NoticeKind::OperatorAlert => Effect::OperatorAlert {
                incident_id,
                notice_id: id,
                message: text,
            },
        });
    }
}

/// What a placed call is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallKind {
    /// The next person of the round.
    InTurn,
    /// One of everyone in a ring-all step.
    Together,
    /// The person who acknowledged `minutes` ago, the incident still firing.
    Reminder { minutes: u64 },
}

/// What a reminder call says before the alert.
fn reminder_words(language: Language, minutes: u64) -> String {
    match language {
        Language::JaJp => {
            format!("{minutes}分前に対応中と応答されたアラートが、まだ続いています。")
        }
        Language::EnUs if minutes == 1 => {
            "You acknowledged this a minute ago and it is still firing.".to_string()
        }
        Language::EnUs => {
            format!("You acknowledged this {minutes} minutes ago and it is still firing.")
        }
    }
}

/// Most alerts a keypad silence names one by one (an incident without
/// group labels); past it the keypad acknowledges only.
pub const MAX_SILENCED_ALERTS: usize = 200;

/// The silence covering `inc` now, if any. A silence naming a label too
/// large to keep (`labels_omitted`) never does: ringdown cannot tell whether
/// it matches, and a needless call beats a missed one.
fn active_silence<'x>(ctx: &'x Context<'_>, inc: &Incident, now: i64) -> Option<&'x Silence> {
    let labels = &inc.common_labels;
    if inc.labels_omitted.is_empty() {
        return ctx.silences.active_match(labels, now);
    }
    ctx.silences
        .iter()
        .filter(|s| s.is_active(now) && s.matches(labels))
        .filter(|s| {
            !s.matchers
                .iter()
                .any(|m| inc.labels_omitted.contains(&m.name))
        })
        .max_by_key(|s| s.ends_at)
}

/// What a keypad silence covers.
#[derive(Debug, Clone, PartialEq)]
pub enum KeypadScope {
    /// The incident's group labels: the same outage (`systemname="web"`).
    Group(Vec<Matcher>),
    /// Without group labels, exactly the alerts firing in the incident, by
    /// fingerprint: never a scope that also matches alerts of other outages
    /// (the labels they share may be no more than the account and region).
    Alerts(Vec<String>),
}

/// The scope of a keypad silence for `inc`, or `None` when it cannot be
/// named narrowly (no usable group labels and no, or too many, alerts).
/// A group label that is not a valid matcher name is never dropped (that
/// would widen the scope): the alerts are named one by one instead.
pub fn keypad_scope(inc: &Incident) -> Option<KeypadScope> {
    if inc.untracked_alerts > 0 {
        // Its alerts cannot all be named, and its group labels are the
        // only narrow scope left.
        return keypad_group_scope(inc);
    }
    keypad_group_scope(inc).or_else(|| {
        if inc.firing.is_empty() || inc.firing.len() > MAX_SILENCED_ALERTS {
            return None;
        }
        Some(KeypadScope::Alerts(
            inc.firing.iter().map(ToString::to_string).collect(),
        ))
    })
}

/// The group labels as a silence scope, when every one is kept whole and
/// is a valid matcher.
fn keypad_group_scope(inc: &Incident) -> Option<KeypadScope> {
    if inc.group_labels_cut {
        // A group label is missing: the rest would be a wider scope.
        return None;
    }
    let group: Vec<(&String, &String)> = inc
        .group_labels
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    if !group.is_empty() {
        let matchers: Result<Vec<Matcher>, _> =
            group.iter().map(|(k, v)| Matcher::equal(k, v)).collect();
        if let Ok(m) = matchers {
            return Some(KeypadScope::Group(m));
        }
    }
    None
}

/// The scope as the call says it before the engineer confirms a silence:
/// "systemname web", or "the 3 alerts of this call".
/// What pressing 3 reads on an incident's own call: a heading and the
/// titles of the alerts it keeps, then what its inhibition rules hold back.
fn list_parts(inc: &Incident, language: Language) -> (String, Vec<String>) {
    let n = (inc.firing.len() as u64 + inc.untracked_alerts).max(1);
    let heading = match language {
        Language::JaJp => format!("このインシデントのアラート{n}件"),
        Language::EnUs if n == 1 => "The alert of this incident".to_string(),
        Language::EnUs => format!("The {n} alerts of this incident"),
    };
    let mut items: Vec<String> = inc.samples.iter().map(|s| s.title.clone()).collect();
    let unnamed = n.saturating_sub(items.len() as u64);
    if unnamed > 0 && !items.is_empty() {
        items.push(match language {
            Language::JaJp => format!("ほかに{unnamed}件"),
            Language::EnUs => format!("{unnamed} more without a title kept"),
        });
    }
    if inc.inhibited > 0 {
        items.push(match language {
            Language::JaJp => format!(
                "このアラートが原因と見られる他のアラート{}件は電話しません",
                inc.inhibited
            ),
            Language::EnUs => format!(
                "{} alerts of other systems it is likely the cause of call nobody",
                inc.inhibited
            ),
        });
    }
    (heading, items)
}

pub fn keypad_scope_words(inc: &Incident, language: Language) -> String {
    let words = match keypad_scope(inc) {
        Some(KeypadScope::Group(m)) => m
            .iter()
            .map(|m| format!("{} {}", m.name, m.value))
            .collect::<Vec<_>>()
            .join(", "),
        Some(KeypadScope::Alerts(fps)) => match language {
            Language::JaJp => format!("この電話の{}件のアラート", fps.len()),
            Language::EnUs if fps.len() == 1 => "the alert of this call".to_string(),
            Language::EnUs => format!("the {} alerts of this call", fps.len()),
        },
        None => match language {
            Language::JaJp => "この電話のアラート".to_string(),
            Language::EnUs => "the alerts of this call".to_string(),
        },
    };
    words
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect()
}
