//! Watching: file-system events and scans in, settled paths out.
//!
//! Events are hints and the file system is the truth: an event only marks a
//! path dirty. The settle stage re-stats every dirty path each tick and hands
//! it to ingest once its size, mtime and inode stayed the same for
//! `watch.settle` (or after `watch.settle_cap` for a file that never stops
//! changing); a missing path is handed over only after it stayed missing for
//! `watch.delete_grace`, so the delete-then-rename saves of Excel and vim
//! come out as one modification. A rename's source travels with its target,
//! so ingest can record a move on both paths.
//!
//! Reconciliation scans (at start, every `watch.rescan_every`, after an event
//! overflow, and every `poll_every` on polled shares) compare each share with
//! the catalog and mark what differs dirty, deletions included.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use globset::GlobSet;
use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{EventKind, RecursiveMode, Watcher as _};
use tracing::{debug, error, info, warn};
use unicode_normalization::UnicodeNormalization;

use crate::catalog::{Catalog, FileKind, FileStat};
use crate::config::{Config, ShareConfig, WatcherKind};
use crate::ingest::Progress;

/// What reaches the watch stage.
#[derive(Debug)]
pub enum WatchMsg {
    /// A notify event of share `share` (an index into the config's shares).
    Fs {
        share: usize,
        event: notify::Result<notify::Event>,
    },
    /// Ingest saw the file change while reading it: settle it again.
    Requeue { share: usize, rel: String },
    /// Scan every share now.
    Rescan,
}

/// A path that settled: ingest reads it (or records its deletion).
#[derive(Debug, Clone)]
pub struct Settled {
    pub share: usize,
    /// The path relative to the share as it is on disk, `/`-separated.
    pub rel: String,
    /// The document's name: `rel` in Unicode NFC.
    pub key: String,
    /// `None`: the path is gone (for at least the delete grace).
    pub stat: Option<FileStat>,
    /// The document (key) this one was renamed from, if an event said so.
    pub renamed_from: Option<String>,
}

/// What the watch stage sends to ingest.
#[derive(Debug)]
pub enum IngestMsg {
    Batch(Vec<Settled>),
    /// An API request to write a version back (answered on its reply channel).
    Restore(Box<crate::ingest::RestoreRequest>),
    /// An API request to place or lift a legal hold.
    Holds(Box<crate::ingest::HoldRequest>),
    /// An event for the audit trail (a configuration reload).
    Audit(Box<crate::audit::Draft>),
    /// An API request to dispose of the due versions (or list them).
    Dispose(Box<crate::ingest::DisposeRequest>),
    /// Everything the start-up scan found has been sent.
    StartupDone,
}

/// One share as the watch stage sees it.
struct ShareWatch {
    name: String,
    root: PathBuf,
    ignore: GlobSet,
    /// Scanned every `poll_every` instead of (or for lack of) native events.
    poll: Option<Duration>,
    next_poll: Instant,
    poll_every: Duration,
    native: Option<notify::RecommendedWatcher>,
}

/// A dirty path waiting to settle.
#[derive(Debug)]
struct Pending {
    /// The last stat seen; `None` inside `Some` = missing; outer `None` = not yet looked at.
    last: Option<Option<FileStat>>,
    since: Instant,
    first_seen: Instant,
    renamed_from: Option<String>,
    startup: bool,
}

/// The watch stage: owns the notify watchers and the settle map.
pub struct Watch {
    shares: Vec<ShareWatch>,
    pending: HashMap<(usize, String), Pending>,
    catalog: Arc<RwLock<Catalog>>,
    progress: Arc<Progress>,
    settle: Duration,
    cap: Duration,
    grace: Duration,
    rescan_every: Duration,
    out: Sender<IngestMsg>,
    startup_done: bool,
}

