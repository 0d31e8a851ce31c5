//! Boot and shutdown: open the archive, rebuild the catalog, start the watch
//! and ingest threads, serve the API, and on SIGTERM/SIGINT stop accepting,
//! let ingest finish the batch in hand, and return.

use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock, mpsc};

use anyhow::Context;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::api::{AppState, router};
use crate::archive::Archive;
use crate::config::Config;
use crate::ingest::{Ingest, Progress};
use crate::metrics::Metrics;
use crate::watch::Watch;

/// Runs the daemon until a termination signal. `listener` lets tests bind port 0.
pub async fn serve(config: Config, listener: Option<TcpListener>) -> anyhow::Result<()> {
    prepare_shares(&config)?;
    if config.tokens.is_empty() {
        info!(listen = %config.server.listen, "no [[tokens]] configured: every request on this loopback address is allowed");
    } else {
        info!(
            tokens = config.tokens.len(),
            "API requests need a bearer token"
        );
    }
    if config.tokens.is_empty() && !config.server.listen.ip().is_loopback() {
        anyhow::bail!(
            "server.listen is {} (not a loopback address) and no [[tokens]] are configured; \
             refusing to serve documents to the network without authentication",
            config.server.listen
        );
    }
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data_dir {}", config.data_dir.display()))?;
    let _lock = lock_data_dir(&config.data_dir)?;
    let archive_path = config.data_dir.join("archive.git");
    let archive = Archive::open_or_init(&archive_path)?;
    archive.remove_stale_files()?;
    if let Some(disposed) = crate::dispose::recover(&config.data_dir, &archive, None)
        .context("cannot finish the disposition a crash interrupted")?
    {
        info!(
            versions = disposed.len(),
            "finished a disposition a crash interrupted"
        );
    }
    for share in &config.shares {
        archive.ensure_branch(&share.name)?;
    }
    let catalog = archive.load_catalog(config.shares.iter().map(|s| s.name.as_str()))?;
    let catalog = Arc::new(RwLock::new(catalog));
    let progress = Arc::new(Progress::default());
    let metrics = Arc::new(Metrics::new(progress.clone()));

    let audit = crate::audit::AuditLog::load(&archive)
        .context("cannot read the audit log from the archive")?;
    let events = audit.events();
    let retention: crate::ingest::SharedRules = Arc::new(RwLock::new(config.retention.clone()));
    let holds: crate::ingest::SharedHolds = Arc::new(RwLock::new(
        crate::holds::load(archive.repo())
            .context("cannot read the legal holds from the archive")?,
    ));

    let readers = Arc::new(crate::archive::ArchiveReaders::new(&archive_path));
    let (watch_tx, watch_rx) = mpsc::channel();
    let (ingest_tx, ingest_rx) = mpsc::channel();
    let mut ingest = Ingest::new(
        &config,
        archive,
        catalog.clone(),
        progress.clone(),
        watch_tx.clone(),
    );
    ingest = ingest
        .with_metrics(metrics.clone())
        .with_audit(audit)
        .with_holds(holds.clone())
        .with_retention(retention.clone())
        .with_readers(readers.clone());
    let mut searcher = None;
    if config.extract.workers > 0 {
        let (jobs_tx, jobs_rx) = mpsc::channel();
        let (results_tx, results_rx) = mpsc::sync_channel(64);
        let exe = std::env::current_exe()
            .context("cannot find the docvault binary for extraction workers")?;
        let limits = config.extract.limits;
        crate::extract::stage::start(
            config.extract.workers,
            exe,
            limits,
            archive_path.clone(),
            jobs_rx,
            results_tx,
        )?;
        let index = crate::index::Index::open_or_create(&config.data_dir.join("index"))
            .with_context(|| {
                format!(
                    "cannot open the search index in {}",
                    config.data_dir.display()
                )
            })?;
        searcher = Some(index.searcher());
        ingest = ingest
            .with_extraction(jobs_tx, results_rx)
            .with_index(index);
    } else {
        warn!("[extract] workers = 0: text extraction and search are off");
    }
    let watch = Watch::new(
        &config,
        catalog.clone(),
        progress.clone(),
        watch_tx,
        ingest_tx.clone(),
    );
    let ingest_thread = std::thread::Builder::new()
        .name("ingest".into())
        .spawn(move || ingest.run(ingest_rx))?;
    let watch_thread = std::thread::Builder::new()
        .name("watch".into())
        .spawn(move || watch.run(watch_rx))?;

    let listener = match listener {
        Some(l) => l,
        None => TcpListener::bind(config.server.listen)
            .await
            .with_context(|| {
                format!("cannot listen on {} (server.listen)", config.server.listen)
            })?,
    };
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");
    info!(%addr, shares = config.shares.len(), "docvault serving");
    let auth = Arc::new(crate::api::auth::Auth::new(config.tokens.clone()));
    tokio::spawn(crate::memory::trim_while_running());
    tokio::spawn(reload_on_sighup(
        config.clone(),
        auth.clone(),
        retention.clone(),
        ingest_tx.clone(),
    ));
    let state = AppState {
        catalog,
        progress: progress.clone(),
        archive_path,
        archive: readers,
        searcher,
        cpu: crate::api::cpu_permits(),
        auth,
        ingest: ingest_tx,
        events,
        holds,
        retention: retention.clone(),
        metrics,
    };
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;

    info!("stopping: finishing the batch in hand");
    progress.stopping.store(true, Ordering::SeqCst);
    tokio::task::spawn_blocking(move || {
        let _ = watch_thread.join();
        let _ = ingest_thread.join();
    })
    .await?;
    info!("stopped");
    Ok(())
}

