//! Ingest: the one writer of the archive.
//!
//! It takes batches of settled paths from the watch stage, reads each file
//! (streaming it into the archive while hashing), decides what kind of
//! version it is — created, modified, renamed, deleted, or nothing when the
//! content is the same — commits a share's changes in bounded batches and
//! then publishes them in the catalog. A file that changed while being read
//! goes back to the watch stage; a file that cannot be read is logged,
//! counted and retried by the next scan; neither stops the others.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use git2::FileMode;
use tracing::{debug, error, info, warn};

use crate::archive::{Archive, ArchiveError, PreparedBlob, Preparer, Staged, StoredBlob, TreeOp};
use crate::catalog::{Catalog, Event, Extraction, FileKind, FileStat, VersionRecord, format_mtime};
use crate::config::Config;
use crate::extract::Extracted;
use crate::extract::stage::{Job, Outcome};
use crate::index::{Entry, Index};
use crate::metrics::Metrics;
use crate::watch::{IngestMsg, Settled, WatchMsg};

mod dispose;
mod holds;
mod restore;

pub use dispose::{DisposeAnswer, DisposeFailure, DisposeRequest, DisposedVersion};
pub use holds::{HoldError, HoldRequest, SharedHolds};
pub use restore::{RestoreError, RestoreRequest, Restored};

/// The most changes one commit holds (bulk imports are split).
pub const MAX_COMMIT: usize = 1000;

/// The most bytes of small files one commit stages in memory before it
/// writes them as a pack (larger files are streamed and do not count).
/// (Two such batches are in memory during a bulk import, deflated: one being
/// read, one being committed, ~23 MB in all. 8 MiB did not lower the
/// import's peak, which comes later, while it is indexed, and its rate was
/// 10–15 % lower in two runs each.)
pub const MAX_STAGED: u64 = 16 << 20;

/// The `[[retention]]` rules, shared by the writer and the API.
pub type SharedRules = Arc<RwLock<Vec<crate::config::RetentionRule>>>;

/// Counters the API shows on `/readyz` and `/metrics`.
#[derive(Debug, Default)]
pub struct Progress {
    /// The start-up scan and everything it found are committed.
    pub ready: AtomicBool,
    pub scanned: AtomicU64,
    pub pending: AtomicU64,
    pub versions: AtomicU64,
    pub unreadable: AtomicU64,
    pub too_large: AtomicU64,
    /// Versions whose extraction result is recorded.
    pub extracted: AtomicU64,
    /// Versions sent to extraction and not yet indexed.
    pub extraction_pending: AtomicU64,
    /// Set by the daemon on SIGTERM: finish the batch in hand, then stop.
    pub stopping: AtomicBool,
}

/// The writer: archive, catalog and the way back to the watch stage.
pub struct Ingest {
    archive: Archive,
    catalog: Arc<RwLock<Catalog>>,
    progress: Arc<Progress>,
    metrics: Arc<Metrics>,
    audit: Option<crate::audit::AuditLog>,
    holds: Option<SharedHolds>,
    /// The retention rules (replaced on SIGHUP), for disposition.
    rules: Option<SharedRules>,
    /// When each rule's scheduled disposition last ran.
    auto_last: HashMap<String, std::time::Instant>,
    data_dir: std::path::PathBuf,
    /// When the batch in hand reached ingest (its commits are timed from it).
    batch_at: Option<Instant>,
    shares: Vec<(String, std::path::PathBuf)>,
    /// Per share, the ignore rules (a restore never writes an ignored name).
    ignore: Vec<globset::GlobSet>,
    max_file_size: u64,
    requeue: Sender<WatchMsg>,
    extract: Option<Sender<Job>>,
    results: Option<Receiver<Outcome>>,
    /// Extraction results not yet written to the archive.
    outcomes: Vec<Outcome>,
    /// When the oldest of `outcomes` arrived.
    outcomes_at: Option<Instant>,
    /// Since when the index holds changes not yet committed.
    index_dirty: Option<Instant>,
    /// When each version added to the index since its last commit was
    /// committed to the archive (for the commit-to-searchable metric).
    indexed: Vec<Instant>,
    index: Option<Index>,
    /// Extraction jobs sent and not yet recorded, per share.
    jobs_out: HashMap<String, usize>,
    /// Per share, the last archive commit whose versions are all indexed.
    absorbed: BTreeMap<String, String>,
    startup_done: bool,
    /// The API's archive handles, closed after a disposition.
    readers: Option<Arc<crate::archive::ArchiveReaders>>,
    /// Merges the small packs commits leave, beside the writer.
    packs: crate::packs::Merger,
    /// Reopening the archive failed: the handle is not to be trusted.
    archive_stale: bool,
}

/// Per archive commit, its version records (a note to write).
type Notes = BTreeMap<git2::Oid, Vec<VersionRecord>>;

/// Extraction results are written in batches of at most this many.
const MAX_OUTCOMES: usize = 256;

/// Extraction results ride on the next version commit's notes commit; when
/// none comes, they wait at most this long for a notes commit of their own.
const NOTES_EVERY: Duration = Duration::from_millis(100);

/// While versions flow, the index commits at most this often (a tantivy
/// commit writes and fsyncs segment files and reloads the reader).
const INDEX_EVERY: Duration = Duration::from_millis(75);

/// A file read into the archive, ready to be judged against its document.
struct Read {
    item: Settled,
    stat: FileStat,
    blob: StoredBlob,
}

