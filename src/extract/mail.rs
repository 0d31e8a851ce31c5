//! E-mail (`.eml`, RFC 5322 with MIME): the subject is the title, the sender
//! the author, and the text is a header block followed by the readable body.
//!
//! In `multipart/alternative` the plain-text part wins over HTML (HTML is
//! rendered when it is the only form). Attachments are read only if they are
//! text (`text/*`, or named `*.txt`, `*.csv`, `*.md`), each under its file
//! name; attached messages (`message/rfc822`) are read like the message itself.

use mailparse::{DispositionType, MailAddr, MailHeaderMap, ParsedMail};

use super::{Doc, ExtractError, Limits, TextSink, text};

/// Headers shown at the top of the text, in this order.
const SHOWN_HEADERS: [&str; 5] = ["From", "To", "Cc", "Subject", "Date"];

/// Deepest MIME nesting read (multiparts in multiparts, attached messages).
const MAX_DEPTH: usize = 64;

/// mailparse parses nested multiparts recursively and without a bound;
/// more `multipart/` headers than this is refused before parsing, as no real
/// message has them and a crafted one would overflow the stack.
const MAX_MULTIPARTS: usize = 1000;

/// An RFC 5322 message.
pub fn eml(data: &[u8], limits: &Limits) -> Result<Doc, ExtractError> {
    if count_ci(data, b"multipart/") > MAX_MULTIPARTS {
        return Err(ExtractError::Failed(format!(
            "eml: more than {MAX_MULTIPARTS} multipart parts"
        )));
    }
    let read = || {
        let mail =
            mailparse::parse_mail(data).map_err(|e| ExtractError::Failed(format!("eml: {e}")))?;
        let headers = mail.get_headers();
        let title = headers.get_first_value("Subject");
        let author = sender(&mail);
        let mut sink = TextSink::new(limits);
        message(&mail, &mut sink, 0);
        Ok(sink.finish(title, author))
    };
    super::contain(read).unwrap_or_else(|panic| {
        Err(ExtractError::Failed(format!(
            "eml: parser panicked: {panic}"
        )))
    })
}

/// The From header in its display form: `Ada Lovelace <ada@example.org>`.
fn sender(mail: &ParsedMail) -> Option<String> {
    let header = mail
        .headers
        .iter()
        .find(|h| h.get_key_ref().eq_ignore_ascii_case("From"))?;
    let parsed = mailparse::addrparse_header(header).ok();
    match parsed.as_ref().and_then(|list| list.first()) {
        Some(MailAddr::Single(info)) => Some(match &info.display_name {
            Some(name) if !name.trim().is_empty() => format!("{} <{}>", name.trim(), info.addr),
            _ => info.addr.clone(),
        }),
        Some(MailAddr::Group(group)) => Some(group.group_name.clone()),
        None => Some(header.get_value()),
    }
}

/// A message: its header block, then its body.
fn message(mail: &ParsedMail, sink: &mut TextSink, depth: usize) -> bool {
    let headers = mail.get_headers();
    for name in SHOWN_HEADERS {
        if let Some(value) = headers.get_first_value(name) {
            if !(sink.push(&format!("{name}: {}", value.trim())) && sink.newline()) {
                return false;
            }
        }
    }
    sink.push("\n") && part(mail, sink, depth)
}

/// One MIME part, pushed into `sink`; false once the sink is full.
fn part(mail: &ParsedMail, sink: &mut TextSink, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return true;
    }
    let mime = mail.ctype.mimetype.to_ascii_lowercase();
    if mime == "multipart/alternative" {
        return match best_alternative(&mail.subparts) {
            Some(best) => part(best, sink, depth + 1),
            None => true,
        };
    }
    if mime.starts_with("multipart/") {
        return mail.subparts.iter().all(|p| part(p, sink, depth + 1));
    }
    if mime == "message/rfc822" {
        return attached_message(mail, sink, depth);
    }
    match attachment_name(mail) {
        Some(name) if is_text_attachment(&mime, &name) => {
            sink.newline()
                && sink.push("\n")
                && sink.push(&format!("Attachment: {name}\n"))
                && body(mail, &mime, sink)
        }
        Some(_) => true,
        None if mime.starts_with("text/") => sink.newline() && body(mail, &mime, sink),
        None => true,
    }
}

