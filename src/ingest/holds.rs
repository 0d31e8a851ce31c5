//! Hold changes: made by the writer, so the holds ref and the audit log
//! are written by one thread only. Each change is stored, synced and logged
//! (`hold_added`, `hold_removed`) before it is answered.

use std::sync::{Arc, RwLock};

use tracing::{error, info};

use super::Ingest;
use crate::audit::Draft;
use crate::holds::{self, HoldList};
use crate::retention::Hold;

/// What an API handler asks the writer to do with holds.
#[derive(Debug)]
pub enum HoldRequest {
    Add {
        share: String,
        prefix: String,
        reason: String,
        from: Option<String>,
        to: Option<String>,
        actor: String,
        reply: tokio::sync::oneshot::Sender<Result<Hold, HoldError>>,
    },
    Remove {
        id: u64,
        actor: String,
        reply: tokio::sync::oneshot::Sender<Result<Hold, HoldError>>,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HoldError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Failed(String),
}

/// The standing holds, shared with the API's readers.
pub type SharedHolds = Arc<RwLock<HoldList>>;

impl Ingest {
    /// Keeps the holds (loaded from the archive by the daemon).
    pub fn with_holds(mut self, holds: SharedHolds) -> Ingest {
        self.holds = Some(holds);
        self
    }

    pub(super) fn change_holds(&mut self, req: HoldRequest) {
        match req {
            HoldRequest::Add {
                share,
                prefix,
                reason,
                from,
                to,
                actor,
                reply,
            } => {
                let result = self.add_hold(share, prefix, reason, from, to, actor);
                let _ = reply.send(result);
            }
            HoldRequest::Remove { id, actor, reply } => {
                let _ = reply.send(self.remove_hold(id, actor));
            }
        }
    }

    fn add_hold(
        &mut self,
        share: String,
        prefix: String,
        reason: String,
        from: Option<String>,
        to: Option<String>,
        actor: String,
    ) -> Result<Hold, HoldError> {
        if !self.shares.iter().any(|(name, _)| *name == share) {
            return Err(HoldError::NotFound(format!("no share named {share}")));
        }
        let mut list = self.hold_list();
        let hold = Hold {
            id: list.next_id.max(1),
            share,
            prefix,
            reason,
            placed_by: actor,
            placed_at: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            from,
            to,
        };
        list.next_id = hold.id + 1;
        list.holds.push(hold.clone());
        self.store_holds(list, &hold, "hold_added")?;
        info!(id = hold.id, share = %hold.share, prefix = %hold.prefix, by = %hold.placed_by, "hold placed");
        Ok(hold)
    }

    fn remove_hold(&mut self, id: u64, actor: String) -> Result<Hold, HoldError> {
        let mut list = self.hold_list();
        let Some(at) = list.holds.iter().position(|h| h.id == id) else {
            return Err(HoldError::NotFound(format!("no hold with id {id}")));
        };
        let hold = list.holds.remove(at);
        let lifted = Hold {
            placed_by: actor,
            ..hold.clone()
        };
        self.store_holds(list, &lifted, "hold_removed")?;
        info!(id, share = %hold.share, prefix = %hold.prefix, by = %lifted.placed_by, "hold lifted");
        Ok(hold)
    }

    pub(super) fn hold_list(&self) -> HoldList {
        self.holds
            .as_ref()
            .map(|h| h.read().expect("holds lock").clone())
            .unwrap_or_default()
    }

    /// Saves the list, logs the change (`hold.placed_by` is the actor), syncs, publishes.
    fn store_holds(&mut self, list: HoldList, hold: &Hold, kind: &str) -> Result<(), HoldError> {
        let fail =
            |e: &dyn std::fmt::Display| HoldError::Failed(format!("cannot store holds: {e}"));
        let message = format!(
            "{kind}: hold {} on {}:{:?}\n",
            hold.id, hold.share, hold.prefix
        );
        holds::save(&self.archive, &list, &message).map_err(|e| fail(&e))?;
        if let Some(audit) = &mut self.audit {
            let draft = Draft {
                at: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
                kind: kind.into(),
                share: Some(hold.share.clone()),
                path: Some(hold.prefix.clone()),
                version: None,
                actor: hold.placed_by.clone(),
                detail: serde_json::json!({
                    "hold": hold.id,
                    "reason": hold.reason,
                    "from": hold.from,
                    "to": hold.to,
                }),
            };
            if let Err(e) = audit.append_durable(&self.archive, vec![draft], &[]) {
                error!(error = %e, "cannot log a hold change in the audit trail");
            }
        }
        self.archive.sync().map_err(|e| fail(&e))?;
        if let Some(shared) = &self.holds {
            *shared.write().expect("holds lock") = list;
        }
        Ok(())
    }
}
