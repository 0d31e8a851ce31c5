//! `docvault restore SHARE PATH --version N [--to PATH] [--overwrite]`:
//! writes an old version back into the share (asks the running daemon).

use std::path::Path;

use serde_json::json;

use super::client::{Client, block_on, encode_path};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Share name
    share: String,
    /// Document path inside the share
    path: String,
    /// The version to write back
    #[arg(long)]
    version: u32,
    /// Write it to this path in the share instead of PATH
    #[arg(long, value_name = "PATH")]
    to: Option<String>,
    /// Replace an existing file at --to (its content is versioned first)
    #[arg(long)]
    overwrite: bool,
    /// Print the API's JSON
    #[arg(long)]
    json: bool,
}

pub fn run(config: Option<&Path>, args: Args) -> anyhow::Result<()> {
    let client = Client::from_config(config)?;
    let route = format!(
        "/api/v1/shares/{}/restore/{}",
        encode_path(&args.share),
        encode_path(&args.path)
    );
    let body = json!({ "version": args.version, "to": args.to, "overwrite": args.overwrite });
    let answer: serde_json::Value =
        block_on(async { anyhow::Ok(client.post(&route, &body).await?.json().await?) })??;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else if answer["unchanged"] == true {
        println!(
            "{} already holds version {} (it is v{}); nothing written",
            answer["path"].as_str().unwrap_or_default(),
            args.version,
            answer["version"]
        );
    } else {
        println!(
            "restored {} v{} as v{}",
            answer["path"].as_str().unwrap_or_default(),
            args.version,
            answer["version"]
        );
    }
    Ok(())
}
