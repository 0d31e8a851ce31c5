//! From what a user asks to a tantivy query: the query text through tantivy's
//! query grammar and parser (plus `word~N` fuzzy terms, which the grammar
//! keeps as part of the word), and the filters (share, path prefix, type,
//! modification time, which versions).

use std::ops::Bound;
use std::time::SystemTime;

use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, EmptyQuery, FuzzyTermQuery,
    InvertedIndexRangeQuery, Occur, Query as TantivyQuery, QueryParser, QueryParserError,
    RangeQuery, TermQuery,
};
use tantivy::query_grammar::{self, Delimiter, UserInputAst, UserInputLeaf};
use tantivy::schema::{Field, FieldType, IndexRecordOption, Schema};
use tantivy::tokenizer::TokenizerManager;
use tantivy::{Score, Term};

use super::IndexError;
use super::schema::{Fields, SUPERSEDED, nanos};

/// A search, as the API and the CLI ask it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    /// Query text: words (all required), "phrases", OR, NOT / -word,
    /// `title:`, `path:`, `author:`, `type:`, `word~1`. Empty: every document.
    pub q: String,
    pub share: Option<String>,
    /// A plain string prefix of the share-relative path.
    pub prefix: Option<String>,
    /// A type (`docx`) or family (`spreadsheet`); several separated by commas
    /// or spaces match any of them.
    pub types: Option<String>,
    /// Modified at or after.
    pub after: Option<SystemTime>,
    /// Modified before.
    pub before: Option<SystemTime>,
    /// Search every version, one hit per document.
    pub all_versions: bool,
    /// Search the versions that were current at this moment.
    pub as_of: Option<SystemTime>,
    /// Hits to return (0: only the total).
    pub limit: usize,
    /// Hits to skip.
    pub offset: usize,
}

/// Which versions a search sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Versions {
    Current,
    AsOf(i64),
    All,
}

impl Query {
    pub(crate) fn versions(&self) -> Result<Versions, IndexError> {
        match (self.as_of, self.all_versions) {
            (Some(_), true) => Err(IndexError::BadQuery(
                "all_versions and as_of cannot be combined".into(),
            )),
            (Some(t), false) => Ok(Versions::AsOf(nanos(t))),
            (None, true) => Ok(Versions::All),
            (None, false) => Ok(Versions::Current),
        }
    }
}

/// A query text, parsed.
pub(crate) struct Parsed {
    pub(crate) query: Box<dyn TantivyQuery>,
    /// Whether the text is only words (see [`words_only`]).
    pub(crate) words_only: bool,
}

/// Fuzzy distances tantivy's automata support.
const MAX_FUZZY_DISTANCE: u32 = 2;
/// How much more a word counts in the title and in the path than in the text.
const TITLE_BOOST: Score = 2.0;
const PATH_BOOST: Score = 1.5;

/// Turns query text into a tantivy query.
pub(crate) struct Parser {
    parser: QueryParser,
    schema: Schema,
    tokenizers: TokenizerManager,
    defaults: Vec<(Field, Score)>,
}

impl Parser {
    pub(crate) fn new(index: &tantivy::Index, fields: &Fields) -> Parser {
        let defaults = vec![
            (fields.content, 1.0),
            (fields.title, TITLE_BOOST),
            (fields.path, PATH_BOOST),
        ];
        let mut parser =
            QueryParser::for_index(index, defaults.iter().map(|(field, _)| *field).collect());
        parser.set_conjunction_by_default();
        for (field, boost) in &defaults {
            parser.set_field_boost(*field, *boost);
        }
        Parser {
            parser,
            schema: index.schema(),
            tokenizers: index.tokenizers().clone(),
            defaults,
        }
    }

