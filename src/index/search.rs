//! Answering a [`Query`]: the matching versions, ranked, one hit per
//! document, each with a snippet of its text.
//!
//! Current and as-of searches see at most one version per document (the
//! versions of a document follow each other in time), so tantivy's top-k
//! and count collectors rank and count them in one pass. An all-versions
//! search collects every match with its document hash from the fast fields
//! and folds the versions of a document into one hit.
//!
//! A phrase of frequent words is checked position by position in most
//! documents (tens of milliseconds at 100,000 documents on one core): such a
//! search runs in parallel on a small pool shared by every index of the
//! process, each task on a range of one segment's documents, so that one
//! big segment does not leave the other threads idle.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime};

use serde::Serialize;
use tantivy::collector::{Collector, Count, SegmentCollector, TopDocs};
use tantivy::columnar::Column;
use tantivy::query::{EnableScoring, Query as TantivyQuery, TermQuery, Weight};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{
    DocAddress, DocId, DocSet, Executor, IndexReader, Score, SegmentOrdinal, SegmentReader,
    TantivyDocument, TantivyError, Term,
};

use super::IndexError;
use super::query::{Parser, Query, Versions, filters, restrict};
use super::schema::{self, Fields};
use super::snippet::Snippets;

/// Hits per page at most.
pub const MAX_LIMIT: usize = 1000;
/// How deep a search may page.
pub const MAX_OFFSET: usize = 100_000;
/// A phrase whose rarest word (in some field) is in this many documents
/// checks so many positions that its search runs on the segments in parallel.
const PARALLEL_PHRASE_DOCS: u64 = 20_000;
/// A light search ([`Prepared::is_light`]) walks at most this many
/// postings entries (about 3 ms of counting and ranking on this project's
/// 2-core test machine)...
const LIGHT_POSTINGS: u64 = 300_000;
/// ... and ranks and shows at most this many hits (offset included).
const LIGHT_HITS: usize = 100;
/// Threads of the parallel search pool at most.
const MAX_SEARCH_THREADS: usize = 4;
/// A parallel search gives each task about its share of the documents
/// (two tasks per thread), and at least this many.
const MIN_TASK_DOCS: DocId = 4096;

/// The answer to a search.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Hits {
    /// Matching documents (after folding versions).
    pub total: usize,
    pub took_ms: f64,
    pub hits: Vec<Hit>,
}

/// One matching document.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Hit {
    pub share: String,
    pub path: String,
    /// The version shown: the matching one, or with all_versions the newest matching one.
    pub version: u32,
    /// Whether that version is the document's current one.
    pub current: bool,
    /// With all_versions, the best score over the matching versions.
    pub score: f32,
    #[schema(required = true)]
    pub title: Option<String>,
    pub mime: String,
    /// The version's modification time (RFC 3339).
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub modified: SystemTime,
    /// HTML: the matched words in `<mark>`, everything else escaped.
    pub snippet: String,
    /// How many versions of the document matched (1 unless all_versions).
    pub versions_matched: usize,
}

fn rfc3339<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_nanos(*t))
}

/// A version's text as the index holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionText {
    pub text: String,
    /// The extraction status word (`ok`, `truncated`, `failed`, ...).
    pub status: String,
}

/// A cheap, shareable read handle: sees what the last index commit holds.
#[derive(Clone)]
pub struct Searcher {
    pub(crate) reader: IndexReader,
    pub(crate) fields: Fields,
    pub(crate) parser: Arc<Parser>,
}

/// A hit before its stored document is read.
struct Ranked {
    score: Score,
    addr: DocAddress,
    versions_matched: usize,
}

impl Searcher {
    /// The page `q.offset..q.offset + q.limit` (at most [`MAX_LIMIT`] hits,
    /// from at most [`MAX_OFFSET`]) of the documents matching `q`, best
    /// first, and how many match. A query text the syntax rejects, or
    /// all_versions with as_of, is [`IndexError::BadQuery`] with the reason.
    pub fn search(&self, q: &Query) -> Result<Hits, IndexError> {
        self.prepare(q)?.run()
    }