impl Ingest {
    pub fn new(
        config: &Config,
        archive: Archive,
        catalog: Arc<RwLock<Catalog>>,
        progress: Arc<Progress>,
        requeue: Sender<WatchMsg>,
    ) -> Ingest {
        let shares = config
            .shares
            .iter()
            .map(|s| (s.name.clone(), s.path.clone()))
            .collect();
        let ignore = config
            .shares
            .iter()
            .map(|s| config.watch.ignore_set(s))
            .collect();
        Ingest {
            archive,
            catalog,
            progress,
            metrics: Arc::default(),
            audit: None,
            holds: None,
            rules: None,
            auto_last: HashMap::new(),
            data_dir: config.data_dir.clone(),
            batch_at: None,
            shares,
            ignore,
            max_file_size: config.watch.max_file_size,
            requeue,
            extract: None,
            results: None,
            outcomes: Vec::new(),
            outcomes_at: None,
            index_dirty: None,
            indexed: Vec::new(),
            index: None,
            jobs_out: HashMap::new(),
            absorbed: BTreeMap::new(),
            startup_done: false,
            readers: None,
            packs: Default::default(),
            archive_stale: false,
        }
    }

    /// The commits of `share` up to `head` after the one `absorbed` names
    /// (all of them without one); `None` when there are none, or when they
    /// cannot be listed (logged: `what` catches up at the next start).
    fn commits_after(
        &self,
        share: &str,
        head: git2::Oid,
        absorbed: &BTreeMap<String, String>,
        what: &str,
    ) -> Option<std::collections::HashSet<String>> {
        let since = absorbed
            .get(share)
            .and_then(|c| git2::Oid::from_str(c).ok());
        if since == Some(head) {
            return None;
        }
        self.archive
            .commits_since(head, since)
            .map_err(|e| error!(share, error = %e, "cannot list the commits {what} lacks"))
            .ok()
    }

    /// Keeps the audit log: first logs the versions of every commit after
    /// the one it last absorbed (a crash between an archive commit and its
    /// audit commit loses nothing), then every new version as it commits.
    pub fn with_audit(mut self, mut audit: crate::audit::AuditLog) -> Ingest {
        let mut drafts = Vec::new();
        let mut heads = Vec::new();
        {
            let catalog = self.catalog.read().expect("catalog lock");
            for (share, state) in catalog.shares() {
                let Some(head) = state.head else { continue };
                let Some(commits) =
                    self.commits_after(share, head, audit.absorbed(), "the audit log")
                else {
                    continue;
                };
                let mut versions: Vec<&VersionRecord> = state
                    .docs
                    .values()
                    .flat_map(|d| d.versions.iter())
                    .filter(|v| v.commit.as_deref().is_some_and(|c| commits.contains(c)))
                    .collect();
                versions
                    .sort_by(|a, b| (&a.at, &a.path, a.version).cmp(&(&b.at, &b.path, b.version)));
                drafts.extend(versions.into_iter().map(crate::audit::Draft::of_version));
                heads.push((share.clone(), head));
            }
        }
        if !drafts.is_empty() {
            info!(
                versions = drafts.len(),
                "adding versions the audit log lacks"
            );
        }
        if let Err(e) = audit.append(&self.archive, drafts, &heads) {
            error!(error = %e, "cannot catch up the audit log");
        }
        self.audit = Some(audit);
        self
    }

    /// Moves the audit ref to the log's head once the writer has not
    /// moved it for [`crate::audit::REF_EVERY`] (see
    /// [`crate::audit::AuditLog::stage`]), or at once when `stopping`.
    fn tend_audit_ref(&mut self, stopping: bool) {
        let Some(audit) = &mut self.audit else { return };
        if !(stopping || audit.ref_due()) {
            return;
        }
        // A no-op unless the ref is behind.
        if let Err(e) = audit.move_ref(&self.archive) {
            error!(error = %e, "cannot move the audit ref; its versions are logged again at the next start");
        }
    }

    /// Lets go of the packs finished merges removed, now and then, and
    /// starts the next merge when one is due. Only between batches:
    /// nothing is staged then.
    fn tend_packs(&mut self) {
        if self.packs.reopen_due() {
            self.reopen_archive();
        }
        self.packs
            .start_if_due(self.archive.path(), self.archive.packs_written());
    }

    /// Reopens the archive, and makes the API reopen its handles, so that
    /// packs removed by a merge or a disposition are let go of.
    fn reopen_archive(&mut self) {
        self.packs.forget_count();
        if let Some(readers) = &self.readers {
            readers.invalidate();
        }
        match Archive::open(self.archive.path()) {
            Ok(a) => {
                let old = std::mem::replace(&mut self.archive, a);
                self.archive_stale = false;
                // Closing the old handle closes the packs merges removed,
                // and the kernel frees a removed file at its last close:
                // milliseconds, which no commit should wait for.
                let closing = std::thread::Builder::new()
                    .name("docvault-close".into())
                    .spawn(move || drop(old));
                if let Err(e) = closing {
                    debug!(error = %e, "cannot close the old archive handle on a thread");
                }
            }
            Err(e) => {
                // The old handle may still see packs that are gone and
                // take their objects as present: no commit until reopened.
                error!(error = %e, "cannot reopen the archive; nothing is committed until it can be");
                self.archive_stale = true;
            }
        }
    }

    /// Appends one event to the audit trail and syncs it.
    fn log_event(&mut self, draft: crate::audit::Draft) {
        let Some(audit) = &mut self.audit else { return };
        let kind = draft.kind.clone();
        if let Err(e) = audit
            .append_durable(&self.archive, vec![draft], &[])
            .and_then(|()| self.archive.sync())
        {
            error!(kind, error = %e, "cannot log an event in the audit trail");
        }
    }

