//! RTF: a small reader of the text of Rich Text Format files, written here
//! because the RTF crates are poorly kept.
//!
//! An RTF file is a tree of `{groups}` holding control words (`\par`,
//! `\f1`, `\u228`), control symbols (`\'e4`, `\~`) and text. Some groups are
//! *destinations* that hold no body text (`\fonttbl`, `\colortbl`,
//! `\stylesheet`, `\pict`, anything marked `\*`); they are skipped, except
//! that the font table tells each font's character set and `\info` gives
//! `\title` and `\author`. Bytes (`\'hh` and raw text) are decoded in the
//! code page of the current font, else the document's `\ansicpg`; `\uN` is
//! Unicode, followed by `\ucN` fallback characters that are skipped. Groups
//! are tracked on an explicit stack, capped at `MAX_DEPTH`.

use std::collections::HashMap;

use encoding_rs::Encoding;

use super::{Doc, ExtractError, Limits, TextSink};

/// Deepest group nesting read; deeper is `Failed` (Word itself stops near 1000).
const MAX_DEPTH: usize = 1000;

/// Longest title or author kept, in bytes.
const MAX_META: usize = 1024;

/// Most fonts remembered from the font table.
const MAX_FONTS: usize = 4096;

/// An RTF document.
pub fn rtf(data: &[u8], limits: &Limits) -> Result<Doc, ExtractError> {
    if !data.starts_with(b"{\\rtf") {
        return Err(ExtractError::Failed(
            "rtf: does not start with {\\rtf".into(),
        ));
    }
    let mut reader = Reader::new(data, limits);
    reader.run()?;
    let title = (!reader.title.trim().is_empty()).then(|| reader.title.trim().to_owned());
    let author = (!reader.author.trim().is_empty()).then(|| reader.author.trim().to_owned());
    Ok(reader.sink.finish(title, author))
}

/// Where the text of the current group goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dest {
    Body,
    /// A destination without body text.
    Skip,
    FontTable,
    Info,
    Title,
    Author,
}

