//! Text formats: plain text, Markdown, CSV/TSV, HTML, JSON and XML.
//!
//! Bytes become a `str` first (`decode`: a BOM names UTF-8 or UTF-16,
//! otherwise valid UTF-8 is taken as is and anything else is read as
//! Windows-1252), then each format is flattened to searchable text: CSV cells
//! separated by tabs, HTML rendered without decorations, JSON values one a
//! line, XML text nodes without DTD entity expansion.

use std::borrow::Cow;

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252};
use quick_xml::events::Event;

use super::{Doc, ExtractError, Limits, TextSink};

/// Width given to html2text: wide enough that it never wraps a paragraph.
const HTML_WIDTH: usize = 10_000;

/// Plain text in UTF-8, UTF-16 (with BOM) or Windows-1252.
pub fn plain(data: &[u8], limits: &Limits) -> Result<Doc, ExtractError> {
    let mut sink = TextSink::new(limits);
    sink.push(&decode(prefix(data, limits)));
    Ok(sink.finish(None, None))
}

/// Markdown as it is; the title is the first ATX (`# T`) or setext heading.
pub fn markdown(data: &[u8], limits: &Limits) -> Result<Doc, ExtractError> {
    let text = decode(prefix(data, limits));
    let title = markdown_title(&text);
    let mut sink = TextSink::new(limits);
    sink.push(&text);
    Ok(sink.finish(title, None))
}

/// CSV (`sep` = `,`) or TSV (`sep` = tab): cells joined by tabs, rows by newlines.
pub fn delimited(data: &[u8], sep: u8, limits: &Limits) -> Result<Doc, ExtractError> {
    let text = decode(data);
    let mut sink = TextSink::new(limits);
    let mut row = String::new();
    let mut cells = Cells::new(&text, char::from(sep));
    while let Some((cell, row_ends)) = cells.next_cell() {
        let cell = cell.trim();
        if !cell.is_empty() {
            if !row.is_empty() {
                row.push('\t');
            }
            row.push_str(cell);
        }
        if row_ends && !row.is_empty() {
            row.push('\n');
            let more = sink.push(&row);
            row.clear();
            if !more {
                break;
            }
        }
    }
    sink.push(&row);
    Ok(sink.finish(None, None))
}

/// HTML rendered as plain text; the title is `<title>`, else the first
/// `<h1>`; the author is `<meta name="author" content="…">`.
pub fn html(data: &[u8], limits: &Limits) -> Result<Doc, ExtractError> {
    let text = decode_markup(data, b"charset=");
    let title = element_text(&text, "title").or_else(|| element_text(&text, "h1"));
    let author = meta_author(&text);
    let mut sink = TextSink::new(limits);
    html_into(&text, &mut sink)?;
    Ok(sink.finish(title, author))
}

/// Renders HTML into `sink`; html2text's panics become `Failed`.
pub(super) fn html_into(html: &str, sink: &mut TextSink) -> Result<(), ExtractError> {
    sink.push(&html_to_text(html)?);
    Ok(())
}

fn html_to_text(html: &str) -> Result<String, ExtractError> {
    let render = || {
        html2text::config::plain_no_decorate()
            .raw_mode(true)
            .string_from_read(html.as_bytes(), HTML_WIDTH)
    };
    match super::contain(render) {
        Ok(Ok(text)) => Ok(text),
        Ok(Err(e)) => Err(ExtractError::Failed(format!("html: {e}"))),
        Err(panic) => Err(ExtractError::Failed(format!(
            "html: parser panicked: {panic}"
        ))),
    }
}

/// JSON: every string and number value, one a line, in document order of a
/// depth-first walk (object keys in sorted order).
pub fn json(data: &[u8], limits: &Limits) -> Result<Doc, ExtractError> {
    let text = decode(data);
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| ExtractError::Failed(format!("json: {e}")))?;
    let mut sink = TextSink::new(limits);
    let mut stack = vec![&value];
    while let Some(value) = stack.pop() {
        let more = match value {
            serde_json::Value::String(s) => sink.push(s) && sink.newline(),
            serde_json::Value::Number(n) => sink.push(&n.to_string()) && sink.newline(),
            serde_json::Value::Array(items) => {
                stack.extend(items.iter().rev());
                true
            }
            serde_json::Value::Object(map) => {
                stack.extend(map.values().rev());
                true
            }
            serde_json::Value::Null | serde_json::Value::Bool(_) => true,
        };
        if !more {
            break;
        }
    }
    Ok(sink.finish(None, None))
}