    /// Closes the API's idle archive handles after each disposition.
    pub fn with_readers(mut self, readers: Arc<crate::archive::ArchiveReaders>) -> Ingest {
        self.readers = Some(readers);
        self
    }

    /// Records versions, commit and indexing times and extraction results in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Ingest {
        self.metrics = metrics;
        self
    }

    /// Sends every new content version to the extraction stage, and re-sends
    /// the versions whose extraction a stop or crash interrupted.
    pub fn with_extraction(mut self, jobs: Sender<Job>, results: Receiver<Outcome>) -> Ingest {
        self.results = Some(results);
        let pending: Vec<Job> = {
            let catalog = self.catalog.read().expect("catalog lock");
            catalog
                .shares()
                .flat_map(|(_, s)| s.docs.values())
                .flat_map(|d| d.versions.iter())
                .filter_map(job_for)
                .collect()
        };
        if !pending.is_empty() {
            info!(
                versions = pending.len(),
                "resuming interrupted text extraction"
            );
        }
        for job in pending {
            *self.jobs_out.entry(job.share.clone()).or_default() += 1;
            let _ = jobs.send(job);
        }
        self.extract = Some(jobs);
        self
    }

    /// Takes batches until the watch stage hangs up or the daemon stops.
    pub fn run(mut self, rx: Receiver<IngestMsg>) {
        let tick = std::time::Duration::from_millis(20);
        while !self.progress.stopping.load(Ordering::SeqCst) {
            match rx.recv_timeout(tick) {
                Ok(IngestMsg::Batch(batch)) => self.ingest(batch),
                Ok(IngestMsg::Restore(req)) => self.restore(*req),
                Ok(IngestMsg::Holds(req)) => self.change_holds(*req),
                Ok(IngestMsg::Audit(draft)) => self.log_event(*draft),
                Ok(IngestMsg::Dispose(req)) => self.dispose_request(*req),
                Ok(IngestMsg::StartupDone) => {
                    info!("start-up scan committed");
                    self.startup_done = true;
                    self.commit_index();
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.take_outcomes();
            self.auto_dispose();
            self.tend_packs();
            self.tend_audit_ref(false);
        }
        self.tend_audit_ref(true);
        self.packs.wait();
        self.receive_outcomes();
        self.record_outcomes();
        if self.index_dirty.is_some() {
            self.commit_index();
        }
    }

    /// Takes the extraction results that arrived; records them when enough
    /// arrived or the oldest waited [`NOTES_EVERY`], and commits the index
    /// when its changes waited [`INDEX_EVERY`].
    fn take_outcomes(&mut self) {
        self.receive_outcomes();
        let due = self.outcomes.len() >= MAX_OUTCOMES
            || self.outcomes_at.is_some_and(|t| t.elapsed() >= NOTES_EVERY);
        if due {
            self.record_outcomes();
        }
        if self.index_dirty.is_some_and(|t| t.elapsed() >= INDEX_EVERY) {
            self.commit_index();
        }
    }

    /// Moves arrived extraction results into `outcomes` (at most [`MAX_OUTCOMES`]).
    fn receive_outcomes(&mut self) {
        let Some(results) = &self.results else { return };
        while self.outcomes.len() < MAX_OUTCOMES {
            let Ok(outcome) = results.try_recv() else {
                break;
            };
            self.outcomes.push(outcome);
            self.outcomes_at.get_or_insert_with(Instant::now);
        }
    }

    /// Writes the waiting extraction results into their versions' notes (a
    /// notes commit of their own), the catalog and the index, and commits the index.
    fn record_outcomes(&mut self) {
        let Some((notes, outcomes)) = self.outcome_notes() else {
            return;
        };
        if let Err(e) = self.archive.rewrite_notes(&notes) {
            error!(error = %e, "cannot record extraction results; they will be redone at the next start");
            return;
        }
        self.apply_outcomes(outcomes);
        self.commit_index();
    }

    /// Takes the waiting extraction results and the notes they rewrite:
    /// each affected commit's records with the results applied.
    fn outcome_notes(&mut self) -> Option<(Notes, Vec<Outcome>)> {
        if self.outcomes.is_empty() {
            return None;
        }
        let outcomes = std::mem::take(&mut self.outcomes);
        self.outcomes_at = None;
        let mut notes: BTreeMap<git2::Oid, Vec<VersionRecord>> = BTreeMap::new();
        for o in &outcomes {
            if let std::collections::btree_map::Entry::Vacant(e) = notes.entry(o.job.commit) {
                match self.archive.notes_of(o.job.commit) {
                    Ok(records) => {
                        e.insert(records);
                    }
                    Err(err) => {
                        warn!(commit = %o.job.commit, error = %err, "cannot read note to record extraction")
                    }
                }
            }
            if let Some(records) = notes.get_mut(&o.job.commit) {
                for r in records
                    .iter_mut()
                    .filter(|r| r.path == o.job.path && r.version == o.job.version)
                {
                    apply_extraction(r, &o.extracted);
                }
            }
        }
        Some((notes, outcomes))
    }

    /// Publishes extraction results whose notes are written: catalog and
    /// index (committed later, see [`INDEX_EVERY`]).
    fn apply_outcomes(&mut self, outcomes: Vec<Outcome>) {
        let arrived = outcomes.len() as u64;
        let mut catalog = self.catalog.write().expect("catalog lock");
        for mut o in outcomes {
            self.metrics.extraction(o.extracted.status.word());
            let doc = catalog.document_mut(&o.job.share, &o.job.path);
            if let Some(r) =
                doc.and_then(|d| d.versions.iter_mut().find(|v| v.version == o.job.version))
            {
                apply_extraction(r, &o.extracted);
            }
            if let Some(count) = self.jobs_out.get_mut(&o.job.share) {
                *count = count.saturating_sub(1);
            }
            // The text moves on into the index (an import holds thousands).
            let text = std::mem::take(&mut o.extracted.text);
            let entry = catalog
                .document(&o.job.share, &o.job.path)
                .and_then(|d| index_entry(d, o.job.version, text));
            if let (Some(index), Some(entry)) = (&mut self.index, entry) {
                match index.add(entry) {
                    Ok(()) => self.indexed.extend(o.job.committed),
                    Err(e) => error!(path = %o.job.path, error = %e, "cannot index version"),
                }
            }
        }
        drop(catalog);
        self.index_dirty.get_or_insert_with(Instant::now);
        self.progress
            .extracted
            .fetch_add(arrived, Ordering::Relaxed);
    }

    /// Commits the index, recording as absorbed the head of every share
    /// whose versions are all indexed, then updates readiness. True when the
    /// index committed (and its reader reloaded).
    fn commit_index(&mut self) -> bool {
        self.index_dirty = None;
        let indexed = std::mem::take(&mut self.indexed);
        let mut searchable = self.index.is_some();
        let outstanding: u64 = self.jobs_out.values().map(|&n| n as u64).sum();
        self.progress
            .extraction_pending
            .store(outstanding, Ordering::Relaxed);
        if let Some(index) = &mut self.index {
            {
                let catalog = self.catalog.read().expect("catalog lock");
                for (share, state) in catalog.shares() {
                    if self.jobs_out.get(share).is_none_or(|&n| n == 0) {
                        if let Some(head) = state.head {
                            self.absorbed.insert(share.clone(), head.to_string());
                        }
                    }
                }
            }
            if let Err(e) = index.commit(&self.absorbed) {
                error!(error = %e, "cannot commit the search index; it is caught up at the next start");
                searchable = false;
            }
        }
        if searchable {
            indexed
                .iter()
                .for_each(|at| self.metrics.index_took(at.elapsed()));
        }
        // Only now: a search right after /readyz turns 200 must see everything.
        if self.startup_done
            && outstanding == 0
            && !self.progress.ready.swap(true, Ordering::SeqCst)
        {
            info!("start-up scan and indexing caught up; ready");
        }
        searchable
    }

    /// Opens the search index and queues what it lacks: the versions of
    /// every commit after the one it last absorbed (a crash between the
    /// archive and the index commit loses nothing).
    pub fn with_index(mut self, mut index: Index) -> Ingest {
        let absorbed = index.absorbed();
        let mut jobs = Vec::new();
        {
            let catalog = self.catalog.read().expect("catalog lock");
            for (share, state) in catalog.shares() {
                let Some(head) = state.head else { continue };
                let Some(commits) = self.commits_after(share, head, &absorbed, "the index") else {
                    continue;
                };
                for doc in state.docs.values() {
                    let mut previous: Option<&VersionRecord> = None;
                    for v in &doc.versions {
                        let new = v.commit.as_deref().is_some_and(|c| commits.contains(c));
                        if new {
                            if let Some(prev) = previous {
                                if let Err(e) =
                                    index.supersede(share, &v.path, prev.version, parse_time(&v.at))
                                {
                                    error!(share, path = %v.path, error = %e, "cannot update search index");
                                }
                            }
                            if v.extraction.status != PENDING {
                                jobs.extend(job_for_any(v));
                            }
                        }
                        previous = (!v.is_deletion()).then_some(v);
                    }
                }
            }
        }
        if !jobs.is_empty() {
            info!(
                versions = jobs.len(),
                "indexing versions the search index lacks"
            );
        }
        if let Some(out) = &self.extract {
            for job in jobs {
                *self.jobs_out.entry(job.share.clone()).or_default() += 1;
                let _ = out.send(job);
            }
        }
        self.absorbed = absorbed;
        self.index = Some(index);
        self
    }

    /// Versions one batch of settled paths, share by share.
    pub fn ingest(&mut self, batch: Vec<Settled>) {
        self.batch_at = Some(Instant::now());
        let mut by_share: BTreeMap<usize, Vec<Settled>> = BTreeMap::new();
        for item in batch {
            by_share.entry(item.share).or_default().push(item);
        }
        for (share, items) in by_share {
            self.ingest_share(share, items);
        }
        self.batch_at = None;
    }

    fn ingest_share(&mut self, share: usize, items: Vec<Settled>) {
        let name = self.shares[share].0.clone();
        let (gone, present): (Vec<_>, Vec<_>) = items.into_iter().partition(|i| i.stat.is_none());
        let mut deletions: HashMap<String, Settled> = {
            let catalog = self.catalog.read().expect("catalog lock");
            gone.into_iter()
                .filter(|i| catalog.document(&name, &i.key).is_some_and(|d| d.is_live()))
                .map(|i| (i.key.clone(), i))
                .collect()
        };
        let chunks: Vec<&[Settled]> = commit_chunks(&present).collect();
        let last = chunks.len().saturating_sub(1);
        // The small files (most of them) are read, hashed and deflated on
        // several threads, a chunk ahead of the one being committed; each
        // chunk is then staged, judged and committed in order on this one.
        let max_file_size = self.max_file_size;
        let roots: Vec<std::path::PathBuf> = self.shares.iter().map(|(_, r)| r.clone()).collect();
        let small = move |item: &Settled| {
            item.stat.is_some_and(|s| {
                s.kind == FileKind::File
                    && s.size <= crate::archive::INLINE_LIMIT
                    && s.size <= max_file_size
            })
        };
        let threads = if present.iter().filter(|i| small(i)).count() >= PARALLEL_READS {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_READERS))
        } else {
            1
        };
        let prepare = |preparer: &mut Preparer, item: &Settled| -> Prepared {
            let stat = item.stat.filter(|_| small(item))?;
            let path = roots[item.share].join(&item.rel);
            let blob = preparer.file(&path, stat.size);
            Some((blob, FileStat::of(&path).ok().flatten()))
        };
        let commit_chunk = |i: usize, prepared: Vec<Prepared>| {
            let reads = chunks[i]
                .iter()
                .zip(prepared)
                .filter_map(|(item, prepared)| self.read(&name, item, prepared))
                .collect();
            let staged = self.judge(&name, reads, &mut deletions);
            self.commit(&name, staged);
            if i < last {
                // More of the batch to version first: the extraction
                // results that arrived ride on its next commit, and the
                // index commits once the batch is in (a search index
                // commit waits for the background indexing threads).
                self.receive_outcomes();
            } else {
                self.take_outcomes();
            }
        };
        if threads > 1 {
            pipeline(&chunks, threads, prepare, commit_chunk);
        } else {
            // A change or a few: read on this thread, with the archive's
            // own deflate state (making one costs more than a small file).
            let mut commit_chunk = commit_chunk;
            for (i, chunk) in chunks.iter().enumerate() {
                commit_chunk(i, chunk.iter().map(|_| None).collect());
            }
        }
        let rest: Vec<Settled> = deletions.into_values().collect();
        for chunk in rest.chunks(MAX_COMMIT) {
            let staged = {
                let catalog = self.catalog.read().expect("catalog lock");
                chunk
                    .iter()
                    .filter_map(|i| deletion(&catalog, &name, &i.key, None))
                    .collect()
            };
            self.commit(&name, staged);
        }
    }

    /// Reads a settled file into the archive, or stages what was read of
    /// it already (`prepared`: the blob and the file's stat after reading);
    /// `None` (and a requeue or a log) when it cannot.
    fn read(&self, share: &str, item: &Settled, prepared: Prepared) -> Option<Read> {
        let stat = item.stat?;
        let path = self.shares[item.share].1.join(&item.rel);
        if stat.size > self.max_file_size && stat.kind == FileKind::File {
            warn!(share, path = %item.rel, size = stat.size, limit = self.max_file_size,
                "file is larger than watch.max_file_size; not versioned");
            self.progress.too_large.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let (blob, after) = match (prepared, stat.kind) {
            (Some((blob, after)), _) => (blob.and_then(|b| self.archive.stage_prepared(b)), after),
            (None, FileKind::File) => (
                self.archive.store_file(&path, stat.size),
                FileStat::of(&path).ok().flatten(),
            ),
            (None, FileKind::Symlink) => (
                read_link(&path).and_then(|t| self.archive.store_bytes(&t)),
                FileStat::of(&path).ok().flatten(),
            ),
            (None, FileKind::Dir | FileKind::Other) => return None,
        };
        match blob {
            Ok(blob) if after == Some(stat) => Some(Read {
                item: item.clone(),
                stat,
                blob,
            }),
            Ok(_) | Err(ArchiveError::Changed { .. }) => {
                debug!(share, path = %item.rel, "changed while being read; settling again");
                let _ = self.requeue.send(WatchMsg::Requeue {
                    share: item.share,
                    rel: item.rel.clone(),
                });
                None
            }
            Err(ArchiveError::Read { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                let _ = self.requeue.send(WatchMsg::Requeue {
                    share: item.share,
                    rel: item.rel.clone(),
                });
                None
            }
            Err(e) => {
                warn!(share, path = %item.rel, error = %e, "cannot read file; will retry at the next scan");
                self.progress.unreadable.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Decides each read file's version (or that it has none) and stages it.
    fn judge(
        &self,
        share: &str,
        reads: Vec<Read>,
        deletions: &mut HashMap<String, Settled>,
    ) -> Vec<Staged> {
        let mut staged = Vec::new();
        let mut catalog = self.catalog.write().expect("catalog lock");
        for read in reads {
            let key = read.item.key.clone();
            let doc = catalog.document(share, &key);
            let live = doc.is_some_and(|d| d.is_live());
            let current_sha = doc.and_then(|d| d.current()).map(|v| v.sha256.clone());
            let sha = hex::encode(read.blob.sha256);
            if live && current_sha.as_deref() == Some(sha.as_str()) {
                if let Some(doc) = catalog.document_mut(share, &key) {
                    doc.seen = Some(read.stat);
                }
                continue;
            }
            let moved_from = read.item.renamed_from.as_ref().filter(|from| {
                !live
                    && deletions.contains_key(*from)
                    && catalog
                        .document(share, from)
                        .and_then(|d| d.current())
                        .map(|v| &v.sha256)
                        == Some(&sha)
            });
            let event = match (moved_from, live) {
                (Some(_), _) => Event::Renamed,
                (None, true) => Event::Modified,
                (None, false) => Event::Created,
            };
            if let Some(from) = moved_from.cloned() {
                deletions.remove(&from);
                staged.extend(deletion(&catalog, share, &from, Some(key.clone())));
            }
            let version = doc.map_or(1, |d| d.next_version());
            let mut record = VersionRecord::new(
                share,
                &key,
                version,
                event,
                read.blob.size,
                read.blob.sha256,
            );
            record.mtime = Some(format_mtime(read.stat.mtime()));
            record.inode = Some(read.stat.inode);
            record.blob = Some(read.blob.oid.to_string());
            let mode = file_mode(&read.stat);
            record.mode = Some(format!("{:o}", u32::from(mode)));
            record.mime = Some(mime_of(&key, read.stat.kind));
            if self.extract.is_some() && read.stat.kind == FileKind::File {
                record.extraction.status = PENDING.into();
            }
            if event == Event::Renamed {
                record.renamed_from = read.item.renamed_from.clone();
            }
            staged.push(Staged {
                record,
                tree: TreeOp::Upsert {
                    oid: read.blob.oid,
                    mode,
                },
            });
        }
        staged
    }

    /// Commits staged changes and publishes them; on failure they are
    /// rescanned later. Whether the commit was made.
    fn commit(&mut self, share: &str, mut staged: Vec<Staged>) -> bool {
        if staged.is_empty() {
            self.archive.discard_staged();
            return true;
        }
        self.packs.committing();
        if self.archive_stale {
            self.reopen_archive();
            if self.archive_stale {
                error!(
                    share,
                    changes = staged.len(),
                    "the archive cannot be opened; the changes will be picked up by the next scan"
                );
                return false;
            }
        }
        // Waiting extraction results ride on this commit's notes commit.
        let riders = self.outcome_notes();
        let rider_notes = riders.as_ref().map(|(notes, _)| note_texts(notes));
        // The versions' audit events: logged before they are published (once
        // a version shows in the catalog, its event is in the feed), in the
        // same pack and syncs as the commit.
        let drafts: Vec<crate::audit::Draft> = match &self.audit {
            Some(_) => staged
                .iter()
                .map(|s| crate::audit::Draft::of_version(&s.record))
                .collect(),
            None => Vec::new(),
        };
        let (mut pending, mut deferred) = (None, false);
        let (archive, audit) = (&self.archive, &self.audit);
        let committed = archive.commit_batch_and(
            share,
            &mut staged,
            rider_notes.as_deref().unwrap_or(&[]),
            |stage, commit| {
                let Some(audit) = audit else { return Ok(None) };
                let heads = [(share.to_owned(), commit)];
                let (also, p) = audit.stage(archive, stage, drafts.clone(), &heads)?;
                pending = Some(p);
                deferred = also.defer;
                Ok(Some(also))
            },
        );
        match committed {
            Ok((commit, logged)) => {
                let committed = Instant::now();
                if let Some(at) = self.batch_at {
                    self.metrics.ingest_took(committed - at);
                }
                if let Some(audit) = &mut self.audit {
                    match pending.filter(|_| logged || deferred) {
                        Some(p) => audit.applied(p, logged),
                        None => {
                            let heads = [(share.to_owned(), commit)];
                            if let Err(e) = audit.append(&self.archive, drafts, &heads) {
                                error!(share, error = %e, "cannot append to the audit log; it is caught up at the next start");
                            }
                        }
                    }
                }
                if let Some((_, outcomes)) = riders {
                    self.apply_outcomes(outcomes);
                }
                let mut catalog = self.catalog.write().expect("catalog lock");
                for s in &staged {
                    debug!(share, path = %s.record.path, version = s.record.version, event = %s.record.event, "versioned");
                    // The version this one supersedes: the current one, unless the
                    // document was deleted (then it was superseded by the deletion).
                    let previous = catalog
                        .document(share, &s.record.path)
                        .and_then(|d| d.current())
                        .filter(|v| !v.is_deletion())
                        .map(|v| v.version);
                    catalog.apply(s.record.clone());
                    self.metrics.version(share, s.record.event);
                    if let (Some(index), Some(prev)) = (&mut self.index, previous) {
                        if let Err(e) =
                            index.supersede(share, &s.record.path, prev, parse_time(&s.record.at))
                        {
                            error!(share, path = %s.record.path, error = %e, "cannot update search index");
                        }
                    }
                    let job = job_for(&s.record).map(|job| Job {
                        committed: Some(committed),
                        ..job
                    });
                    if let (Some(jobs), Some(job)) = (&self.extract, job) {
                        *self.jobs_out.entry(share.to_owned()).or_default() += 1;
                        let _ = jobs.send(job);
                    }
                }
                drop(catalog);
                self.tend_packs();
                self.index_dirty.get_or_insert_with(Instant::now);
                self.progress
                    .versions
                    .fetch_add(staged.len() as u64, Ordering::Relaxed);
                debug!(share, %commit, changes = staged.len(), "committed");
                true
            }
            Err(e) => {
                error!(share, error = %e, changes = staged.len(),
                "cannot commit to the archive; the changes will be picked up by the next scan");
                if let Some((_, outcomes)) = riders {
                    self.outcomes.extend(outcomes);
                    self.outcomes_at.get_or_insert_with(Instant::now);
                }
                false
            }
        }
    }
}

/// A chunk with this many small files or more is read on several threads.
const PARALLEL_READS: usize = 8;

/// Threads that read a chunk at most (this one included).
const MAX_READERS: usize = 4;

/// What preparing a settled file gave: `None` for a file that is read on
/// the writer's thread (large files, symlinks), else the blob and the
/// file's stat after reading.
type Prepared = Option<(Result<PreparedBlob, ArchiveError>, Option<FileStat>)>;

/// Applies `prepare` to every item of `chunks` on `threads` threads (this
/// one included, each with a [`Preparer`] of its own), and hands each
/// chunk's results, in order, to `consume` on this thread. The other
/// threads work at most one chunk ahead of `consume`, so that preparing
/// chunk i + 1 overlaps committing chunk i while memory holds two chunks
/// at most.
fn pipeline<T: Sync, R: Send>(
    chunks: &[&[T]],
    threads: usize,
    prepare: impl Fn(&mut Preparer, &T) -> R + Sync,
    mut consume: impl FnMut(usize, Vec<R>),
) {
    let mut mine = Preparer::default();
    let works: Vec<Work<'_, T, R>> = chunks.iter().map(|c| Work::new(c)).collect();
    // The last chunk the helpers may work on.
    let gate = (std::sync::Mutex::new(0usize), std::sync::Condvar::new());
    let open_to = |i: usize| {
        *gate
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = i;
        gate.1.notify_all();
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(|| {
                // A helper that panics leaves its item without a result:
                // the waiting thread must hear of it, not wait forever.
                struct Broken<'w, 'a, T, R>(&'w [Work<'a, T, R>]);
                impl<T, R> Drop for Broken<'_, '_, T, R> {
                    fn drop(&mut self) {
                        if std::thread::panicking() {
                            self.0.iter().for_each(Work::break_off);
                        }
                    }
                }
                let _broken = Broken(&works);
                let mut preparer = Preparer::default();
                for (i, work) in works.iter().enumerate() {
                    let open = gate.0.lock().expect("gate lock");
                    drop(
                        gate.1
                            .wait_while(open, |open| *open < i)
                            .expect("gate lock"),
                    );
                    work.drain(&mut preparer, &prepare);
                }
            });
        }
        // However this loop ends (a panic too), the helpers must not wait
        // for a chunk that never opens: the scope would wait for them.
        struct OpenAll<F: Fn(usize)>(F);
        impl<F: Fn(usize)> Drop for OpenAll<F> {
            fn drop(&mut self) {
                (self.0)(usize::MAX);
            }
        }
        let open = OpenAll(open_to);
        for (i, work) in works.iter().enumerate() {
            work.drain(&mut mine, &prepare);
            let results = work.wait();
            (open.0)(i + 1);
            consume(i, results);
        }
    });
}

/// One chunk of [`pipeline`]: its items, the next one to take, and the
/// results so far.
struct Work<'a, T, R> {
    items: &'a [T],
    next: std::sync::atomic::AtomicUsize,
    done: std::sync::Mutex<Vec<(usize, R)>>,
    finished: std::sync::Condvar,
    /// A helper panicked: some result will never come.
    broken: std::sync::atomic::AtomicBool,
}

