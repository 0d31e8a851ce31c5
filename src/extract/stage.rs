//! The extraction stage: a few threads, each owning one worker process,
//! take committed versions, read their blob from the archive, extract them
//! in the sandbox and send the result back to ingest, which records it in
//! the version's note. It runs beside ingest, so a slow PDF never holds up
//! the versioning of the files behind it. Results travel on a bounded
//! channel: while ingest is busy with a bulk import, extraction waits
//! instead of piling up texts in memory.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use tracing::{debug, warn};

use super::sandbox::Worker;
use super::{Extracted, Limits, Status};
use crate::archive::Archive;

/// A committed version waiting for extraction.
#[derive(Debug, Clone)]
pub struct Job {
    pub share: String,
    pub path: String,
    pub version: u32,
    pub commit: git2::Oid,
    pub blob: git2::Oid,
    pub size: u64,
    /// When this daemon committed the version (`None` for a version of an
    /// earlier run queued again at start): indexing latency is timed from it.
    pub committed: Option<std::time::Instant>,
}

/// What extraction made of a version.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub job: Job,
    pub extracted: Extracted,
}

/// Starts `workers` extraction threads; they end when every `Job` sender is gone.
pub fn start(
    workers: usize,
    exe: PathBuf,
    limits: Limits,
    archive: PathBuf,
    jobs: Receiver<Job>,
    results: SyncSender<Outcome>,
) -> std::io::Result<()> {
    let jobs = Arc::new(Mutex::new(jobs));
    for i in 0..workers {
        let (jobs, results, archive) = (jobs.clone(), results.clone(), archive.clone());
        let mut worker = Worker::new(exe.clone(), limits);
        std::thread::Builder::new()
            .name(format!("extract-{i}"))
            .spawn(move || {
                // Reading versions for the worker processes (which run at
                // background priority too) is background work.
                crate::background::lower_this_thread();
                loop {
                    let job = match jobs.lock().expect("job queue lock").recv() {
                        Ok(job) => job,
                        Err(_) => return,
                    };
                    let extracted = run(&mut worker, &archive, &job, &limits);
                    if results.send(Outcome { job, extracted }).is_err() {
                        return;
                    }
                }
            })?;
    }
    Ok(())
}

fn run(worker: &mut Worker, archive: &std::path::Path, job: &Job, limits: &Limits) -> Extracted {
    let failed = |reason: String| Extracted {
        text: String::new(),
        title: None,
        author: None,
        mime: "application/octet-stream".into(),
        status: Status::Failed(reason),
    };
    if job.size > limits.max_input {
        let mut out = failed(String::new());
        out.status = Status::Refused("input size over limit".into());
        return out;
    }
    let mut data = Vec::with_capacity(job.size as usize);
    let read = Archive::open(archive).and_then(|a| a.copy_blob(job.blob, &mut data));
    if let Err(e) = read {
        warn!(share = %job.share, path = %job.path, version = job.version, error = %e, "cannot read version for extraction");
        return failed(format!("cannot read the version from the archive: {e}"));
    }
    let out = worker.extract(&data, &job.path);
    debug!(share = %job.share, path = %job.path, version = job.version, status = %out.status, "extracted");
    if let Status::Failed(reason) = &out.status {
        warn!(share = %job.share, path = %job.path, version = job.version, reason, "extraction failed");
    }
    out
}
