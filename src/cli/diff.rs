//! `docvault diff SHARE PATH --from N --to M [--cells] [--json]`: what
//! changed between two versions of a document, as a unified diff of their
//! text or, with `--cells`, as the spreadsheet cells whose value changed.

use std::path::Path;

use super::client::{Client, block_on, encode_path};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Share name
    share: String,
    /// Document path inside the share
    path: String,
    /// The version to compare from (usually the older one)
    #[arg(long, value_name = "N")]
    from: u32,
    /// The version to compare to
    #[arg(long, value_name = "M")]
    to: u32,
    /// List the changed cells (xlsx, xlsm, ods, csv, tsv) instead of a text diff
    #[arg(long)]
    cells: bool,
    /// Print the API's JSON (with --cells)
    #[arg(long, requires = "cells")]
    json: bool,
}

pub fn run(config: Option<&Path>, args: Args) -> anyhow::Result<()> {
    let client = Client::from_config(config)?;
    let mut route = format!(
        "/api/v1/shares/{}/diff/{}?from={}&to={}",
        encode_path(&args.share),
        encode_path(&args.path),
        args.from,
        args.to
    );
    if args.cells {
        route.push_str("&format=cells");
    }
    let response = block_on(async {
        let response = client.get(&route).await?;
        let truncated = response
            .headers()
            .get("x-docvault-truncated")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        anyhow::Ok((truncated, response.text().await?))
    })??;
    let (truncated, body) = response;
    if let Some(versions) = truncated {
        eprintln!(
            "warning: the text of version(s) {versions} was cut at the extraction limit; the diff covers the text kept"
        );
    }
    if !args.cells {
        print!("{body}");
        return Ok(());
    }
    let answer: serde_json::Value = serde_json::from_str(&body)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(());
    }
    for change in answer["changes"].as_array().into_iter().flatten() {
        println!(
            "{}: {} -> {}",
            cell_name(
                change["sheet"].as_str().unwrap_or(""),
                change["cell"].as_str().unwrap_or("")
            ),
            value(&change["old"]),
            value(&change["new"])
        );
    }
    Ok(())
}

/// `Risks!C2`, or `'Risk register'!C2` when the sheet name needs quotes.
fn cell_name(sheet: &str, cell: &str) -> String {
    if sheet.chars().all(|c| c.is_alphanumeric() || c == '_') {
        format!("{sheet}!{cell}")
    } else {
        format!("'{}'!{cell}", sheet.replace('\'', "''"))
    }
}

/// A cell value quoted (newlines and quotes escaped), or `(empty)`.
fn value(v: &serde_json::Value) -> String {
    v.as_str()
        .map_or_else(|| "(empty)".to_owned(), |s| format!("{s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_named_like_spreadsheets_name_them() {
        assert_eq!(cell_name("Risks", "C2"), "Risks!C2");
        assert_eq!(cell_name("risks.csv", "C2"), "'risks.csv'!C2");
        assert_eq!(cell_name("Bob's list", "A1"), "'Bob''s list'!A1");
        assert_eq!(value(&serde_json::Value::Null), "(empty)");
        assert_eq!(value(&serde_json::json!("two\nlines")), "\"two\\nlines\"");
    }
}
