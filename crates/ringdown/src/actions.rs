//! Acting on an incident without the phone: `ringdown incident
//! ack|resolve|escalate|silence ID`.
//!
//! The command asks the running daemon (`POST /v1/incidents/{id}/{action}`
//! on its ingest listener, with the ingest token), whose engine applies the
//! event at once: an acknowledgement hangs up the call in progress, an
//! escalation rings the next step now. When no daemon answers, the command
//! decides against the configured store itself, hangs up the call in
//! progress on Amazon Connect (AWS settings), and leaves the incident for a
//! daemon to take over (it places any call the decision asked for).
//!
//! Acting stops paging, so it always needs a token: the ingest token when
//! one is configured, else the one the embedded daemon writes beside its
//! database at start-up (readable only by its user): whoever may read the
//! store may act on it.

use crate::commands::{open_store, user};
use crate::config::Config;
use anyhow::Result;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use ringdown_core::escalation::{decide, Context, Effect, Event, Incident};
use ringdown_core::outcome::MAX_SILENCE_HOURS;
use ringdown_core::roster::Roster;
use ringdown_core::silence::SilenceIndex;
use ringdown_engine::{Engine, StoreError, StoredIncident};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// What someone does to an incident by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Action {
    /// I am on it: calls stop (the policy's acknowledgement timeout starts).
    Ack,
    /// It is over: the incident closes though its alerts still fire.
    Resolve,
    /// Ring the next step now.
    Escalate,
    /// Silence the incident's scope for some hours, as pressing 9 does.
    Silence,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Ack => "ack",
            Action::Resolve => "resolve",
            Action::Escalate => "escalate",
            Action::Silence => "silence",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Action> {
        [
            Action::Ack,
            Action::Resolve,
            Action::Escalate,
            Action::Silence,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

/// The body of `POST /v1/incidents/{id}/{action}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    /// Who acts: a roster person id (then an acknowledgement timeout rings
    /// them first), or any name; recorded in the timeline.
    pub by: String,
    /// For `silence`: 1 to 72.
    #[serde(default)]
    pub hours: Option<u32>,
}

/// The core event for an action, or why the request cannot be one.
pub fn event(action: Action, req: &ActionRequest) -> std::result::Result<Event, String> {
    let by = req.by.trim();
    if by.is_empty() || by.chars().count() > 100 || by.chars().any(char::is_control) {
        return Err("`by` must name who acts, in 1 to 100 printable characters".into());
    }
    let by = by.to_string();
    Ok(match action {
        Action::Ack => Event::Acknowledge { by },
        Action::Resolve => Event::Resolve { by },
        Action::Escalate => Event::Escalate { by },
        Action::Silence => match req.hours {
            Some(h) if (1..=MAX_SILENCE_HOURS).contains(&h) => Event::Silence { by, hours: h },
            _ => {
                return Err(format!(
                    "silencing needs `hours` between 1 and {MAX_SILENCE_HOURS}"
                ))
            }
        },
    })
}

/// What the daemon answers, and the command prints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActionAnswer {
    pub id: String,
    pub state: String,
    pub acked_by: Option<String>,
    /// The timeline entries this action added.
    pub timeline: Vec<String>,
}

fn answer(before: usize, inc: &Incident) -> ActionAnswer {
    ActionAnswer {
        id: inc.id.clone(),
        state: inc.phase.as_str().to_string(),
        acked_by: inc.acked_by.clone(),
        timeline: inc
            .history
            .iter()
            .skip(before)
            .map(|h| crate::timeline::describe(&h.kind))
            .collect(),
    }
}

/// Where the embedded daemon keeps the action token when no ingest token
/// is configured: beside its database.
pub fn local_token_path(cfg: &Config) -> PathBuf {
    let mut p = cfg.store.sqlite_path.clone().into_os_string();
    p.push(".token");
    PathBuf::from(p)
}

/// The daemon's action token: the ingest token, else (embedded) a new
/// random one written (mode 0600) to [`local_token_path`]. On AWS without
/// an ingest token nobody can act through the daemon (the command then
/// acts on the store, as it does from an SRE's machine).
pub fn daemon_token(cfg: &Config) -> Result<String> {
    if let Some(t) = crate::daemon::ingest_token(cfg)? {
        return Ok(t);
    }
    use rand::Rng;
    let token: String = rand::thread_rng()
        .sample_iter(rand::distributions::Alphanumeric)
        .take(40)
        .map(char::from)
        .collect();
    if cfg.aws.is_some() {
        return Ok(token);
    }
    let path = local_token_path(cfg);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(&path)
        .map_err(|e| user(format!("cannot write {}: {e}", path.display())))?;
    std::io::Write::write_all(&mut f, token.as_bytes())?;
    tracing::info!(
        "acting on incidents (ringdown incident ack …) needs the token in {}",
        path.display()
    );
    Ok(token)
}

#[derive(Clone)]
struct ActState {
    engine: Engine,
    token: Arc<str>,
}

