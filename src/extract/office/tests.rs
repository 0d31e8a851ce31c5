//! Packages built in memory: what each format yields, and how hostile
//! packages (bombs, lying headers, entity bombs, truncation) are turned away.

use std::io::{Cursor, Write};

use proptest::prelude::*;
use zip::ZipWriter;
use zip::write::SimpleFileOptions;

use super::*;

fn build(members: &[(&str, &str)]) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, body) in members {
        zip.start_file(*name, SimpleFileOptions::default()).unwrap();
        zip.write_all(body.as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn limits() -> Limits {
    Limits::default()
}

const W: &str = r#"xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main""#;
const CORE: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/">
<dc:title>Quarterly &amp; Annual</dc:title><dc:creator>Jane Doe</dc:creator><cp:lastModifiedBy>Someone Else</cp:lastModifiedBy>
</cp:coreProperties>"#;
const ROOT_RELS_DOCX: &str = r#"<?xml version="1.0"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>
</Relationships>"#;

fn word_part(root: &str, body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:{root} {W}>{body}</w:{root}>"#
    )
}

fn paragraph(text: &str) -> String {
    format!("<w:p><w:r><w:t>{text}</w:t></w:r></w:p>")
}

fn docx_with(document: &str) -> Vec<u8> {
    build(&[
        ("[Content_Types].xml", "<Types/>"),
        ("_rels/.rels", ROOT_RELS_DOCX),
        ("word/document.xml", document),
    ])
}

fn sample_docx() -> Vec<u8> {
    let body = r#"<w:body>
<w:p><w:pPr><w:tabs><w:tab w:val="left" w:pos="720"/></w:tabs></w:pPr><w:r><w:t>Hello</w:t></w:r><w:r><w:tab/><w:t xml:space="preserve">world &amp; &lt;friends&gt; &#228;&#x20AC;</w:t></w:r></w:p>
<w:tbl>
 <w:tr><w:tc><w:p><w:r><w:t>A1</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>B1</w:t></w:r></w:p><w:p><w:r><w:t>more</w:t></w:r></w:p></w:tc></w:tr>
 <w:tr><w:tc><w:p><w:r><w:t>A2</w:t></w:r></w:p></w:tc><w:tc><w:p/></w:tc></w:tr>
</w:tbl>
<w:p><w:r><w:t>After</w:t></w:r><w:r><w:footnoteReference w:id="1"/></w:r><w:r><w:br/><w:t>next line</w:t></w:r><w:r><w:instrText> PAGE </w:instrText></w:r><w:del><w:r><w:delText>gone</w:delText></w:r></w:del></w:p>
</w:body>"#;
    let footnotes = r#"<w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote><w:footnote w:id="1"><w:p><w:r><w:t>Footnote text</w:t></w:r></w:p></w:footnote>"#;
    build(&[
        ("[Content_Types].xml", "<Types/>"),
        ("_rels/.rels", ROOT_RELS_DOCX),
        ("docProps/core.xml", CORE),
        ("word/document.xml", &word_part("document", body)),
        (
            "word/header10.xml",
            &word_part("hdr", &paragraph("Header ten")),
        ),
        (
            "word/header2.xml",
            &word_part("hdr", &paragraph("Header two")),
        ),
        (
            "word/header1.xml",
            &word_part("hdr", &paragraph("Header one")),
        ),
        ("word/footer1.xml", &word_part("ftr", &paragraph("Footer"))),
        ("word/footnotes.xml", &word_part("footnotes", footnotes)),
        (
            "word/endnotes.xml",
            &word_part(
                "endnotes",
                &format!(
                    "<w:endnote w:id=\"1\">{}</w:endnote>",
                    paragraph("Endnote text")
                ),
            ),
        ),
        (
            "word/comments.xml",
            &word_part(
                "comments",
                &format!(
                    "<w:comment w:id=\"0\" w:author=\"Rev\">{}</w:comment>",
                    paragraph("Comment text")
                ),
            ),
        ),
    ])
}

#[test]
fn docx_body_tables_headers_notes_comments_and_properties() {
    let doc = docx(&sample_docx(), &limits()).unwrap();
    assert_eq!(
        doc.text,
        "Hello\tworld & <friends> ä€\nA1\tB1 more\nA2\nAfter\nnext line\n\
         Header one\nHeader two\nHeader ten\nFooter\nFootnote text\nEndnote text\nComment text\n"
    );
    assert_eq!(doc.title.as_deref(), Some("Quarterly & Annual"));
    assert_eq!(doc.author.as_deref(), Some("Jane Doe"));
    assert!(!doc.truncated);
}

#[test]
fn docx_alternate_content_is_read_once() {
    let body = r#"<w:body xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"><w:p><w:r><mc:AlternateContent>
<mc:Choice Requires="wps"><w:txbxContent><w:p><w:r><w:t>In the box</w:t></w:r></w:p></w:txbxContent></mc:Choice>
<mc:Fallback><w:txbxContent><w:p><w:r><w:t>In the box</w:t></w:r></w:p></w:txbxContent></mc:Fallback>
</mc:AlternateContent></w:r></w:p></w:body>"#;
    let doc = docx(&docx_with(&word_part("document", body)), &limits()).unwrap();
    assert_eq!(doc.text, "In the box\n");
}

#[test]
fn docx_without_a_document_part_fails() {
    let data = build(&[("[Content_Types].xml", "<Types/>")]);
    assert_eq!(
        docx(&data, &limits()),
        Err(ExtractError::Failed("docx: no word/document.xml".into()))
    );
}

#[test]
fn docx_billion_laughs_is_not_expanded() {
    let mut dtd = String::from(r#"<!DOCTYPE w:document [<!ENTITY lol "lol">"#);
    for i in 1..=9 {
        let prev = if i == 1 {
            "lol".to_owned()
        } else {
            format!("lol{}", i - 1)
        };
        dtd.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">",
            format!("&{prev};").repeat(10)
        ));
    }
    dtd.push_str("]>");
    let document = format!(
        r#"<?xml version="1.0"?>{dtd}<w:document {W}><w:body>{}</w:body></w:document>"#,
        paragraph("before &lol9; after")
    );
    let doc = docx(&docx_with(&document), &limits()).unwrap();
    assert_eq!(doc.text, "before  after\n");
    assert!(!doc.truncated);
}

