//! The command line: one file per subcommand, each with its `Args` and `run()`.

mod cat;
mod check_config;
mod client;
mod diff;
mod history;
mod holds;
mod reindex;
mod restore;
mod retention;
mod search;
mod serve;
mod token;
mod verify;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// docvault: every version of every document in your project shares, archived and findable.
#[derive(Debug, Parser)]
#[command(name = "docvault", version, about)]
pub struct Cli {
    /// Configuration file [default: ./docvault.toml, then /etc/docvault/docvault.toml]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log format on stderr
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: watch the shares, version every change, serve the API
    Serve(serve::Args),
    /// Check the configuration file and print what it configures
    CheckConfig(check_config::Args),
    /// Show a document's versions (asks the running daemon)
    History(history::Args),
    /// Write a version of a document to stdout (asks the running daemon)
    Cat(cat::Args),
    /// Write an old version back into its share (asks the running daemon)
    Restore(restore::Args),
    /// Search the text of every document (asks the running daemon)
    Search(search::Args),
    /// Show what changed between two versions of a document (asks the running daemon)
    Diff(diff::Args),
    /// Rebuild the search index from the archive (daemon stopped)
    Reindex(reindex::Args),
    /// Check the audit trail's hash chain and every version's content (daemon may run)
    Verify(verify::Args),
    /// Legal holds: list, add, remove (asks the running daemon)
    Holds(holds::Args),
    /// Retention: check a document, list due versions, dispose (asks the running daemon)
    Retention(retention::Args),
    /// Make API tokens
    Token(token::Args),
    /// Internal: an extraction worker process (the daemon starts these)
    #[command(hide = true)]
    ExtractWorker(ExtractWorkerArgs),
}

#[derive(Debug, clap::Args)]
pub struct ExtractWorkerArgs {
    /// Address-space limit in bytes
    #[arg(long)]
    memory: u64,
}

impl Cli {
    pub fn run(self) -> anyhow::Result<()> {
        let config = self.config.as_deref();
        match self.command {
            Command::Serve(args) => serve::run(config, args),
            Command::CheckConfig(args) => check_config::run(config, args),
            Command::History(args) => history::run(config, args),
            Command::Cat(args) => cat::run(config, args),
            Command::Restore(args) => restore::run(config, args),
            Command::Search(args) => search::run(config, args),
            Command::Diff(args) => diff::run(config, args),
            Command::Reindex(args) => reindex::run(config, args),
            Command::Verify(args) => verify::run(config, args),
            Command::Holds(args) => holds::run(config, args),
            Command::Retention(args) => retention::run(config, args),
            Command::Token(args) => token::run(args),
            Command::ExtractWorker(args) => crate::extract::sandbox::worker_main(args.memory),
        }
    }
}

/// Sets up logging on stderr; the filter comes from `DOCVAULT_LOG`.
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DOCVAULT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("docvault=info,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
