//! Disposition on the writer: the due versions (as `retention::due` finds
//! them at this moment, holds and rules included) are removed by
//! `crate::dispose`, which rewrites the archive, purges the index and logs
//! one `disposed` event per version; then the catalog is reloaded from the
//! archive. On request (`POST /api/v1/retention/dispose`) and, for rules
//! with `auto_dispose`, on their schedule.

use std::time::{Duration, Instant, SystemTime};

use tracing::{error, info, warn};

use super::Ingest;
use crate::dispose::{Disposed, VersionRef};
use crate::retention::{self, DueVersion};

/// How long a disposition waits for extraction results in flight (their
/// notes name commits the rewrite replaces).
const DRAIN: Duration = Duration::from_secs(60);

/// The actor of scheduled dispositions.
pub const AUTO_ACTOR: &str = "auto_dispose";

/// What an API handler asks the writer to dispose of.
#[derive(Debug)]
pub struct DisposeRequest {
    pub dry_run: bool,
    pub actor: String,
    pub reply: tokio::sync::oneshot::Sender<Result<DisposeAnswer, DisposeFailure>>,
}

/// The versions disposed of (or, for a dry run, that would be).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct DisposeAnswer {
    pub dry_run: bool,
    pub disposed: Vec<DisposedVersion>,
    /// Content bytes of the disposed versions.
    pub bytes: u64,
}

/// One disposed version: what was destroyed, proven by its sha256.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct DisposedVersion {
    pub share: String,
    pub path: String,
    pub version: u32,
    pub size: u64,
    pub sha256: String,
    /// The rule that made it due.
    pub policy: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DisposeFailure {
    #[error("{0}")]
    Busy(String),
    #[error("{0}")]
    Failed(String),
}

impl Ingest {
    /// The retention rules, shared with the API (replaced on SIGHUP).
    pub fn with_retention(mut self, rules: super::SharedRules) -> Ingest {
        self.rules = Some(rules);
        self
    }

    pub(super) fn dispose_request(&mut self, req: DisposeRequest) {
        let result = self.dispose_due(req.dry_run, &req.actor, |_| true);
        let _ = req.reply.send(result);
    }

    /// Runs the scheduled dispositions whose interval has come.
    pub(super) fn auto_dispose(&mut self) {
        let Some(rules) = &self.rules else { return };
        let now = Instant::now();
        let rules = rules.read().expect("rules lock").clone();
        let mut ready = Vec::new();
        for rule in &rules {
            let Some(every) = rule.auto_dispose else {
                continue;
            };
            let last = *self.auto_last.entry(rule.name.clone()).or_insert(now);
            if now.duration_since(last) >= every {
                self.auto_last.insert(rule.name.clone(), now);
                ready.push(rule.name.clone());
            }
        }
        if ready.is_empty() {
            return;
        }
        match self.dispose_due(false, AUTO_ACTOR, |v| ready.contains(&v.policy)) {
            Ok(a) if a.disposed.is_empty() => {}
            Ok(a) => {
                info!(versions = a.disposed.len(), bytes = a.bytes, rules = ?ready, "scheduled disposition done")
            }
            Err(e) => {
                warn!(error = %e, rules = ?ready, "scheduled disposition failed; tried again at the next interval")
            }
        }
    }

    fn dispose_due(
        &mut self,
        dry_run: bool,
        actor: &str,
        wanted: impl Fn(&DueVersion) -> bool,
    ) -> Result<DisposeAnswer, DisposeFailure> {
        let rules = self
            .rules
            .as_ref()
            .map(|r| r.read().expect("rules lock").clone())
            .unwrap_or_default();
        let holds = self.hold_list().holds;
        if !dry_run {
            self.drain_extraction()?;
            // A merge running beside a rewrite could copy disposed objects
            // into its new pack after the repack dropped them.
            self.packs.wait();
        }
        let due: Vec<DueVersion> = {
            let catalog = self.catalog.read().expect("catalog lock");
            retention::due(&catalog, &rules, &holds, None, SystemTime::now())
                .into_iter()
                .filter(|v| wanted(v))
                .collect()
        };
        let listed = |v: &DueVersion| DisposedVersion {
            share: v.share.clone(),
            path: v.path.clone(),
            version: v.version,
            size: v.size,
            sha256: v.sha256.clone(),
            policy: v.policy.clone(),
        };
        if dry_run || due.is_empty() {
            let disposed: Vec<DisposedVersion> = due.iter().map(listed).collect();
            let bytes = disposed.iter().map(|d| d.size).sum();
            return Ok(DisposeAnswer {
                dry_run,
                disposed,
                bytes,
            });
        }
        let refs: Vec<VersionRef> = due
            .iter()
            .map(|v| VersionRef::new(&v.share, &v.path, v.version))
            .collect();
        let policies = due
            .iter()
            .map(|v| {
                (
                    VersionRef::new(&v.share, &v.path, v.version),
                    v.policy.clone(),
                )
            })
            .collect();
        let Some(audit) = self.audit.as_mut() else {
            return Err(DisposeFailure::Failed("the audit log is not open".into()));
        };
        let result = crate::dispose::dispose(
            &self.data_dir,
            &self.archive,
            self.index.as_mut(),
            audit,
            &refs,
            &policies,
            actor,
        );
        // Whatever happened, the archive is the truth: read it again.
        self.reload_catalog();
        let done = result.map_err(|e| {
            error!(error = %e, "disposition failed; a started one is finished at the next start");
            DisposeFailure::Failed(format!("disposition failed: {e}"))
        })?;
        let gone: Vec<&Disposed> = done.disposed.iter().collect();
        let disposed: Vec<DisposedVersion> = due
            .iter()
            .filter(|v| {
                gone.iter()
                    .any(|d| d.share == v.share && d.path == v.path && d.version == v.version)
            })
            .map(listed)
            .collect();
        let bytes = disposed.iter().map(|d| d.size).sum();
        info!(versions = disposed.len(), bytes, actor, "disposed");
        Ok(DisposeAnswer {
            dry_run,
            disposed,
            bytes,
        })
    }

    /// Waits until every extraction result in flight is recorded.
    fn drain_extraction(&mut self) -> Result<(), DisposeFailure> {
        let deadline = Instant::now() + DRAIN;
        loop {
            self.take_outcomes();
            self.record_outcomes();
            if self.jobs_out.values().all(|&n| n == 0) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(DisposeFailure::Busy(
                    "text extraction is still busy with new versions; nothing was disposed, try again later"
                        .into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Replaces the catalog with the archive's, and the index's absorbed
    /// heads; reopens the archive (and makes the API reopen its handles) so
    /// the pruned packs' space is freed and disposed blobs are not served.
    fn reload_catalog(&mut self) {
        self.reopen_archive();
        let shares: Vec<String> = self.shares.iter().map(|(n, _)| n.clone()).collect();
        match self.archive.load_catalog(shares.iter().map(String::as_str)) {
            Ok(catalog) => *self.catalog.write().expect("catalog lock") = catalog,
            Err(e) => error!(error = %e, "cannot reload the catalog after a disposition"),
        }
        if let Some(index) = &self.index {
            self.absorbed = index.absorbed();
        }
    }
}