/// XML: the text of all text and CDATA nodes, a line per element. Entities
/// other than the five predefined ones and character references are dropped,
/// never expanded, so a DTD cannot blow up. Malformed XML keeps what was read
/// before the error; if that is nothing, it is `Failed`.
pub fn xml(data: &[u8], limits: &Limits) -> Result<Doc, ExtractError> {
    let text = decode_markup(data, b"encoding=");
    let mut reader = quick_xml::Reader::from_str(&text);
    reader.config_mut().check_end_names = false;
    let mut sink = TextSink::new(limits);
    let mut read_any = false;
    loop {
        let piece = match reader.read_event() {
            Ok(Event::Eof) => break,
            Ok(Event::Text(t)) => t.xml10_content().unwrap_or_default(),
            Ok(Event::CData(t)) => t.decode().unwrap_or_default(),
            Ok(Event::GeneralRef(r)) => {
                let c = reference_text(&r);
                // A reference is text even if it is a space (`&#32;`).
                read_any |= !c.is_empty();
                if !sink.push(&c) {
                    break;
                }
                continue;
            }
            Ok(Event::End(_) | Event::Empty(_)) => Cow::Borrowed("\n"),
            Ok(_) => continue,
            Err(e) if !read_any => {
                return Err(ExtractError::Failed(format!(
                    "xml: {e} at byte {}",
                    reader.error_position()
                )));
            }
            Err(_) => break,
        };
        let ok = match &*piece {
            "\n" => sink.newline(),
            p if p.trim().is_empty() => true,
            p => {
                read_any = true;
                sink.push(p)
            }
        };
        if !ok {
            break;
        }
    }
    Ok(sink.finish(None, None))
}

/// `&#228;`, `&#xE4;` or one of the five predefined entities; others are dropped.
pub(super) fn reference_text(reference: &quick_xml::events::BytesRef) -> String {
    match reference.resolve_char_ref() {
        Ok(Some(c)) => c.to_string(),
        Ok(None) => predefined_entity(reference).to_owned(),
        Err(_) => String::new(),
    }
}

fn predefined_entity(name: &[u8]) -> &'static str {
    match name {
        b"amp" => "&",
        b"lt" => "<",
        b"gt" => ">",
        b"quot" => "\"",
        b"apos" => "'",
        _ => "",
    }
}

/// Bytes to text: a BOM (UTF-8, UTF-16LE/BE) decides; then valid UTF-8 is
/// used as is; anything else is Windows-1252, which maps every byte.
pub(crate) fn decode(data: &[u8]) -> Cow<'_, str> {
    if let Some(rest) = data.strip_prefix(b"\xEF\xBB\xBF") {
        return String::from_utf8_lossy(rest);
    }
    if let Some(rest) = data.strip_prefix(b"\xFF\xFE") {
        return UTF_16LE.decode_without_bom_handling(rest).0;
    }
    if let Some(rest) = data.strip_prefix(b"\xFE\xFF") {
        return UTF_16BE.decode_without_bom_handling(rest).0;
    }
    match std::str::from_utf8(data) {
        Ok(s) => Cow::Borrowed(s),
        // Cut in the middle of a character at the very end: still UTF-8.
        Err(e) if e.error_len().is_none() => String::from_utf8_lossy(data),
        Err(_) => WINDOWS_1252.decode_without_bom_handling(data).0,
    }
}

/// Like [`decode`], but text that is not UTF-8 is read in the encoding that
/// its head declares (`charset=` in HTML, `encoding=` in XML), if known.
fn decode_markup<'a>(data: &'a [u8], key: &[u8]) -> Cow<'a, str> {
    let bom = data.starts_with(b"\xEF\xBB\xBF")
        || data.starts_with(b"\xFF\xFE")
        || data.starts_with(b"\xFE\xFF");
    if bom || std::str::from_utf8(data).is_ok() {
        return decode(data);
    }
    match declared_encoding(&data[..data.len().min(2048)], key) {
        Some(enc) if enc != UTF_8 && enc != UTF_16LE && enc != UTF_16BE => {
            enc.decode_without_bom_handling(data).0
        }
        _ => decode(data),
    }
}