/// `POST /v1/incidents/{id}/{action}`.
pub fn router(engine: Engine, token: String) -> axum::Router {
    axum::Router::new()
        .route(
            "/v1/incidents/{id}/{action}",
            axum::routing::post(post_action),
        )
        .with_state(ActState {
            engine,
            token: token.into(),
        })
}

fn refuse(status: StatusCode, reason: &'static str, error: String) -> Response {
    (
        status,
        Json(serde_json::json!({"error": error, "reason": reason})),
    )
        .into_response()
}

async fn post_action(
    State(s): State<ActState>,
    UrlPath((id, action)): UrlPath<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !ringdown_local::has_token(&headers, &s.token) {
        tracing::warn!(incident = %id, "incident action refused: missing or wrong token");
        return refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "acting on an incident needs the token: send Authorization: Bearer <token>".into(),
        );
    }
    let Some(action) = Action::parse(&action) else {
        return refuse(
            StatusCode::NOT_FOUND,
            "unknown_action",
            format!("{action:?} is not an action: ack, resolve, escalate or silence"),
        );
    };
    let req: ActionRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("the body must be {{\"by\": \"who\", \"hours\": N}}: {e}"),
            )
        }
    };
    let event = match event(action, &req) {
        Ok(e) => e,
        Err(why) => return refuse(StatusCode::BAD_REQUEST, "bad_request", why),
    };
    let before = match s.engine.store().load_incident(&id).await {
        Ok(Some(inc)) if inc.phase.is_closed() => {
            return refuse(
                StatusCode::CONFLICT,
                "closed",
                format!("incident {id} is already {}", inc.phase.as_str()),
            )
        }
        Ok(Some(inc)) => inc.history.len(),
        Ok(None) => {
            return refuse(
                StatusCode::NOT_FOUND,
                "no_such_incident",
                format!("no incident with id {id}"),
            )
        }
        Err(e) => return refuse(StatusCode::SERVICE_UNAVAILABLE, "store", e.to_string()),
    };
    match s.engine.apply(&id, event).await {
        Ok(Some(inc)) => {
            tracing::info!(incident = %id, action = action.as_str(), by = %req.by, state = inc.phase.as_str(), "incident acted on by hand");
            // Entries the history cap dropped shift the count; the newest
            // entries are what this action added.
            let before = before.min(inc.history.len().saturating_sub(1));
            (StatusCode::OK, Json(answer(before, &inc))).into_response()
        }
        Ok(None) => refuse(
            StatusCode::CONFLICT,
            "not_applied",
            format!("incident {id} closed meanwhile, or no roster is loaded yet"),
        ),
        Err(e) => refuse(StatusCode::SERVICE_UNAVAILABLE, "store", e.to_string()),
    }
}

/// `ringdown incident ACTION ID`.
pub fn main(
    config: Option<&Path>,
    action: Action,
    id: &str,
    by: Option<String>,
    hours: Option<u32>,
    daemon: Option<String>,
) -> Result<ExitCode> {
    let cfg = Config::load(config)?;
    let by = by.unwrap_or_else(|| {
        format!(
            "cli:{}",
            std::env::var("USER").unwrap_or_else(|_| "unknown".into())
        )
    });
    let req = ActionRequest { by, hours };
    // Refuse a bad request before reaching anything.
    event(action, &req).map_err(user)?;
    let url = daemon.unwrap_or_else(|| {
        let mut addr = cfg.http.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{addr}")
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let done = match ask(&cfg, &url, action, id, &req).await? {
            Some(a) => a,
            None => {
                eprintln!(
                    "no ringdown daemon answered at {url}: deciding against the store directly"
                );
                act_on_store(&cfg, action, id, &req).await?
            }
        };
        println!(
            "incident {}: {}{}",
            done.id,
            done.state,
            done.acked_by
                .as_deref()
                .map(|b| format!(" (acknowledged by {b})"))
                .unwrap_or_default()
        );
        for line in &done.timeline {
            println!("  {line}");
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Asks the daemon at `url` to act; `None` when nothing listens there.
pub async fn ask(
    cfg: &Config,
    url: &str,
    action: Action,
    id: &str,
    req: &ActionRequest,
) -> Result<Option<ActionAnswer>> {
    let addr = url
        .strip_prefix("http://")
        .map(|a| a.trim_end_matches('/'))
        .and_then(|a| {
            std::net::ToSocketAddrs::to_socket_addrs(a)
                .ok()
                .and_then(|mut i| i.next())
        })
        .ok_or_else(|| user(format!("--daemon {url:?}: give http://HOST:PORT")))?;
    let stream = match tokio::time::timeout(
        std::time::Duration::from_secs(3),
        tokio::net::TcpStream::connect(addr),
    )
    .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(_)) | Err(_) => return Ok(None),
    };
    let token = match crate::daemon::ingest_token(cfg)? {
        Some(t) => t,
        None => {
            let path = local_token_path(cfg);
            std::fs::read_to_string(&path)
                .map_err(|e| {
                    user(format!(
                        "the daemon at {url} needs its token: set RINGDOWN_HTTP_TOKEN, or run this as the daemon's user to read {} ({e})",
                        path.display()
                    ))
                })?
                .trim()
                .to_string()
        }
    };
    use http_body_util::{BodyExt, Full};
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let request = hyper::Request::post(format!("/v1/incidents/{id}/{}", action.as_str()))
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(hyper::body::Bytes::from(serde_json::to_vec(
            req,
        )?)))?;
    let resp = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        sender.send_request(request),
    )
    .await
    .map_err(|_| anyhow::anyhow!("the daemon at {url} did not answer within 30 s"))??;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    if status.is_success() {
        return Ok(Some(serde_json::from_slice(&body)?));
    }
    let why = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
    Err(user(format!("the daemon refused ({status}): {why}")))
}