impl<'a, T, R> Work<'a, T, R> {
    fn new(items: &'a [T]) -> Self {
        Work {
            items,
            next: 0.into(),
            done: std::sync::Mutex::new(Vec::with_capacity(items.len())),
            finished: std::sync::Condvar::new(),
            broken: false.into(),
        }
    }

    fn break_off(&self) {
        self.broken.store(true, Ordering::SeqCst);
        let _done = self
            .done
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.finished.notify_all();
    }

    /// Prepares items until none is left to take.
    fn drain(&self, preparer: &mut Preparer, prepare: &impl Fn(&mut Preparer, &T) -> R) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = self.items.get(i) else {
                return;
            };
            let result = prepare(preparer, item);
            let mut done = self.done.lock().expect("work lock");
            done.push((i, result));
            if done.len() == self.items.len() {
                self.finished.notify_all();
            }
        }
    }

    /// Waits for every item's result; the results in item order.
    fn wait(&self) -> Vec<R> {
        let done = self.done.lock().expect("work lock");
        let mut done = self
            .finished
            .wait_while(done, |done| {
                done.len() < self.items.len() && !self.broken.load(Ordering::SeqCst)
            })
            .expect("work lock");
        assert!(
            done.len() == self.items.len(),
            "a thread preparing files panicked"
        );
        let mut done = std::mem::take(&mut *done);
        done.sort_unstable_by_key(|(i, _)| *i);
        done.into_iter().map(|(_, r)| r).collect()
    }
}

