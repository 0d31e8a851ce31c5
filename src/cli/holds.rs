//! `docvault holds list|add|remove`: legal holds (asks the running daemon;
//! adding and removing need an admin token).

use std::path::Path;

use serde_json::{Value, json};

use super::client::{Client, block_on};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: HoldsCommand,
    /// Print the API's JSON
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum HoldsCommand {
    /// The standing holds
    List,
    /// Place a hold on a share or a path prefix in it
    Add {
        /// Share name
        share: String,
        /// Share-relative path prefix ("" or omitted: the whole share)
        #[arg(default_value = "")]
        prefix: String,
        /// Why (shown with every version it protects)
        #[arg(long)]
        reason: String,
        /// Only versions recorded at or after this time (RFC 3339)
        #[arg(long)]
        from: Option<String>,
        /// Only versions recorded at or before this time (RFC 3339)
        #[arg(long)]
        to: Option<String>,
    },
    /// Lift a hold
    Remove {
        /// The hold's id (see `holds list`)
        id: u64,
    },
}

pub fn run(config: Option<&Path>, args: Args) -> anyhow::Result<()> {
    let client = Client::from_config(config)?;
    match args.command {
        HoldsCommand::List => {
            let list: Value =
                block_on(async { anyhow::Ok(client.get("/api/v1/holds").await?.json().await?) })??;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            let holds = list["holds"].as_array().cloned().unwrap_or_default();
            if holds.is_empty() {
                println!("no holds");
            }
            for h in holds {
                println!("{}", line(&h));
            }
        }
        HoldsCommand::Add {
            share,
            prefix,
            reason,
            from,
            to,
        } => {
            let body = json!({ "share": share, "prefix": prefix, "reason": reason, "from": from, "to": to });
            let hold: Value = block_on(async {
                anyhow::Ok(client.post("/api/v1/holds", &body).await?.json().await?)
            })??;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&hold)?);
            } else {
                println!("placed {}", line(&hold));
            }
        }
        HoldsCommand::Remove { id } => {
            block_on(async { client.delete(&format!("/api/v1/holds/{id}")).await })??;
            if !args.json {
                println!("lifted hold {id}");
            }
        }
    }
    Ok(())
}

fn line(h: &Value) -> String {
    let s = |k: &str| h[k].as_str().unwrap_or_default().to_owned();
    let mut range = String::new();
    if let Some(from) = h["from"].as_str() {
        range.push_str(&format!(" from {from}"));
    }
    if let Some(to) = h["to"].as_str() {
        range.push_str(&format!(" to {to}"));
    }
    format!(
        "hold {}: {}:{:?}{range} — {} (by {}, {})",
        h["id"],
        s("share"),
        s("prefix"),
        s("reason"),
        s("placed_by"),
        s("placed_at")
    )
}