/// Takes the data dir's lock for the daemon's lifetime: one writer per archive.
pub fn lock_data_dir(
    data_dir: &std::path::Path,
) -> anyhow::Result<nix::fcntl::Flock<std::fs::File>> {
    let path = data_dir.join("docvault.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| {
        anyhow::anyhow!(
            "data_dir {} is in use by another docvault ({errno}); only one daemon may write an archive",
            data_dir.display()
        )
    })
}

/// Creates the share folders marked `create = true` that do not exist yet.
fn prepare_shares(config: &Config) -> anyhow::Result<()> {
    for share in &config.shares {
        if !share.path.exists() && share.create {
            std::fs::create_dir_all(&share.path)
                .with_context(|| format!("cannot create share folder {}", share.path.display()))?;
            info!(share = %share.name, path = %share.path.display(), "created share folder");
        }
        anyhow::ensure!(
            share.path.is_dir(),
            "share folder {} does not exist",
            share.path.display()
        );
    }
    Ok(())
}

/// On SIGHUP: reads the configuration file again and takes its tokens and
/// retention rules (the rest needs a restart, and the log says so). A file
/// that does not load changes nothing. Each reload is an audit event.
async fn reload_on_sighup(
    mut running: Config,
    auth: Arc<crate::api::auth::Auth>,
    retention: Arc<RwLock<Vec<crate::config::RetentionRule>>>,
    ingest: mpsc::Sender<crate::watch::IngestMsg>,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        warn!("cannot listen for SIGHUP; configuration reloads need a restart");
        return;
    };
    while hup.recv().await.is_some() {
        let new = match Config::load(&running.file) {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, "SIGHUP: the configuration does not load; nothing changed");
                continue;
            }
        };
        if new.tokens.is_empty() && !running.server.listen.ip().is_loopback() {
            warn!(
                "SIGHUP: the new configuration has no [[tokens]] on a non-loopback address; nothing changed"
            );
            continue;
        }
        let mut restart = Vec::new();
        if new.data_dir != running.data_dir {
            restart.push("data_dir");
        }
        if new.server.listen != running.server.listen {
            restart.push("server.listen");
        }
        let names = |c: &Config| {
            c.shares
                .iter()
                .map(|s| (s.name.clone(), s.path.clone()))
                .collect::<Vec<_>>()
        };
        if names(&new) != names(&running) {
            restart.push("shares");
        }
        if format!("{:?}", new.watch) != format!("{:?}", running.watch) {
            restart.push("watch");
        }
        if format!("{:?}", new.extract) != format!("{:?}", running.extract) {
            restart.push("extract");
        }
        auth.replace(new.tokens.clone());
        *retention.write().expect("rules lock") = new.retention.clone();
        let tokens: Vec<&str> = new.tokens.iter().map(|t| t.name.as_str()).collect();
        let rules: Vec<&str> = new.retention.iter().map(|r| r.name.as_str()).collect();
        info!(?tokens, ?rules, needs_restart = ?restart, "SIGHUP: configuration reloaded");
        let draft = crate::audit::Draft {
            at: crate::retention::rfc3339(std::time::SystemTime::now()),
            kind: "config_reloaded".into(),
            share: None,
            path: None,
            version: None,
            actor: "sighup".into(),
            detail: serde_json::json!({
                "file": new.file.display().to_string(),
                "tokens": tokens,
                "retention": rules,
                "needs_restart": restart,
            }),
        };
        let _ = ingest.send(crate::watch::IngestMsg::Audit(Box::new(draft)));
        running = Config {
            tokens: new.tokens,
            retention: new.retention,
            ..running
        };
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler installs");
    tokio::select! {
        _ = term.recv() => info!("SIGTERM received"),
        _ = int.recv() => info!("SIGINT received"),
    }
}
