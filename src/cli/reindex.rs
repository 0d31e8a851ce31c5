//! `docvault reindex`: rebuild the search index from the archive alone.
//!
//! Works on a stopped daemon's data dir (it takes the same lock). Every
//! content version is read from the archive and extracted again in sandboxed
//! workers; the old index is cleared first, so the rebuilt one answers
//! exactly what the archive holds.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context;

use crate::archive::Archive;
use crate::config::Config;
use crate::extract::sandbox::Worker;
use crate::extract::stage::Outcome;
use crate::index::Index;
use crate::ingest::{index_entry, job_for_any};

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(config: Option<&Path>, _args: Args) -> anyhow::Result<()> {
    let config = Config::load(&Config::locate(config)?)?;
    let _lock = crate::daemon::lock_data_dir(&config.data_dir)
        .context("stop the daemon before reindexing (it holds the data dir)")?;
    let started = Instant::now();
    let archive_path = config.data_dir.join("archive.git");
    let archive = Archive::open(&archive_path)?;
    crate::dispose::recover(&config.data_dir, &archive, None)
        .context("cannot finish the disposition a crash interrupted")?;
    let catalog = archive.load_catalog(config.shares.iter().map(|s| s.name.as_str()))?;
    let jobs: Vec<_> = catalog
        .shares()
        .flat_map(|(_, s)| s.docs.values())
        .flat_map(|d| d.versions.iter())
        .filter_map(job_for_any)
        .collect();
    let mut index = Index::open_or_create(&config.data_dir.join("index"))?;
    index.clear()?;
    let bar = indicatif::ProgressBar::new(jobs.len() as u64).with_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} versions ({per_sec}, {eta} left)",
        )
        .expect("template is valid")
        .progress_chars("=> "),
    );
    let queue = Mutex::new(jobs.into_iter());
    let (tx, rx) = std::sync::mpsc::sync_channel::<Outcome>(64);
    let exe = std::env::current_exe()?;
    let limits = config.extract.limits;
    let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
    std::thread::scope(|scope| -> anyhow::Result<()> {
        for _ in 0..config.extract.workers.max(1) {
            let (queue, tx, exe) = (&queue, tx.clone(), exe.clone());
            let archive_path = &archive_path;
            scope.spawn(move || {
                let mut worker = Worker::new(exe, limits);
                let archive = Archive::open(archive_path).ok();
                loop {
                    let Some(job) = queue.lock().expect("queue lock").next() else {
                        return;
                    };
                    let mut data = Vec::new();
                    let extracted = match archive.as_ref().map(|a| a.copy_blob(job.blob, &mut data))
                    {
                        Some(Ok(_)) => worker.extract(&data, &job.path),
                        _ => worker.extract(b"", &job.path),
                    };
                    if tx.send(Outcome { job, extracted }).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        for mut outcome in rx {
            *statuses
                .entry(outcome.extracted.status.word().to_owned())
                .or_default() += 1;
            let doc = catalog.document(&outcome.job.share, &outcome.job.path);
            let text = std::mem::take(&mut outcome.extracted.text);
            if let Some(entry) = doc.and_then(|d| index_entry(d, outcome.job.version, text)) {
                index.add(entry)?;
            }
            bar.inc(1);
        }
        Ok(())
    })?;
    let absorbed = catalog
        .shares()
        .filter_map(|(name, s)| Some((name.clone(), s.head?.to_string())))
        .collect();
    index.commit(&absorbed)?;
    bar.finish_and_clear();
    let total: u64 = statuses.values().sum();
    let by_status: Vec<String> = statuses.iter().map(|(s, n)| format!("{n} {s}")).collect();
    println!(
        "reindexed {total} versions of {} shares in {:.1}s ({})",
        config.shares.len(),
        started.elapsed().as_secs_f64(),
        by_status.join(", ")
    );
    Ok(())
}
