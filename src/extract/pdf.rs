//! PDF: text by page through pdf-extract, title and author from the Info
//! dictionary or else the XMP metadata stream.
//!
//! lopdf parses the file once; pdf-extract then reads each page of that
//! document. Both can panic on damaged files: every call is wrapped in
//! `catch_unwind`, and a page that fails costs only that page. Some damage
//! would make pdf-extract recurse without end (a form XObject that draws
//! itself, a page whose `Parent` chain loops) — a stack overflow that no
//! `catch_unwind` contains — so the document is repaired first: such loops
//! are cut, a missing `MediaBox` gets a default, and image data (which
//! pdf-extract would otherwise decompress and parse as a content stream) is
//! dropped.
//!
//! An encrypted PDF that opens with the empty user password (the usual
//! "permissions only" protection) is read, as every viewer does; one that
//! needs a password is [`ExtractError::Encrypted`].

use super::contain;
use std::collections::{BTreeMap, HashSet};

use lopdf::{Dictionary, Document, Object, ObjectId, Stream};
use quick_xml::events::Event;

use super::{Doc, ExtractError, Limits, TextSink};

/// Between the text of two pages.
const PAGE_BREAK: &str = "\n\u{c}\n";

/// Longest `Parent` chain followed from a page.
const MAX_PARENTS: usize = 256;

/// Deepest nesting of form XObjects (forms drawing forms) kept.
const MAX_FORM_DEPTH: usize = 32;

/// Following references to references stops after this many.
const MAX_DEREF: usize = 16;

/// Deepest nesting of arrays and dictionaries accepted. lopdf parses them
/// recursively, about 2 KiB of stack a level in a release build: 8 MiB of
/// stack overflow near 3,500 levels; real files stay below 20.
const MAX_NESTING: usize = 256;

/// A PDF document.
pub fn pdf(data: &[u8], limits: &Limits) -> Result<Doc, ExtractError> {
    if nesting(data) > MAX_NESTING {
        return Err(ExtractError::Failed(format!(
            "pdf: objects nested deeper than {MAX_NESTING}"
        )));
    }
    let loaded = contain(|| Document::load_mem(data))
        .map_err(|panic| ExtractError::Failed(format!("pdf: parser panicked: {panic}")))?;
    let mut doc = match loaded {
        Ok(doc) => doc,
        // lopdf cannot even open some encryption schemes (public-key security, ...).
        Err(_) if find(data, b"/Encrypt").is_some() => return Err(ExtractError::Encrypted),
        Err(e) => return Err(ExtractError::Failed(format!("pdf: {e}"))),
    };
    if doc.is_encrypted() && doc.encryption_state.is_none() {
        return Err(ExtractError::Encrypted);
    }
    let (title, author) = contain(|| metadata(&doc)).unwrap_or_default();
    let pages = contain(|| doc.get_pages()).unwrap_or_default();
    // A repair that panics leaves the document as it was; pages may then fail one by one.
    let _ = contain(|| repair(&mut doc, &pages));
    let text = pages_text(&doc, &pages, limits)?;
    let mut sink = TextSink::new(limits);
    sink.push(&text);
    Ok(sink.finish(title, author))
}

/// The text of all pages, joined by [`PAGE_BREAK`]; empty if no page has
/// text. Fails only if pages failed and none could be read.
fn pages_text(
    doc: &Document,
    pages: &BTreeMap<u32, ObjectId>,
    limits: &Limits,
) -> Result<String, ExtractError> {
    let mut texts = Vec::new();
    let mut length = 0;
    let mut failures = Vec::new();
    for &number in pages.keys() {
        match page_text(doc, number) {
            Ok(text) => {
                length += text.len() + PAGE_BREAK.len();
                texts.push(text);
            }
            Err(reason) => failures.push((number, reason)),
        }
        if length > limits.max_text {
            break;
        }
    }
    if texts.is_empty() {
        if let Some((_, reason)) = failures.into_iter().next() {
            return Err(ExtractError::Failed(format!("pdf: {reason}")));
        }
    } else if let Some((page, reason)) = failures.first() {
        tracing::warn!(failed = failures.len(), page, error = %reason, "pdf: pages skipped");
    }
    if texts.iter().all(|t| t.trim().is_empty()) {
        return Ok(String::new());
    }
    Ok(texts.join(PAGE_BREAK))
}