/// The state a group restores when it ends.
#[derive(Debug, Clone, Copy)]
struct Group {
    dest: Dest,
    /// Fallback characters after `\uN` (`\ucN`).
    uc: usize,
    /// The current font (`\fN`); `None` is the default font (`\deffN`).
    font: Option<i32>,
    /// Inside a footnote or annotation, set apart from the text around it.
    note: bool,
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Group>,
    group: Group,
    /// The document code page (`\ansicpgN`).
    ansi: &'static Encoding,
    /// The code page of each font, from the font table's `\fcharsetN` / `\cpgN`.
    fonts: HashMap<i32, &'static Encoding>,
    default_font: Option<i32>,
    /// The font being defined in the font table.
    table_font: Option<i32>,
    /// Bytes awaiting decoding (`\'hh` and raw text), so multi-byte code pages decode whole.
    pending: Vec<u8>,
    /// Fallback characters still to skip after a `\uN`.
    skip: usize,
    /// The first half of a UTF-16 surrogate pair given as `\uN`.
    high_surrogate: Option<u16>,
    /// `\*` was just read: the next control word names an optional destination.
    star: bool,
    /// A `\tab` or `\cell` not yet written: only between text, never at a line's ends.
    tab: bool,
    /// Nothing was written since the last line break.
    line_start: bool,
    sink: TextSink,
    title: String,
    author: String,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8], limits: &Limits) -> Self {
        Reader {
            data,
            pos: 0,
            stack: Vec::new(),
            group: Group {
                dest: Dest::Body,
                uc: 1,
                font: None,
                note: false,
            },
            ansi: encoding_rs::WINDOWS_1252,
            fonts: HashMap::new(),
            default_font: None,
            table_font: None,
            pending: Vec::new(),
            skip: 0,
            high_surrogate: None,
            star: false,
            tab: false,
            line_start: true,
            sink: TextSink::new(limits),
            title: String::new(),
            author: String::new(),
        }
    }

    fn run(&mut self) -> Result<(), ExtractError> {
        while let Some(&b) = self.data.get(self.pos) {
            if self.sink.is_full() {
                break;
            }
            self.pos += 1;
            match b {
                b'{' => self.open()?,
                b'}' => {
                    if !self.close() {
                        break;
                    }
                }
                b'\\' => self.control(),
                b'\r' | b'\n' => {}
                b'\t' => self.text_byte(b'\t'),
                0..0x20 => {}
                _ => self.text_byte(b),
            }
        }
        self.flush();
        Ok(())
    }

    fn open(&mut self) -> Result<(), ExtractError> {
        self.flush();
        self.skip = 0;
        if std::mem::take(&mut self.star) {
            self.group.dest = Dest::Skip;
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(ExtractError::Failed("rtf: nesting too deep".into()));
        }
        self.stack.push(self.group);
        Ok(())
    }

    /// Ends a group; false when it was the outermost one (end of document).
    fn close(&mut self) -> bool {
        self.flush();
        self.skip = 0;
        self.star = false;
        let Some(outer) = self.stack.pop() else {
            return false;
        };
        let ended = std::mem::replace(&mut self.group, outer);
        if ended.note && !outer.note {
            self.newline();
        }
        !self.stack.is_empty()
    }

    /// A byte of text in the current code page, or a skipped fallback character.
    fn text_byte(&mut self, b: u8) {
        if self.skip > 0 {
            self.skip -= 1;
        } else if self.group.dest != Dest::Skip {
            self.pending.push(b);
        }
    }

    /// After a backslash: a control word, `\'hh`, or a control symbol.
    fn control(&mut self) {
        let Some(&c) = self.data.get(self.pos) else {
            return;
        };
        if c.is_ascii_alphabetic() {
            let (name, param) = self.control_word();
            self.flush();
            if self.skip > 0 {
                self.skip -= 1;
                if name == b"bin" {
                    self.skip_binary(param);
                }
                return;
            }
            self.word(name, param);
            return;
        }
        self.pos += 1;
        match c {
            b'\'' => {
                let hex = |i: usize| {
                    self.data
                        .get(self.pos + i)
                        .and_then(|&h| char::from(h).to_digit(16))
                };
                if let (Some(hi), Some(lo)) = (hex(0), hex(1)) {
                    self.pos += 2;
                    // Both digits are below 16, so the byte fits.
                    self.text_byte((hi * 16 + lo) as u8);
                }
            }
            b'\\' | b'{' | b'}' => self.text_byte(c),
            _ if self.skip > 0 => self.skip -= 1,
            b'*' => self.star = true,
            b'~' => self.emit("\u{a0}"),
            b'_' => self.emit("\u{2011}"),
            b'\r' | b'\n' => self.newline(),
            _ => {}
        }
    }

    /// Reads `name` and an optional numeric parameter; eats one space after.
    fn control_word(&mut self) -> (&'a [u8], Option<i32>) {
        let data = self.data;
        let start = self.pos;
        while data.get(self.pos).is_some_and(u8::is_ascii_alphabetic) {
            self.pos += 1;
        }
        let name = &data[start..self.pos];
        let negative = data.get(self.pos) == Some(&b'-')
            && data.get(self.pos + 1).is_some_and(u8::is_ascii_digit);
        if negative {
            self.pos += 1;
        }
        let mut param: Option<i64> = None;
        while let Some(&d) = data.get(self.pos).filter(|d| d.is_ascii_digit()) {
            let value = param
                .unwrap_or(0)
                .saturating_mul(10)
                .saturating_add(i64::from(d - b'0'));
            param = Some(value.min(i64::from(i32::MAX) + 1));
            self.pos += 1;
        }
        if data.get(self.pos) == Some(&b' ') {
            self.pos += 1;
        }
        let param = param.map(|p| if negative { -p } else { p });
        (name, param.and_then(|p| i32::try_from(p).ok()))
    }

    fn word(&mut self, name: &[u8], param: Option<i32>) {
        if std::mem::take(&mut self.star) && !matches!(name, b"footnote" | b"annotation") {
            self.group.dest = Dest::Skip;
            return;
        }
        match name {
            b"par" | b"line" | b"sect" | b"page" | b"row" | b"nestrow" => self.newline(),
            b"tab" | b"cell" | b"nestcell" => self.tab(),
            b"emdash" => self.emit("\u{2014}"),
            b"endash" => self.emit("\u{2013}"),
            b"bullet" => self.emit("\u{2022}"),
            b"lquote" => self.emit("\u{2018}"),
            b"rquote" => self.emit("\u{2019}"),
            b"ldblquote" => self.emit("\u{201C}"),
            b"rdblquote" => self.emit("\u{201D}"),
            b"emspace" | b"enspace" | b"qmspace" => self.emit(" "),
            b"u" => self.unicode(param),
            b"uc" => {
                self.group.uc = param
                    .and_then(|n| usize::try_from(n).ok())
                    .unwrap_or(1)
                    .min(16)
            }
            b"bin" => self.skip_binary(param),
            b"ansicpg" => self.ansi = param.and_then(code_page).unwrap_or(self.ansi),
            b"mac" => self.ansi = encoding_rs::MACINTOSH,
            b"deff" => self.default_font = param,
            b"plain" => self.group.font = None,
            b"f" if self.group.dest == Dest::FontTable => self.table_font = param,
            b"f" => self.group.font = param,
            b"fcharset" => self.font_encoding(param.and_then(charset)),
            b"cpg" => self.font_encoding(param.and_then(code_page)),
            _ => self.destination(name),
        }
    }

    /// Control words that start a destination group.
    fn destination(&mut self, name: &[u8]) {
        if matches!(name, b"footnote" | b"annotation") && self.group.dest == Dest::Body {
            self.newline();
            self.group.note = true;
            return;
        }
        let (has_title, has_author) = (!self.title.is_empty(), !self.author.is_empty());
        let dest = &mut self.group.dest;
        *dest = match (name, *dest) {
            (_, Dest::Skip) => Dest::Skip,
            (b"fonttbl", _) => Dest::FontTable,
            (b"info", _) => Dest::Info,
            // Only the first of repeated fields (LibreOffice writes \author twice).
            (b"title", Dest::Info) if !has_title => Dest::Title,
            (b"author", Dest::Info) if !has_author => Dest::Author,
            (b"title" | b"author", Dest::Info) => Dest::Skip,
            (
                b"colortbl"
                | b"stylesheet"
                | b"listtable"
                | b"listoverridetable"
                | b"revtbl"
                | b"rsidtbl"
                | b"generator"
                | b"pict"
                | b"object"
                | b"objdata"
                | b"fldinst"
                | b"themedata"
                | b"colorschememapping"
                | b"datastore"
                | b"latentstyles"
                | b"xmlnstbl"
                | b"filetbl"
                | b"pgdsctbl",
                _,
            ) => Dest::Skip,
            (_, dest) => dest,
        };
    }

    fn font_encoding(&mut self, encoding: Option<&'static Encoding>) {
        if self.group.dest != Dest::FontTable || self.fonts.len() >= MAX_FONTS {
            return;
        }
        if let (Some(font), Some(encoding)) = (self.table_font, encoding) {
            self.fonts.insert(font, encoding);
        }
    }

    /// `\uN`: a UTF-16 unit (negative for those above 32767), then `\ucN` fallback to skip.
    fn unicode(&mut self, param: Option<i32>) {
        let Some(n) = param else { return };
        let Ok(unit) = u16::try_from(if n < 0 { n + 0x10000 } else { n }) else {
            return;
        };
        self.skip = self.group.uc;
        match (self.high_surrogate.take(), unit) {
            (_, 0xD800..=0xDBFF) => self.high_surrogate = Some(unit),
            (Some(high), 0xDC00..=0xDFFF) => {
                let c = char::decode_utf16([high, unit]).next().and_then(Result::ok);
                self.emit(c.unwrap_or('\u{FFFD}').encode_utf8(&mut [0; 4]));
            }
            (_, unit) => {
                let c = char::from_u32(u32::from(unit)).unwrap_or('\u{FFFD}');
                self.emit(c.encode_utf8(&mut [0; 4]));
            }
        }
    }

    /// `\binN`: N bytes of binary data follow.
    fn skip_binary(&mut self, param: Option<i32>) {
        let n = param.and_then(|n| usize::try_from(n).ok()).unwrap_or(0);
        self.pos = self.pos.saturating_add(n).min(self.data.len());
    }

    fn tab(&mut self) {
        self.flush();
        match self.group.dest {
            Dest::Body => self.tab = true,
            _ => self.emit(" "),
        }
    }

    fn newline(&mut self) {
        self.flush();
        match self.group.dest {
            Dest::Body => {
                self.sink.newline();
                self.tab = false;
                self.line_start = true;
            }
            Dest::Title | Dest::Author => self.emit(" "),
            _ => {}
        }
    }

    /// Decodes the pending bytes in the current font's code page.
    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let font = self.group.font.or(self.default_font);
        let encoding = font
            .and_then(|f| self.fonts.get(&f).copied())
            .unwrap_or(self.ansi);
        let bytes = std::mem::take(&mut self.pending);
        let (text, _) = encoding.decode_without_bom_handling(&bytes);
        self.emit(&text);
        self.pending = bytes;
        self.pending.clear();
    }

    /// Text for the current destination.
    fn emit(&mut self, text: &str) {
        if !self.pending.is_empty() {
            self.flush();
        }
        let meta = match self.group.dest {
            Dest::Body => {
                if std::mem::take(&mut self.tab) && !self.line_start {
                    self.sink.push("\t");
                }
                self.line_start = false;
                self.sink.push(text);
                return;
            }
            Dest::Title => &mut self.title,
            Dest::Author => &mut self.author,
            Dest::Skip | Dest::FontTable | Dest::Info => return,
        };
        for c in text.chars() {
            if meta.len() + c.len_utf8() > MAX_META {
                break;
            }
            meta.push(c);
        }
    }
}

