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
mod query;
mod schema;
mod search;
mod snippet;
mod tokenizer;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use tantivy::collector::TopDocs;
use tantivy::query::{AllQuery, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, TantivyError, Term};

pub use query::Query;
pub use search::{Hit, Hits, MAX_LIMIT, MAX_OFFSET, Searcher};

use query::Parser;
use schema::Fields;

/// The writer's memory budget, split over its threads.
const WRITER_HEAP_BYTES: usize = 50_000_000;
/// Text held for uncommitted entries before the index commits on its own.
const PENDING_TEXT_LIMIT: usize = 64 * 1024 * 1024;

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
    /// Entries added (Some) or removed (None) since the last commit, by
    /// version key: `supersede` finds what the reader does not see yet.
    pending: HashMap<String, Option<Entry>>,
    pending_text: usize,
    /// Whether `clear` ran since the last commit (the reader's entries are gone).
    cleared: bool,
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
        let index = tantivy::Index::open_or_create(directory, schema).map_err(open_error)?;
        tokenizer::register(&index);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(2));
        let zz = |k: &str, d: usize| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(d)
        };
        let options = tantivy::indexer::IndexWriterOptions::builder()
            .num_worker_threads(zz("ZZ_THREADS", threads))
            .memory_budget_per_thread(zz("ZZ_HEAP", WRITER_HEAP_BYTES / threads))
            .num_merge_threads(zz("ZZ_MERGE", 4))
            .build();
        let writer = index.writer_with_options(options).map_err(open_error)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
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
            cleared: false,
        })
    }

    /// Adds a version, replacing any entry with the same (share, path, version).
    /// Searchable after the next [`Index::commit`].
    pub fn add(&mut self, entry: Entry) -> Result<(), IndexError> {
        let key = schema::version_key(&entry.share, &entry.path, entry.version);
        self.writer
            .delete_term(Term::from_field_text(self.fields.version_key, &key));
        self.writer
            .add_document(schema::document(&self.fields, &entry))?;
        self.pending_text += entry.text.len();
        if let Some(Some(old)) = self.pending.insert(key, Some(entry)) {
            self.pending_text -= old.text.len();
        }
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
        let mut entry = match self.pending.remove(&key) {
            Some(Some(entry)) => {
                self.pending_text -= entry.text.len();
                entry
            }
            Some(None) => {
                self.pending.insert(key, None);
                return Err(not_indexed());
            }
            None if self.cleared => return Err(not_indexed()),
            None => self.committed(&key)?.ok_or_else(not_indexed)?,
        };
        entry.valid_to = Some(at);
        self.add(entry)
    }

    /// Removes one version's entry (disposition).
    pub fn remove(&mut self, share: &str, path: &str, version: u32) {
        let key = schema::version_key(share, path, version);
        self.writer
            .delete_term(Term::from_field_text(self.fields.version_key, &key));
        if let Some(Some(old)) = self.pending.insert(key, None) {
            self.pending_text -= old.text.len();
        }
    }

    /// Removes every entry of every share (reindex, tests).
    pub fn clear(&mut self) -> Result<(), IndexError> {
        self.writer.delete_query(Box::new(AllQuery))?;
        self.pending.clear();
        self.pending_text = 0;
        self.cleared = true;
        Ok(())
    }

    /// Removes every entry of one share.
    pub fn clear_share(&mut self, share: &str) {
        self.writer
            .delete_term(Term::from_field_text(self.fields.share, share));
        let prefix = format!("{share}\0");
        for (key, entry) in self.pending.iter_mut() {
            if key.starts_with(&prefix) {
                if let Some(old) = entry.take() {
                    self.pending_text -= old.text.len();
                }
            }
        }
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
        let t0 = std::time::Instant::now();
        let mut prepared = self.writer.prepare_commit()?;
        let t1 = t0.elapsed();
        prepared.set_payload(&json);
        prepared.commit()?;
        let t2 = t0.elapsed();
        self.reader.reload()?;
        let t3 = t0.elapsed();
        if std::env::var_os("ZZ_TIMING").is_some() {
            eprintln!(
                "ZZ prepare {} commit {} reload {} segments {}",
                t1.as_micros(),
                (t2 - t1).as_micros(),
                (t3 - t2).as_micros(),
                self.reader.searcher().segment_readers().len()
            );
        }
        self.absorbed = payload.absorbed;
        self.pending.clear();
        self.pending_text = 0;
        self.cleared = false;
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