impl Watch {
    /// Sets up a watcher (native or polling) per share. Events go to `tx`.
    pub fn new(
        config: &Config,
        catalog: Arc<RwLock<Catalog>>,
        progress: Arc<Progress>,
        tx: Sender<WatchMsg>,
        out: Sender<IngestMsg>,
    ) -> Watch {
        let shares = config
            .shares
            .iter()
            .enumerate()
            .map(|(i, share)| ShareWatch::start(i, share, config, tx.clone()))
            .collect();
        Watch {
            shares,
            pending: HashMap::new(),
            catalog,
            progress,
            settle: config.watch.settle,
            cap: config.watch.settle_cap,
            grace: config.watch.delete_grace,
            rescan_every: config.watch.rescan_every,
            out,
            startup_done: false,
        }
    }

    /// Runs until every sender of `rx` is gone or ingest hangs up.
    pub fn run(mut self, rx: Receiver<WatchMsg>) {
        for share in 0..self.shares.len() {
            self.scan(share, true);
        }
        let tick = (self.settle / 5).clamp(Duration::from_millis(10), Duration::from_millis(200));
        let mut next_rescan = Instant::now() + self.rescan_every;
        loop {
            match rx.recv_timeout(tick) {
                Ok(msg) => self.handle(msg),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            while let Ok(msg) = rx.try_recv() {
                self.handle(msg);
            }
            if self.progress.stopping.load(Ordering::SeqCst) {
                return;
            }
            let now = Instant::now();
            if now >= next_rescan {
                next_rescan = now + self.rescan_every;
                (0..self.shares.len()).for_each(|s| self.scan(s, false));
            }
            for s in 0..self.shares.len() {
                if let Some(every) = self.shares[s].poll {
                    if now >= self.shares[s].next_poll {
                        self.shares[s].next_poll = now + every;
                        self.scan(s, false);
                    }
                }
            }
            if !self.settle_tick() {
                return;
            }
        }
    }

    fn handle(&mut self, msg: WatchMsg) {
        match msg {
            WatchMsg::Fs {
                share,
                event: Ok(event),
            } => self.on_event(share, event),
            WatchMsg::Fs {
                share,
                event: Err(e),
            } => {
                warn!(share = %self.shares[share].name, error = %e, "watch error; rescanning the share");
                self.scan(share, false);
            }
            WatchMsg::Requeue { share, rel } => self.mark(share, rel, None, false),
            WatchMsg::Rescan => (0..self.shares.len()).for_each(|s| self.scan(s, false)),
        }
    }

    fn on_event(&mut self, share: usize, event: notify::Event) {
        debug!(share = %self.shares[share].name, ?event, "fs event");
        if event.need_rescan() {
            info!(share = %self.shares[share].name, "event queue overflowed; rescanning");
            self.scan(share, false);
            return;
        }
        match event.kind {
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => {}
            EventKind::Access(_) => return,
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)) if event.paths.len() == 2 => {
                let from = self.shares[share].relative(&event.paths[0]);
                let to = self.shares[share].relative(&event.paths[1]);
                if let (Some(from), Some(to)) = (from, to) {
                    self.on_rename(share, from, to);
                }
                return;
            }
            _ => {}
        }
        for path in &event.paths {
            if let Some(rel) = self.shares[share].relative(path) {
                self.mark(share, rel, None, false);
            }
        }
    }

    /// A rename inside the share: the target settles with its source attached.
    fn on_rename(&mut self, share: usize, from: String, to: String) {
        let from_key = nfc(&from);
        let moved: Vec<(String, String)> = {
            let catalog = self.catalog.read().expect("catalog lock");
            let name = &self.shares[share].name;
            catalog
                .live_under(name, &from_key)
                .map(|doc| (doc.to_owned(), format!("{to}{}", &doc[from_key.len()..])))
                .collect()
        };
        for (old, new) in moved {
            self.mark(share, old.clone(), None, false);
            self.mark(share, new, Some(old), false);
        }
        let ignored_from = self.shares[share].ignored(&from);
        self.mark(share, from, None, false);
        let hint = (!ignored_from).then_some(from_key);
        self.mark(share, to, hint, false);
    }

    /// Marks a path dirty. Ignored paths are dropped here, after rename pairing.
    fn mark(&mut self, share: usize, rel: String, renamed_from: Option<String>, startup: bool) {
        if rel.is_empty() || self.shares[share].ignored(&rel) {
            return;
        }
        let now = Instant::now();
        let entry = self.pending.entry((share, rel)).or_insert(Pending {
            last: None,
            since: now,
            first_seen: now,
            renamed_from: None,
            startup,
        });
        entry.since = now;
        entry.last = None;
        if renamed_from.is_some() {
            entry.renamed_from = renamed_from;
        }
    }

    /// Marks a path the scan found different; one unchanged for `settle` is ready at once.
    fn mark_scanned(&mut self, share: usize, rel: String, stat: Option<FileStat>, startup: bool) {
        let key = (share, rel);
        if self.pending.contains_key(&key) {
            return;
        }
        let now = Instant::now();
        let old_enough = stat.is_some_and(|s| {
            SystemTime::now()
                .duration_since(s.mtime())
                .is_ok_and(|age| age >= self.settle)
        });
        let since = if old_enough {
            now.checked_sub(self.settle).unwrap_or(now)
        } else {
            now
        };
        self.pending.insert(
            key,
            Pending {
                last: Some(stat),
                since,
                first_seen: now,
                renamed_from: None,
                startup,
            },
        );
    }

    /// Compares a share with the catalog and marks every difference dirty.
    fn scan(&mut self, share: usize, startup: bool) {
        let started = Instant::now();
        let (root, name) = (
            self.shares[share].root.clone(),
            self.shares[share].name.clone(),
        );
        let mut found = std::collections::HashSet::new();
        let mut dirty = Vec::new();
        let mut files = 0u64;
        {
            let catalog = self.catalog.read().expect("catalog lock");
            let walker = walkdir::WalkDir::new(&root)
                .follow_links(false)
                .min_depth(1);
            let walker = walker.into_iter().filter_entry(|e| {
                e.depth() == 0
                    || self.shares[share]
                        .relative(e.path())
                        .is_some_and(|r| !self.shares[share].ignored(&r))
            });
            for entry in walker {
                let entry = match entry {
                    Ok(e) => e,
                    Err(e) => {
                        warn!(share = %name, error = %e, "cannot scan");
                        continue;
                    }
                };
                if entry.file_type().is_dir() {
                    continue;
                }
                let Some(rel) = self.shares[share].relative(entry.path()) else {
                    continue;
                };
                let stat = match FileStat::of(entry.path()) {
                    Ok(Some(s)) if matches!(s.kind, FileKind::File | FileKind::Symlink) => s,
                    Ok(_) => continue,
                    Err(e) => {
                        warn!(share = %name, path = %rel, error = %e, "cannot stat");
                        continue;
                    }
                };
                files += 1;
                let key = nfc(&rel);
                let unchanged = catalog
                    .document(&name, &key)
                    .is_some_and(|d| d.unchanged(&stat));
                found.insert(key);
                if !unchanged {
                    dirty.push((rel, Some(stat)));
                }
            }
            if let Some(state) = catalog.share(&name) {
                for (path, doc) in &state.docs {
                    if doc.is_live() && !found.contains(path) {
                        dirty.push((path.clone(), None));
                    }
                }
            }
        }
        let changes = dirty.len();
        for (rel, stat) in dirty {
            self.mark_scanned(share, rel, stat, startup);
        }
        self.progress.scanned.fetch_add(files, Ordering::Relaxed);
        info!(share = %name, files, changes, took_ms = started.elapsed().as_millis() as u64, "scanned share");
    }

    /// Scans a folder that appeared (a `cp -r` fills it faster than watches are added).
    fn scan_folder(&mut self, share: usize, dir_rel: &str) {
        let root = self.shares[share].root.join(dir_rel);
        let found: Vec<String> = walkdir::WalkDir::new(&root)
            .follow_links(false)
            .min_depth(1)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| !e.file_type().is_dir())
            .filter_map(|e| self.shares[share].relative(e.path()))
            .collect();
        for rel in found {
            self.mark(share, rel, None, false);
        }
    }

    /// Re-stats every pending path and sends what settled. False when ingest is gone.
    fn settle_tick(&mut self) -> bool {
        let now = Instant::now();
        let mut ready: Vec<(usize, String)> = Vec::new();
        let mut folders: Vec<(usize, String)> = Vec::new();
        let mut vanished_folders: Vec<(usize, String)> = Vec::new();
        for ((share, rel), p) in self.pending.iter_mut() {
            let path = self.shares[*share].root.join(rel);
            let stat = match FileStat::of(&path) {
                Ok(s) => s,
                Err(e) => {
                    debug!(path = %path.display(), error = %e, "cannot stat; retrying");
                    continue;
                }
            };
            if stat.is_some_and(|s| s.kind == FileKind::Dir) {
                folders.push((*share, rel.clone()));
                continue;
            }
            if p.last != Some(stat) {
                if p.last.is_some() || stat.is_none() {
                    p.since = now;
                }
                p.last = Some(stat);
            }
            let quiet = now.duration_since(p.since);
            let is_ready = match stat {
                None => quiet >= self.grace,
                Some(_) => quiet >= self.settle || now.duration_since(p.first_seen) >= self.cap,
            };
            if is_ready {
                ready.push((*share, rel.clone()));
            }
            if stat.is_none() {
                vanished_folders.push((*share, rel.clone()));
            }
        }
        for (share, rel) in folders {
            self.pending.remove(&(share, rel.clone()));
            let dir = self.shares[share].root.join(&rel);
            self.shares[share].watch_tree(&dir);
            self.scan_folder(share, &rel);
        }
        self.expand_vanished_folders(vanished_folders);
        let batch = self.take_ready(ready);
        self.progress
            .pending
            .store(self.pending.len() as u64, Ordering::Relaxed);
        if !batch.is_empty() && self.out.send(IngestMsg::Batch(batch)).is_err() {
            return false;
        }
        if !self.startup_done && !self.pending.values().any(|p| p.startup) {
            self.startup_done = true;
            return self.out.send(IngestMsg::StartupDone).is_ok();
        }
        true
    }

    /// A missing path that is no document but a folder of documents: mark them.
    fn expand_vanished_folders(&mut self, paths: Vec<(usize, String)>) {
        let mut docs = Vec::new();
        {
            let catalog = self.catalog.read().expect("catalog lock");
            for (share, rel) in paths {
                let name = &self.shares[share].name;
                let key = nfc(&rel);
                if catalog.document(name, &key).is_some() {
                    continue;
                }
                let under: Vec<String> =
                    catalog.live_under(name, &key).map(str::to_owned).collect();
                if !under.is_empty() {
                    self.pending.remove(&(share, rel));
                    docs.extend(under.into_iter().map(|d| (share, d)));
                }
            }
        }
        for (share, doc) in docs {
            self.mark(share, doc, None, false);
        }
    }

    /// Removes the ready paths from the settle map, bringing each rename's
    /// source along if it is gone.
    fn take_ready(&mut self, ready: Vec<(usize, String)>) -> Vec<Settled> {
        let mut batch = Vec::with_capacity(ready.len());
        for (share, rel) in ready {
            let Some(p) = self.pending.remove(&(share, rel.clone())) else {
                continue;
            };
            let stat = p.last.flatten();
            let mut renamed_from = None;
            if let (Some(_), Some(from)) = (stat, p.renamed_from) {
                let from_key = (share, from.clone());
                let gone = self.pending.get(&from_key).is_some_and(|f| {
                    matches!(f.last, Some(None))
                        || FileStat::of(&self.shares[share].root.join(&from))
                            .is_ok_and(|s| s.is_none())
                });
                if gone {
                    self.pending.remove(&from_key);
                    batch.push(Settled {
                        share,
                        key: nfc(&from),
                        rel: from.clone(),
                        stat: None,
                        renamed_from: None,
                    });
                    renamed_from = Some(nfc(&from));
                }
            }
            batch.push(Settled {
                share,
                key: nfc(&rel),
                rel,
                stat,
                renamed_from,
            });
        }
        batch
    }
}

