//! XML parts: a streaming walk over one member that hands start tags, end
//! tags and decoded text to a [`Markup`] (the per-format rules), and [`Out`],
//! the text being built, with the separators between cells and paragraphs.
//!
//! No DTD is processed: entity declarations (a billion-laughs bomb) are
//! ignored and a reference to an undeclared entity is dropped; the five
//! predefined entities and character references are decoded.

use std::borrow::Cow;
use std::io::BufRead;

use quick_xml::Reader;
use quick_xml::escape::resolve_xml_entity;
use quick_xml::events::{BytesRef, BytesStart, BytesText, Event};

use crate::extract::{Doc, Limits, TextSink};

/// A lenient reader: text kept as is, end tags not matched against starts.
pub fn reader<R: BufRead>(source: R) -> Reader<R> {
    let mut reader = Reader::from_reader(source);
    let config = reader.config_mut();
    config.trim_text(false);
    config.check_end_names = false;
    config.allow_unmatched_ends = true;
    config.allow_dangling_amp = true;
    reader
}

/// Whether to look inside an element or skip its whole subtree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Into,
    Skip,
}

/// The rules of one kind of part. Elements are known by their local name.
pub trait Markup {
    fn start(&mut self, element: &BytesStart<'_>) -> Flow;
    fn end(&mut self, local: &[u8]);
    fn text(&mut self, text: &str);
    /// Stop reading (the text limit is reached, or what was sought is found).
    fn done(&self) -> bool {
        false
    }
}

/// Feeds the events of `reader` to `markup` until the end or `markup.done()`.
/// An empty element `<a/>` is a start followed by an end.
pub fn walk<R: BufRead>(reader: &mut Reader<R>, markup: &mut impl Markup) -> quick_xml::Result<()> {
    let mut buf = Vec::with_capacity(8 << 10);
    let mut skipping = 0usize;
    while !markup.done() {
        buf.clear();
        match reader.read_event_into(&mut buf)? {
            Event::Start(_) if skipping > 0 => skipping += 1,
            Event::End(_) if skipping > 0 => skipping -= 1,
            _ if skipping > 0 => {}
            // A guard that fails falls through to `_`: each start is seen once.
            Event::Start(e) if markup.start(&e) == Flow::Skip => skipping = 1,
            Event::Empty(e) if markup.start(&e) == Flow::Into => {
                markup.end(e.local_name().as_ref())
            }
            Event::End(e) => markup.end(e.local_name().as_ref()),
            Event::Text(t) => markup.text(&text(&t)),
            Event::CData(t) => markup.text(&String::from_utf8_lossy(&t)),
            Event::GeneralRef(r) => {
                if let Some(s) = reference(&r) {
                    markup.text(&s);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(())
}

fn text<'a>(t: &'a BytesText<'_>) -> Cow<'a, str> {
    match t.xml10_content() {
        Ok(s) => s,
        Err(_) => String::from_utf8_lossy(t),
    }
}

/// A character reference or a predefined entity; `None` for anything else
/// (a DTD-declared entity is not expanded).
fn reference(r: &BytesRef<'_>) -> Option<Cow<'static, str>> {
    if r.is_char_ref() {
        let c = r.resolve_char_ref().ok()??;
        return Some(Cow::Owned(c.to_string()));
    }
    resolve_xml_entity(std::str::from_utf8(r).ok()?).map(Cow::Borrowed)
}

/// The value of the first attribute named `local` (any prefix).
pub fn attr(e: &BytesStart<'_>, local: &[u8]) -> Option<String> {
    attr_where(e, |key| key.local_name().as_ref() == local)
}

/// The value of the first attribute named `local` that has a prefix, such as
/// `r:id` (as opposed to a plain `id` on the same element).
pub fn prefixed_attr(e: &BytesStart<'_>, local: &[u8]) -> Option<String> {
    attr_where(e, |key| {
        key.prefix().is_some() && key.local_name().as_ref() == local
    })
}

fn attr_where(
    e: &BytesStart<'_>,
    wanted: impl Fn(&quick_xml::name::QName<'_>) -> bool,
) -> Option<String> {
    let a = e
        .attributes()
        .with_checks(false)
        .flatten()
        .find(|a| wanted(&a.key))?;
    Some(match a.decode_and_unescape_value(e.decoder()) {
        Ok(v) => v.into_owned(),
        Err(_) => String::from_utf8_lossy(&a.value).into_owned(),
    })
}

/// A pending separator; the strongest one asked for wins, and it is only
/// written when more text follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Gap {
    None,
    Space,
    Tab,
}

/// The document text under construction, within the text limit.
#[derive(Debug)]
pub struct Out {
    sink: TextSink,
    gap: Gap,
    line_start: bool,
}

impl Out {
    pub fn new(limits: &Limits) -> Out {
        Out {
            sink: TextSink::new(limits),
            gap: Gap::None,
            line_start: true,
        }
    }

    /// Appends `s` after the pending separator (a space is dropped at the start of a line).
    pub fn text(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        match self.gap {
            Gap::Space if !self.line_start => self.sink.push(" "),
            Gap::Tab => self.sink.push("\t"),
            _ => true,
        };
        self.gap = Gap::None;
        self.sink.push(s);
        self.line_start = s.ends_with('\n');
    }

    /// Appends `s` with runs of XML whitespace collapsed to one space (ODF text).
    pub fn words(&mut self, s: &str) {
        let mut words = s.split([' ', '\t', '\n', '\r']);
        if let Some(first) = words.next() {
            self.text(first);
        }
        for word in words {
            self.gap(Gap::Space);
            self.text(word);
        }
    }

    pub fn gap(&mut self, gap: Gap) {
        self.gap = self.gap.max(gap);
    }

    /// Ends the line (never two in a row; pending separators are dropped).
    pub fn newline(&mut self) {
        self.gap = Gap::None;
        self.sink.newline();
        self.line_start = true;
    }

    pub fn is_full(&self) -> bool {
        self.sink.is_full()
    }

    pub fn finish(self, title: Option<String>, author: Option<String>) -> Doc {
        self.sink.finish(title, author)
    }
}

/// Document properties: `dc:title`, `dc:creator` and ODF's
/// `meta:initial-creator` (preferred as the author, being the first one).
#[derive(Debug, Default)]
pub struct Properties {
    field: Option<usize>,
    values: [String; 3],
}

impl Properties {
    /// Longest title or author kept, in bytes.
    const MAX: usize = 4096;

    pub fn title_author(self) -> (Option<String>, Option<String>) {
        let [title, creator, initial] = self.values;
        let some = |s: String| (!s.trim().is_empty()).then_some(s);
        (some(title), some(initial).or_else(|| some(creator)))
    }
}

impl Markup for Properties {
    fn start(&mut self, e: &BytesStart<'_>) -> Flow {
        self.field = match e.local_name().as_ref() {
            b"title" => Some(0),
            b"creator" => Some(1),
            b"initial-creator" => Some(2),
            _ => None,
        };
        Flow::Into
    }

    fn end(&mut self, _local: &[u8]) {
        self.field = None;
    }

    fn text(&mut self, text: &str) {
        let Some(value) = self.field.and_then(|i| self.values.get_mut(i)) else {
            return;
        };
        for c in text.chars() {
            if value.len() + c.len_utf8() > Self::MAX {
                return;
            }
            value.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects all text, for testing the walk.
    struct All(String);

    impl Markup for All {
        fn start(&mut self, _: &BytesStart<'_>) -> Flow {
            Flow::Into
        }
        fn end(&mut self, _: &[u8]) {}
        fn text(&mut self, text: &str) {
            self.0.push_str(text);
        }
    }

    fn all_text(xml: &str) -> String {
        let mut all = All(String::new());
        walk(&mut reader(xml.as_bytes()), &mut all).unwrap();
        all.0
    }

    #[test]
    fn predefined_entities_and_char_refs_are_decoded() {
        assert_eq!(
            all_text("<a>x &amp; &lt;y&gt; &quot;&apos; &#228;&#x20AC;</a>"),
            "x & <y> \"' ä€"
        );
    }

    #[test]
    fn declared_entities_are_not_expanded() {
        let xml = r#"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "boom"><!ENTITY f "&e;&e;">]><a>x&f;y</a>"#;
        assert_eq!(all_text(xml), "xy");
    }

    #[test]
    fn separators_are_pending_until_text_follows() {
        let mut out = Out::new(&Limits::default());
        out.gap(Gap::Space);
        out.text("a");
        out.gap(Gap::Space);
        out.gap(Gap::Tab);
        out.text("b");
        out.gap(Gap::Tab);
        out.newline();
        out.words("  c \n d ");
        out.newline();
        assert_eq!(out.finish(None, None).text, "a\tb\nc d\n");
    }
}