/// The encoding named after `key` (`charset=utf-8`, `encoding="latin1"`).
fn declared_encoding(head: &[u8], key: &[u8]) -> Option<&'static Encoding> {
    let at = find_ci(head, key, 0)? + key.len();
    let rest = head.get(at..)?;
    let rest = rest
        .strip_prefix(b"\"")
        .or_else(|| rest.strip_prefix(b"'"))
        .unwrap_or(rest);
    let end = rest
        .iter()
        .position(|b| !(b.is_ascii_alphanumeric() || b"-_:.".contains(b)))?;
    Encoding::for_label(rest.get(..end)?)
}

/// The input that can contribute to `max_text` bytes of text: every input
/// byte (or UTF-16 unit) gives at least one byte of UTF-8, so if input is
/// left out the text overflows the sink, which then reports `truncated`.
fn prefix<'a>(data: &'a [u8], limits: &Limits) -> &'a [u8] {
    let keep = limits.max_text.saturating_mul(2).saturating_add(4);
    &data[..data.len().min(keep)]
}

/// The first heading of a Markdown text: `# Title` (ATX) or a line
/// underlined with `===` or `---` (setext). Fenced code and front matter are skipped.
fn markdown_title(text: &str) -> Option<String> {
    let mut lines = text.lines().peekable();
    if lines.peek().is_some_and(|l| l.trim_end() == "---") {
        lines.next();
        for line in lines.by_ref() {
            if matches!(line.trim_end(), "---" | "...") {
                break;
            }
        }
    }
    let mut fence: Option<&str> = None;
    let mut previous: Option<&str> = None;
    for line in lines {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if let Some(f) = fence {
            if trimmed.starts_with(f) {
                fence = None;
            }
            continue;
        }
        if indent < 4 && (trimmed.starts_with("```") || trimmed.starts_with("~~~")) {
            fence = Some(&trimmed[..3]);
            previous = None;
            continue;
        }
        if indent < 4 {
            if let Some(title) = atx_heading(trimmed) {
                return Some(title);
            }
            if let Some(p) = previous.filter(|_| is_setext_underline(trimmed)) {
                return Some(p.trim().to_owned());
            }
        }
        previous = (!trimmed.is_empty() && indent < 4).then_some(line);
    }
    None
}

fn atx_heading(line: &str) -> Option<String> {
    let hashes = line.bytes().take_while(|&b| b == b'#').count();
    if !(1..=6).contains(&hashes) {
        return None;
    }
    let rest = &line[hashes..];
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return None;
    }
    let title = rest.trim().trim_end_matches('#').trim_end();
    (!title.is_empty()).then(|| title.to_owned())
}

fn is_setext_underline(line: &str) -> bool {
    let line = line.trim_end();
    !line.is_empty() && (line.bytes().all(|b| b == b'=') || line.bytes().all(|b| b == b'-'))
}

/// A quote-aware splitter for CSV/TSV: `"a, b"` is one cell, `""` inside
/// quotes is a quote, and a newline inside quotes becomes a space.
struct Cells<'a> {
    rest: std::str::Chars<'a>,
    sep: char,
    done: bool,
}

impl<'a> Cells<'a> {
    fn new(text: &'a str, sep: char) -> Self {
        Cells {
            rest: text.chars(),
            sep,
            done: text.is_empty(),
        }
    }

    /// The next cell and whether it ends its row.
    fn next_cell(&mut self) -> Option<(String, bool)> {
        if self.done {
            return None;
        }
        let mut cell = String::new();
        let mut quoted = false;
        let mut at_start = true;
        while let Some(c) = self.rest.next() {
            if quoted {
                match c {
                    '"' if self.rest.clone().next() == Some('"') => {
                        self.rest.next();
                        cell.push('"');
                    }
                    '"' => quoted = false,
                    '\r' | '\n' => cell.push(' '),
                    c => cell.push(c),
                }
                continue;
            }
            match c {
                '"' if at_start => {
                    quoted = true;
                    at_start = false;
                }
                c if c == self.sep => return Some((cell, false)),
                '\n' => return Some((cell, true)),
                '\r' => {}
                c => {
                    at_start &= c.is_whitespace();
                    cell.push(c);
                }
            }
        }
        self.done = true;
        Some((cell, true))
    }
}

