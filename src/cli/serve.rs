//! `docvault serve`: run the daemon.

use std::path::Path;

use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(config: Option<&Path>, _args: Args) -> anyhow::Result<()> {
    let config = Config::load(&Config::locate(config)?)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(crate::daemon::serve(config, None))
}