/// A Windows code page number (`\ansicpg1252`, `\cpg932`) as an encoding.
fn code_page(n: i32) -> Option<&'static Encoding> {
    use encoding_rs::*;
    Some(match n {
        437 | 850 | 1252 | 28591 => WINDOWS_1252,
        866 => IBM866,
        874 => WINDOWS_874,
        932 => SHIFT_JIS,
        936 => GBK,
        949 => EUC_KR,
        950 => BIG5,
        1250 => WINDOWS_1250,
        1251 => WINDOWS_1251,
        1253 => WINDOWS_1253,
        1254 => WINDOWS_1254,
        1255 => WINDOWS_1255,
        1256 => WINDOWS_1256,
        1257 => WINDOWS_1257,
        1258 => WINDOWS_1258,
        10000 => MACINTOSH,
        20866 => KOI8_R,
        21866 => KOI8_U,
        54936 => GB18030,
        65001 => UTF_8,
        28592..=28606 => return Encoding::for_label(format!("iso-8859-{}", n - 28590).as_bytes()),
        _ => return None,
    })
}

/// A font character set (`\fcharsetN`) as an encoding; `None` keeps the document's.
fn charset(n: i32) -> Option<&'static Encoding> {
    code_page(match n {
        77 => 10000,
        128 => 932,
        129 => 949,
        134 => 936,
        136 => 950,
        161 => 1253,
        162 => 1254,
        163 => 1258,
        177 => 1255,
        178 => 1256,
        186 => 1257,
        204 => 1251,
        222 => 874,
        238 => 1250,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn read(rtf_text: &str) -> Doc {
        rtf(rtf_text.as_bytes(), &Limits::default()).expect("rtf should be read")
    }

    #[test]
    fn escapes_unicode_and_info() {
        let doc = read(
            r"{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0\froman\fcharset0 Times New Roman;}{\f1\fswiss Arial;}}
{\colortbl;\red255\green0\blue0;}{\stylesheet{\s0 Normal;}}
{\info{\title Quarterly Report}{\author Ada Lovelace}{\*\company Engines Ltd}{\creatim\yr2024\mo6}}
{\*\generator Writer}\pard\plain\f0 K\'e4se und \u228?pfel\par
{\b bold} {\i{nested {deeper}} text}\tab end\line last\par}",
        );
        assert_eq!(doc.title.as_deref(), Some("Quarterly Report"));
        assert_eq!(doc.author.as_deref(), Some("Ada Lovelace"));
        assert_eq!(
            doc.text,
            "Käse und äpfel\nbold nested deeper text\tend\nlast\n"
        );
    }

    #[test]
    fn unicode_skip_count_and_surrogates() {
        let doc = read(r"{\rtf1\uc2 a\u8364\'80\'80b\uc0\u-10179\u-8704 c{\uc1\u228 ?}d}");
        assert_eq!(doc.text, "a€b😀cäd");
    }

    #[test]
    fn code_pages_from_ansicpg_and_font_charset() {
        let doc = read(r"{\rtf1\ansi\ansicpg1251 \'cf\'f0\'e8\'e2\'e5\'f2}");
        assert_eq!(doc.text, "Привет");
        let doc = read(
            r"{\rtf1\ansi{\fonttbl{\f0 Arial;}{\f1\fcharset128 MS Mincho;}}\f0 x {\f1 \'93\'fa\'96\'7b} y}",
        );
        assert_eq!(doc.text, "x 日本 y");
    }

    #[test]
    fn destinations_binary_and_fields_are_skipped() {
        let doc = read(
            "{\\rtf1 a{\\*\\unknown hidden}b{\\pict\\pngblip 89504e47}c{\\field{\\*\\fldinst HYPERLINK \"x\"}{\\fldrslt link}}\
             {\\object\\bin2 {}}\\}d\\{\\\\e}",
        );
        assert_eq!(doc.text, "abclink}d{\\e");
    }

    #[test]
    fn ten_thousand_nested_groups_fail() {
        let deep = String::from(r"{\rtf1 ") + &"{".repeat(10_000) + "x" + &"}".repeat(10_001);
        assert_eq!(
            rtf(deep.as_bytes(), &Limits::default()),
            Err(ExtractError::Failed("rtf: nesting too deep".into()))
        );
    }

    #[test]
    fn not_rtf_fails() {
        assert_eq!(
            rtf(b"hello", &Limits::default()),
            Err(ExtractError::Failed(
                "rtf: does not start with {\\rtf".into()
            ))
        );
    }

    #[test]
    fn rtf_text_is_bounded() {
        let limits = Limits {
            max_text: 10,
            ..Limits::default()
        };
        let body = r"{\rtf1 ".to_owned() + &"word \\par ".repeat(100) + "}";
        let doc = rtf(body.as_bytes(), &limits).unwrap();
        assert!(doc.truncated);
        assert_eq!(doc.text, "word \nword");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn rtf_never_panics(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = rtf(&data, &Limits::default());
            let mut prefixed = b"{\\rtf1 ".to_vec();
            prefixed.extend(&data);
            let _ = rtf(&prefixed, &Limits::default());
        }

        #[test]
        fn rtf_like_input_never_panics(data in "(\\{|\\}|\\\\|\\\\'[0-9a-g]{0,2}|\\\\u-?[0-9]{0,7}|\\\\uc[0-9]{0,3}|\\\\bin[0-9]{0,4}|\\\\\\*|\\\\fonttbl|\\\\f[0-9]|\\\\fcharset[0-9]{1,3}|\\\\ansicpg[0-9]{3,5}|\\\\info|\\\\title|\\\\author|\\\\par|[a-z ?]){0,200}") {
            let mut input = String::from("{\\rtf1");
            input.push_str(&data);
            let doc = rtf(input.as_bytes(), &Limits { max_text: 100, ..Limits::default() });
            if let Ok(doc) = doc {
                prop_assert!(doc.text.len() <= 100);
            }
        }
    }
}