/// Splits settled files into commits of at most [`MAX_COMMIT`] files and
/// [`MAX_STAGED`] bytes held in memory.
fn commit_chunks(items: &[Settled]) -> impl Iterator<Item = &[Settled]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut staged = 0;
        let mut end = 0;
        while end < rest.len() && end < MAX_COMMIT && (end == 0 || staged < MAX_STAGED) {
            let size = rest[end].stat.map_or(0, |s| s.size);
            if size <= crate::archive::INLINE_LIMIT {
                staged += size;
            }
            end += 1;
        }
        let (chunk, tail) = rest.split_at(end);
        rest = tail;
        Some(chunk)
    })
}

/// Notes as the archive writes them: one JSON line per record.
fn note_texts(notes: &Notes) -> Vec<(git2::Oid, String)> {
    notes
        .iter()
        .map(|(commit, records)| (*commit, crate::archive::note_text(records)))
        .collect()
}

fn parse_time(rfc3339: &str) -> std::time::SystemTime {
    humantime::parse_rfc3339_weak(rfc3339).unwrap_or(std::time::SystemTime::UNIX_EPOCH)
}

/// The index entry of `version` of `doc` with its extracted `text`,
/// superseded if a newer version exists.
pub fn index_entry(doc: &crate::catalog::Document, version: u32, text: String) -> Option<Entry> {
    let pos = doc.versions.iter().position(|v| v.version == version)?;
    let v = &doc.versions[pos];
    let valid_to = doc.versions.get(pos + 1).map(|next| parse_time(&next.at));
    Some(Entry {
        share: v.share.clone(),
        path: v.path.clone(),
        version: v.version,
        valid_from: parse_time(&v.at),
        valid_to,
        modified: v
            .mtime
            .as_deref()
            .map_or_else(|| parse_time(&v.at), parse_time),
        size: v.size,
        mime: v.mime.clone().unwrap_or_default(),
        title: v.title.clone(),
        author: v.author.clone(),
        status: v.extraction.status.clone(),
        text,
    })
}

