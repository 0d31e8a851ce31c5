//! `docvault token new --name N --role R`: a fresh API token, printed once,
//! and the `[[tokens]]` lines (with only its hash) to add to the config.

use crate::api::auth::{new_token, role_name};
use crate::config::Role;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Debug, clap::Subcommand)]
enum TokenCommand {
    /// Make a new random token
    New {
        /// A name for the token's holder; it names the actor in the audit trail
        #[arg(long)]
        name: String,
        /// What the token may do
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    match s {
        "reader" => Ok(Role::Reader),
        "editor" => Ok(Role::Editor),
        "admin" => Ok(Role::Admin),
        _ => Err(format!(
            "unknown role {s:?} (expected reader, editor or admin)"
        )),
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let TokenCommand::New { name, role } = args.command;
    anyhow::ensure!(!name.trim().is_empty(), "--name must not be empty");
    let (token, sha256) = new_token()?;
    let name = toml::Value::String(name);
    println!("token: {token}");
    println!();
    println!("It is shown only now: docvault stores only its SHA-256. Add to the config:");
    println!();
    println!("[[tokens]]");
    println!("name = {name}");
    println!("role = \"{}\"", role_name(role));
    println!("sha256 = \"{sha256}\"");
    Ok(())
}
