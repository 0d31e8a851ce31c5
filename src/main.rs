//! The `docvault` binary: parse the command line, run, map errors to an exit code.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = docvault::cli::Cli::parse();
    docvault::cli::init_logging(cli.log_format);
    match cli.run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
