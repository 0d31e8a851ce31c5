//! The analyzer every text field of the index and every query uses.
//!
//! Words are runs of letters and digits, lowercased and ASCII-folded
//! (`Übergabe` is found by `ubergabe`). Project offices name things with IDs
//! such as `R-12`, `A-1312/B` or `2026-Q3`: a run of words joined by `-`, `/`,
//! `.` or `_` is a *compound*, indexed whole (`a-1312/b`) and by its parts
//! (`a`, `1312`, `b`). The whole token sits at the position of its first
//! part, so a phrase over the parts (`"2026 q3"`) still matches, and a query
//! for the whole ID (tokenized the same way) is a phrase of whole and parts.

use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RawTokenizer, RemoveLongFilter, TextAnalyzer, Token,
    TokenStream, Tokenizer,
};

/// The name of the text analyzer (content, title, author, path).
pub(crate) const TEXT: &str = "docvault_text";
/// The name of the keyword analyzer (the `type` field): the whole value, lowercased.
pub(crate) const KEYWORD: &str = "docvault_keyword";
/// Tokens this long or longer (in bytes) are dropped: base64 blobs, not words.
const MAX_TOKEN_BYTES: usize = 80;

/// Registers both analyzers on a tantivy index (they are not persisted with it).
pub(crate) fn register(index: &tantivy::Index) {
    index.tokenizers().register(TEXT, text_analyzer());
    index.tokenizers().register(KEYWORD, keyword_analyzer());
}

/// Compounds whole and by parts, lowercased, ASCII-folded.
pub(crate) fn text_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(CompoundTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

fn keyword_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(RawTokenizer::default())
        .filter(LowerCaser)
        .build()
}

/// Splits text into words, and emits a compound of joined words whole before its parts.
#[derive(Clone, Default)]
pub(crate) struct CompoundTokenizer {
    token: Token,
}

impl Tokenizer for CompoundTokenizer {
    type TokenStream<'a> = CompoundTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> CompoundTokenStream<'a> {
        self.token.reset();
        CompoundTokenStream {
            text,
            cursor: 0,
            part_at: 0,
            compound_end: 0,
            position: 0,
            token: &mut self.token,
        }
    }
}

/// The tokens of one text, produced lazily.
pub(crate) struct CompoundTokenStream<'a> {
    text: &'a str,
    /// Where the search for the next compound starts.
    cursor: usize,
    /// The start of the next part of the current compound (past its end: no part left).
    part_at: usize,
    compound_end: usize,
    /// The position the next new token takes.
    position: usize,
    token: &'a mut Token,
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

fn is_joiner(byte: u8) -> bool {
    matches!(byte, b'-' | b'/' | b'.' | b'_')
}

/// The first place at or after `from` where a character is (`word`) or is
/// not (`!word`) a word character; ASCII bytes without decoding.
fn scan(text: &str, from: usize, word: bool) -> usize {
    let bytes = text.as_bytes();
    let mut i = from;
    while i < bytes.len() {
        let b = bytes[i];
        let (is_word, len) = if b.is_ascii() {
            (b.is_ascii_alphanumeric(), 1)
        } else {
            let c = text[i..].chars().next().expect("i is at a char boundary");
            (is_word_char(c), c.len_utf8())
        };
        if is_word == word {
            return i;
        }
        i += len;
    }
    bytes.len()
}

/// The end of the run of word characters starting at `from`.
fn word_end(text: &str, from: usize) -> usize {
    scan(text, from, false)
}

/// Whether a joiner at `at` joins two words (a word character follows it).
fn joins(text: &str, at: usize) -> bool {
    text.as_bytes().get(at).copied().is_some_and(is_joiner)
        && text[at + 1..].chars().next().is_some_and(is_word_char)
}