/// Of the forms of a `multipart/alternative`: plain text, else HTML, else a
/// nested multipart (e.g. `multipart/related` around the HTML).
fn best_alternative<'a>(parts: &'a [ParsedMail<'a>]) -> Option<&'a ParsedMail<'a>> {
    let is = |p: &&ParsedMail, m: &str| p.ctype.mimetype.eq_ignore_ascii_case(m);
    let find = |m: &str| {
        parts
            .iter()
            .find(|p| is(p, m) && attachment_name(p).is_none())
    };
    find("text/plain")
        .or_else(|| find("text/html"))
        .or_else(|| {
            parts.iter().find(|p| {
                p.ctype
                    .mimetype
                    .to_ascii_lowercase()
                    .starts_with("multipart/")
            })
        })
}

/// An attached message, parsed and read like the outer one.
fn attached_message(mail: &ParsedMail, sink: &mut TextSink, depth: usize) -> bool {
    let Ok(raw) = mail.get_body_raw() else {
        return true;
    };
    if count_ci(&raw, b"multipart/") > MAX_MULTIPARTS {
        return true;
    }
    match mailparse::parse_mail(&raw) {
        Ok(inner) => sink.newline() && sink.push("\n") && message(&inner, sink, depth + 1),
        Err(_) => true,
    }
}

/// The text of a leaf part (HTML rendered); an undecodable body is skipped.
fn body(mail: &ParsedMail, mime: &str, sink: &mut TextSink) -> bool {
    let Ok(body) = mail.get_body() else {
        return true;
    };
    if mime == "text/html" {
        // A failed rendering loses only this part.
        let _ = text::html_into(&body, sink);
        !sink.is_full()
    } else {
        sink.push(&body)
    }
}

/// The file name of an attachment; `None` for an inline part without a name.
fn attachment_name(mail: &ParsedMail) -> Option<String> {
    let disposition = mail.get_content_disposition();
    let name = disposition
        .params
        .get("filename")
        .or_else(|| mail.ctype.params.get("name"))
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    match (name, disposition.disposition) {
        (Some(name), _) => Some(name),
        (None, DispositionType::Attachment) => Some("(unnamed)".to_owned()),
        (None, _) => None,
    }
}

fn is_text_attachment(mime: &str, name: &str) -> bool {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    mime.starts_with("text/")
        || matches!(
            ext.as_str(),
            "txt" | "csv" | "md" | "markdown" | "tsv" | "log"
        )
}

