//! `docvault check-config`: validate the configuration and say what it sets up.

use std::path::Path;

use crate::config::{Config, WatcherKind};

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(config: Option<&Path>, _args: Args) -> anyhow::Result<()> {
    let file = Config::locate(config)?;
    let config = Config::load(&file)?;
    println!("{}: ok", config.file.display());
    println!("data_dir: {}", config.data_dir.display());
    println!("listen: {}", config.server.listen);
    for share in &config.shares {
        let watcher = match share.watcher {
            WatcherKind::Auto => "auto",
            WatcherKind::Native => "native",
            WatcherKind::Poll => "poll",
        };
        let note = if share.path.exists() {
            ""
        } else {
            " (will be created)"
        };
        println!(
            "share {}: {}{note} [watcher {watcher}]",
            share.name,
            share.path.display()
        );
    }
    println!(
        "retention rules: {}, tokens: {}",
        config.retention.len(),
        config.tokens.len()
    );
    Ok(())
}