    /// The search `q` parsed against what the last index commit holds,
    /// to be run with [`Prepared::run`]. Parsing takes microseconds; the
    /// errors are [`Searcher::search`]'s.
    pub fn prepare(&self, q: &Query) -> Result<Prepared, IndexError> {
        let started = Instant::now();
        let versions = q.versions()?;
        let parsed = self.parser.parse(&q.q)?;
        let query = restrict(parsed.query.box_clone(), filters(&self.fields, q, versions));
        let searcher = self.reader.searcher();
        let limit = q.limit.min(MAX_LIMIT);
        let offset = q.offset.min(MAX_OFFSET);
        let light = versions != Versions::All
            && parsed.words_only
            && offset + limit <= LIGHT_HITS
            && postings(&searcher, &*parsed.query).is_some_and(|n| n <= LIGHT_POSTINGS);
        Ok(Prepared {
            started,
            searcher,
            fields: self.fields,
            user: parsed.query,
            query,
            versions,
            limit,
            offset,
            light,
        })
    }

    /// The extracted text of one version and its extraction status, as
    /// last committed; `None` when the index does not hold the version.
    pub fn text_of(
        &self,
        share: &str,
        path: &str,
        version: u32,
    ) -> Result<Option<VersionText>, IndexError> {
        let key = schema::version_key(share, path, version);
        let query = TermQuery::new(
            Term::from_field_text(self.fields.version_key, &key),
            IndexRecordOption::Basic,
        );
        let searcher = self.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(1).order_by_score())?;
        let Some((_, addr)) = top.first() else {
            return Ok(None);
        };
        let doc: TantivyDocument = searcher.doc(*addr)?;
        let e = schema::entry(&self.fields, &doc);
        Ok(Some(VersionText {
            text: e.text,
            status: e.status,
        }))
    }
}

/// A search parsed and ready to run ([`Searcher::prepare`]), on the index
/// as it was when it was prepared.
pub struct Prepared {
    started: Instant,
    searcher: tantivy::Searcher,
    fields: Fields,
    /// The user's query text, parsed.
    user: Box<dyn TantivyQuery>,
    /// With the filters.
    query: Box<dyn TantivyQuery>,
    versions: Versions,
    limit: usize,
    offset: usize,
    light: bool,
}

impl Prepared {
    /// Whether the search is sure to be quick (a few milliseconds at most;
    /// about 0.3 ms for a word of rank 200–2,000 at 100,000 documents): words only (no phrase, fuzzy or prefix term;
    /// a word that the tokenizer splits counts as a phrase), whose postings
    /// hold at most `LIGHT_POSTINGS` (300,000) entries together, current or as-of
    /// versions, and at most `LIGHT_HITS` (100) hits to rank and show.
    pub fn is_light(&self) -> bool {
        self.light
    }

    /// Runs the search.
    pub fn run(self) -> Result<Hits, IndexError> {
        let run = Run {
            searcher: &self.searcher,
            query: &*self.query,
            executor: heavy_phrase(&self.searcher, &*self.user)
                .then(pool)
                .flatten(),
            min_task_docs: MIN_TASK_DOCS,
        };
        let (total, page) = match self.versions {
            Versions::All => folded(&run, self.offset, self.limit),
            Versions::Current | Versions::AsOf(_) => ranked(&run, self.offset, self.limit),
        }
        .map_err(query_error)?;
        let hits = if page.is_empty() {
            Vec::new()
        } else {
            let snippets = Snippets::new(&self.searcher, &*self.user, self.fields.content)?;
            page.into_iter()
                .map(|r| self.hit(&snippets, r))
                .collect::<Result<_, _>>()?
        };
        Ok(Hits {
            total,
            took_ms: self.started.elapsed().as_secs_f64() * 1000.0,
            hits,
        })
    }