/// One page through pdf-extract; an error or a panic becomes its reason.
fn page_text(doc: &Document, number: u32) -> Result<String, String> {
    let mut text = String::new();
    let run = || {
        let mut output = pdf_extract::PlainTextOutput::new(&mut text);
        pdf_extract::output_doc_page(doc, &mut output, number)
    };
    match contain(run) {
        Ok(Ok(())) => Ok(text.trim().to_owned()),
        Ok(Err(pdf_extract::OutputError::PdfError(e))) => Err(e.to_string()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(panic) => Err(format!("parser panicked: {panic}")),
    }
}

/// The deepest nesting of `[` and `<<` in the file's objects, outside
/// strings, comments and stream data. Objects inside compressed object
/// streams are not seen; those stay the sandbox's to contain.
fn nesting(data: &[u8]) -> usize {
    let (mut depth, mut deepest, mut i) = (0usize, 0, 0);
    while let Some(&b) = data.get(i) {
        i += 1;
        match b {
            b'[' => depth += 1,
            b'<' if data.get(i) == Some(&b'<') => {
                i += 1;
                depth += 1;
            }
            b']' => depth = depth.saturating_sub(1),
            b'>' if data.get(i) == Some(&b'>') => {
                i += 1;
                depth = depth.saturating_sub(1);
            }
            b'<' => i = skip_past(data, i, b">"),
            b'%' => {
                i = data[i..]
                    .iter()
                    .position(|&c| c == b'\n' || c == b'\r')
                    .map_or(data.len(), |p| i + p)
            }
            b'(' => i = skip_literal_string(data, i),
            b's' if data[i..].starts_with(b"tream") && !data[..i - 1].ends_with(b"end") => {
                i = skip_past(data, i, b"endstream");
            }
            _ => {}
        }
        deepest = deepest.max(depth);
    }
    deepest
}

fn find(data: &[u8], needle: &[u8]) -> Option<usize> {
    data.windows(needle.len()).position(|w| w == needle)
}

/// The index after the next `needle` at or after `from`, or the end.
fn skip_past(data: &[u8], from: usize, needle: &[u8]) -> usize {
    data.get(from..)
        .and_then(|rest| rest.windows(needle.len()).position(|w| w == needle))
        .map_or(data.len(), |p| from + p + needle.len())
}

/// The index after the `)` closing a literal string whose `(` is before `from`.
fn skip_literal_string(data: &[u8], mut i: usize) -> usize {
    let mut open = 1usize;
    while let Some(&b) = data.get(i) {
        i += 1;
        match b {
            b'\\' => i += 1,
            b'(' => open += 1,
            b')' => {
                open -= 1;
                if open == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    data.len()
}

// ---- metadata ----

/// Title and author: the Info dictionary first, XMP (`dc:title`, `dc:creator`) for what it lacks.
fn metadata(doc: &Document) -> (Option<String>, Option<String>) {
    let info = doc
        .trailer
        .get(b"Info")
        .ok()
        .and_then(|o| deref(doc, o))
        .and_then(|o| o.as_dict().ok());
    let field = |key: &[u8]| {
        let value = info?.get(key).ok().and_then(|o| deref(doc, o))?;
        let text = text_string(value.as_str().ok()?);
        let text = text.trim();
        (!text.is_empty()).then(|| text.to_owned())
    };
    let (title, author) = (field(b"Title"), field(b"Author"));
    if title.is_some() && author.is_some() {
        return (title, author);
    }
    let (xmp_title, xmp_author) = xmp_stream(doc).map(|x| xmp_fields(&x)).unwrap_or_default();
    (title.or(xmp_title), author.or(xmp_author))
}

/// Follows references (a bounded number of times).
fn deref<'a>(doc: &'a Document, mut object: &'a Object) -> Option<&'a Object> {
    for _ in 0..MAX_DEREF {
        match object {
            Object::Reference(id) => object = doc.get_object(*id).ok()?,
            other => return Some(other),
        }
    }
    None
}

/// A PDF text string: UTF-16BE or UTF-8 with a BOM, else PDFDocEncoding.
fn text_string(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        return encoding_rs::UTF_16BE
            .decode_without_bom_handling(rest)
            .0
            .into_owned();
    }
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return String::from_utf8_lossy(rest).into_owned();
    }
    bytes.iter().map(|&b| pdf_doc_char(b)).collect()
}

/// PDFDocEncoding: Latin-1, except 0x18–0x1F and 0x80–0xA0.
fn pdf_doc_char(b: u8) -> char {
    const LOW: [char; 8] = ['˘', 'ˇ', 'ˆ', '˙', '˝', '˛', '˚', '˜'];
    const HIGH: [char; 33] = [
        '•', '†', '‡', '…', '—', '–', 'ƒ', '⁄', '‹', '›', '−', '‰', '„', '“', '”', '‘', '’', '‚',
        '™', 'ﬁ', 'ﬂ', 'Ł', 'Œ', 'Š', 'Ÿ', 'Ž', 'ı', 'ł', 'œ', 'š', 'ž', '\u{FFFD}', '€',
    ];
    match b {
        0x18..=0x1F => LOW[usize::from(b - 0x18)],
        0x80..=0xA0 => HIGH[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

/// The catalog's `/Metadata` stream, decompressed.
fn xmp_stream(doc: &Document) -> Option<String> {
    let root = doc
        .trailer
        .get(b"Root")
        .ok()
        .and_then(|o| deref(doc, o))?
        .as_dict()
        .ok()?;
    let stream = deref(doc, root.get(b"Metadata").ok()?)?.as_stream().ok()?;
    let bytes = stream
        .decompressed_content()
        .unwrap_or_else(|_| stream.content.clone());
    Some(super::text::decode(&bytes).into_owned())
}

/// `dc:title` (its first `rdf:li`) and `dc:creator` (all, joined by `, `) from XMP.
fn xmp_fields(xml: &str) -> (Option<String>, Option<String>) {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut field: Option<&'static str> = None;
    let mut text = String::new();
    let mut titles = Vec::new();
    let mut creators = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => match e.name().as_ref() {
                b"dc:title" => field = Some("title"),
                b"dc:creator" => field = Some("creator"),
                _ => text.clear(),
            },
            Ok(Event::Text(t)) if field.is_some() => {
                text.push_str(&t.xml10_content().unwrap_or_default())
            }
            Ok(Event::GeneralRef(r)) if field.is_some() => {
                text.push_str(&super::text::reference_text(&r))
            }
            Ok(Event::End(e)) => {
                let value = std::mem::take(&mut text).trim().to_owned();
                match (field, e.name().as_ref()) {
                    (Some(_), b"dc:title" | b"dc:creator") => field = None,
                    (Some("title"), _) if !value.is_empty() => titles.push(value),
                    (Some(_), _) if !value.is_empty() => creators.push(value),
                    _ => {}
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let author = (!creators.is_empty()).then(|| creators.join(", "));
    (titles.into_iter().next(), author)
}

// ---- repair ----

/// Makes the document safe for pdf-extract (see the module doc).
fn repair(doc: &mut Document, pages: &BTreeMap<u32, ObjectId>) {
    drop_image_data(doc);
    for &page in pages.values() {
        cut_parent_loop(doc, page);
        default_media_box(doc, page);
    }
    let mut seen = HashSet::new();
    let mut cuts = HashSet::new();
    for &page in pages.values() {
        form_loops(doc, page, &mut seen, &mut cuts);
    }
    for id in cuts {
        if let Ok(Object::Stream(stream)) = doc.get_object_mut(id) {
            empty(stream);
        }
    }
}

/// Image XObjects hold no text; pdf-extract would inflate and parse them.
fn drop_image_data(doc: &mut Document) {
    for object in doc.objects.values_mut() {
        if let Object::Stream(stream) = object {
            if stream
                .dict
                .get(b"Subtype")
                .and_then(Object::as_name)
                .is_ok_and(|n| n == b"Image")
            {
                empty(stream);
            }
        }
    }
}

fn empty(stream: &mut Stream) {
    stream.dict.remove(b"Filter");
    stream.dict.remove(b"DecodeParms");
    stream.set_content(Vec::new());
}

/// The `Parent` chain from a page: the dictionaries' ids, up to a loop or [`MAX_PARENTS`].
fn parent_chain(doc: &Document, page: ObjectId) -> (Vec<ObjectId>, bool) {
    let mut chain = vec![page];
    let mut current = page;
    while let Some(parent) = doc
        .get_dictionary(current)
        .ok()
        .and_then(|d| d.get(b"Parent").ok())
        .and_then(|p| p.as_reference().ok())
    {
        if chain.contains(&parent) || chain.len() >= MAX_PARENTS {
            return (chain, true);
        }
        chain.push(parent);
        current = parent;
    }
    (chain, false)
}

/// pdf-extract looks up inherited keys through `Parent` recursively: a loop
/// would never end, so the link that closes it is removed.
fn cut_parent_loop(doc: &mut Document, page: ObjectId) {
    let (chain, looped) = parent_chain(doc, page);
    if let (true, Some(&last)) = (looped, chain.last()) {
        if let Ok(dict) = doc.get_dictionary_mut(last) {
            dict.remove(b"Parent");
        }
    }
}

/// pdf-extract panics on a page without `MediaBox`; give it US Letter.
fn default_media_box(doc: &mut Document, page: ObjectId) {
    let (chain, _) = parent_chain(doc, page);
    let has_box = chain.iter().any(|&id| {
        let value = doc
            .get_dictionary(id)
            .ok()
            .and_then(|d| d.get(b"MediaBox").ok());
        let array = value
            .and_then(|v| deref(doc, v))
            .and_then(|v| v.as_array().ok());
        array.is_some_and(|a| a.len() >= 4 && a.iter().all(|n| n.as_float().is_ok()))
    });
    if !has_box {
        if let Ok(dict) = doc.get_dictionary_mut(page) {
            let letter = [0, 0, 612, 792].map(Object::Integer).to_vec();
            dict.set("MediaBox", Object::Array(letter));
        }
    }
}

/// Walks the form XObjects a page can draw, as pdf-extract would (a form
/// without `Resources` uses its caller's), and records in `cuts` every form
/// that would be entered again while it is being drawn, or deeper than
/// [`MAX_FORM_DEPTH`]. `seen` holds forms already walked with given resources.
fn form_loops(
    doc: &Document,
    page: ObjectId,
    seen: &mut HashSet<(ObjectId, usize)>,
    cuts: &mut HashSet<ObjectId>,
) {
    let Some(resources) = page_resources(doc, page) else {
        return;
    };
    // Each frame: the forms still to visit at that depth; the path is the forms being drawn.
    let mut frames: Vec<Vec<(ObjectId, &Dictionary)>> = vec![xobjects(doc, resources, None)];
    let mut path: Vec<ObjectId> = Vec::new();
    while let Some(frame) = frames.last_mut() {
        let Some((id, caller)) = frame.pop() else {
            frames.pop();
            path.pop();
            continue;
        };
        if path.contains(&id) || path.len() >= MAX_FORM_DEPTH {
            cuts.insert(id);
            continue;
        }
        let Ok(stream) = doc.get_object(id).and_then(Object::as_stream) else {
            continue;
        };
        let own = stream
            .dict
            .get(b"Resources")
            .ok()
            .and_then(|r| deref(doc, r))
            .and_then(|r| r.as_dict().ok());
        let resources = own.unwrap_or(caller);
        if !seen.insert((id, std::ptr::from_ref(resources) as usize)) {
            continue;
        }
        let called = called_names(stream);
        frames.push(xobjects(doc, resources, Some(&called)));
        path.push(id);
    }
}

/// The resources pdf-extract uses for a page (inherited through `Parent`).
fn page_resources(doc: &Document, page: ObjectId) -> Option<&Dictionary> {
    let (chain, _) = parent_chain(doc, page);
    chain.iter().find_map(|&id| {
        let value = doc.get_dictionary(id).ok()?.get(b"Resources").ok()?;
        deref(doc, value)?.as_dict().ok()
    })
}

/// The XObjects named in `resources` (only those in `names`, if given), with the resources.
fn xobjects<'a>(
    doc: &'a Document,
    resources: &'a Dictionary,
    names: Option<&HashSet<Vec<u8>>>,
) -> Vec<(ObjectId, &'a Dictionary)> {
    let Some(dict) = resources
        .get(b"XObject")
        .ok()
        .and_then(|x| deref(doc, x))
        .and_then(|x| x.as_dict().ok())
    else {
        return Vec::new();
    };
    dict.iter()
        .filter(|(name, _)| names.is_none_or(|n| n.contains(name.as_slice())))
        .filter_map(|(_, value)| value.as_reference().ok())
        .map(|id| (id, resources))
        .collect()
}

/// The names a content stream draws with `Do`.
fn called_names(stream: &Stream) -> HashSet<Vec<u8>> {
    let content = stream
        .decompressed_content()
        .unwrap_or_else(|_| stream.content.clone());
    let Ok(content) = lopdf::content::Content::decode(&content) else {
        return HashSet::new();
    };
    content
        .operations
        .into_iter()
        .filter(|op| op.operator == "Do")
        .filter_map(|op| {
            op.operands
                .first()
                .and_then(|o| o.as_name().ok())
                .map(<[u8]>::to_vec)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use lopdf::content::{Content, Operation};
    use lopdf::{StringFormat, dictionary};
    use proptest::prelude::*;

    use super::*;

    /// A one-page document: `Tj` of `text` in Helvetica, with `info` as its Info dictionary.
    fn build(text: &str, info: Option<Dictionary>) -> Document {
        let mut doc = Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        let font_id = doc.add_object(dictionary! {
            "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        });
        let resources_id =
            doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
        let content = Content {
            operations: vec![
                Operation::new("BT", vec![]),
                Operation::new("Tf", vec!["F1".into(), 24.into()]),
                Operation::new("Td", vec![100.into(), 600.into()]),
                Operation::new("Tj", vec![Object::string_literal(text)]),
                Operation::new("ET", vec![]),
            ],
        };
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
        });
        doc.objects.insert(
            pages_id,
            Object::Dictionary(dictionary! {
                "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
                "Resources" => resources_id,
                "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
            }),
        );
        let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
        doc.trailer.set("Root", catalog_id);
        if let Some(info) = info {
            let info_id = doc.add_object(info);
            doc.trailer.set("Info", info_id);
        }
        doc
    }

    fn save(doc: &mut Document) -> Vec<u8> {
        let mut out = Vec::new();
        doc.save_to(&mut out).unwrap();
        out
    }

    fn hello() -> Vec<u8> {
        let utf16: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain("Ada Lovelace ∑".encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        let info = dictionary! {
            "Title" => Object::String(b"Quarterly Report \x84 Q1".to_vec(), StringFormat::Literal),
            "Author" => Object::String(utf16, StringFormat::Hexadecimal),
        };
        save(&mut build("Hello Docvault", Some(info)))
    }

    fn limits() -> Limits {
        Limits::default()
    }

    /// The first page's content stream and resources, for tests that add to them.
    fn first_page(doc: &Document) -> ObjectId {
        *doc.get_pages().get(&1).unwrap()
    }

    #[test]
    fn text_title_and_author() {
        let doc = pdf(&hello(), &limits()).unwrap();
        assert_eq!(doc.text, "Hello Docvault");
        assert_eq!(doc.title.as_deref(), Some("Quarterly Report — Q1"));
        assert_eq!(doc.author.as_deref(), Some("Ada Lovelace ∑"));
        assert!(!doc.truncated);
    }

    #[test]
    fn pages_are_separated_by_form_feeds() {
        let mut doc = build("first page", None);
        let page = first_page(&doc);
        let pages_id = doc
            .get_dictionary(page)
            .unwrap()
            .get(b"Parent")
            .unwrap()
            .as_reference()
            .unwrap();
        let content = Content {
            operations: vec![
                Operation::new("BT", vec![]),
                Operation::new("Tf", vec!["F1".into(), 24.into()]),
                Operation::new("Tj", vec![Object::string_literal("second page")]),
                Operation::new("ET", vec![]),
            ],
        };
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
        let page2 = doc.add_object(
            dictionary! { "Type" => "Page", "Parent" => pages_id, "Contents" => content_id },
        );
        let pages = doc.get_dictionary_mut(pages_id).unwrap();
        pages.set("Kids", vec![page.into(), page2.into()]);
        pages.set("Count", 2);
        let doc = pdf(&save(&mut doc), &limits()).unwrap();
        assert_eq!(doc.text, "first page\n\u{c}\nsecond page");
    }

    #[test]
    fn xmp_metadata_when_info_is_missing() {
        let mut doc = build("x", None);
        let xmp = r#"<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
<dc:title><rdf:Alt><rdf:li xml:lang="x-default">Tom &amp; Jerry</rdf:li><rdf:li xml:lang="de">Tom und Jerry</rdf:li></rdf:Alt></dc:title>
<dc:creator><rdf:Seq><rdf:li>Ada Lovelace</rdf:li><rdf:li>Charles Babbage</rdf:li></rdf:Seq></dc:creator>
</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>"#;
        let meta = doc.add_object(Stream::new(
            dictionary! { "Type" => "Metadata", "Subtype" => "XML" },
            xmp.into(),
        ));
        let root = doc.trailer.get(b"Root").unwrap().as_reference().unwrap();
        doc.get_dictionary_mut(root).unwrap().set("Metadata", meta);
        let doc = pdf(&save(&mut doc), &limits()).unwrap();
        assert_eq!(doc.title.as_deref(), Some("Tom & Jerry"));
        assert_eq!(doc.author.as_deref(), Some("Ada Lovelace, Charles Babbage"));
    }

    #[test]
    fn truncated_pdf_fails() {
        let data = hello();
        let half = &data[..data.len() / 2];
        let result = pdf(half, &limits());
        assert!(
            matches!(&result, Err(ExtractError::Failed(m)) if m.starts_with("pdf: ")),
            "{result:?}"
        );
    }

    #[test]
    fn garbage_after_header_fails() {
        let mut data = b"%PDF-1.4\n".to_vec();
        data.extend((0..4000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        let result = pdf(&data, &limits());
        assert!(
            matches!(&result, Err(ExtractError::Failed(m)) if m.starts_with("pdf: ")),
            "{result:?}"
        );
    }

    #[test]
    fn unreadable_pdf_with_encrypt_entry_is_encrypted() {
        let data = b"%PDF-1.4\ntrailer\n<< /Root 1 0 R /Encrypt 2 0 R >>\n%%EOF\n";
        assert_eq!(pdf(data, &limits()), Err(ExtractError::Encrypted));
    }

    #[test]
    fn page_without_text_is_ok_and_empty() {
        let doc = pdf(&save(&mut build("", None)), &limits()).unwrap();
        assert_eq!(doc.text, "");
        assert_eq!(doc.title, None);
    }

    /// A one-page PDF saying `text`, encrypted with RC4/AES-128 (V2).
    fn encrypted(text: &str, user_password: &str, permissions: lopdf::Permissions) -> Vec<u8> {
        let mut doc = build(text, None);
        doc.trailer.set(
            "ID",
            vec![
                Object::string_literal("0123456789abcdef"),
                Object::string_literal("0123456789abcdef"),
            ],
        );
        let version = lopdf::EncryptionVersion::V2 {
            document: &doc,
            owner_password: "owner",
            user_password,
            key_length: 128,
            permissions,
        };
        let state = lopdf::EncryptionState::try_from(version).unwrap();
        doc.encrypt(&state).unwrap();
        save(&mut doc)
    }

    #[test]
    fn password_protected_pdf_is_encrypted() {
        let data = encrypted("secret text", "user", lopdf::Permissions::all());
        assert_eq!(pdf(&data, &limits()), Err(ExtractError::Encrypted));
    }

    #[test]
    fn empty_user_password_pdf_is_read() {
        let data = encrypted("open text", "", lopdf::Permissions::PRINTABLE);
        assert_eq!(pdf(&data, &limits()).unwrap().text, "open text");
    }

    /// Adds a form XObject `/X0` to the page that draws `/X0` again.
    #[test]
    fn form_that_draws_itself_does_not_overflow() {
        let mut doc = build("page text", None);
        let form = doc.add_object(Stream::new(
            dictionary! { "Type" => "XObject", "Subtype" => "Form" },
            b"/X0 Do".to_vec(),
        ));
        let page = first_page(&doc);
        let pages_id = doc
            .get_dictionary(page)
            .unwrap()
            .get(b"Parent")
            .unwrap()
            .as_reference()
            .unwrap();
        let resources = doc
            .get_dictionary(pages_id)
            .unwrap()
            .get(b"Resources")
            .unwrap()
            .as_reference()
            .unwrap();
        doc.get_dictionary_mut(resources)
            .unwrap()
            .set("XObject", dictionary! { "X0" => form });
        let content_id = doc.get_page_contents(page)[0];
        if let Ok(Object::Stream(s)) = doc.get_object_mut(content_id) {
            let mut content = s.content.clone();
            content.extend_from_slice(b"\n/X0 Do\n");
            s.set_content(content);
        }
        let doc = pdf(&save(&mut doc), &limits()).unwrap();
        assert_eq!(doc.text, "page text");
    }

    #[test]
    fn parent_loop_and_missing_media_box_are_repaired() {
        let mut doc = build("still read", None);
        let page = first_page(&doc);
        let pages_id = doc
            .get_dictionary(page)
            .unwrap()
            .get(b"Parent")
            .unwrap()
            .as_reference()
            .unwrap();
        let pages = doc.get_dictionary_mut(pages_id).unwrap();
        pages.remove(b"MediaBox");
        let resources = pages.remove(b"Resources").unwrap();
        pages.set("Parent", page);
        doc.get_dictionary_mut(page)
            .unwrap()
            .set("Resources", resources);
        let doc = pdf(&save(&mut doc), &limits()).unwrap();
        assert_eq!(doc.text, "still read");
    }

    #[test]
    fn pdf_text_is_bounded() {
        let small = Limits {
            max_text: 5,
            ..Limits::default()
        };
        let doc = pdf(&hello(), &small).unwrap();
        assert_eq!(doc.text, "Hello");
        assert!(doc.truncated);
    }

    #[test]
    fn deeply_nested_arrays_fail_before_parsing() {
        let n = 100_000;
        let mut data = b"%PDF-1.4\n1 0 obj\n".to_vec();
        data.extend(std::iter::repeat_n(b'[', n).chain(std::iter::repeat_n(b']', n)));
        data.extend(b"\nendobj\n");
        let xref = data.len();
        data.extend(format!("xref\n0 2\n0000000000 65535 f \n0000000009 00000 n \ntrailer\n<< /Size 2 /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n").as_bytes());
        assert_eq!(
            pdf(&data, &limits()),
            Err(ExtractError::Failed(
                "pdf: objects nested deeper than 256".into()
            ))
        );
    }

    #[test]
    fn nesting_skips_strings_comments_and_streams() {
        assert_eq!(
            nesting(b"<< /A [1 [2]] /B (([[[) \\) [[) /C <5b5b> >> % [[[[\n"),
            3
        );
        assert_eq!(nesting(b"<< >>\nstream\n[[[[[[\nendstream [ ]"), 1);
        assert!(nesting(&hello()) <= 3);
    }

    #[test]
    fn text_strings_in_pdf_doc_encoding() {
        assert_eq!(text_string(b"caf\xe9 \x93\x94 \xa0"), "café ﬁﬂ €");
        assert_eq!(text_string(b"\xFE\xFF\x00A\xD8"), "A\u{FFFD}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn pdf_never_panics(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let mut input = b"%PDF-1.4\n".to_vec();
            input.extend(data);
            let _ = pdf(&input, &limits());
        }

    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn damaged_pdf_never_panics(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8), cut in any::<prop::sample::Index>()) {
            let mut data = hello();
            for (at, byte) in edits {
                let i = at.index(data.len());
                data[i] = byte;
            }
            let keep = data.len() / 2 + cut.index(data.len() / 2 + 1);
            let _ = pdf(&data[..keep], &limits());
        }
    }
}
