//! `docvault cat SHARE PATH [--version N]`: a version's bytes on stdout.

use std::io::Write;
use std::path::Path;

use futures_util::StreamExt;

use super::client::{Client, block_on, encode_path};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Share name
    share: String,
    /// Document path inside the share
    path: String,
    /// Version number (default: the current version)
    #[arg(long)]
    version: Option<u32>,
}

pub fn run(config: Option<&Path>, args: Args) -> anyhow::Result<()> {
    let client = Client::from_config(config)?;
    let mut route = format!(
        "/api/v1/shares/{}/files/{}",
        encode_path(&args.share),
        encode_path(&args.path)
    );
    if let Some(v) = args.version {
        route.push_str(&format!("?version={v}"));
    }
    block_on(async {
        let response = client.get(&route).await?;
        let mut stream = response.bytes_stream();
        let mut out = std::io::stdout().lock();
        while let Some(chunk) = stream.next().await {
            out.write_all(&chunk?)?;
        }
        out.flush()?;
        anyhow::Ok(())
    })?
}