    fn hit(&self, snippets: &Snippets, r: Ranked) -> Result<Hit, IndexError> {
        let doc: TantivyDocument = self.searcher.doc(r.addr)?;
        let e = schema::entry(&self.fields, &doc);
        Ok(Hit {
            snippet: snippets.html(&e.text),
            current: e.valid_to.is_none(),
            share: e.share,
            path: e.path,
            version: e.version,
            score: r.score,
            title: e.title,
            mime: e.mime,
            modified: e.modified,
            versions_matched: r.versions_matched,
        })
    }
}

/// The entries in the postings of `query`'s terms, summed over its terms
/// (a term in several fields counts once per field); None when one of them
/// needs positions (a phrase).
fn postings(searcher: &tantivy::Searcher, query: &dyn TantivyQuery) -> Option<u64> {
    let mut total = Some(0u64);
    query.query_terms(&mut |term, positions| {
        total = match total {
            Some(n) if !positions => {
                Some(n.saturating_add(searcher.doc_freq(term).unwrap_or(u64::MAX)))
            }
            _ => None,
        };
    });
    total
}

/// Errors tantivy finds only when it runs a query (a field the query
/// syntax names but cannot search that way) are the query's fault.
fn query_error(e: TantivyError) -> IndexError {
    match e {
        TantivyError::SchemaError(m) | TantivyError::InvalidArgument(m) => IndexError::BadQuery(m),
        e => IndexError::Tantivy(e),
    }
}

/// A query about to run on a searcher, on this thread or on the pool.
struct Run<'a> {
    searcher: &'a tantivy::Searcher,
    query: &'a dyn TantivyQuery,
    executor: Option<&'static Executor>,
    /// On the pool, the fewest documents of a task.
    min_task_docs: DocId,
}

impl Run<'_> {
    fn collect<C: Collector>(&self, collector: &C) -> tantivy::Result<C::Fruit> {
        let Some(executor) = self.executor else {
            return self.searcher.search(self.query, collector);
        };
        let scoring = if collector.requires_scoring() {
            EnableScoring::enabled_from_searcher(self.searcher)
        } else {
            EnableScoring::disabled_from_searcher(self.searcher)
        };
        let weight = self.query.weight(scoring)?;
        let sizes: Vec<DocId> = self
            .searcher
            .segment_readers()
            .iter()
            .map(SegmentReader::max_doc)
            .collect();
        let tasks = tasks(&sizes, 2 * pool_threads(), self.min_task_docs);
        let fruits = executor.map(
            |(segment, docs)| {
                let reader = self.searcher.segment_reader(segment);
                collect_range(collector, &*weight, reader, segment, docs)
            },
            tasks.into_iter(),
        )?;
        collector.merge_fruits(fruits)
    }
}

/// Collects the matches among one segment's documents `docs`, as tantivy
/// collects a whole segment (deleted entries skipped).
fn collect_range<C: Collector>(
    collector: &C,
    weight: &dyn Weight,
    reader: &SegmentReader,
    segment: SegmentOrdinal,
    docs: Range<DocId>,
) -> tantivy::Result<<C::Child as SegmentCollector>::Fruit> {
    let mut child = collector.for_segment(segment, reader)?;
    let mut scorer = weight.scorer(reader, 1.0)?;
    let mut doc = scorer.doc();
    if doc < docs.start {
        doc = scorer.seek(docs.start);
    }
    let alive = reader.alive_bitset();
    let scoring = collector.requires_scoring();
    // TERMINATED (u32::MAX) ends the last range too.
    while doc < docs.end {
        if alive.is_none_or(|a| a.is_alive(doc)) {
            child.collect(doc, if scoring { scorer.score() } else { 0.0 });
        }
        doc = scorer.advance();
    }
    Ok(child.harvest())
}

