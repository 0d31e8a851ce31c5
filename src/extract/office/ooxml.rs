//! Office Open XML: Word and PowerPoint text. Both keep their text in `t`
//! elements (`w:t`, `a:t`) inside paragraphs (`p`) and table cells (`tc`), so
//! one [`OoxmlText`] reads both; parts are found through relationships
//! (`_rels/*.rels`), as a consumer of OPC must: a slide's place in the deck
//! is its place in `sldIdLst`, not its file name.

use std::collections::{HashMap, HashSet};

use quick_xml::events::BytesStart;

use super::package::Package;
use super::xml::{Flow, Gap, Markup, Out, attr, prefixed_attr};
use crate::extract::{Doc, ExtractError, Limits};

const CORE: &str = "docProps/core.xml";

/// Word: the body, then headers, footers, footnotes, endnotes and comments.
pub fn docx(data: &[u8], limits: &Limits) -> Result<Doc, ExtractError> {
    let mut pkg = Package::open(data, limits, "docx")?;
    let (title, author) = pkg.properties(CORE)?;
    let main = main_part(&mut pkg, "word/document.xml")?;
    let mut out = Out::new(limits);
    if !pkg.walk(&main, &mut OoxmlText::new(&mut out))? {
        return Err(ExtractError::Failed(format!("docx: no {main}")));
    }
    for part in docx_side_parts(&pkg, parent(&main)) {
        if out.is_full() {
            break;
        }
        out.newline();
        pkg.walk(&part, &mut OoxmlText::new(&mut out))?;
    }
    Ok(out.finish(title, author))
}

/// PowerPoint: each slide's text, then its speaker notes, in deck order.
pub fn pptx(data: &[u8], limits: &Limits) -> Result<Doc, ExtractError> {
    let mut pkg = Package::open(data, limits, "pptx")?;
    let (title, author) = pkg.properties(CORE)?;
    let mut out = Out::new(limits);
    for slide in slides(&mut pkg)? {
        if out.is_full() {
            break;
        }
        pkg.walk(&slide, &mut OoxmlText::new(&mut out))?;
        out.newline();
        if let Some(notes) = related(&mut pkg, &slide, "/notesSlide")? {
            pkg.walk(&notes, &mut OoxmlText::new(&mut out))?;
            out.newline();
        }
    }
    Ok(out.finish(title, author))
}

/// The package's main part (the `officeDocument` relationship), else `fallback`.
fn main_part(pkg: &mut Package<'_>, fallback: &str) -> Result<String, ExtractError> {
    let rels = relationships(pkg, "_rels/.rels")?;
    let main = rels
        .iter()
        .find(|r| r.kind.ends_with("/officeDocument"))
        .map(|r| resolve("", &r.target));
    Ok(main
        .filter(|m| pkg.has(m))
        .unwrap_or_else(|| fallback.to_owned()))
}

/// Headers and footers in number order (`header2` before `header10`), then
/// footnotes, endnotes and comments.
fn docx_side_parts(pkg: &Package<'_>, dir: &str) -> Vec<String> {
    let names = pkg.names();
    let mut parts = Vec::new();
    for stem in ["header", "footer"] {
        let prefix = format!("{dir}{stem}");
        let mut numbered: Vec<(u64, &String)> = names
            .iter()
            .filter_map(|n| Some((number_between(n, &prefix, ".xml")?, n)))
            .collect();
        numbered.sort();
        parts.extend(numbered.into_iter().map(|(_, n)| n.clone()));
    }
    for name in ["footnotes.xml", "endnotes.xml", "comments.xml"] {
        parts.push(format!("{dir}{name}"));
    }
    parts
}