impl CompoundTokenStream<'_> {
    fn emit(&mut self, from: usize, to: usize, position: usize, length: usize) {
        self.token.text.clear();
        self.token.text.push_str(&self.text[from..to]);
        self.token.offset_from = from;
        self.token.offset_to = to;
        self.token.position = position;
        self.token.position_length = length;
    }

    /// Emits the next part of the current compound.
    fn next_part(&mut self) {
        let start = self.part_at;
        let end = word_end(self.text, start);
        self.emit(start, end, self.position, 1);
        self.position += 1;
        self.part_at = end + 1;
    }

    /// Finds the next word and, if joiners follow it, the whole compound.
    fn next_compound(&mut self) -> bool {
        let start = scan(self.text, self.cursor, true);
        if start == self.text.len() {
            self.cursor = start;
            return false;
        }
        let mut end = word_end(self.text, start);
        let mut parts = 1;
        while joins(self.text, end) {
            end = word_end(self.text, end + 1);
            parts += 1;
        }
        self.cursor = end;
        if parts == 1 {
            self.emit(start, end, self.position, 1);
            self.position += 1;
        } else {
            // The whole compound; its first part comes next, at the same position.
            self.emit(start, end, self.position, parts);
            self.part_at = start;
            self.compound_end = end;
        }
        true
    }
}

impl TokenStream for CompoundTokenStream<'_> {
    fn advance(&mut self) -> bool {
        if self.part_at < self.compound_end {
            self.next_part();
            return true;
        }
        self.next_compound()
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<(String, usize)> {
        let mut analyzer = text_analyzer();
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while let Some(t) = stream.next() {
            out.push((t.text.clone(), t.position));
        }
        out
    }

    fn texts(text: &str) -> Vec<String> {
        tokens(text).into_iter().map(|(t, _)| t).collect()
    }

    #[test]
    fn words_are_lowercased_and_folded() {
        assert_eq!(
            texts("Übergabe, Straße; CAFÉ"),
            ["ubergabe", "strasse", "cafe"]
        );
    }

    #[test]
    fn compounds_come_whole_then_by_parts_at_the_same_position() {
        assert_eq!(
            tokens("risk R-12 in A-1312/B due 2026-Q3."),
            [
                ("risk".into(), 0),
                ("r-12".into(), 1),
                ("r".into(), 1),
                ("12".into(), 2),
                ("in".into(), 3),
                ("a-1312/b".into(), 4),
                ("a".into(), 4),
                ("1312".into(), 5),
                ("b".into(), 6),
                ("due".into(), 7),
                ("2026-q3".into(), 8),
                ("2026".into(), 8),
                ("q3".into(), 9),
            ]
        );
    }

    #[test]
    fn joiners_that_join_nothing_are_separators() {
        assert_eq!(
            texts("end. - next -x y- __z"),
            ["end", "next", "x", "y", "z"]
        );
        assert_eq!(texts("a--b"), ["a", "b"]);
    }

    #[test]
    fn paths_split_on_slashes_dots_underscores_and_spaces() {
        assert_eq!(
            texts("minutes/2026_03 board.docx"),
            [
                "minutes/2026_03",
                "minutes",
                "2026",
                "03",
                "board.docx",
                "board",
                "docx"
            ]
        );
    }

    #[test]
    fn offsets_point_at_the_original_text() {
        let text = "Größe R-12";
        let mut analyzer = text_analyzer();
        let mut stream = analyzer.token_stream(text);
        let mut spans = Vec::new();
        while let Some(t) = stream.next() {
            spans.push(&text[t.offset_from..t.offset_to]);
        }
        assert_eq!(spans, ["Größe", "R-12", "R", "12"]);
    }

    proptest::proptest! {
        #[test]
        fn any_text_tokenizes_into_valid_spans(text in "[a-zA-Z0-9 ./_\\-ÄÖÜäöüß€!?,;:\t\n]{0,40}|\\PC{0,40}") {
            let mut analyzer = text_analyzer();
            let mut stream = analyzer.token_stream(&text);
            let mut last = 0;
            while let Some(t) = stream.next() {
                proptest::prop_assert!(text.is_char_boundary(t.offset_from));
                proptest::prop_assert!(text.is_char_boundary(t.offset_to));
                proptest::prop_assert!(t.offset_from < t.offset_to && t.offset_to <= text.len());
                proptest::prop_assert!(t.position >= last);
                last = t.position;
            }
        }
    }

    #[test]
    fn over_long_tokens_are_dropped() {
        let blob = "x".repeat(200);
        assert_eq!(texts(&format!("a {blob} b")), ["a", "b"]);
    }
}
