//! `docvault search QUERY`: full-text search through the running daemon.

use std::path::Path;

use super::client::{Client, block_on};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Query: words, "phrases", OR, -word, title:, path:, author:, type:
    query: String,
    /// Only this share
    #[arg(long)]
    share: Option<String>,
    /// Search old versions too
    #[arg(long)]
    all_versions: bool,
    /// The shares as they were at this moment (RFC 3339, e.g. 2026-06-30T18:00:00Z)
    #[arg(long)]
    as_of: Option<String>,
    /// Most hits to show
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Print the API's JSON
    #[arg(long)]
    json: bool,
}

pub fn run(config: Option<&Path>, args: Args) -> anyhow::Result<()> {
    let client = Client::from_config(config)?;
    let mut params = vec![("q", args.query.clone()), ("limit", args.limit.to_string())];
    if let Some(s) = &args.share {
        params.push(("share", s.clone()));
    }
    if args.all_versions {
        params.push(("all_versions", "true".into()));
    }
    if let Some(t) = &args.as_of {
        params.push(("as_of", t.clone()));
    }
    let query: String = params
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    let route = format!("/api/v1/search?{query}");
    let hits: serde_json::Value =
        block_on(async { anyhow::Ok(client.get(&route).await?.json().await?) })??;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&hits)?);
        return Ok(());
    }
    let list = hits["hits"].as_array().cloned().unwrap_or_default();
    println!(
        "{} documents ({} ms)",
        hits["total"],
        hits["took_ms"].as_f64().unwrap_or(0.0).round()
    );
    for h in list {
        let current = if h["current"].as_bool() == Some(true) {
            ""
        } else {
            " (old version)"
        };
        println!(
            "{}/{} v{}{current}  {}",
            h["share"].as_str().unwrap_or(""),
            h["path"].as_str().unwrap_or(""),
            h["version"],
            h["title"].as_str().unwrap_or("")
        );
        let snippet = h["snippet"]
            .as_str()
            .unwrap_or("")
            .replace("<mark>", "[")
            .replace("</mark>", "]");
        println!("    {}", html_unescape(&snippet).replace('\n', " "));
    }
    Ok(())
}

fn html_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&#x2F;", "/")
        .replace("&amp;", "&")
}
