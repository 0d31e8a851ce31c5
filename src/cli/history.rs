//! `docvault history SHARE PATH`: a document's versions, newest first.

use std::path::Path;

use super::client::{Client, block_on, encode_path};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Share name
    share: String,
    /// Document path inside the share
    path: String,
    /// Print the API's JSON
    #[arg(long)]
    json: bool,
}

pub fn run(config: Option<&Path>, args: Args) -> anyhow::Result<()> {
    let client = Client::from_config(config)?;
    let route = format!(
        "/api/v1/shares/{}/history/{}",
        encode_path(&args.share),
        encode_path(&args.path)
    );
    let history: serde_json::Value =
        block_on(async { anyhow::Ok(client.get(&route).await?.json().await?) })??;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&history)?);
        return Ok(());
    }
    println!(
        "{:<6} {:<9} {:<24} {:>12}  {:<12}  NOTE",
        "VER", "EVENT", "AT", "SIZE", "SHA256"
    );
    for v in history["versions"].as_array().into_iter().flatten() {
        let note = match (&v["renamed_from"], &v["renamed_to"], &v["restored_from"]) {
            (serde_json::Value::String(f), _, _) => format!("from {f}"),
            (_, serde_json::Value::String(t), _) => format!("to {t}"),
            (_, _, serde_json::Value::Number(n)) => format!("restored from v{n}"),
            _ => String::new(),
        };
        let version = format!("v{}", v["version"].as_u64().unwrap_or(0));
        println!(
            "{version:<6} {:<9} {:<24} {:>12}  {:<12}  {note}",
            v["event"].as_str().unwrap_or(""),
            v["at"].as_str().unwrap_or(""),
            v["size"].as_u64().unwrap_or(0),
            v["sha256"].as_str().unwrap_or("").get(..12).unwrap_or(""),
        );
    }
    Ok(())
}
