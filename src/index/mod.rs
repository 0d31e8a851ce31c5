//! The full-text index: every version of every document, searchable within
//! milliseconds of its archive commit.
//!
//! An *entry* is one version in the index (tantivy document): its text,
//! title, author, path, type and times. `valid_from` is when docvault recorded
//! the version, `valid_to` when a newer version or the deletion superseded it
//! (none while current), so a search sees the current versions, every
//! version, or exactly the versions that were current at a moment (`as_of`).
//! The archive is the source of truth: the index records, in its commit
//! payload, the last archive commit of each share it has absorbed, and can be
//! rebuilt from the archive at any time.
//!
//! [`Index`] is the one writer (ingest owns it); [`Searcher`] is the cheap read
//! handle API handlers clone. A commit reloads the reader, so a search right
//! after sees it.

mod directory;
mod mapped;
mod query;
mod schema;
mod search;
mod snippet;
mod tokenizer;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use tantivy::collector::TopDocs;
use tantivy::indexer::{IndexWriterOptions, LogMergePolicy, NoMergePolicy, UserOperation};
use tantivy::query::{AllQuery, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, TantivyError, Term};

pub use query::Query;
pub use search::{Hit, Hits, MAX_LIMIT, MAX_OFFSET, Prepared, Searcher, VersionText};

use query::Parser;
use schema::Fields;

/// Bytes of stored documents compressed together. A hit decompresses its
/// block: at tantivy's 16 KiB a block holds ~8 versions of ~2 KiB text, and
/// decompressing them was a fifth of a one-word search with 10 hits
/// (416 -> 336 us per search at 100,000 documents; the index grows ~10 %).
const DOC_STORE_BLOCK_BYTES: usize = 4096;
/// The writer's memory budget, split over its threads.
const WRITER_HEAP_BYTES: usize = 50_000_000;
/// Text handed to the writer since the last commit before the index commits
/// on its own.
const PENDING_TEXT_LIMIT: usize = 64 * 1024 * 1024;
/// Operations handed to the writer at once: batches this size keep both
/// indexing threads busy during a bulk import.
const OPS_PER_BATCH: usize = 1024;
/// Segments smaller than this (documents) are merged as one level: small
/// enough that the small segments each commit makes are merged among
/// themselves, not again and again with a big one (tantivy's default is 10,000).
const MIN_MERGE_LAYER_DOCS: u32 = 1000;
/// Segments merged at once below [`MIN_MERGE_LAYER_DOCS`] (tantivy's
/// default): the daemon's small commits make many tiny segments, and
/// merging them in bigger groups rewrites their level less often.
const MIN_SMALL_SEGMENTS_MERGED: usize = 8;
/// Segments merged at once from [`MIN_MERGE_LAYER_DOCS`] up. Each segment
/// costs every search term lookups and postings to open: at 100,000
/// documents, 4 segments instead of 12 took a one-word search with 10 hits
/// from ~445 to ~320 us.
const MIN_LARGE_SEGMENTS_MERGED: usize = 4;
/// How often [`Index::purge`] tries to merge every segment into one when a
/// merge the merge policy started earlier races it.
const PURGE_MERGE_ATTEMPTS: usize = 100;

/// One version to index.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub share: String,
    pub path: String,
    pub version: u32,
    /// When docvault recorded the version (the version record's `at`).
    pub valid_from: SystemTime,
    /// When a newer version or the deletion superseded it; None while current.
    pub valid_to: Option<SystemTime>,
    /// The file's modification time.
    pub modified: SystemTime,
    pub size: u64,
    pub mime: String,
    pub title: Option<String>,
    pub author: Option<String>,
    /// The extraction status word (`ok`, `truncated`, `failed`, ...).
    pub status: String,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("bad query: {0}")]
    BadQuery(String),
    #[error("cannot create index directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open index at {path}: {source}")]
    Open { path: PathBuf, source: TantivyError },
    #[error(
        "the index at {path} was built by another docvault version: remove it and run `docvault reindex`"
    )]
    SchemaChanged { path: PathBuf },
    #[error("{share}:{path} v{version} is not in the index")]
    NotIndexed {
        share: String,
        path: String,
        version: u32,
    },
    #[error("index: {0}")]
    Tantivy(#[from] TantivyError),
}