impl ShareWatch {
    fn start(
        index: usize,
        share: &ShareConfig,
        config: &Config,
        tx: Sender<WatchMsg>,
    ) -> ShareWatch {
        let ignore = config.watch.ignore_set(share);
        let mut poll = match share.watcher {
            WatcherKind::Poll => Some(share.poll_every),
            WatcherKind::Auto => network_fs(&share.path).map(|fs| {
                info!(share = %share.name, filesystem = fs, every = %humantime::format_duration(share.poll_every),
                    "share is on a network file system where change events are not delivered; polling it");
                share.poll_every
            }),
            WatcherKind::Native => None,
        };
        let native = if poll.is_none() {
            match native_watcher(index, tx) {
                Ok(w) => Some(w),
                Err(e) => {
                    error!(share = %share.name, error = %e, "cannot watch share; polling it instead");
                    poll = Some(share.poll_every);
                    None
                }
            }
        } else {
            None
        };
        let mut watch = ShareWatch {
            name: share.name.clone(),
            root: share.path.clone(),
            ignore,
            next_poll: Instant::now() + poll.unwrap_or_default(),
            poll,
            poll_every: share.poll_every,
            native,
        };
        let root = watch.root.clone();
        watch.watch_tree(&root);
        watch
    }

    /// Adds a watch on `dir` and every folder under it. A folder that cannot
    /// be watched (no permission) is logged and skipped, the rest of the
    /// share keeps its events; when the watch limit is reached, the share is
    /// polled instead.
    fn watch_tree(&mut self, dir: &Path) {
        let Some(watcher) = self.native.as_mut() else {
            return;
        };
        let folders = walkdir::WalkDir::new(dir).follow_links(false).into_iter();
        for entry in folders
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_dir())
        {
            let Err(e) = watcher.watch(entry.path(), RecursiveMode::NonRecursive) else {
                continue;
            };
            if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) {
                error!(share = %self.name,
                    "the inotify watch limit is reached; polling this share instead. Raise it with \
                     `sysctl fs.inotify.max_user_watches=1048576` (and make it permanent in /etc/sysctl.d/)");
                self.native = None;
                self.poll = Some(self.poll_every);
                return;
            }
            warn!(share = %self.name, folder = %entry.path().display(), error = %e,
                "cannot watch folder; its files are versioned once it can be read");
        }
    }

    /// The share-relative, `/`-separated path; `None` outside the share or not UTF-8.
    fn relative(&self, path: &Path) -> Option<String> {
        let rel = path.strip_prefix(&self.root).ok()?;
        match rel.to_str() {
            Some(s) => Some(s.to_owned()),
            None => {
                warn!(share = %self.name, path = %path.display(), "file name is not UTF-8; skipped");
                None
            }
        }
    }

    fn ignored(&self, rel: &str) -> bool {
        crate::config::is_ignored(&self.ignore, rel)
    }
}