/// The status of a version whose extraction has not finished yet.
pub const PENDING: &str = "pending";

/// The extraction job for a committed content version.
fn job_for(r: &VersionRecord) -> Option<Job> {
    job_for_any(r).filter(|_| r.extraction.status == PENDING)
}

/// The extraction job of any content version (to index it again).
pub fn job_for_any(r: &VersionRecord) -> Option<Job> {
    Some(Job {
        share: r.share.clone(),
        path: r.path.clone(),
        version: r.version,
        commit: git2::Oid::from_str(r.commit.as_deref()?).ok()?,
        blob: git2::Oid::from_str(r.blob.as_deref()?).ok()?,
        size: r.size,
        committed: None,
    })
}

/// Copies what extraction found into a version record.
fn apply_extraction(r: &mut VersionRecord, e: &Extracted) {
    if e.mime != "application/octet-stream" {
        r.mime = Some(e.mime.clone());
    }
    r.title = e.title.clone();
    r.author = e.author.clone();
    r.extraction = Extraction {
        status: e.status.word().into(),
        message: e.status.message().map(str::to_owned),
    };
}

/// The `deleted` version of a live document (its last content's size and hash).
fn deletion(
    catalog: &Catalog,
    share: &str,
    key: &str,
    renamed_to: Option<String>,
) -> Option<Staged> {
    let doc = catalog.document(share, key)?;
    let current = doc.current()?;
    let sha: [u8; 32] = hex::decode(&current.sha256).ok()?.try_into().ok()?;
    let mut record = VersionRecord::new(
        share,
        key,
        doc.next_version(),
        Event::Deleted,
        current.size,
        sha,
    );
    record.mime = current.mime.clone();
    record.renamed_to = renamed_to;
    Some(Staged {
        record,
        tree: TreeOp::Remove,
    })
}