/// An uncommitted change of one version's entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Added,
    Removed,
}

/// What an index commit records beside the documents.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Payload {
    /// Per share, the last archive commit whose versions the index holds.
    absorbed: BTreeMap<String, String>,
}

/// The index writer and its reader.
pub struct Index {
    dir: PathBuf,
    writer: IndexWriter<TantivyDocument>,
    reader: IndexReader,
    fields: Fields,
    parser: Arc<Parser>,
    absorbed: BTreeMap<String, String>,
    /// Entries added or removed since the last commit, by version key:
    /// `supersede` finds what the reader does not see yet. (Only the mark:
    /// an import's pending texts were megabytes held twice, here and in the
    /// writer.)
    pending: HashMap<String, Pending>,
    /// Text added since the last commit.
    pending_text: usize,
    /// Whether `clear` ran since the last commit, and the shares
    /// `clear_share` emptied: the reader still shows their entries.
    cleared_all: bool,
    cleared_shares: HashSet<String>,
    /// Operations not yet handed to the writer: a batch goes to one indexing
    /// thread, so a small commit makes one segment, not one per thread.
    ops: Vec<UserOperation<TantivyDocument>>,
}

impl Index {
    /// Opens the index in `dir`, creating it (and the directory) if needed.
    pub fn open_or_create(dir: &Path) -> Result<Index, IndexError> {
        std::fs::create_dir_all(dir).map_err(|source| IndexError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
        let open_error = |source: TantivyError| match source {
            TantivyError::SchemaError(_) => IndexError::SchemaChanged {
                path: dir.to_owned(),
            },
            source => IndexError::Open {
                path: dir.to_owned(),
                source,
            },
        };
        let (schema, fields) = schema::build();
        let directory =
            directory::CommitSyncedDirectory::open(dir).map_err(|e| open_error(e.into()))?;
        let mut index = tantivy::Index::open_or_create(directory, schema).map_err(open_error)?;
        // New segments (and merges that rewrite a store) use the small
        // blocks; an older index's segments keep theirs until merged.
        index.settings_mut().docstore_blocksize = DOC_STORE_BLOCK_BYTES;
        tokenizer::register(&index);
        // The writer takes the index's lock and holds it until it goes;
        // orphans are swept under it. (Taking the lock once: released and
        // taken again, it can be busy in between, see `sweep_orphans`.)
        // tantivy's merge threads start here, at the daemon's priority:
        // searches pay per segment, so merges must keep up even while the
        // API is busy. (Its indexing threads are background threads, see
        // `commit_with`.)
        let writer = writer(&index).map_err(open_error)?;
        let orphans = directory::sweep_orphans(&writer, dir).map_err(open_error)?;
        if orphans > 0 {
            tracing::info!(dir = %dir.display(), files = orphans, "removed index files no commit references");
        }
        // Reloaded right after each commit here (a new version is searchable
        // at once), and by tantivy when a merge rewrites the segment list
        // (within half a second): a reader still holding merged-away
        // segments keeps their files mapped, and the merge had read every
        // page of them into this process.
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::OnCommitWithDelay)
            .try_into()
            .map_err(open_error)?;
        Ok(Index {
            absorbed: read_payload(&index, dir),
            dir: dir.to_owned(),
            parser: Arc::new(Parser::new(&index, &fields)),
            writer,
            reader,
            fields,
            pending: HashMap::new(),
            pending_text: 0,
            cleared_all: false,
            cleared_shares: HashSet::new(),
            ops: Vec::new(),
        })
    }

    /// Adds a version, replacing any entry with the same (share, path, version).
    /// Searchable after the next [`Index::commit`].
    pub fn add(&mut self, entry: Entry) -> Result<(), IndexError> {
        let key = schema::version_key(&entry.share, &entry.path, entry.version);
        let doc = schema::document(&self.fields, &entry);
        self.push(UserOperation::Delete(self.version_term(&key)))?;
        self.push(UserOperation::Add(doc))?;
        self.pending_text += entry.text.len();
        self.pending.insert(key, Pending::Added);
        if self.pending_text > PENDING_TEXT_LIMIT {
            self.commit_with(self.absorbed.clone())?;
        }
        Ok(())
    }