/// Decides against the store, as the daemon would, and hangs up the call
/// in progress on Amazon Connect. Leaves the incident to a daemon (owner
/// `cli`, which no daemon is: the first to look takes it over and places
/// any call this decision asked for).
async fn act_on_store(
    cfg: &Config,
    action: Action,
    id: &str,
    req: &ActionRequest,
) -> Result<ActionAnswer> {
    let store = open_store(cfg).await?;
    let doc = store
        .load_roster()
        .await?
        .ok_or_else(|| user("no roster is stored: apply one with `ringdown roster apply`"))?;
    let roster = Roster::from_yaml(&doc.yaml).map_err(|e| user(e.to_string()))?;
    let settings = cfg.escalation.settings(cfg.connect.time_scale);
    let event = event(action, req).map_err(user)?;
    let on_store = OnStore {
        cfg,
        store: store.as_ref(),
        roster: &roster,
        settings: &settings,
    };
    let (next, before, effects) = on_store.decide(id, event, true).await?;
    // What a storm tells its members, and a member its storm, the daemon
    // would pass on: without it, passed on here (one level: a member has
    // no members).
    for e in effects {
        let (targets, event) = match e {
            Effect::ForMembers {
                members, command, ..
            } => (members, command.event()),
            Effect::ToStorm { storm_id, note } => (vec![storm_id], Event::FromMember(note)),
            _ => continue,
        };
        for t in targets {
            if let Err(e) = on_store.decide(&t, event.clone(), false).await {
                eprintln!("ringdown: incident {t} not updated: {e}");
            }
        }
    }
    Ok(answer(before, &next))
}

/// Decisions taken against the store directly, as the daemon would.
struct OnStore<'a> {
    cfg: &'a Config,
    store: &'a dyn ringdown_engine::Store,
    roster: &'a Roster,
    settings: &'a ringdown_core::escalation::Settings,
}

impl OnStore<'_> {
    /// Decides `event` on incident `id` and saves it (retrying a conflict);
    /// creates the silences and hangs up the calls it asks for. `asked`:
    /// the incident the user named (a closed one is refused; a member
    /// already closed is skipped).
    async fn decide(
        &self,
        id: &str,
        event: Event,
        asked: bool,
    ) -> Result<(StoredIncident, usize, Vec<Effect>)> {
        for _ in 0..8 {
            let now = Utc::now();
            let Some(current) = self.store.load_incident(id).await? else {
                return Err(user(format!("no incident with id {id}")));
            };
            if current.phase.is_closed() && asked {
                return Err(user(format!(
                    "incident {id} is already {}",
                    current.phase.as_str()
                )));
            }
            let silences = SilenceIndex::new(self.store.silences(now).await?);
            // A hand action reaches one incident; the storm rule applies to
            // calls the engine decides, which sees everyone's phone.
            let lines = ringdown_core::storm::Lines::new();
            let ctx = Context {
                roster: self.roster,
                silences: &silences,
                settings: self.settings,
                lines: &lines,
            };
            let (decided, effects) = decide(&current, event.clone(), &ctx, now);
            for e in &effects {
                if let Effect::CreateSilence(s) = e {
                    self.store.put_silence(s).await?;
                }
            }
            let before = current.history.len().min(decided.history.len());
            let next = StoredIncident {
                incident: decided,
                version: current.version,
                owner: Some("cli".into()),
            };
            match self.store.save_incident(&next).await {
                Ok(_) => {}
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
            for e in &effects {
                if let Effect::StopCall {
                    contact_id: Some(contact),
                    ..
                } = e
                {
                    hang_up(self.cfg, contact).await;
                }
            }
            return Ok((next, before, effects));
        }
        Err(user(format!(
            "incident {id} kept changing underneath; try again"
        )))
    }
}

/// Hangs up a call on Amazon Connect (AWS settings); on the embedded
/// default no call rings without its daemon.
async fn hang_up(cfg: &Config, contact: &str) {
    let Some(aws) = &cfg.aws else {
        return;
    };
    match crate::aws::stop_contact(cfg, aws, contact).await {
        Ok(()) => eprintln!("hung up the call in progress (contact {contact})"),
        Err(e) => eprintln!("could not hang up contact {contact}: {e}"),
    }
}
