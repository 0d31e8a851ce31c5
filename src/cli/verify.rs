//! `docvault verify`: checks the archive against its own records.
//!
//! - the audit trail's hash chain (a changed, removed or inserted event is
//!   found and named);
//! - every version's content: its blob exists and hashes to the sha256 its
//!   record holds (bit rot, a truncated object, a tampered blob).
//!
//! Read-only, so it runs on a stopped daemon's data dir or beside a running
//! one. Exits non-zero with one line per problem when anything is wrong.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::archive::Archive;
use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Skip re-hashing every version's content (check the audit chain only)
    #[arg(long)]
    chain_only: bool,
}

/// A `Write` that only hashes.
struct HashSink(Sha256);

impl Write for HashSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn run(config: Option<&Path>, args: Args) -> anyhow::Result<()> {
    let config = Config::load(&Config::locate(config)?)?;
    let started = Instant::now();
    let archive = Archive::open(&config.data_dir.join("archive.git"))?;
    let mut problems = Vec::new();

    let (events, _) = crate::audit::read_log(archive.repo())?;
    match crate::audit::verify_chain(&events) {
        Ok(()) => {}
        Err(e) => problems.push(format!("audit trail: {e}")),
    }

    let mut versions = 0u64;
    if !args.chain_only {
        let catalog = archive.load_catalog(config.shares.iter().map(|s| s.name.as_str()))?;
        let records: Vec<_> = catalog
            .shares()
            .flat_map(|(_, s)| s.docs.values())
            .flat_map(|d| d.versions.iter())
            .filter(|v| !v.is_deletion())
            .collect();
        let bar = indicatif::ProgressBar::new(records.len() as u64).with_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {pos}/{len} versions ({per_sec}, {eta} left)",
            )
            .expect("template is valid")
            .progress_chars("=> "),
        );
        for r in records {
            versions += 1;
            bar.inc(1);
            let what = format!("{}/{} v{}", r.share, r.path, r.version);
            let Some(blob) = r.blob.as_deref().and_then(|b| git2::Oid::from_str(b).ok()) else {
                problems.push(format!("{what}: the record names no blob"));
                continue;
            };
            let mut sink = HashSink(Sha256::new());
            match archive.copy_blob(blob, &mut sink) {
                Ok(_) => {
                    let sha = hex::encode(sink.0.finalize());
                    // A symlink's record hashes its target; so does its blob.
                    if sha != r.sha256 {
                        problems.push(format!(
                            "{what}: content hashes to {sha}, its record says {}",
                            r.sha256
                        ));
                    }
                }
                Err(e) => problems.push(format!("{what}: cannot read blob {blob}: {e}")),
            }
        }
        bar.finish_and_clear();
    }

    for p in &problems {
        eprintln!("{p}");
    }
    let summary = format!(
        "checked {} audit events and {versions} versions in {:.1}s",
        events.len(),
        started.elapsed().as_secs_f64()
    );
    if problems.is_empty() {
        println!("{summary}: all good");
        Ok(())
    } else {
        anyhow::bail!("{summary}: {} problem(s) found", problems.len())
    }
}