/// The text of the first `<tag>` element of an HTML text, entities decoded.
fn element_text(html: &str, tag: &str) -> Option<String> {
    let bytes = html.as_bytes();
    let open = format!("<{tag}");
    let close = format!("</{tag}");
    let mut from = 0;
    let start = loop {
        let at = find_ci(bytes, open.as_bytes(), from)?;
        let after = at + open.len();
        match bytes.get(after) {
            Some(b'>' | b' ' | b'\t' | b'\n' | b'\r' | b'/') => break after,
            _ => from = after,
        }
    };
    let content_start = start + bytes.get(start..)?.iter().position(|&b| b == b'>')? + 1;
    let content_end = find_ci(bytes, close.as_bytes(), content_start).unwrap_or(bytes.len());
    let inner = html.get(content_start..content_end)?;
    let text = html_to_text(inner).ok()?;
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    (!text.is_empty()).then_some(text)
}

/// The `content` of the first `<meta name="author">`, entities decoded.
fn meta_author(html: &str) -> Option<String> {
    let bytes = html.as_bytes();
    let mut from = 0;
    while let Some(at) = find_ci(bytes, b"<meta", from) {
        let end = bytes
            .get(at..)?
            .iter()
            .position(|&b| b == b'>')
            .map_or(bytes.len(), |p| at + p);
        let tag = html.get(at..end)?;
        from = end;
        if attribute(tag, "name").is_some_and(|n| n.eq_ignore_ascii_case("author")) {
            let content = html_to_text(&attribute(tag, "content")?).ok()?;
            let content = content.split_whitespace().collect::<Vec<_>>().join(" ");
            return (!content.is_empty()).then_some(content);
        }
    }
    None
}

/// The value of attribute `name` in the text of a tag (`<meta name="x" …`).
fn attribute(tag: &str, name: &str) -> Option<String> {
    let bytes = tag.as_bytes();
    let mut from = 0;
    loop {
        let at = find_ci(bytes, name.as_bytes(), from)?;
        from = at + name.len();
        let before = at.checked_sub(1).and_then(|i| bytes.get(i));
        let rest = tag.get(from..)?.trim_start();
        let (Some(b' ' | b'\t' | b'\n' | b'\r'), Some(value)) = (before, rest.strip_prefix('='))
        else {
            continue;
        };
        let value = value.trim_start();
        let quote = value.chars().next().filter(|&q| q == '"' || q == '\'');
        return Some(match quote {
            Some(q) => value[1..].split(q).next().unwrap_or_default().to_owned(),
            None => value
                .split(|c: char| c.is_whitespace() || c == '/')
                .next()
                .unwrap_or_default()
                .to_owned(),
        });
    }
}

