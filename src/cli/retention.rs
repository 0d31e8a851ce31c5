//! `docvault retention check|due|dispose` (asks the running daemon;
//! dispose needs an admin token).

use std::path::Path;

use serde_json::{Value, json};

use super::client::{Client, block_on, encode_path};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: RetentionCommand,
    /// Print the API's JSON
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum RetentionCommand {
    /// Each version of a document: current, retained, held or due, and why
    Check {
        /// Share name
        share: String,
        /// Document path inside the share
        path: String,
    },
    /// The versions that may be disposed of now
    Due {
        /// Only this share
        #[arg(long)]
        share: Option<String>,
    },
    /// Physically remove the due versions from the archive and the index
    Dispose {
        /// List what would be removed, remove nothing
        #[arg(long)]
        dry_run: bool,
    },
}

pub fn run(config: Option<&Path>, args: Args) -> anyhow::Result<()> {
    let client = Client::from_config(config)?;
    let answer: Value = match &args.command {
        RetentionCommand::Check { share, path } => {
            let route = format!(
                "/api/v1/retention/check?share={}&path={}",
                encode_path(share),
                encode_path(path).replace('/', "%2F")
            );
            block_on(async { anyhow::Ok(client.get(&route).await?.json().await?) })??
        }
        RetentionCommand::Due { share } => {
            let route = match share {
                Some(s) => format!("/api/v1/retention/due?share={}", encode_path(s)),
                None => "/api/v1/retention/due".to_owned(),
            };
            block_on(async { anyhow::Ok(client.get(&route).await?.json().await?) })??
        }
        RetentionCommand::Dispose { dry_run } => {
            let body = json!({ "dry_run": dry_run });
            block_on(async {
                anyhow::Ok(
                    client
                        .post("/api/v1/retention/dispose", &body)
                        .await?
                        .json()
                        .await?,
                )
            })??
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(());
    }
    match args.command {
        RetentionCommand::Check { .. } => {
            println!(
                "{}:{} — policy {}",
                answer["share"].as_str().unwrap_or_default(),
                answer["path"].as_str().unwrap_or_default(),
                answer["policy"].as_str().unwrap_or("(none: kept forever)")
            );
            for v in answer["versions"].as_array().into_iter().flatten() {
                let until = v["retain_until"]
                    .as_str()
                    .map(|u| format!(" until {u}"))
                    .unwrap_or_default();
                let reasons: Vec<&str> = v["reasons"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                println!(
                    "v{:<4} {:<9}{until}  {}",
                    v["version"].as_u64().unwrap_or_default(),
                    v["status"].as_str().unwrap_or_default(),
                    reasons.join("; ")
                );
            }
        }
        RetentionCommand::Due { .. } => {
            for v in answer["versions"].as_array().into_iter().flatten() {
                println!(
                    "{}:{} v{} ({} bytes, superseded {}, rule {})",
                    v["share"].as_str().unwrap_or_default(),
                    v["path"].as_str().unwrap_or_default(),
                    v["version"],
                    v["size"],
                    v["superseded_at"].as_str().unwrap_or("-"),
                    v["policy"].as_str().unwrap_or_default()
                );
            }
            println!(
                "{} versions due, {} bytes",
                answer["versions"].as_array().map_or(0, Vec::len),
                answer["bytes"]
            );
        }
        RetentionCommand::Dispose { dry_run } => {
            for v in answer["disposed"].as_array().into_iter().flatten() {
                println!(
                    "{} {}:{} v{} ({} bytes, sha256 {})",
                    if dry_run { "would dispose" } else { "disposed" },
                    v["share"].as_str().unwrap_or_default(),
                    v["path"].as_str().unwrap_or_default(),
                    v["version"],
                    v["size"],
                    v["sha256"].as_str().unwrap_or_default()
                );
            }
            println!(
                "{} {} versions, {} bytes",
                if dry_run { "would dispose" } else { "disposed" },
                answer["disposed"].as_array().map_or(0, Vec::len),
                answer["bytes"]
            );
        }
    }
    Ok(())
}