/// The (segment, documents) tasks of a parallel search: each segment cut
/// into as many even ranges as it holds pieces of `total / parts`
/// documents (a piece at least `min_docs`), so a range can be up to half
/// a piece shorter.
fn tasks(sizes: &[DocId], parts: usize, min_docs: DocId) -> Vec<(SegmentOrdinal, Range<DocId>)> {
    let total: u64 = sizes.iter().map(|&n| u64::from(n)).sum();
    let share = total / parts.max(1) as u64;
    let piece = DocId::try_from(share)
        .unwrap_or(DocId::MAX)
        .max(min_docs)
        .max(1);
    let mut out = Vec::new();
    for (segment, &size) in (0..).zip(sizes) {
        let step = size.div_ceil(size.div_ceil(piece).max(1)).max(1);
        out.extend(
            (0..size)
                .step_by(step as usize)
                .map(|start| (segment, start..start.saturating_add(step).min(size))),
        );
    }
    out
}

/// Threads of the parallel search pool. Asked once: std reads the
/// cgroup's CPU quota files to answer, and every parallel search asks.
fn pool_threads() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        threads.min(MAX_SEARCH_THREADS)
    })
}

/// The pool parallel searches run on; None on one CPU.
fn pool() -> Option<&'static Executor> {
    static POOL: OnceLock<Option<Executor>> = OnceLock::new();
    POOL.get_or_init(|| {
        let threads = pool_threads();
        if threads < 2 {
            return None;
        }
        Executor::multi_thread(threads, "docvault-search-")
            .inspect_err(|e| tracing::warn!(error = %e, "no parallel search pool"))
            .ok()
    })
    .as_ref()
}

/// Whether `query` holds a phrase whose every word, in some field, is in at
/// least [`PARALLEL_PHRASE_DOCS`] documents (an estimate of the documents
/// whose positions the phrase checks), and the index has several segments.
fn heavy_phrase(searcher: &tantivy::Searcher, query: &dyn TantivyQuery) -> bool {
    if searcher.segment_readers().len() < 2 {
        return false;
    }
    // Per field, the fewest documents any of its phrase words is in.
    let mut rarest: HashMap<Field, u64> = HashMap::new();
    query.query_terms(&mut |term, positions| {
        if positions {
            let docs = searcher.doc_freq(term).unwrap_or(0);
            let fewest = rarest.entry(term.field()).or_insert(u64::MAX);
            *fewest = (*fewest).min(docs);
        }
    });
    rarest.values().any(|&docs| docs >= PARALLEL_PHRASE_DOCS)
}

/// At most one version per document matches: tantivy ranks and counts.
fn ranked(run: &Run, offset: usize, limit: usize) -> tantivy::Result<(usize, Vec<Ranked>)> {
    if limit == 0 {
        return Ok((run.collect(&Count)?, Vec::new()));
    }
    // One pass that counts and ranks: a phrase is matched once per document.
    let top = TopDocs::with_limit(limit)
        .and_offset(offset)
        .order_by_score();
    let (total, top) = run.collect(&(Count, top))?;
    let page = top
        .into_iter()
        .map(|(score, addr)| Ranked {
            score,
            addr,
            versions_matched: 1,
        })
        .collect();
    Ok((total, page))
}

/// Every version may match: fold them per document.
fn folded(run: &Run, offset: usize, limit: usize) -> tantivy::Result<(usize, Vec<Ranked>)> {
    let mut groups = run.collect(&Fold)?;
    let total = groups.len();
    groups.sort_unstable_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.hash.cmp(&b.hash))
    });
    let page = groups
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|g| Ranked {
            score: g.score,
            addr: g.shown.addr,
            versions_matched: g.count,
        })
        .collect();
    Ok((total, page))
}

/// One matching version, as the fast fields tell it.
#[derive(Debug, Clone, Copy)]
struct Match {
    hash: u64,
    version: u64,
    score: Score,
    addr: DocAddress,
}

/// The matching versions of one document.
#[derive(Debug)]
struct Group {
    hash: u64,
    /// The best score of its versions.
    score: Score,
    /// The newest matching version.
    shown: Match,
    count: usize,
}

/// Collects every match with its document hash and version; folds per document.
struct Fold;

struct FoldSegment {
    segment: SegmentOrdinal,
    hash: Column<u64>,
    version: Column<u64>,
    matches: Vec<Match>,
}

