//! Snippets: the passage of a hit's text that best shows why it matched,
//! as HTML with the matched words in `<mark>` and everything else escaped.
//!
//! tantivy's snippet generator tokenizes the whole text it is given, which
//! for a long document costs milliseconds per hit. So the generator sees a
//! window of the text around the first place a query word appears (found by
//! a plain case-insensitive search for the indexed form of the word), and
//! the start of the text (up to a bound) only when that search finds nothing
//! in a text with non-ASCII letters, which folding may hide (`ubergabe` in
//! `Übergabe`). No match at all (a hit on its title or path): the start of
//! the text.

use tantivy::query::Query;
use tantivy::schema::Field;
use tantivy::snippet::SnippetGenerator;

/// Snippet length in characters of text (before marks and escapes).
const CHARS: usize = 200;
/// Bytes of text around a found word the generator looks at.
const WINDOW_BYTES: usize = 768;
/// The word search looks at most this far into a text.
const SCAN_BYTES: usize = 4 * 1024 * 1024;
/// The generator, when the word search found nothing in a text with
/// non-ASCII letters, looks this far.
const FOLDED_SCAN_BYTES: usize = 256 * 1024;

pub(crate) struct Snippets {
    generator: SnippetGenerator,
    /// The query's words as indexed in the text field (lowercased, folded).
    words: Vec<String>,
}

impl Snippets {
    pub(crate) fn new(
        searcher: &tantivy::Searcher,
        query: &dyn Query,
        field: Field,
    ) -> tantivy::Result<Snippets> {
        let mut generator = SnippetGenerator::create(searcher, query, field)?;
        generator.set_max_num_chars(CHARS);
        let mut words = Vec::new();
        query.query_terms(&mut |term, _| {
            if let Some(word) = term.value().as_str().filter(|_| term.field() == field) {
                words.push(word.to_owned());
            }
        });
        words.sort();
        words.dedup();
        Ok(Snippets { generator, words })
    }

    /// The snippet of a hit's text.
    pub(crate) fn html(&self, text: &str) -> String {
        let text = &text[..floor_char_boundary(text, SCAN_BYTES)];
        let mut snippet = self.generator.snippet(self.window(text));
        if snippet.highlighted().is_empty() && text.len() > WINDOW_BYTES && !text.is_ascii() {
            // Folded letters hide words from the plain search: tokenize.
            snippet = self
                .generator
                .snippet(&text[..floor_char_boundary(text, FOLDED_SCAN_BYTES)]);
        }
        let html = if snippet.highlighted().is_empty() {
            opening(text)
        } else {
            snippet.set_snippet_prefix_postfix("<mark>", "</mark>");
            snippet.to_html()
        };
        squeeze_whitespace(&html)
    }

    /// The part of the text around the first query word in it: all of a
    /// short text, none of a long one without any (in ASCII text the plain
    /// search finds every word the tokenizer would).
    fn window<'t>(&self, text: &'t str) -> &'t str {
        if text.len() <= WINDOW_BYTES {
            return text;
        }
        // ASCII lowercasing keeps every byte offset.
        let lower = text.to_ascii_lowercase();
        let Some(at) = self.words.iter().filter_map(|w| find_word(&lower, w)).min() else {
            return "";
        };
        let start = floor_char_boundary(text, at.saturating_sub(WINDOW_BYTES / 2));
        let end = floor_char_boundary(text, start + WINDOW_BYTES);
        &text[start..end]
    }
}

/// The first place `word` stands in `text` as a whole word. (A match of
/// a non-empty `word` starts and ends on character boundaries.)
fn find_word(text: &str, word: &str) -> Option<usize> {
    if word.is_empty() {
        return None;
    }
    let alnum_before = |at: usize| {
        text[..at]
            .chars()
            .next_back()
            .is_some_and(char::is_alphanumeric)
    };
    let alnum_after = |at: usize| text[at..].chars().next().is_some_and(char::is_alphanumeric);
    memchr::memmem::find_iter(text.as_bytes(), word.as_bytes())
        .find(|&at| !alnum_before(at) && !alnum_after(at + word.len()))
}

/// The first [`CHARS`] characters, cut at a word, escaped.
fn opening(text: &str) -> String {
    let text = text.trim_start();
    let Some((cut, _)) = text.char_indices().nth(CHARS) else {
        return escape(text);
    };
    let head = &text[..cut];
    let head = match head.rfind(char::is_whitespace) {
        Some(space) if space > cut / 2 => &head[..space],
        _ => head,
    };
    format!("{}…", escape(head.trim_end()))
}

fn floor_char_boundary(text: &str, at: usize) -> usize {
    if at >= text.len() {
        return text.len();
    }
    (0..=at)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0)
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

fn squeeze_whitespace(html: &str) -> String {
    html.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_found_whole_only() {
        assert_eq!(find_word("explanation of the plan", "plan"), Some(19));
        assert_eq!(find_word("r-12 and r", "r"), Some(0));
        assert_eq!(find_word("planning", "plan"), None);
        assert_eq!(find_word("übergabe plan", "plan"), Some(10));
        assert_eq!(find_word("ü", ""), None);
    }

    proptest::proptest! {
        #[test]
        fn a_found_word_stands_where_it_is_said(text in "\\PC{0,40}", word in "\\PC{0,3}") {
            if let Some(at) = find_word(&text, &word) {
                proptest::prop_assert!(text[at..].starts_with(&word));
            }
        }
    }

    #[test]
    fn openings_cut_at_a_word_and_escape() {
        assert_eq!(opening("  a <b> & c"), "a &lt;b&gt; &amp; c");
        let long = "word ".repeat(100);
        let o = opening(&long);
        assert!(
            o.ends_with("word…") && o.chars().count() <= CHARS + 1,
            "{o}"
        );
    }
}