/// A symlink's target, which git stores as the link's blob.
fn read_link(path: &Path) -> Result<Vec<u8>, ArchiveError> {
    use std::os::unix::ffi::OsStrExt;
    let target = std::fs::read_link(path).map_err(|source| ArchiveError::Read {
        path: path.to_owned(),
        source,
    })?;
    Ok(target.as_os_str().as_bytes().to_vec())
}

fn file_mode(stat: &FileStat) -> FileMode {
    match (stat.kind, stat.executable) {
        (FileKind::Symlink, _) => FileMode::Link,
        (_, true) => FileMode::BlobExecutable,
        (_, false) => FileMode::Blob,
    }
}

/// The MIME type by name (content detection arrives with text extraction).
fn mime_of(path: &str, kind: FileKind) -> String {
    if kind == FileKind::Symlink {
        return "inode/symlink".into();
    }
    mime_guess::from_path(path)
        .first_or_octet_stream()
        .essence_str()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small files read on several threads, chunk after chunk, come back
    /// in order, each prepared as the writer's own thread would.
    #[test]
    fn files_prepared_in_a_pipeline_come_back_in_order_and_as_read_alone() {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<std::path::PathBuf> = (0..50)
            .map(|i| {
                let path = dir.path().join(format!("f{i}.txt"));
                std::fs::write(&path, format!("file {i}\n").repeat(i * 37)).unwrap();
                path
            })
            .collect();
        let read = |threads| {
            let chunks: Vec<&[std::path::PathBuf]> = paths.chunks(7).collect();
            let mut out = Vec::new();
            pipeline(
                &chunks,
                threads,
                |preparer, path: &std::path::PathBuf| {
                    let size = std::fs::metadata(path).unwrap().len();
                    preparer.file(path, size).unwrap().blob
                },
                |i, blobs| {
                    assert_eq!(blobs.len(), chunks[i].len());
                    out.extend(blobs);
                },
            );
            out
        };
        let alone = read(1);
        assert_eq!(read(3), alone);
        for (path, blob) in paths.iter().zip(&alone) {
            let data = std::fs::read(path).unwrap();
            assert_eq!(
                blob.oid,
                git2::Oid::hash_object(git2::ObjectType::Blob, &data).unwrap()
            );
            assert_eq!(blob.size, data.len() as u64);
        }
    }

    /// A panic while preparing, on any thread, ends the pipeline with that
    /// panic instead of leaving the writer waiting for a missing result.
    #[test]
    fn a_panic_in_any_preparing_thread_ends_the_pipeline() {
        let items: Vec<u32> = (0..200).collect();
        let chunks: Vec<&[u32]> = items.chunks(10).collect();
        for bad in [0, 7, 55, 199] {
            let run = std::panic::catch_unwind(|| {
                pipeline(
                    &chunks,
                    3,
                    |_, &x| {
                        assert!(x != bad, "item {x} cannot be prepared");
                        x
                    },
                    |_, _| {},
                )
            });
            assert!(run.is_err(), "item {bad}");
        }
    }
}