    /// The query of a query text; an empty text matches everything.
    pub(crate) fn parse(&self, text: &str) -> Result<Parsed, IndexError> {
        if text.trim().is_empty() {
            return Ok(Parsed {
                query: Box::new(AllQuery),
                words_only: false,
            });
        }
        let (ast, errors) = query_grammar::parse_query_lenient(text);
        if let Some(e) = errors.first() {
            let message = e.message.replace("\\\"", "\"");
            return Err(IndexError::BadQuery(format!(
                "{message} at position {}",
                e.pos
            )));
        }
        if query_grammar::parse_query(text).is_err() {
            return Err(IndexError::BadQuery(
                "cannot parse the query: an operator without a word after it?".into(),
            ));
        }
        if has_exists(&ast) {
            return Err(IndexError::BadQuery(
                "field:* (has a value) is not supported".into(),
            ));
        }
        let words_only = words_only(&ast);
        let query = self
            .build(lift_negations(ast))
            .map_err(|e| IndexError::BadQuery(reason(&e)))?;
        Ok(Parsed { query, words_only })
    }

    fn build(&self, ast: UserInputAst) -> Result<Box<dyn TantivyQuery>, QueryParserError> {
        if !has_fuzzy(&ast) {
            return self.parser.build_query_from_user_input_ast(ast);
        }
        match ast {
            UserInputAst::Clause(clauses) => self.clause(clauses),
            UserInputAst::Boost(inner, boost) => Ok(Box::new(BoostQuery::new(
                self.build(*inner)?,
                boost.into_inner() as Score,
            ))),
            UserInputAst::Leaf(leaf) => match fuzzy_word(&leaf) {
                Some((word, distance)) => self.fuzzy(leaf_field(&leaf), word, distance),
                None => self
                    .parser
                    .build_query_from_user_input_ast(UserInputAst::Leaf(leaf)),
            },
        }
    }

    /// A clause holding a fuzzy term somewhere, built as tantivy's parser would.
    fn clause(
        &self,
        clauses: Vec<(Option<Occur>, UserInputAst)>,
    ) -> Result<Box<dyn TantivyQuery>, QueryParserError> {
        let mut parts: Vec<(Occur, Box<dyn TantivyQuery>)> = Vec::new();
        for (occur, ast) in clauses {
            let query = self.build(ast)?;
            if query.downcast_ref::<EmptyQuery>().is_none() {
                parts.push((occur.unwrap_or(Occur::Must), query));
            }
        }
        if !parts.is_empty() && parts.iter().all(|(occur, _)| *occur == Occur::MustNot) {
            return Err(QueryParserError::AllButQueryForbidden);
        }
        Ok(Box::new(BooleanQuery::new(parts)))
    }

    /// `word~N`: the word's first token within N edits, in its field or any
    /// default field.
    fn fuzzy(
        &self,
        field_name: Option<&str>,
        word: &str,
        distance: u8,
    ) -> Result<Box<dyn TantivyQuery>, QueryParserError> {
        let targets = match field_name {
            Some(name) => {
                let field = self
                    .schema
                    .get_field(name)
                    .map_err(|_| QueryParserError::FieldDoesNotExist(name.to_owned()))?;
                vec![(field, 1.0)]
            }
            None => self.defaults.clone(),
        };
        let mut alternatives: Vec<(Occur, Box<dyn TantivyQuery>)> = Vec::new();
        for (field, boost) in targets {
            if let Some(term) = self.first_token(field, word)? {
                let query = Box::new(FuzzyTermQuery::new(term, distance, true));
                alternatives.push((Occur::Should, Box::new(BoostQuery::new(query, boost))));
            }
        }
        Ok(match alternatives.len() {
            0 => Box::new(EmptyQuery),
            1 => alternatives.remove(0).1,
            _ => Box::new(BooleanQuery::new(alternatives)),
        })
    }

    fn first_token(&self, field: Field, phrase: &str) -> Result<Option<Term>, QueryParserError> {
        let entry = self.schema.get_field_entry(field);
        let FieldType::Str(options) = entry.field_type() else {
            return Err(QueryParserError::UnsupportedQuery(format!(
                "fuzzy terms need a text field, {} is not",
                entry.name()
            )));
        };
        let Some(indexing) = options.get_indexing_options() else {
            return Err(QueryParserError::FieldNotIndexed(entry.name().to_owned()));
        };
        let mut analyzer = self.tokenizers.get(indexing.tokenizer()).ok_or_else(|| {
            QueryParserError::UnknownTokenizer {
                field: entry.name().to_owned(),
                tokenizer: indexing.tokenizer().to_owned(),
            }
        })?;
        let mut stream = analyzer.token_stream(phrase);
        Ok(stream.next().map(|t| Term::from_field_text(field, &t.text)))
    }
}

