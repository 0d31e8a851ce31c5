//! Answering a [`Query`]: the matching versions, ranked, one hit per
//! document, each with a snippet of its text.
//!
//! Current and as-of searches see at most one version per document (the
//! versions of a document follow each other in time), so tantivy's top-k
//! and count collectors rank and count them in one pass. An all-versions
//! search collects every match with its document hash from the fast fields
//! and folds the versions of a document into one hit.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use serde::Serialize;
use tantivy::collector::{Collector, Count, SegmentCollector, TopDocs};
use tantivy::columnar::Column;
use tantivy::query::{Query as TantivyQuery, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{
    DocAddress, DocId, IndexReader, Score, SegmentOrdinal, SegmentReader, TantivyDocument,
    TantivyError, Term,
};

use super::IndexError;
use super::query::{Parser, Query, Versions, filters, restrict};
use super::schema::{self, Fields};
use super::snippet::Snippets;

/// Hits per page at most.
pub const MAX_LIMIT: usize = 1000;
/// How deep a search may page.
pub const MAX_OFFSET: usize = 100_000;

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
        let started = Instant::now();
        let versions = q.versions()?;
        let user = self.parser.parse(&q.q)?;
        let query = restrict(user.box_clone(), filters(&self.fields, q, versions));
        let searcher = self.reader.searcher();
        let limit = q.limit.min(MAX_LIMIT);
        let offset = q.offset.min(MAX_OFFSET);
        let (total, page) = match versions {
            Versions::All => folded(&searcher, &*query, offset, limit),
            Versions::Current | Versions::AsOf(_) => ranked(&searcher, &*query, offset, limit),
        }
        .map_err(query_error)?;
        let hits = if page.is_empty() {
            Vec::new()
        } else {
            let snippets = Snippets::new(&searcher, &*user, self.fields.content)?;
            page.into_iter()
                .map(|r| self.hit(&searcher, &snippets, r))
                .collect::<Result<_, _>>()?
        };
        Ok(Hits {
            total,
            took_ms: started.elapsed().as_secs_f64() * 1000.0,
            hits,
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

    fn hit(
        &self,
        searcher: &tantivy::Searcher,
        snippets: &Snippets,
        r: Ranked,
    ) -> Result<Hit, IndexError> {
        let doc: TantivyDocument = searcher.doc(r.addr)?;
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

/// Errors tantivy finds only when it runs a query (a field the query
/// syntax names but cannot search that way) are the query's fault.
fn query_error(e: TantivyError) -> IndexError {
    match e {
        TantivyError::SchemaError(m) | TantivyError::InvalidArgument(m) => IndexError::BadQuery(m),
        e => IndexError::Tantivy(e),
    }
}

/// At most one version per document matches: tantivy ranks and counts.
fn ranked(
    searcher: &tantivy::Searcher,
    query: &dyn TantivyQuery,
    offset: usize,
    limit: usize,
) -> tantivy::Result<(usize, Vec<Ranked>)> {
    if limit == 0 {
        return Ok((searcher.search(query, &Count)?, Vec::new()));
    }
    // One pass that counts and ranks: a phrase is matched once per document.
    let top = TopDocs::with_limit(limit)
        .and_offset(offset)
        .order_by_score();
    let (total, top) = searcher.search(query, &(Count, top))?;
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
fn folded(
    searcher: &tantivy::Searcher,
    query: &dyn TantivyQuery,
    offset: usize,
    limit: usize,
) -> tantivy::Result<(usize, Vec<Ranked>)> {
    let mut groups = searcher.search(query, &Fold)?;
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
