use super::*;

impl Engine {
    pub(super) fn spawn_call(&self, req: CallRequest) {
        let engine = self.clone();
        self.inner
            .tracker
            .spawn(async move { engine.place_call(req).await });
    }

    pub(super) async fn place_call(&self, req: CallRequest) {
        let inner = &self.inner;
        // One task per call in this process: a re-issue while the call is
        // being placed already is a no-op.
        let cancel = tokio_util::sync::CancellationToken::new();
        let mine = inner.seq.fetch_add(1, Ordering::Relaxed);
        {
            let mut dialing = inner.dialing.lock().expect("dialing");
            if dialing.contains_key(&req.call_id) {
                return;
            }
            dialing.insert(req.call_id.clone(), (mine, cancel.clone()));
        }
        self.place_call_once(&req, &cancel).await;
        let mut dialing = inner.dialing.lock().expect("dialing");
        if dialing.get(&req.call_id).is_some_and(|(n, _)| *n == mine) {
            dialing.remove(&req.call_id);
        }
    }

    /// Takes `req.person`'s line in the shared store for this call. Returns
    /// the incident whose call holds it, if another live call does; `None`
    /// when the line is ours, there is no shared store, or the store cannot
    /// say (a page goes out rather than wait on it).
    async fn take_line(&self, req: &CallRequest) -> Option<String> {
        let leases = self.inner.shared_lines.get()?;
        let name = line_lease(&req.person);
        let me = line_owner(&req.incident_id, &req.call_id);
        let ttl = self.inner.settings.max_call_hold().as_millis() as i64;
        for _ in 0..3 {
            let now = self.now().timestamp_millis();
            match leases.try_acquire(&name, &me, now, ttl).await {
                Ok(Some(_)) => return None,
                Ok(None) => {}
                Err(e) => {
                    warn!(call = %req.call_id, error = %e, "could not take the line in the store; placing the call");
                    return None;
                }
            }
            let holder = match leases.list(&name).await {
                Ok(all) => all.into_iter().find(|l| l.name == name)?.owner,
                Err(_) => return None,
            };
            let (incident, call) = holder.split_once(' ')?;
            // A holder whose call is over (its release was lost with a
            // process) holds nothing: free the line and try again.
            let live = match self.inner.store.load_incident(incident).await {
                Ok(Some(inc)) => inc.find_call(call).is_some(),
                Ok(None) => false,
                Err(_) => return None,
            };
            if live {
                return Some(incident.to_string());
            }
            if let Err(e) = leases.release(&name, &holder).await {
                warn!(error = %e, "could not free a line whose call is over");
                return None;
            }
        }
        None
    }