/// ASCII-case-insensitive search of `needle` in `hay` from `from`.
fn find_ci(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let hay = hay.get(from..)?;
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
        .map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn limits() -> Limits {
        Limits::default()
    }

    fn ok(doc: Result<Doc, ExtractError>) -> Doc {
        doc.expect("extraction should succeed")
    }

    #[test]
    fn utf8_bom_is_stripped() {
        assert_eq!(
            ok(plain(b"\xEF\xBB\xBF\xC3\x9Cbergabe", &limits())).text,
            "Übergabe"
        );
    }

    #[test]
    fn utf16_with_bom_both_byte_orders() {
        let le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("Übergabe".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let be: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain("Übergabe".encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        assert_eq!(ok(plain(&le, &limits())).text, "Übergabe");
        assert_eq!(ok(plain(&be, &limits())).text, "Übergabe");
    }

    #[test]
    fn invalid_utf8_is_read_as_windows_1252() {
        assert_eq!(
            ok(plain(b"\xDCbergabe \x80 5", &limits())).text,
            "Übergabe € 5"
        );
    }

    #[test]
    fn plain_text_is_truncated_at_the_limit() {
        let small = Limits {
            max_text: 10,
            ..Limits::default()
        };
        let doc = ok(plain("ä".repeat(1000).as_bytes(), &small));
        assert_eq!(doc.text, "ä".repeat(5));
        assert!(doc.truncated);
        let doc = ok(plain(&[b'a'; 10], &small));
        assert!(!doc.truncated);
    }

    #[test]
    fn markdown_title_from_atx_heading() {
        let md = "Some intro\n\n```sh\n# not a title\n```\n\n## Release Notes ##\n\ntext\n";
        let doc = ok(markdown(md.as_bytes(), &limits()));
        assert_eq!(doc.title.as_deref(), Some("Release Notes"));
        assert_eq!(doc.text, md);
    }

    #[test]
    fn markdown_title_from_setext_heading() {
        let md = "---\ntitle: front\n---\n\nProject Plan\n============\n\n# Later\n";
        assert_eq!(
            ok(markdown(md.as_bytes(), &limits())).title.as_deref(),
            Some("Project Plan")
        );
        let md = "Minutes of the meeting\n---\n";
        assert_eq!(
            ok(markdown(md.as_bytes(), &limits())).title.as_deref(),
            Some("Minutes of the meeting")
        );
        assert_eq!(ok(markdown(b"no heading\n\n---\n", &limits())).title, None);
        assert_eq!(
            ok(markdown(b"#hashtag is no heading\n", &limits())).title,
            None
        );
    }

    #[test]
    fn csv_with_quoted_commas_and_newlines() {
        let csv = "name,note,amount\r\n\"Lovelace, Ada\",\"first line\nsecond \"\"quoted\"\"\",12\r\n\r\nBabbage,,3\n";
        let doc = ok(delimited(csv.as_bytes(), b',', &limits()));
        assert_eq!(
            doc.text,
            "name\tnote\tamount\nLovelace, Ada\tfirst line second \"quoted\"\t12\nBabbage\t3\n"
        );
    }

    #[test]
    fn tsv_cells() {
        let doc = ok(delimited(b"a\tb, c\n1\t2", b'\t', &limits()));
        assert_eq!(doc.text, "a\tb, c\n1\t2\n");
    }

    #[test]
    fn csv_stops_at_the_limit() {
        let small = Limits {
            max_text: 8,
            ..Limits::default()
        };
        let doc = ok(delimited("abc,def\n".repeat(100).as_bytes(), b',', &small));
        assert!(doc.truncated);
        assert_eq!(doc.text, "abc\tdef\n");
    }

    #[test]
    fn html_title_entities_and_no_script_or_style() {
        let html = "<!DOCTYPE html><html><head><title>Tom &amp; Jerry</title>\
            <style>p { color: red }</style><script>var secret = 1;</script></head>\
            <body><h1>Heading</h1><p>Caf&eacute; &lt;menu&gt; &#8364;5</p>\
            <table><tr><td>cell one</td><td>cell two</td></tr></table></body></html>";
        let doc = ok(super::html(html.as_bytes(), &limits()));
        assert_eq!(doc.title.as_deref(), Some("Tom & Jerry"));
        assert!(doc.text.contains("Café <menu> €5"), "{}", doc.text);
        assert!(
            doc.text.contains("cell one") && doc.text.contains("cell two"),
            "{}",
            doc.text
        );
        assert!(
            !doc.text.contains("secret") && !doc.text.contains("color"),
            "{}",
            doc.text
        );
    }

    #[test]
    fn html_author_from_meta() {
        let html = b"<head><META content=\"x\" name=description><meta NAME='Author' content='Beatrix &amp; Co'></head>";
        assert_eq!(
            ok(super::html(html, &limits())).author.as_deref(),
            Some("Beatrix & Co")
        );
    }

    #[test]
    fn html_title_falls_back_to_first_h1() {
        let doc = ok(super::html(
            b"<body><H1 class=x>Annual <b>Report</b></H1><h1>Other</h1></body>",
            &limits(),
        ));
        assert_eq!(doc.title.as_deref(), Some("Annual Report"));
    }

    #[test]
    fn html_declared_charset_is_used_for_non_utf8() {
        let doc = ok(super::html(
            b"<meta charset=\"windows-1251\"><p>\xcf\xf0\xe8\xe2\xe5\xf2</p>",
            &limits(),
        ));
        assert!(doc.text.contains("Привет"), "{}", doc.text);
    }

    // html5ever is quadratic in nesting depth (20,000 levels take 2.5 s in a
    // release build); deeper input is left to the sandbox's timeout.
    #[test]
    fn deeply_nested_html_does_not_overflow() {
        let html = "<div>".repeat(3_000) + "deep" + &"</div>".repeat(3_000);
        let doc = super::html(html.as_bytes(), &limits());
        if let Ok(doc) = doc {
            assert!(doc.text.contains("deep"));
        }
    }

    #[test]
    fn json_strings_and_numbers() {
        let doc = ok(json(
            br#"{"b": [1, "two", {"c": "three"}], "a": "one", "n": null, "t": true}"#,
            &limits(),
        ));
        assert_eq!(doc.text, "one\n1\ntwo\nthree\n");
    }

    #[test]
    fn invalid_json_says_why() {
        assert_eq!(
            json(b"{\"a\": }", &limits()),
            Err(ExtractError::Failed(
                "json: expected value at line 1 column 7".into()
            ))
        );
    }

    #[test]
    fn json_with_bom_and_deep_nesting() {
        assert_eq!(ok(json(b"\xEF\xBB\xBF[\"x\"]", &limits())).text, "x\n");
        let deep = "[".repeat(100_000);
        assert!(matches!(
            json(deep.as_bytes(), &limits()),
            Err(ExtractError::Failed(_))
        ));
    }

    #[test]
    fn xml_text_with_entities_and_cdata() {
        let xml = "<?xml version=\"1.0\"?><doc><p>Tom &amp; Jerry &#228;&#x20AC;</p><q><![CDATA[<raw> & co]]></q><e/></doc>";
        let doc = ok(super::xml(xml.as_bytes(), &limits()));
        assert_eq!(doc.text, "Tom & Jerry ä€\n<raw> & co\n");
    }

    #[test]
    fn xml_billion_laughs_is_not_expanded() {
        let mut xml =
            String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n");
        for i in 1..10 {
            let prev = if i == 1 {
                "lol".to_owned()
            } else {
                format!("lol{}", i - 1)
            };
            xml += &format!("<!ENTITY lol{i} \"{}\">\n", format!("&{prev};").repeat(10));
        }
        xml += "]>\n<lolz>before &lol9; after</lolz>";
        let doc = ok(super::xml(xml.as_bytes(), &limits()));
        assert_eq!(doc.text, "before  after\n");
    }

    #[test]
    fn malformed_xml_keeps_what_was_read() {
        let doc = ok(super::xml(b"<a><b>kept text</b><c attr=\"", &limits()));
        assert_eq!(doc.text, "kept text\n");
        let err = super::xml(b"<a attr=\"x></a>", &limits()).unwrap_err();
        assert!(
            matches!(&err, ExtractError::Failed(m) if m.starts_with("xml: ")),
            "{err:?}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn text_formats_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let small = Limits { max_text: 300, ..Limits::default() };
            for l in [limits(), small] {
                let _ = plain(&data, &l);
                let _ = markdown(&data, &l);
                let _ = delimited(&data, b',', &l);
                let _ = delimited(&data, b'\t', &l);
                let _ = super::html(&data, &l);
                let _ = json(&data, &l);
                let _ = super::xml(&data, &l);
            }
        }

        #[test]
        fn markup_like_input_never_panics(data in "[<>/a-z &;#x0-9\"'=!\\[\\]{}:,?\n-]{0,400}") {
            let _ = super::html(data.as_bytes(), &limits());
            let _ = super::xml(data.as_bytes(), &limits());
            let _ = json(data.as_bytes(), &limits());
            let _ = markdown(data.as_bytes(), &limits());
            let _ = delimited(data.as_bytes(), b',', &limits());
        }

        #[test]
        fn text_never_exceeds_the_limit(data in proptest::collection::vec(any::<u8>(), 0..2048), max in 0usize..200) {
            let l = Limits { max_text: max, ..Limits::default() };
            for doc in [plain(&data, &l), markdown(&data, &l), delimited(&data, b',', &l), super::html(&data, &l)].into_iter().flatten() {
                prop_assert!(doc.text.len() <= max);
            }
        }
    }
}