/// Whether a query text is only words, each perhaps with a field, a `+`,
/// `-` or `NOT`, joined by `AND`/`OR` or grouped: no "phrase", `word~N`,
/// `word*`, range, set or regex.
fn words_only(ast: &UserInputAst) -> bool {
    match ast {
        UserInputAst::Clause(clauses) => clauses.iter().all(|(_, ast)| words_only(ast)),
        UserInputAst::Boost(inner, _) => words_only(inner),
        UserInputAst::Leaf(leaf) => match leaf.as_ref() {
            UserInputLeaf::Literal(literal) => {
                literal.delimiter == Delimiter::None
                    && literal.slop == 0
                    && !literal.prefix
                    && fuzzy_word(leaf).is_none()
            }
            _ => false,
        },
    }
}

/// Whether a query holds an unquoted `word~N` (the grammar keeps `~N` in the word).
fn has_fuzzy(ast: &UserInputAst) -> bool {
    match ast {
        UserInputAst::Clause(clauses) => clauses.iter().any(|(_, ast)| has_fuzzy(ast)),
        UserInputAst::Boost(inner, _) => has_fuzzy(inner),
        UserInputAst::Leaf(leaf) => fuzzy_word(leaf).is_some(),
    }
}

/// `word~N` (`word~` is `word~1`): the word and the distance, at most 2.
fn fuzzy_word(leaf: &UserInputLeaf) -> Option<(&str, u8)> {
    let UserInputLeaf::Literal(literal) = leaf else {
        return None;
    };
    if literal.delimiter != Delimiter::None {
        return None;
    }
    let (word, digits) = literal.phrase.rsplit_once('~')?;
    if word.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let distance = if digits.is_empty() {
        1
    } else {
        digits.parse::<u32>().unwrap_or(u32::MAX)
    };
    Some((word, distance.min(MAX_FUZZY_DISTANCE) as u8))
}

fn leaf_field(leaf: &UserInputLeaf) -> Option<&str> {
    match leaf {
        UserInputLeaf::Literal(literal) => literal.field_name.as_deref(),
        _ => None,
    }
}

/// Whether a query holds `field:*`, which tantivy answers only for fast fields.
fn has_exists(ast: &UserInputAst) -> bool {
    match ast {
        UserInputAst::Clause(clauses) => clauses.iter().any(|(_, ast)| has_exists(ast)),
        UserInputAst::Boost(inner, _) => has_exists(inner),
        UserInputAst::Leaf(leaf) => matches!(leaf.as_ref(), UserInputLeaf::Exists { .. }),
    }
}

/// `a AND NOT b` parses as `+a +(-b)`, and a clause of exclusions alone
/// matches nothing: lift such exclusions into the enclosing clause (`+a -b`).
fn lift_negations(ast: UserInputAst) -> UserInputAst {
    match ast {
        UserInputAst::Clause(clauses) => {
            let mut out = Vec::with_capacity(clauses.len());
            for (occur, ast) in clauses {
                match lift_negations(ast) {
                    UserInputAst::Clause(inner)
                        if occur != Some(Occur::MustNot)
                            && !inner.is_empty()
                            && inner.iter().all(|(o, _)| *o == Some(Occur::MustNot)) =>
                    {
                        out.extend(inner)
                    }
                    ast => out.push((occur, ast)),
                }
            }
            UserInputAst::Clause(out)
        }
        UserInputAst::Boost(inner, boost) => {
            UserInputAst::Boost(Box::new(lift_negations(*inner)), boost)
        }
        leaf => leaf,
    }
}

/// The parser's reason, worded for a user.
fn reason(e: &QueryParserError) -> String {
    match e {
        QueryParserError::AllButQueryForbidden => {
            "a query cannot only exclude: add a word to search for".into()
        }
        QueryParserError::FieldDoesNotExist(name) => format!("unknown field {name:?}"),
        other => other.to_string(),
    }
}