    pub(super) async fn place_call_once(
        &self,
        req: &CallRequest,
        cancel: &tokio_util::sync::CancellationToken,
    ) {
        let inner = &self.inner;
        tokio::select! {
            _ = cancel.cancelled() => {
                info!(incident = %req.incident_id, call = %req.call_id, "call no longer needed; not placed");
                return;
            }
            _ = inner.gate.admit(&req.call_id) => {}
        }
        // Another replica's call may hold this phone (this process's lines
        // see only its own calls): the core decides whether this call steps
        // back (its incident joins the person's storm) or goes ahead.
        if let Some(holder) = self.take_line(req).await {
            let taken = Event::LineTaken {
                call_id: req.call_id.clone(),
                holder: holder.clone(),
            };
            match self.apply(&req.incident_id, taken).await {
                Ok(Some(inc)) if inc.find_call(&req.call_id).is_some() => {}
                Ok(_) => {
                    info!(incident = %req.incident_id, call = %req.call_id, holder = %holder, "the phone is on another replica's call; not placed");
                    inner.gate.release(&req.call_id);
                    return;
                }
                Err(e) => {
                    warn!(incident = %req.incident_id, error = %e, "could not record the busy line; placing the call anyway");
                }
            }
        }
        // The intent, stored before the request leaves: the outcome deadline
        // starts now (never while the call waited in line), and a process
        // that dies from here on leaves the record that this call may have
        // reached Connect. The conditional write also re-checks the
        // incident: waiting in line may have taken a while, and nobody is
        // woken for an incident resolved or acknowledged meanwhile.
        let dialing = Event::Dialing {
            call_id: req.call_id.clone(),
        };
        let maybe_placed = match self.apply(&req.incident_id, dialing).await {
            Ok(Some(inc)) => match inc
                .find_call(&req.call_id)
                .filter(|c| c.dialled_at.is_some() && c.contact_id.is_none())
            {
                Some(c) => c.dial_attempts > 1,
                None => {
                    info!(incident = %req.incident_id, call = %req.call_id, "call no longer needed; not placed");
                    inner.gate.release(&req.call_id);
                    return;
                }
            },
            Ok(None) => {
                info!(incident = %req.incident_id, call = %req.call_id, "call no longer needed; not placed");
                inner.gate.release(&req.call_id);
                return;
            }
            Err(e) => {
                // A page must go out: dial, and treat the call as one that
                // may have been placed before (the dialer asks first).
                warn!(incident = %req.incident_id, error = %e, "could not record that the call is being dialled; placing it anyway");
                true
            }
        };
        // The full number comes from the roster now; the stored request
        // holds it masked.
        let number = match self.roster() {
            Some(r) => r.number_to_dial(&req.person, req.phone_index, &req.phone),
            None => Err("no roster is loaded".to_string()),
        };
        let dial = match number {
            Ok(number) => CallRequest {
                phone: number,
                ..req.clone()
            },
            Err(why) => {
                inner.gate.release(&req.call_id);
                warn!(incident = %req.incident_id, call = %req.call_id, "{why}");
                let rejected = Event::CallRejected {
                    call_id: req.call_id.clone(),
                    kind: RejectKind::Misconfigured,
                    message: why,
                };
                if let Err(e) = self.apply(&req.incident_id, rejected).await {
                    error!(incident = %req.incident_id, error = %e, "could not record call result");
                }
                return;
            }
        };
        let req = &dial;
        info!(incident = %req.incident_id, call = %req.call_id, person = %req.person, phone = %mask(&req.phone), "placing call");
        // The dialer runs in its own task so that a panic inside an SDK (a
        // malformed endpoint setting, say) becomes a failed call that the core
        // escalates past, not a silently lost one.
        let placed = {
            let dialer = inner.dialer.clone();
            let req = req.clone();
            let cancel = cancel.clone();
            tokio::spawn(async move { dialer.place(&req, maybe_placed, &cancel).await })
                .await
                .unwrap_or_else(|e| {
                    Err(DialError::Unavailable(format!(
                        "the dialer failed unexpectedly: {e}"
                    )))
                })
        };
        if matches!(placed, Err(DialError::Cancelled)) {
            inner.gate.release(&req.call_id);
            return;
        }
        let event = match placed {
            Ok(contact_id) => {
                metrics::counter!("ringdown_calls_placed_total").increment(1);
                let row = ContactRow {
                    contact_id: contact_id.clone(),
                    call_id: req.call_id.clone(),
                    incident_id: req.incident_id.clone(),
                    person: req.person.clone(),
                    phone_masked: mask(&req.phone),
                    placed_at: self.now(),
                    ended_at: None,
                    outcome: None,
                    disconnect_reason: None,
                };
                if let Err(e) = inner.store.record_contact(&row).await {
                    warn!(call = %req.call_id, error = %e, "could not record contact");
                }
                Event::CallPlaced {
                    call_id: req.call_id.clone(),
                    contact_id,
                }
            }
            Err(err) => {
                inner.gate.release(&req.call_id);
                let kind = match err {
                    DialError::Misconfigured(_) => RejectKind::Misconfigured,
                    DialError::Unavailable(_) | DialError::Cancelled => RejectKind::Unavailable,
                };
                metrics::counter!("ringdown_calls_rejected_total").increment(1);
                warn!(incident = %req.incident_id, call = %req.call_id, error = %err, "call rejected");
                Event::CallRejected {
                    call_id: req.call_id.clone(),
                    kind,
                    message: err.to_string(),
                }
            }
        };
        if let Err(e) = self.apply(&req.incident_id, event).await {
            error!(incident = %req.incident_id, error = %e, "could not record call result");
        }
    }
}

/// The shared lease that says a call holds `person`'s phone.
pub(super) fn line_lease(person: &str) -> String {
    format!("line/{person}")
}

/// Who holds a line: the incident and its call.
pub(super) fn line_owner(incident: &str, call: &str) -> String {
    format!("{incident} {call}")
}