    /// The version (share, path, version) was superseded at `at` (a newer
    /// version or the deletion): its entry stops being current and stays
    /// findable with all_versions, and with as_of before `at`. Re-adds the
    /// stored entry with `valid_to` set. A version the index does not hold is
    /// [`IndexError::NotIndexed`]: callers log it and go on.
    pub fn supersede(
        &mut self,
        share: &str,
        path: &str,
        version: u32,
        at: SystemTime,
    ) -> Result<(), IndexError> {
        let key = schema::version_key(share, path, version);
        let not_indexed = || IndexError::NotIndexed {
            share: share.to_owned(),
            path: path.to_owned(),
            version,
        };
        match self.pending.get(&key) {
            Some(Pending::Removed) => return Err(not_indexed()),
            // Added since the last commit: the reader sees it once committed.
            // (Rare: a version superseded within an index commit's interval.)
            Some(Pending::Added) => self.commit_with(self.absorbed.clone())?,
            None if self.cleared_all || self.cleared_shares.contains(share) => {
                return Err(not_indexed());
            }
            None => {}
        }
        let mut entry = self.committed(&key)?.ok_or_else(not_indexed)?;
        entry.valid_to = Some(at);
        self.add(entry)
    }

    /// Removes one version's entry (disposition).
    pub fn remove(&mut self, share: &str, path: &str, version: u32) -> Result<(), IndexError> {
        let key = schema::version_key(share, path, version);
        self.push(UserOperation::Delete(self.version_term(&key)))?;
        self.pending.insert(key, Pending::Removed);
        Ok(())
    }

    /// Removes versions' entries physically (disposition): deletes them,
    /// commits recording `absorbed`, then merges every segment into one
    /// without deleted entries and deletes the files of the old segments.
    /// A deleted entry otherwise keeps its stored text and its terms in its
    /// segment's files until some merge happens to pick that segment up; so
    /// do the stale copies `supersede` leaves, which go too. Idempotent.
    pub fn purge(
        &mut self,
        versions: &[(String, String, u32)],
        absorbed: &BTreeMap<String, String>,
    ) -> Result<(), IndexError> {
        // No merge of the policy's may start meanwhile and race ours.
        self.writer.set_merge_policy(Box::new(NoMergePolicy));
        let purged = self.purge_with(versions, absorbed);
        self.writer.set_merge_policy(Box::new(merge_policy()));
        purged
    }

    fn purge_with(
        &mut self,
        versions: &[(String, String, u32)],
        absorbed: &BTreeMap<String, String>,
    ) -> Result<(), IndexError> {
        for (share, path, version) in versions {
            self.remove(share, path, *version)?;
        }
        self.commit_with(absorbed.clone())?;
        self.merge_into_one()?;
        self.writer.garbage_collect_files().wait()?;
        // Writes the list of managed files the collection shortened, and
        // makes the reader drop the old segments.
        self.commit_with(absorbed.clone())?;
        // A searcher still alive at the first collection (the reader before
        // that commit, a search in flight) kept the old segments' files:
        // collect until none is left.
        self.collect_old_segments()
    }