#[test]
fn malformed_xml_fails_with_the_reason() {
    let document = format!(r#"<w:document {W}><w:body><w:p><w:r><w:t attr="open>text</w:t>"#);
    let Err(ExtractError::Failed(msg)) = docx(&docx_with(&document), &limits()) else {
        panic!("expected failure")
    };
    assert!(
        msg.starts_with("docx: malformed XML in word/document.xml: "),
        "{msg}"
    );
}

#[test]
fn text_limit_truncates() {
    let body: String = (0..100)
        .map(|i| paragraph(&format!("paragraph number {i}")))
        .collect();
    let data = docx_with(&word_part("document", &format!("<w:body>{body}</w:body>")));
    let doc = docx(
        &data,
        &Limits {
            max_text: 50,
            ..limits()
        },
    )
    .unwrap();
    assert!(doc.truncated);
    assert_eq!(doc.text.len(), 50);
    assert!(
        doc.text
            .starts_with("paragraph number 0\nparagraph number 1\n")
    );
}

const P: &str = r#"xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main""#;
const REL: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";

fn slide(text: &str, number: usize) -> String {
    format!(
        r#"<p:sld {P}><p:cSld><p:spTree><p:sp><p:txBody><a:p><a:r><a:t>{text}</a:t></a:r></a:p></p:txBody></p:sp>
<p:sp><p:txBody><a:p><a:fld id="{{1}}" type="slidenum"><a:t>{number}</a:t></a:fld></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:sld>"#
    )
}

/// A deck whose `sldIdLst` lists the slide files in `order`; slide 2 has notes.
fn deck(order: &[usize]) -> Vec<u8> {
    let ids: String = order
        .iter()
        .enumerate()
        .map(|(i, n)| format!(r#"<p:sldId id="{}" r:id="rId{}"/>"#, 256 + i, n + 100))
        .collect();
    let presentation = format!(
        r#"<p:presentation {P}><p:sldMasterIdLst><p:sldMasterId id="2147483648" r:id="rId1"/></p:sldMasterIdLst><p:sldIdLst>{ids}</p:sldIdLst></p:presentation>"#
    );
    // Relationships in reverse order, so that neither they nor the members are in deck order.
    let rels: String = order
        .iter()
        .rev()
        .map(|n| {
            format!(
                r#"<Relationship Id="rId{}" Type="{REL}/slide" Target="slides/slide{n}.xml"/>"#,
                n + 100
            )
        })
        .collect();
    let rels = format!(
        r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{REL}/slideMaster" Target="slideMasters/slideMaster1.xml"/>{rels}</Relationships>"#
    );
    let notes_rels = format!(
        r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{REL}/slideLayout" Target="../slideLayouts/slideLayout1.xml"/><Relationship Id="rId2" Type="{REL}/notesSlide" Target="../notesSlides/notesSlide2.xml"/></Relationships>"#
    );
    let notes = format!(
        r#"<p:notes {P}><p:cSld><p:spTree><p:sp><p:txBody><a:p><a:r><a:t>Notes for two</a:t></a:r></a:p></p:txBody></p:sp><p:sp><p:txBody><a:p><a:fld type="slidenum"><a:t>2</a:t></a:fld></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:notes>"#
    );
    let slides: Vec<(String, String)> = order
        .iter()
        .rev()
        .map(|n| {
            (
                format!("ppt/slides/slide{n}.xml"),
                slide(&format!("Slide {n}"), *n),
            )
        })
        .collect();
    let mut members: Vec<(&str, &str)> = vec![
        ("[Content_Types].xml", "<Types/>"),
        ("docProps/core.xml", CORE),
        ("ppt/presentation.xml", &presentation),
        ("ppt/_rels/presentation.xml.rels", &rels),
        ("ppt/slides/_rels/slide2.xml.rels", &notes_rels),
        ("ppt/notesSlides/notesSlide2.xml", &notes),
    ];
    members.extend(slides.iter().map(|(n, b)| (n.as_str(), b.as_str())));
    build(&members)
}

#[test]
fn pptx_slides_follow_the_deck_order_with_their_notes() {
    let order: Vec<usize> = (1..=11).collect();
    let doc = pptx(&deck(&order), &limits()).unwrap();
    let expected: String = (1..=11)
        .map(|n| {
            if n == 2 {
                "Slide 2\nNotes for two\n".to_owned()
            } else {
                format!("Slide {n}\n")
            }
        })
        .collect();
    assert_eq!(doc.text, expected);
    assert_eq!(doc.title.as_deref(), Some("Quarterly & Annual"));
    assert_eq!(doc.author.as_deref(), Some("Jane Doe"));
}

#[test]
fn pptx_deck_order_beats_file_names() {
    let doc = pptx(&deck(&[3, 1, 2]), &limits()).unwrap();
    assert_eq!(doc.text, "Slide 3\nSlide 1\nSlide 2\nNotes for two\n");
}

#[test]
fn pptx_table_cells_are_tab_separated() {
    let table = format!(
        r#"<p:sld {P}><p:cSld><p:spTree><p:graphicFrame><a:graphic><a:graphicData><a:tbl>
<a:tr><a:tc><a:txBody><a:p><a:r><a:t>x</a:t></a:r></a:p></a:txBody></a:tc><a:tc><a:txBody><a:p><a:r><a:t>y</a:t></a:r></a:p></a:txBody></a:tc></a:tr>
</a:tbl></a:graphicData></a:graphic></p:graphicFrame></p:spTree></p:cSld></p:sld>"#
    );
    let data = build(&[
        ("ppt/presentation.xml", "<p:presentation/>"),
        ("ppt/slides/slide1.xml", &table),
    ]);
    assert_eq!(pptx(&data, &limits()).unwrap().text, "x\ty\n");
}

const ODF_NS: &str = r#"xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0" xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0""#;

fn odf(mime: &str, body: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let content = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content {ODF_NS}><office:body>{body}</office:body></office:document-content>"#
    );
    let meta = format!(
        r#"<office:document-meta {ODF_NS}><office:meta><meta:initial-creator>Alice</meta:initial-creator><dc:title>ODF title</dc:title><dc:creator>Bob</dc:creator></office:meta></office:document-meta>"#
    );
    let manifest = r#"<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type="x"/></manifest:manifest>"#;
    let mut members = vec![
        ("mimetype", mime),
        ("content.xml", content.as_str()),
        ("meta.xml", meta.as_str()),
    ];
    if !extra
        .iter()
        .any(|(name, _)| *name == "META-INF/manifest.xml")
    {
        members.push(("META-INF/manifest.xml", manifest));
    }
    members.extend_from_slice(extra);
    build(&members)
}

#[test]
fn odt_paragraphs_spaces_tabs_tables_notes_headers() {
    let body = r#"<office:text>
<text:h text:outline-level="1">Heading</text:h>
<text:p>Hello<text:s text:c="3"/>world<text:tab/>tabbed<text:line-break/>broken  <text:span>span</text:span>ned &amp; &#228;</text:p>
<text:p>See<text:note text:note-class="footnote"><text:note-citation>1</text:note-citation><text:note-body><text:p>Note body</text:p></text:note-body></text:note> end</text:p>
<text:p>Kept<office:annotation><dc:creator>Rev</dc:creator><dc:date>2024-01-01</dc:date><text:p>remark</text:p></office:annotation></text:p>
<table:table><table:table-row><table:table-cell><text:p>C1</text:p></table:table-cell><table:table-cell><text:p>C2</text:p><text:p>more</text:p></table:table-cell></table:table-row></table:table>
</office:text>"#;
    let styles = format!(
        r#"<office:document-styles {ODF_NS}><office:master-styles><style:master-page style:name="Standard"><style:header><text:p>Page header</text:p></style:header><style:footer><text:p>Page footer</text:p></style:footer></style:master-page></office:master-styles></office:document-styles>"#
    );
    let data = odf(
        "application/vnd.oasis.opendocument.text",
        body,
        &[("styles.xml", &styles)],
    );
    let doc = odf_text(&data, &limits()).unwrap();
    assert_eq!(
        doc.text,
        "Heading\nHello world\ttabbed\nbroken spanned & ä\nSee\nNote body\nend\nKept\nremark\nC1\tC2 more\nPage header\nPage footer\n"
    );
    assert_eq!(doc.title.as_deref(), Some("ODF title"));
    assert_eq!(doc.author.as_deref(), Some("Alice"));
}

#[test]
fn odp_pages_in_order_with_notes() {
    let body = r#"<office:presentation>
<draw:page draw:name="page1"><draw:frame><draw:text-box><text:p>First slide</text:p></draw:text-box></draw:frame>
<presentation:notes><draw:page-thumbnail draw:page-number="1"/><draw:frame><draw:text-box><text:p>Speaker one</text:p></draw:text-box></draw:frame></presentation:notes></draw:page>
<draw:page draw:name="page2"><draw:frame><draw:text-box><text:p>Second slide</text:p><text:list><text:list-item><text:p>Bullet</text:p></text:list-item></text:list></draw:text-box></draw:frame></draw:page>
</office:presentation>"#;
    let data = odf("application/vnd.oasis.opendocument.presentation", body, &[]);
    let doc = odf_text(&data, &limits()).unwrap();
    assert_eq!(doc.text, "First slide\nSpeaker one\nSecond slide\nBullet\n");
}

#[test]
fn encrypted_odf_is_encrypted() {
    let manifest = r#"<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">
<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"><manifest:encryption-data manifest:checksum-type="SHA1/1K"/></manifest:file-entry></manifest:manifest>"#;
    let data = odf(
        "application/vnd.oasis.opendocument.text",
        "",
        &[("META-INF/manifest.xml", manifest)],
    );
    assert_eq!(odf_text(&data, &limits()), Err(ExtractError::Encrypted));
    let data = odf(
        "application/vnd.oasis.opendocument.spreadsheet",
        "",
        &[("META-INF/manifest.xml", manifest)],
    );
    assert_eq!(ods(&data, &limits()), Err(ExtractError::Encrypted));
}

const SML: &str = r#"xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships""#;

fn sample_xlsx(shared_strings: &str) -> Vec<u8> {
    let workbook = format!(
        r#"<workbook {SML}><sheets><sheet name="Budget" sheetId="1" r:id="rId1"/><sheet name="Empty" sheetId="2" r:id="rId2"/></sheets></workbook>"#
    );
    let rels = format!(
        r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/>
<Relationship Id="rId2" Type="{REL}/worksheet" Target="worksheets/sheet2.xml"/>
<Relationship Id="rId3" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/>
<Relationship Id="rId4" Type="{REL}/styles" Target="styles.xml"/></Relationships>"#
    );
    let styles = format!(
        r#"<styleSheet {SML}><cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14"/></cellXfs></styleSheet>"#
    );
    let sheet1 = format!(
        r#"<worksheet {SML}><sheetData>
<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>
<row r="2"><c r="A2" t="inlineStr"><is><t>Tea</t></is></c><c r="B2"><v>0.30000000000000004</v></c></row>
<row r="3"><c r="A3" s="1"><v>45943</v></c><c r="B3"/><c r="C3" t="b"><v>1</v></c></row>
<row r="5"><c r="B5"><v>42</v></c></row>
</sheetData></worksheet>"#
    );
    let sheet2 = format!(r#"<worksheet {SML}><sheetData/></worksheet>"#);
    build(&[
        ("[Content_Types].xml", "<Types/>"),
        ("docProps/core.xml", CORE),
        ("xl/workbook.xml", &workbook),
        ("xl/_rels/workbook.xml.rels", &rels),
        ("xl/styles.xml", &styles),
        ("xl/sharedStrings.xml", shared_strings),
        ("xl/worksheets/sheet1.xml", &sheet1),
        ("xl/worksheets/sheet2.xml", &sheet2),
    ])
}

fn shared_strings() -> String {
    format!(
        r#"<sst {SML} count="2" uniqueCount="2"><si><t>Item</t></si><si><t>Cost &amp; tax</t></si></sst>"#
    )
}

#[test]
fn xlsx_sheets_rows_and_values() {
    let doc = xlsx(&sample_xlsx(&shared_strings()), &limits()).unwrap();
    assert_eq!(
        doc.text,
        "Budget\nItem\tCost & tax\nTea\t0.3\n2025-10-13\tTRUE\n42\nEmpty\n"
    );
    assert_eq!(doc.title.as_deref(), Some("Quarterly & Annual"));
    assert_eq!(doc.author.as_deref(), Some("Jane Doe"));
}

#[test]
fn xlsx_text_limit_truncates() {
    let doc = xlsx(
        &sample_xlsx(&shared_strings()),
        &Limits {
            max_text: 12,
            ..limits()
        },
    )
    .unwrap();
    assert!(doc.truncated);
    assert_eq!(doc.text, "Budget\nItem\t");
}

#[test]
fn ods_sheets_rows_and_values() {
    let body = r#"<office:spreadsheet>
<table:table table:name="Sheet A"><table:table-row><table:table-cell office:value-type="string"><text:p>Name</text:p></table:table-cell><table:table-cell office:value-type="float" office:value="2.5"><text:p>2,5</text:p></table:table-cell></table:table-row>
<table:table-row><table:table-cell office:value-type="date" office:date-value="2024-01-15"><text:p>15.01.24</text:p></table:table-cell><table:table-cell/><table:table-cell office:value-type="string"><text:p>x</text:p></table:table-cell></table:table-row></table:table>
<table:table table:name="Second"><table:table-column table:number-columns-repeated="16384"/><table:table-row><table:table-cell office:value-type="float" office:value="7"><text:p>7</text:p></table:table-cell><table:table-cell table:style-name="ce1" table:number-columns-repeated="16383"/></table:table-row>
<table:table-row table:number-rows-repeated="1048575"><table:table-cell table:number-columns-repeated="16384"/></table:table-row></table:table>
</office:spreadsheet>"#;
    let doc = ods(
        &odf("application/vnd.oasis.opendocument.spreadsheet", body, &[]),
        &limits(),
    )
    .unwrap();
    assert_eq!(doc.text, "Sheet A\nName\t2.5\n2024-01-15\tx\nSecond\n7\n");
    assert_eq!(doc.title.as_deref(), Some("ODF title"));
    assert_eq!(doc.author.as_deref(), Some("Alice"));
}

/// calamine would build a 3000 × 16384 grid from this 1 KB file (6 GB).
#[test]
fn ods_repeat_bomb_is_refused() {
    let body = r#"<office:spreadsheet><table:table table:name="S"><table:table-row table:number-rows-repeated="3000"><table:table-cell table:number-columns-repeated="16384" office:value-type="string"><text:p>x</text:p></table:table-cell></table:table-row></table:table></office:spreadsheet>"#;
    let data = odf("application/vnd.oasis.opendocument.spreadsheet", body, &[]);
    assert!(data.len() < 2000);
    assert_eq!(
        ods(&data, &limits()),
        Err(ExtractError::Refused(sheet::CELLS_OVER_LIMIT.into()))
    );
}

/// A package whose `name` member is `size` zero bytes, written in chunks.
fn bomb(name: &str, size: usize) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    zip.start_file("mimetype", SimpleFileOptions::default())
        .unwrap();
    zip.write_all(b"application/vnd.oasis.opendocument.text")
        .unwrap();
    zip.start_file(name, SimpleFileOptions::default()).unwrap();
    let chunk = vec![0u8; 1 << 16];
    for _ in 0..size / chunk.len() {
        zip.write_all(&chunk).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

type Extractor = fn(&[u8], &Limits) -> Result<Doc, ExtractError>;
const ALL: [(&str, Extractor); 5] = [
    ("docx", docx),
    ("xlsx", xlsx),
    ("pptx", pptx),
    ("odf", odf_text),
    ("ods", ods),
];

#[test]
fn zip_bomb_is_refused_by_its_ratio() {
    let data = bomb("word/document.xml", 16 << 20);
    assert!(data.len() < 100 << 10, "{}", data.len());
    for (kind, extract) in ALL {
        assert_eq!(
            extract(&data, &limits()),
            Err(ExtractError::Refused(OVER_LIMIT.into())),
            "{kind}"
        );
    }
}

#[test]
fn zip_bomb_is_refused_by_its_total_size() {
    let data = bomb("xl/workbook.xml", 4 << 20);
    let limits = Limits {
        max_unzipped: 1 << 20,
        max_ratio: u64::MAX,
        ..limits()
    };
    for (kind, extract) in ALL {
        assert_eq!(
            extract(&data, &limits),
            Err(ExtractError::Refused(OVER_LIMIT.into())),
            "{kind}"
        );
    }
}

/// Rewrites the uncompressed size that the local and central headers of
/// member `name` declare.
fn lie_about_size(mut data: Vec<u8>, name: &str, size: u32) -> Vec<u8> {
    let name = name.as_bytes();
    let mut patched = 0;
    for at in 0..data.len().saturating_sub(46) {
        let (size_at, name_len_at, name_at) = match &data[at..at + 4] {
            b"PK\x03\x04" => (22, 26, 30),
            b"PK\x01\x02" => (24, 28, 46),
            _ => continue,
        };
        let name_len =
            u16::from_le_bytes([data[at + name_len_at], data[at + name_len_at + 1]]) as usize;
        if data.get(at + name_at..at + name_at + name_len) == Some(name) {
            data[at + size_at..at + size_at + 4].copy_from_slice(&size.to_le_bytes());
            patched += 1;
        }
    }
    assert_eq!(patched, 2);
    data
}

/// Letters that do not compress much, so that only the lie trips the limit.
fn noise(len: usize) -> String {
    let mut x = 0x2545_f491_u32;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect()
}

#[test]
fn member_inflating_past_its_declared_size_is_refused() {
    let document = word_part(
        "document",
        &format!("<w:body>{}</w:body>", paragraph(&noise(100_000))),
    );
    let data = lie_about_size(docx_with(&document), "word/document.xml", 1000);
    assert_eq!(
        docx(&data, &limits()),
        Err(ExtractError::Refused(OVER_LIMIT.into()))
    );

    let strings = format!(
        r#"<sst {SML}><si><t>Item</t></si><si><t>{}</t></si></sst>"#,
        noise(100_000)
    );
    let data = lie_about_size(sample_xlsx(&strings), "xl/sharedStrings.xml", 1000);
    assert_eq!(
        xlsx(&data, &limits()),
        Err(ExtractError::Refused(OVER_LIMIT.into()))
    );
}

#[test]
fn truncated_package_fails() {
    let docx_data = sample_docx();
    let xlsx_data = sample_xlsx(&shared_strings());
    let cases: [(&str, Extractor, Vec<u8>); 5] = [
        ("docx", docx, docx_data),
        ("xlsx", xlsx, xlsx_data),
        ("pptx", pptx, deck(&[1, 2])),
        (
            "odf",
            odf_text,
            odf("application/vnd.oasis.opendocument.text", "", &[]),
        ),
        (
            "ods",
            ods,
            odf("application/vnd.oasis.opendocument.spreadsheet", "", &[]),
        ),
    ];
    for (kind, extract, data) in cases {
        let half = &data[..data.len() / 2];
        let Err(ExtractError::Failed(msg)) = extract(half, &limits()) else {
            panic!("{kind}: expected failure")
        };
        assert!(
            msg.starts_with(&format!("{kind}: not a valid zip package: ")),
            "{msg}"
        );
    }
}

fn valid_packages() -> Vec<Vec<u8>> {
    vec![
        sample_docx(),
        sample_xlsx(&shared_strings()),
        deck(&[2, 1]),
        odf(
            "application/vnd.oasis.opendocument.text",
            "<office:text><text:p>x</text:p></office:text>",
            &[],
        ),
        odf(
            "application/vnd.oasis.opendocument.spreadsheet",
            r#"<office:spreadsheet><table:table table:name="S"><table:table-row><table:table-cell office:value-type="string"><text:p>x</text:p></table:table-cell></table:table-row></table:table></office:spreadsheet>"#,
            &[],
        ),
    ]
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let mut zipish = b"PK\x03\x04".to_vec();
        zipish.extend_from_slice(&bytes);
        for (_, extract) in ALL {
            let _ = extract(&bytes, &limits());
            let _ = extract(&zipish, &limits());
        }
    }

    #[test]
    fn damaged_packages_never_panic(
        which in 0usize..5,
        damage in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut data = valid_packages().swap_remove(which);
        for (at, byte) in damage {
            let at = at.index(data.len());
            data[at] = byte;
        }
        for (_, extract) in ALL {
            let _ = extract(&data, &limits());
        }
    }
}