/// `7` for `word/header7.xml` between `word/header` and `.xml`; `0` for no digits.
fn number_between(name: &str, prefix: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    if digits.is_empty() {
        return Some(0);
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(digits.parse().unwrap_or(u64::MAX))
}

/// The slides in deck order, each once; by file number if the deck lists none.
fn slides(pkg: &mut Package<'_>) -> Result<Vec<String>, ExtractError> {
    let main = main_part(pkg, "ppt/presentation.xml")?;
    let mut list = SlideList::default();
    pkg.walk(&main, &mut list)?;
    let targets: HashMap<String, String> = relationships(pkg, &rels_of(&main))?
        .into_iter()
        .map(|r| (r.id, r.target))
        .collect();
    let mut seen = HashSet::new();
    let slides: Vec<String> = list
        .ids
        .iter()
        .filter_map(|id| targets.get(id))
        .map(|target| resolve(parent(&main), target))
        .filter(|slide| seen.insert(slide.clone()))
        .collect();
    if !slides.is_empty() {
        return Ok(slides);
    }
    let mut numbered: Vec<(u64, String)> = pkg
        .names()
        .into_iter()
        .filter_map(|n| Some((number_between(&n, "ppt/slides/slide", ".xml")?, n)))
        .collect();
    numbered.sort();
    Ok(numbered.into_iter().map(|(_, n)| n).collect())
}

/// The target of `part`'s first relationship whose type ends with `kind`.
fn related(pkg: &mut Package<'_>, part: &str, kind: &str) -> Result<Option<String>, ExtractError> {
    let rels = relationships(pkg, &rels_of(part))?;
    Ok(rels
        .into_iter()
        .find(|r| r.kind.ends_with(kind))
        .map(|r| resolve(parent(part), &r.target)))
}

/// The relationships part of `part`: `ppt/slides/slide1.xml` → `ppt/slides/_rels/slide1.xml.rels`.
fn rels_of(part: &str) -> String {
    let dir = parent(part);
    format!("{dir}_rels/{}.rels", part.strip_prefix(dir).unwrap_or(part))
}

/// The folder of a part name, with its trailing `/` (`""` at the root).
fn parent(part: &str) -> &str {
    part.rfind('/').map_or("", |i| &part[..=i])
}

/// A relationship target as a member name: relative to `dir`, or absolute
/// (`/ppt/...`); `.` and `..` segments resolved.
fn resolve(dir: &str, target: &str) -> String {
    let (base, target) = match target.strip_prefix('/') {
        Some(absolute) => ("", absolute),
        None => (dir, target),
    };
    let mut segments: Vec<&str> = Vec::new();
    for segment in base.split('/').chain(target.split('/')) {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    segments.join("/")
}

#[derive(Debug)]
struct Relationship {
    id: String,
    kind: String,
    target: String,
}

/// The internal relationships in the part `name` (none if it is missing or broken).
fn relationships(pkg: &mut Package<'_>, name: &str) -> Result<Vec<Relationship>, ExtractError> {
    let mut rels = Relationships::default();
    match pkg.walk(name, &mut rels) {
        Err(e @ ExtractError::Refused(_)) => Err(e),
        _ => Ok(rels.0),
    }
}

#[derive(Debug, Default)]
struct Relationships(Vec<Relationship>);

impl Markup for Relationships {
    fn start(&mut self, e: &BytesStart<'_>) -> Flow {
        let external = attr(e, b"TargetMode").is_some_and(|m| m.eq_ignore_ascii_case("External"));
        if e.local_name().as_ref() == b"Relationship" && !external {
            let (id, kind, target) = (attr(e, b"Id"), attr(e, b"Type"), attr(e, b"Target"));
            if let (Some(id), Some(kind), Some(target)) = (id, kind, target) {
                self.0.push(Relationship { id, kind, target });
            }
        }
        Flow::Into
    }
    fn end(&mut self, _: &[u8]) {}
    fn text(&mut self, _: &str) {}
}

/// The relationship ids of `p:sldIdLst/p:sldId`, in order.
#[derive(Debug, Default)]
struct SlideList {
    ids: Vec<String>,
    in_list: bool,
    ended: bool,
}

impl Markup for SlideList {
    fn start(&mut self, e: &BytesStart<'_>) -> Flow {
        match e.local_name().as_ref() {
            b"sldIdLst" => self.in_list = true,
            b"sldId" if self.in_list => self.ids.extend(prefixed_attr(e, b"id")),
            _ => {}
        }
        Flow::Into
    }
    fn end(&mut self, local: &[u8]) {
        if local == b"sldIdLst" {
            self.in_list = false;
            self.ended = true;
        }
    }
    fn text(&mut self, _: &str) {}
    fn done(&self) -> bool {
        self.ended
    }
}

/// Text of WordprocessingML and DrawingML: `t` runs, paragraphs on their own
/// lines, table cells separated by tabs and rows by newlines (paragraphs in a
/// cell by spaces). Skipped: tab stops (`w:tabs`, `a:tabLst`), the fallback
/// copy of alternate content, moved-from text, slide-number fields.
pub struct OoxmlText<'o> {
    out: &'o mut Out,
    in_t: bool,
    tab_stops: usize,
    cells: usize,
}

impl<'o> OoxmlText<'o> {
    pub fn new(out: &'o mut Out) -> Self {
        OoxmlText {
            out,
            in_t: false,
            tab_stops: 0,
            cells: 0,
        }
    }

    fn line_break(&mut self) {
        if self.cells > 0 {
            self.out.gap(Gap::Space);
        } else {
            self.out.newline();
        }
    }
}

impl Markup for OoxmlText<'_> {
    fn start(&mut self, e: &BytesStart<'_>) -> Flow {
        match e.local_name().as_ref() {
            b"t" => self.in_t = true,
            b"tabs" | b"tabLst" => self.tab_stops += 1,
            b"tab" | b"ptab" if self.tab_stops == 0 => self.out.gap(Gap::Tab),
            b"p" | b"br" | b"cr" => self.line_break(),
            b"tc" => self.cells += 1,
            b"noBreakHyphen" => self.out.text("-"),
            b"Fallback" | b"moveFrom" => return Flow::Skip,
            b"fld" if attr(e, b"type").is_some_and(|t| t.eq_ignore_ascii_case("slidenum")) => {
                return Flow::Skip;
            }
            _ => {}
        }
        Flow::Into
    }

    fn end(&mut self, local: &[u8]) {
        match local {
            b"t" => self.in_t = false,
            b"tabs" | b"tabLst" => self.tab_stops = self.tab_stops.saturating_sub(1),
            b"p" => self.line_break(),
            b"tc" => {
                self.cells = self.cells.saturating_sub(1);
                self.out.gap(Gap::Tab);
            }
            b"tr" => self.out.newline(),
            _ => {}
        }
    }

    fn text(&mut self, text: &str) {
        if self.in_t {
            self.out.text(text);
        }
    }

    fn done(&self) -> bool {
        self.out.is_full()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_resolve_against_the_source_folder() {
        assert_eq!(
            resolve("ppt/", "slides/slide1.xml"),
            "ppt/slides/slide1.xml"
        );
        assert_eq!(
            resolve("ppt/slides/", "../notesSlides/notesSlide1.xml"),
            "ppt/notesSlides/notesSlide1.xml"
        );
        assert_eq!(
            resolve("ppt/", "/ppt/slides/./slide2.xml"),
            "ppt/slides/slide2.xml"
        );
        assert_eq!(resolve("", "../../x.xml"), "x.xml");
        assert_eq!(
            rels_of("ppt/presentation.xml"),
            "ppt/_rels/presentation.xml.rels"
        );
        assert_eq!(rels_of("top.xml"), "_rels/top.xml.rels");
    }

    #[test]
    fn part_numbers_sort_numerically() {
        assert_eq!(
            number_between("word/header10.xml", "word/header", ".xml"),
            Some(10)
        );
        assert_eq!(
            number_between("word/header.xml", "word/header", ".xml"),
            Some(0)
        );
        assert_eq!(
            number_between("word/headerx.xml", "word/header", ".xml"),
            None
        );
    }
}