impl Collector for Fold {
    type Fruit = Vec<Group>;
    type Child = FoldSegment;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<FoldSegment> {
        let fast = reader.fast_fields();
        Ok(FoldSegment {
            segment,
            hash: fast.u64(schema::DOC_HASH)?,
            version: fast.u64(schema::VERSION)?,
            matches: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, segments: Vec<Vec<Match>>) -> tantivy::Result<Vec<Group>> {
        let mut groups: HashMap<u64, Group> = HashMap::new();
        for m in segments.into_iter().flatten() {
            groups
                .entry(m.hash)
                .and_modify(|g| {
                    g.score = g.score.max(m.score);
                    g.count += 1;
                    if m.version > g.shown.version {
                        g.shown = m;
                    }
                })
                .or_insert(Group {
                    hash: m.hash,
                    score: m.score,
                    shown: m,
                    count: 1,
                });
        }
        Ok(groups.into_values().collect())
    }
}

impl SegmentCollector for FoldSegment {
    type Fruit = Vec<Match>;

    fn collect(&mut self, doc: DocId, score: Score) {
        self.matches.push(Match {
            hash: self.hash.first(doc).unwrap_or_default(),
            version: self.version.first(doc).unwrap_or_default(),
            score,
            addr: DocAddress::new(self.segment, doc),
        });
    }

    fn harvest(self) -> Vec<Match> {
        self.matches
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::index::{Entry, Index};

    fn entry(n: u64) -> Entry {
        let at = UNIX_EPOCH + Duration::from_secs(1_780_000_000 + n);
        let text = format!(
            "{}alpha beta gamma alpha beta",
            "alpha ".repeat(n as usize % 7)
        );
        Entry {
            share: "s".into(),
            path: format!("doc{n}.txt"),
            version: 1,
            valid_from: at,
            valid_to: None,
            modified: at,
            size: text.len() as u64,
            mime: "text/plain".into(),
            title: None,
            author: None,
            status: "ok".into(),
            text,
        }
    }

    /// (score, address, versions matched) of each hit.
    fn page(ranked: &[Ranked]) -> Vec<(u32, DocAddress, usize)> {
        ranked
            .iter()
            .map(|r| (r.score.to_bits(), r.addr, r.versions_matched))
            .collect()
    }

    #[test]
    fn a_parallel_search_counts_and_ranks_as_a_serial_one() {
        let dir = tempfile::TempDir::new().unwrap();
        let mut index = Index::open_or_create(dir.path()).unwrap();
        for segment in 0..3 {
            for i in 0..20 {
                index.add(entry(segment * 20 + i)).unwrap();
            }
            index.commit(&BTreeMap::new()).unwrap();
        }
        // Deleted entries stay in their segments until a merge: skipped.
        for n in [3, 25, 26, 59] {
            index.remove("s", &format!("doc{n}.txt"), 1).unwrap();
        }
        index.commit(&BTreeMap::new()).unwrap();
        let handle = index.searcher();
        let query = handle.parser.parse("\"alpha beta\"").unwrap().query;
        let searcher = handle.reader.searcher();
        assert!(searcher.segment_readers().len() > 1);
        let run = |executor, min_task_docs| Run {
            searcher: &searcher,
            query: &*query,
            executor,
            min_task_docs,
        };
        // Whole segments, and segments cut into ranges of a few documents.
        for min_task_docs in [MIN_TASK_DOCS, 1] {
            for (offset, limit) in [(0, 10), (5, 30), (0, 0)] {
                let serial = run(None, min_task_docs);
                let parallel = run(pool(), min_task_docs);
                let (total, hits) = ranked(&serial, offset, limit).unwrap();
                let (p_total, p_hits) = ranked(&parallel, offset, limit).unwrap();
                assert_eq!((total, page(&hits)), (p_total, page(&p_hits)));
                assert_eq!(total, 56);
                let (total, hits) = folded(&serial, offset, limit).unwrap();
                let (p_total, p_hits) = folded(&parallel, offset, limit).unwrap();
                assert_eq!((total, page(&hits)), (p_total, page(&p_hits)));
            }
        }
    }

    #[test]
    fn light_searches_are_a_few_words_without_phrases_on_one_page() {
        let dir = tempfile::TempDir::new().unwrap();
        let mut index = Index::open_or_create(dir.path()).unwrap();
        for n in 0..60 {
            index.add(entry(n)).unwrap();
        }
        index.commit(&BTreeMap::new()).unwrap();
        let handle = index.searcher();
        let ask = |text: &str, f: &dyn Fn(&mut Query)| {
            let mut q = Query {
                q: text.into(),
                limit: 10,
                ..Query::default()
            };
            f(&mut q);
            handle.prepare(&q).unwrap()
        };
        let light = |text: &str| ask(text, &|_| {}).is_light();
        assert!(light("gamma"));
        assert!(light("gamma -beta OR title:alpha"));
        assert!(!light("\"alpha beta\""), "a phrase");
        assert!(!light("gama~1"), "a fuzzy word");
        assert!(!light(""), "every document");
        assert!(!ask("gamma", &|q| q.all_versions = true).is_light());
        assert!(!ask("gamma", &|q| q.limit = LIGHT_HITS + 1).is_light());
        assert!(!ask("gamma", &|q| q.offset = LIGHT_HITS - 5).is_light());
        assert!(ask("gamma", &|q| q.as_of = Some(UNIX_EPOCH)).is_light());
        // Light or not, a prepared search answers as a search does.
        for text in ["gamma", "\"alpha beta\""] {
            let q = Query {
                q: text.into(),
                limit: 5,
                ..Query::default()
            };
            let prepared = handle.prepare(&q).unwrap().run().unwrap();
            let searched = handle.search(&q).unwrap();
            assert_eq!(prepared.total, 60);
            assert_eq!(
                prepared.hits.iter().map(|h| &h.path).collect::<Vec<_>>(),
                searched.hits.iter().map(|h| &h.path).collect::<Vec<_>>()
            );
        }
        // The estimate: each term's documents, per field; phrases have none.
        let searcher = handle.reader.searcher();
        let count = |text: &str| postings(&searcher, &*handle.parser.parse(text).unwrap().query);
        assert_eq!(count("gamma"), Some(60));
        assert_eq!(count("gamma beta"), Some(120));
        assert_eq!(count("nowhere"), Some(0));
        assert_eq!(count("\"alpha beta\""), None);
    }

    #[test]
    fn parallel_tasks_cover_every_document_once_in_even_ranges() {
        let ranges = |sizes: &[DocId], parts, min| -> Vec<(u32, u32, u32)> {
            tasks(sizes, parts, min)
                .into_iter()
                .map(|(segment, docs)| (segment, docs.start, docs.end))
                .collect()
        };
        // One big segment and small ones: the big one is cut.
        assert_eq!(
            ranges(&[80, 20, 0, 9], 4, 1),
            [(0, 0, 27), (0, 27, 54), (0, 54, 80), (1, 0, 20), (3, 0, 9)]
        );
        // Pieces of at least the minimum, then evened out.
        assert_eq!(ranges(&[10], 4, 8), [(0, 0, 5), (0, 5, 10)]);
        assert_eq!(ranges(&[7], 4, 8), [(0, 0, 7)]);
        assert!(ranges(&[], 4, 8).is_empty());
    }

    proptest::proptest! {
        #[test]
        fn parallel_tasks_partition_each_segment(
            sizes in proptest::collection::vec(0u32..100_000, 0..8),
            parts in 1usize..9,
            min in 1u32..5000,
        ) {
            let tasks = tasks(&sizes, parts, min);
            for (segment, &size) in (0..).zip(&sizes) {
                let mut next = 0;
                for (_, docs) in tasks.iter().filter(|(s, _)| *s == segment) {
                    proptest::prop_assert_eq!(docs.start, next);
                    proptest::prop_assert!(docs.end > docs.start);
                    next = docs.end;
                }
                proptest::prop_assert_eq!(next, size);
            }
        }
    }
}