fn native_watcher(
    index: usize,
    tx: Sender<WatchMsg>,
) -> notify::Result<notify::RecommendedWatcher> {
    let handler = move |event| {
        let _ = tx.send(WatchMsg::Fs {
            share: index,
            event,
        });
    };
    let config = notify::Config::default().with_follow_symlinks(false);
    notify::RecommendedWatcher::new(handler, config)
}

/// The name of the network file system `path` is on, if it is on one.
fn network_fs(path: &Path) -> Option<&'static str> {
    let fs = nix::sys::statfs::statfs(path).ok()?;
    let magic = fs.filesystem_type().0 as u32;
    match magic {
        0x6969 => Some("NFS"),
        0xFF53_4D42 => Some("CIFS"),
        0xFE53_4D42 => Some("SMB2"),
        0x517B => Some("SMB"),
        0x6573_5546 => Some("FUSE"),
        _ => None,
    }
}

/// A path in Unicode NFC, the form documents are named by.
///
/// ```
/// // "Prüfbericht" written by a Mac client (NFD: u + combining diaeresis)
/// let nfd = "Pru\u{308}fbericht.docx";
/// assert_eq!(docvault::watch::nfc(nfd), "Prüfbericht.docx");
/// ```
pub fn nfc(s: &str) -> String {
    s.nfc().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nfd_names_become_nfc_keys() {
        let nfd = "Prüfbericht.docx".nfd().collect::<String>();
        assert_ne!(nfd, "Prüfbericht.docx");
        assert_eq!(nfc(&nfd), "Prüfbericht.docx");
    }
}