    /// Garbage-collects until no file of a segment other than the
    /// searchable ones is left (a search in flight may hold one briefly).
    fn collect_old_segments(&mut self) -> Result<(), IndexError> {
        for _ in 0..PURGE_MERGE_ATTEMPTS {
            self.writer.garbage_collect_files().wait()?;
            let live: std::collections::HashSet<String> = self
                .writer
                .index()
                .searchable_segment_metas()?
                .iter()
                .map(|m| m.id().uuid_string())
                .collect();
            let stale = std::fs::read_dir(&self.dir)
                .map_err(|source| IndexError::CreateDir {
                    path: self.dir.clone(),
                    source,
                })?
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter_map(|name| name.split_once('.').map(|(stem, _)| stem.to_owned()))
                .filter(|stem| stem.len() == 32 && stem.bytes().all(|b| b.is_ascii_hexdigit()))
                .any(|stem| !live.contains(&stem));
            if !stale {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Err(IndexError::Tantivy(TantivyError::InternalError(
            "old index segments are still in use; their files were not deleted".into(),
        )))
    }

    /// Merges the committed segments until one is left, without deleted
    /// entries. A merge the policy started before the purge may end first
    /// and take segments away from ours, which then fails: merge again.
    fn merge_into_one(&mut self) -> Result<(), IndexError> {
        for _ in 0..PURGE_MERGE_ATTEMPTS {
            let metas = self.writer.index().searchable_segment_metas()?;
            if metas.len() <= 1 && metas.iter().all(|m| !m.has_deletes()) {
                return Ok(());
            }
            let ids: Vec<_> = metas.iter().map(|m| m.id()).collect();
            if let Err(e) = self.writer.merge(&ids).wait() {
                tracing::debug!(error = %e, "merging every index segment raced another merge; again");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        Err(IndexError::Tantivy(TantivyError::InternalError(
            "cannot merge the index segments into one".into(),
        )))
    }

    /// Removes every entry of every share (reindex, tests).
    pub fn clear(&mut self) -> Result<(), IndexError> {
        self.flush_ops()?;
        self.writer.delete_query(Box::new(AllQuery))?;
        self.pending.clear();
        self.cleared_all = true;
        Ok(())
    }

    /// Removes every entry of one share.
    pub fn clear_share(&mut self, share: &str) -> Result<(), IndexError> {
        let term = Term::from_field_text(self.fields.share, share);
        self.push(UserOperation::Delete(term))?;
        self.cleared_shares.insert(share.to_owned());
        let prefix = format!("{share}\0");
        self.pending.retain(|key, _| !key.starts_with(&prefix));
        Ok(())
    }

    fn version_term(&self, key: &str) -> Term {
        Term::from_field_text(self.fields.version_key, key)
    }

    fn push(&mut self, op: UserOperation<TantivyDocument>) -> Result<(), IndexError> {
        self.ops.push(op);
        if self.ops.len() >= OPS_PER_BATCH {
            self.flush_ops()?;
        }
        Ok(())
    }

    fn flush_ops(&mut self) -> Result<(), IndexError> {
        if !self.ops.is_empty() {
            self.writer.run(std::mem::take(&mut self.ops))?;
        }
        Ok(())
    }

    /// Commits what was added, superseded and removed, recording the last
    /// archive commit absorbed per share, then reloads the reader so that a
    /// search right after sees it.
    pub fn commit(&mut self, absorbed: &BTreeMap<String, String>) -> Result<(), IndexError> {
        self.commit_with(absorbed.clone())
    }

    fn commit_with(&mut self, absorbed: BTreeMap<String, String>) -> Result<(), IndexError> {
        let payload = Payload { absorbed };
        let json = serde_json::to_string(&payload).expect("a map of strings always serializes");
        self.flush_ops()?;
        // A commit starts the writer's indexing threads anew: from a
        // background thread, so that they stay background threads.
        let writer = &mut self.writer;
        crate::background::run(|| {
            let mut prepared = writer.prepare_commit()?;
            prepared.set_payload(&json);
            prepared.commit()
        })?;
        self.reader.reload()?;
        self.absorbed = payload.absorbed;
        self.pending.clear();
        self.pending_text = 0;
        self.cleared_all = false;
        self.cleared_shares.clear();
        Ok(())
    }

    /// Drops what was not committed and waits for the background merges of
    /// segments to end (dropping the index abandons them), leaving the index
    /// compact: call it at the end of a reindex and at shutdown.
    pub fn finish(self) -> Result<(), IndexError> {
        Ok(self.writer.wait_merging_threads()?)
    }

    /// The per-share absorbed archive commits of the last index commit (empty
    /// for a new index).
    pub fn absorbed(&self) -> BTreeMap<String, String> {
        self.absorbed.clone()
    }

    /// A read handle that sees every commit of this index.
    pub fn searcher(&self) -> Searcher {
        Searcher {
            reader: self.reader.clone(),
            fields: self.fields,
            parser: self.parser.clone(),
        }
    }

    /// The directory the index lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the committed segments physically hold, for tests of disposition:
    /// the number of segments, of deleted entries still in them, and whether
    /// any segment's term dictionary (of the content, title or author) still
    /// has `word`, whether or not a live entry uses it.
    #[cfg(test)]
    pub(crate) fn physical(&self, word: &str) -> (usize, u32, bool) {
        let searcher = self.reader.searcher();
        let mut deleted = 0;
        let mut present = false;
        for segment in searcher.segment_readers() {
            deleted += segment.num_deleted_docs();
            for field in [self.fields.content, self.fields.title, self.fields.author] {
                let terms = segment.inverted_index(field).expect("field is indexed");
                present |= terms
                    .terms()
                    .get(word.as_bytes())
                    .expect("term dictionary reads")
                    .is_some();
            }
        }
        (searcher.segment_readers().len(), deleted, present)
    }

    /// The committed entry with this version key.
    fn committed(&self, key: &str) -> Result<Option<Entry>, IndexError> {
        let searcher = self.reader.searcher();
        let query = TermQuery::new(
            Term::from_field_text(self.fields.version_key, key),
            IndexRecordOption::Basic,
        );
        let top = searcher.search(&query, &TopDocs::with_limit(1).order_by_score())?;
        let Some((_, addr)) = top.first() else {
            return Ok(None);
        };
        let doc: TantivyDocument = searcher.doc(*addr)?;
        Ok(Some(schema::entry(&self.fields, &doc)))
    }
}

/// The one writer: up to two indexing threads sharing [`WRITER_HEAP_BYTES`],
/// merging as [`SplitMergePolicy`] says.
fn writer(index: &tantivy::Index) -> tantivy::Result<IndexWriter<TantivyDocument>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(2));
    let options = IndexWriterOptions::builder()
        .num_worker_threads(threads)
        .memory_budget_per_thread(WRITER_HEAP_BYTES / threads)
        .build();
    let writer = index.writer_with_options(options)?;
    writer.set_merge_policy(Box::new(merge_policy()));
    Ok(writer)
}

fn merge_policy() -> SplitMergePolicy {
    let level = |min_segments| {
        let mut policy = LogMergePolicy::default();
        policy.set_min_layer_size(MIN_MERGE_LAYER_DOCS);
        policy.set_min_num_segments(min_segments);
        policy
    };
    SplitMergePolicy {
        small: level(MIN_SMALL_SEGMENTS_MERGED),
        large: level(MIN_LARGE_SEGMENTS_MERGED),
    }
}

/// tantivy's log merge policy, with fewer segments per merge from
/// [`MIN_MERGE_LAYER_DOCS`] documents up: searches pay per segment, and
/// only the small segments come often.
#[derive(Debug)]
struct SplitMergePolicy {
    small: LogMergePolicy,
    large: LogMergePolicy,
}

impl tantivy::indexer::MergePolicy for SplitMergePolicy {
    fn compute_merge_candidates(
        &self,
        segments: &[tantivy::index::SegmentMeta],
    ) -> Vec<tantivy::indexer::MergeCandidate> {
        let (small, large): (Vec<_>, Vec<_>) = segments
            .iter()
            .cloned()
            .partition(|s| s.num_docs() < MIN_MERGE_LAYER_DOCS);
        let mut candidates = self.small.compute_merge_candidates(&small);
        candidates.extend(self.large.compute_merge_candidates(&large));
        candidates
    }
}

/// The absorbed commits of the last commit; a payload that cannot be read
/// means nothing absorbed (start-up then indexes the archive again).
fn read_payload(index: &tantivy::Index, dir: &Path) -> BTreeMap<String, String> {
    let payload = match index.load_metas() {
        Ok(meta) => meta.payload,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot read index metadata");
            None
        }
    };
    let Some(json) = payload else {
        return BTreeMap::new();
    };
    match serde_json::from_str::<Payload>(&json) {
        Ok(p) => p.absorbed,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "unreadable index commit payload");
            BTreeMap::new()
        }
    }
}

#[cfg(test)]
mod tests;