/// How often `needle` (ASCII, lower case) occurs in `hay`, ignoring case.
fn count_ci(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .filter(|w| w.eq_ignore_ascii_case(needle))
        .count()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const MESSAGE: &str = "From: Ada Lovelace <ada@example.org>\r
To: Charles Babbage <charles@example.org>\r
Subject: =?UTF-8?Q?Analytical_Engine_=E2=80=93_notes?=\r
Date: Mon, 10 Jun 2024 09:30:00 +0200\r
MIME-Version: 1.0\r
Content-Type: multipart/mixed; boundary=\"outer\"\r
\r
This is a multi-part message in MIME format.\r
--outer\r
Content-Type: multipart/alternative; boundary=\"alt\"\r
\r
--alt\r
Content-Type: text/plain; charset=utf-8\r
Content-Transfer-Encoding: quoted-printable\r
\r
Dear Charles, the engine computes Bernoulli numbers =E2=80=93 see notes.\r
--alt\r
Content-Type: text/html; charset=utf-8\r
\r
<html><body><p>HTML ONLY VERSION</p></body></html>\r
--alt--\r
--outer\r
Content-Type: text/plain; name=\"notes.txt\"\r
Content-Disposition: attachment; filename=\"notes.txt\"\r
Content-Transfer-Encoding: base64\r
\r
Tm90ZSBHOiB0aGUgZmlyc3QgcHJvZ3JhbS4=\r
--outer\r
Content-Type: image/png; name=\"diagram.png\"\r
Content-Disposition: attachment; filename=\"diagram.png\"\r
Content-Transfer-Encoding: base64\r
\r
iVBORw0KGgo=\r
--outer--\r
";

    #[test]
    fn multipart_alternative_prefers_plain_and_reads_text_attachments() {
        let doc = eml(MESSAGE.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(doc.title.as_deref(), Some("Analytical Engine – notes"));
        assert_eq!(
            doc.author.as_deref(),
            Some("Ada Lovelace <ada@example.org>")
        );
        assert!(doc.text.starts_with(
            "From: Ada Lovelace <ada@example.org>\nTo: Charles Babbage <charles@example.org>\n\
             Subject: Analytical Engine – notes\nDate: Mon, 10 Jun 2024 09:30:00 +0200\n\n"
        ));
        assert!(
            doc.text
                .contains("the engine computes Bernoulli numbers – see notes."),
            "{}",
            doc.text
        );
        assert!(!doc.text.contains("HTML ONLY"), "{}", doc.text);
        assert!(
            doc.text
                .contains("Attachment: notes.txt\nNote G: the first program."),
            "{}",
            doc.text
        );
        assert!(!doc.text.contains("diagram.png"), "{}", doc.text);
    }

    #[test]
    fn html_only_mail_is_rendered() {
        let mail = "From: ada@example.org\nSubject: Hi\nContent-Type: text/html\n\n<p>Hello &amp; welcome</p><script>x()</script>";
        let doc = eml(mail.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(doc.author.as_deref(), Some("ada@example.org"));
        assert!(doc.text.contains("Hello & welcome"), "{}", doc.text);
        assert!(!doc.text.contains("x()"), "{}", doc.text);
    }

    #[test]
    fn attached_message_is_read() {
        let inner = "From: Bob <bob@example.org>\nSubject: Inner\n\nforwarded body";
        let mail = format!(
            "From: a@example.org\nSubject: Fwd\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\
             Content-Type: text/plain\n\nsee below\n--b\nContent-Type: message/rfc822\n\n{inner}\n--b--\n"
        );
        let doc = eml(mail.as_bytes(), &Limits::default()).unwrap();
        assert!(doc.text.contains("see below"), "{}", doc.text);
        assert!(
            doc.text.contains("Subject: Inner\n\nforwarded body"),
            "{}",
            doc.text
        );
    }

    #[test]
    fn mail_text_is_bounded() {
        let limits = Limits {
            max_text: 60,
            ..Limits::default()
        };
        let doc = eml(MESSAGE.as_bytes(), &limits).unwrap();
        assert!(doc.truncated);
        assert!(doc.text.len() <= 60);
    }

    #[test]
    fn deeply_nested_multiparts_fail_without_overflow() {
        let mut mail = String::from("From: a@example.org\n");
        for i in 0..5_000 {
            mail += &format!("Content-Type: multipart/mixed; boundary=b{i}\n\n--b{i}\n");
        }
        mail += "\nbottom\n";
        assert_eq!(
            eml(mail.as_bytes(), &Limits::default()),
            Err(ExtractError::Failed(
                "eml: more than 1000 multipart parts".into()
            ))
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn eml_never_panics(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = eml(&data, &Limits::default());
        }

        #[test]
        fn mail_like_input_never_panics(data in "(From|To|Subject|Content-Type|Content-Disposition|Content-Transfer-Encoding|--b|boundary=b|multipart/alternative|multipart/mixed|text/html|text/plain|message/rfc822|base64|quoted-printable|filename=x.txt|=?utf-8?b?w6Q=?=|: |;|\n|\r\n| |<p>|=E4|[a-z=?]){0,80}") {
            let _ = eml(data.as_bytes(), &Limits::default());
        }
    }
}