/// The filters of a search: what a hit must match (with score 0: ranking is
/// the query's) and must not match.
pub(crate) fn filters(
    f: &Fields,
    q: &Query,
    versions: Versions,
) -> Vec<(Occur, Box<dyn TantivyQuery>)> {
    let mut out: Vec<(Occur, Box<dyn TantivyQuery>)> = Vec::new();
    match versions {
        // Few entries are superseded: excluding them is cheaper than a range.
        Versions::Current => out.push((Occur::MustNot, term(f.superseded, SUPERSEDED))),
        Versions::AsOf(t) => {
            let from = i64_range(f.valid_from, Bound::Unbounded, Bound::Included(t));
            out.push((Occur::Must, from));
            let to = i64_range(f.valid_to, Bound::Excluded(t), Bound::Unbounded);
            out.push((Occur::Must, to));
        }
        Versions::All => {}
    }
    let mut must = |query| out.push((Occur::Must, query));
    if let Some(share) = &q.share {
        must(term(f.share, share));
    }
    if let Some(prefix) = q.prefix.as_deref().filter(|p| !p.is_empty()) {
        must(path_prefix(f.path_raw, prefix));
    }
    if let Some(types) = &q.types {
        let wanted: Vec<(Occur, Box<dyn TantivyQuery>)> = types
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|t| !t.is_empty())
            .map(|t| (Occur::Should, term(f.types, &t.to_lowercase())))
            .collect();
        if !wanted.is_empty() {
            must(Box::new(BooleanQuery::new(wanted)));
        }
    }
    let after = q
        .after
        .map_or(Bound::Unbounded, |t| Bound::Included(nanos(t)));
    let before = q
        .before
        .map_or(Bound::Unbounded, |t| Bound::Excluded(nanos(t)));
    if after != Bound::Unbounded || before != Bound::Unbounded {
        must(i64_range(f.modified, after, before));
    }
    out
}

/// The user's query restricted by the filters.
pub(crate) fn restrict(
    query: Box<dyn TantivyQuery>,
    filters: Vec<(Occur, Box<dyn TantivyQuery>)>,
) -> Box<dyn TantivyQuery> {
    if filters.is_empty() {
        return query;
    }
    let mut clauses = vec![(Occur::Must, query)];
    for (occur, filter) in filters {
        let filter: Box<dyn TantivyQuery> = match occur {
            Occur::Must => Box::new(ConstScoreQuery::new(filter, 0.0)),
            _ => filter,
        };
        clauses.push((occur, filter));
    }
    Box::new(BooleanQuery::new(clauses))
}

fn term(field: Field, value: &str) -> Box<dyn TantivyQuery> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, value),
        IndexRecordOption::Basic,
    ))
}

fn i64_range(field: Field, lower: Bound<i64>, upper: Bound<i64>) -> Box<dyn TantivyQuery> {
    let to_term = |b: Bound<i64>| match b {
        Bound::Included(v) => Bound::Included(Term::from_field_i64(field, v)),
        Bound::Excluded(v) => Bound::Excluded(Term::from_field_i64(field, v)),
        Bound::Unbounded => Bound::Unbounded,
    };
    let (lower, upper) = match (lower, upper) {
        // A range needs one bound to know its field.
        (Bound::Unbounded, Bound::Unbounded) => (Bound::Included(i64::MIN), Bound::Unbounded),
        bounds => bounds,
    };
    Box::new(RangeQuery::new(to_term(lower), to_term(upper)))
}

/// Paths starting with `prefix`: the terms from `prefix` up to (excluding)
/// the smallest byte string greater than every string starting with it.
fn path_prefix(field: Field, prefix: &str) -> Box<dyn TantivyQuery> {
    let lower = Term::from_field_text(field, prefix);
    let mut end = prefix.as_bytes().to_vec();
    // UTF-8 never holds 0xFF, so the last byte can always be incremented.
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    let upper = Term::from_field_bytes(field, &end);
    Box::new(InvertedIndexRangeQuery::new(
        Bound::Included(lower),
        Bound::Excluded(upper),
    ))
}
