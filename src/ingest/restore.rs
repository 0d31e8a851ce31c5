//! Restore: the writer puts an old version back into its share.
//!
//! Restores run on the ingest thread (the one writer), so a restore and the
//! watcher never race on the archive. The order makes a restore lose
//! nothing: whatever the file on disk holds is versioned first (even if it
//! has not settled yet), then the old bytes are written to a temp file in the
//! same folder, fsynced, renamed over the target and the folder fsynced, and
//! at once versioned as `restored`. The watcher's events for the rename then
//! find content the catalog already has.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use git2::Oid;
use tracing::info;

use super::{Ingest, file_mode};
use crate::archive::{Staged, TreeOp};
use crate::catalog::{Event, FileKind, FileStat, VersionRecord, format_mtime};
use crate::watch::{Settled, nfc};

/// What an API handler asks the writer to restore.
#[derive(Debug)]
pub struct RestoreRequest {
    pub share: String,
    /// The document whose version is restored (a checked document path).
    pub path: String,
    pub version: u32,
    /// Where to write it (a checked document path); `None`: back to `path`.
    pub to: Option<String>,
    /// Whether an existing file at `to` may be replaced.
    pub overwrite: bool,
    /// Who asked (the token's name), recorded with the new version.
    pub actor: String,
    pub reply: tokio::sync::oneshot::Sender<Result<Restored, RestoreError>>,
}

/// The answer: the document written and its new current version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Restored {
    pub path: String,
    pub version: u32,
    pub restored_from: u32,
    /// The file already held these bytes: nothing was written, no version made.
    pub unchanged: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RestoreError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadPath(String),
    /// The file is being written right now: nothing was changed, try again.
    #[error("{0}")]
    Busy(String),
    #[error("{0}")]
    Failed(String),
}

/// Temp files get unique names within the process.
static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

impl Ingest {
    /// Handles one restore request and sends the answer back.
    pub(super) fn restore(&mut self, req: RestoreRequest) {
        let result = self.try_restore(&req);
        match &result {
            Ok(r) => {
                info!(share = %req.share, path = %r.path, version = r.version,
                    restored_from = r.restored_from, actor = %req.actor, unchanged = r.unchanged, "restored")
            }
            Err(e) => info!(share = %req.share, path = %req.path, version = req.version,
                actor = %req.actor, error = %e, "restore refused"),
        }
        let _ = req.reply.send(result);
    }

    fn try_restore(&mut self, req: &RestoreRequest) -> Result<Restored, RestoreError> {
        let share = self
            .shares
            .iter()
            .position(|(name, _)| *name == req.share)
            .ok_or_else(|| RestoreError::NotFound(format!("no share named {}", req.share)))?;
        let name = req.share.clone();
        let source = self.source(req)?;
        let target = req.to.clone().unwrap_or_else(|| req.path.clone());
        if crate::config::is_ignored(&self.ignore[share], &target) {
            return Err(RestoreError::BadPath(format!(
                "{target} matches an ignore rule of share {name}; it would never be versioned"
            )));
        }
        let root = self.shares[share].1.clone();
        let (rel, full) = on_disk(&root, &target)?;
        let stat = FileStat::of(&full)
            .map_err(|e| RestoreError::Failed(format!("cannot stat {target}: {e}")))?;
        let mut keep_mode = None;
        if let Some(stat) = stat {
            match stat.kind {
                FileKind::Dir | FileKind::Other => {
                    return Err(RestoreError::Conflict(format!(
                        "{target} is a folder or special file on disk"
                    )));
                }
                FileKind::File | FileKind::Symlink => {}
            }
            if req.to.is_some() && target != req.path && !req.overwrite {
                return Err(RestoreError::Conflict(format!(
                    "{target} exists; pass \"overwrite\": true to replace it (its content is versioned first)"
                )));
            }
            self.version_on_disk(share, &rel, &target, stat)?;
            if stat.kind == FileKind::File {
                keep_mode = fs::symlink_metadata(&full)
                    .ok()
                    .map(|m| m.permissions().mode() & 0o7777);
            }
        }
        let current = {
            let catalog = self.catalog.read().expect("catalog lock");
            catalog
                .document(&name, &target)
                .filter(|d| d.is_live())
                .and_then(|d| d.current())
                .map(|v| (v.version, v.sha256.clone()))
        };
        if let Some((version, sha)) = &current {
            if *sha == source.sha256 {
                return Ok(Restored {
                    path: target,
                    version: *version,
                    restored_from: source.version,
                    unchanged: true,
                });
            }
        }
        let blob = source
            .blob
            .as_deref()
            .and_then(|b| Oid::from_str(b).ok())
            .ok_or_else(|| {
                RestoreError::Failed(format!("version {} has no blob", source.version))
            })?;
        let link = source.mode.as_deref() == Some("120000");
        let mode = keep_mode.unwrap_or(if source.mode.as_deref() == Some("100755") {
            0o755
        } else {
            0o644
        });
        self.write_atomically(&full, blob, link, mode)?;
        let stat = FileStat::of(&full)
            .ok()
            .flatten()
            .ok_or_else(|| RestoreError::Failed(format!("{target} vanished after the restore")))?;
        let sha: [u8; 32] = hex::decode(&source.sha256)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| RestoreError::Failed("bad sha256 in the version record".into()))?;
        let version = {
            let catalog = self.catalog.read().expect("catalog lock");
            catalog
                .document(&name, &target)
                .map_or(1, |d| d.next_version())
        };
        let mut record =
            VersionRecord::new(&name, &target, version, Event::Restored, source.size, sha);
        record.mtime = Some(format_mtime(stat.mtime()));
        record.inode = Some(stat.inode);
        record.blob = Some(blob.to_string());
        let git_mode = file_mode(&stat);
        record.mode = Some(format!("{:o}", u32::from(git_mode)));
        record.mime = source.mime.clone();
        record.restored_from = Some(source.version);
        record.actor = Some(req.actor.clone());
        if self.extract.is_some() && stat.kind == FileKind::File {
            record.extraction.status = super::PENDING.into();
        }
        let staged = vec![Staged {
            record,
            tree: TreeOp::Upsert {
                oid: blob,
                mode: git_mode,
            },
        }];
        if !self.commit(&name, staged) {
            return Err(RestoreError::Failed(format!(
                "{target} was written back but the archive commit failed; the next scan versions it"
            )));
        }
        if let Some(doc) = self
            .catalog
            .write()
            .expect("catalog lock")
            .document_mut(&name, &target)
        {
            doc.seen = Some(stat);
        }
        Ok(Restored {
            path: target,
            version,
            restored_from: source.version,
            unchanged: false,
        })
    }

    /// The version to restore: it must exist and have content.
    fn source(&self, req: &RestoreRequest) -> Result<VersionRecord, RestoreError> {
        let catalog = self.catalog.read().expect("catalog lock");
        let doc = catalog.document(&req.share, &req.path).ok_or_else(|| {
            RestoreError::NotFound(format!("no document {} in share {}", req.path, req.share))
        })?;
        let record = doc.version(req.version).ok_or_else(|| {
            RestoreError::NotFound(format!("{} has no version {}", req.path, req.version))
        })?;
        if record.is_deletion() {
            return Err(RestoreError::Gone(format!(
                "version {} of {} records its deletion and has no content to restore",
                req.version, req.path
            )));
        }
        Ok(record.clone())
    }

    /// Versions what the file on disk holds now, settled or not.
    fn version_on_disk(
        &mut self,
        share: usize,
        rel: &str,
        key: &str,
        stat: FileStat,
    ) -> Result<(), RestoreError> {
        let item = Settled {
            share,
            rel: rel.to_owned(),
            key: key.to_owned(),
            stat: Some(stat),
            renamed_from: None,
        };
        let name = self.shares[share].0.clone();
        let read = self.read(&name, &item, None).ok_or_else(|| {
            RestoreError::Busy(format!(
                "{key} is being written or cannot be read right now; nothing was changed, try again"
            ))
        })?;
        let staged = self.judge(&name, vec![read], &mut Default::default());
        if !staged.is_empty() && !self.commit(&name, staged) {
            return Err(RestoreError::Failed(format!(
                "cannot version the content of {key} on disk; nothing was changed"
            )));
        }
        Ok(())
    }

    /// Temp file beside the target, fsync, rename over it, fsync the folder.
    fn write_atomically(
        &self,
        full: &Path,
        blob: Oid,
        link: bool,
        mode: u32,
    ) -> Result<(), RestoreError> {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            RestoreError::Failed(format!("cannot {what} {}: {e}", full.display()))
        };
        let dir = full.parent().expect("a document path has a parent");
        fs::create_dir_all(dir).map_err(|e| fail("create the folder of", &e))?;
        // `*.tmp` is on the built-in ignore list: the watcher never versions it.
        let temp = dir.join(format!(
            ".~docvault-restore-{}-{}.tmp",
            std::process::id(),
            TEMP_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let written = if link {
            let mut target = Vec::new();
            self.archive
                .copy_blob(blob, &mut target)
                .map_err(|e| fail("read the link target for", &e))
                .and_then(|_| {
                    use std::os::unix::ffi::OsStrExt;
                    std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&target), &temp)
                        .map_err(|e| fail("create a link for", &e))
                })
        } else {
            self.write_temp(&temp, blob, mode)
                .map_err(|e| fail("write a temp file for", &e))
        };
        let renamed = written.and_then(|()| {
            fs::rename(&temp, full).map_err(|e| fail("rename the temp file onto", &e))
        });
        if let Err(e) = renamed {
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| fail("sync the folder of", &e))
    }

    fn write_temp(&self, temp: &Path, blob: Oid, mode: u32) -> std::io::Result<()> {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(temp)?;
        self.archive
            .copy_blob(blob, &mut file)
            .map_err(std::io::Error::other)?;
        file.flush()?;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.sync_all()
    }
}

/// The target's path on disk: each existing component as it is spelled there
/// (a document key is NFC, the disk may hold NFD), never through a symlink,
/// never through a file where a folder is needed.
fn on_disk(root: &Path, key: &str) -> Result<(String, PathBuf), RestoreError> {
    let parts: Vec<&str> = key.split('/').collect();
    let mut full = root.to_path_buf();
    let mut rel = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let name = spelled_on_disk(&full, part);
        full.push(&name);
        rel.push(name);
        if last {
            break;
        }
        match fs::symlink_metadata(&full) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(RestoreError::BadPath(format!(
                    "{key} passes through the symlink {}; restore never writes through links",
                    rel.join("/")
                )));
            }
            Ok(m) if !m.is_dir() => {
                return Err(RestoreError::Conflict(format!(
                    "{} is a file on disk; {key} needs it to be a folder",
                    rel.join("/")
                )));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(RestoreError::Failed(format!(
                    "cannot stat {}: {e}",
                    rel.join("/")
                )));
            }
        }
    }
    Ok((rel.join("/"), full))
}

/// `part` as an entry of `dir` is spelled on disk: itself, or the one entry
/// whose NFC form it is.
fn spelled_on_disk(dir: &Path, part: &str) -> String {
    if fs::symlink_metadata(dir.join(part)).is_ok() {
        return part.to_owned();
    }
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .find(|n| nfc(n) == part)
        .unwrap_or_else(|| part.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_disk_finds_nfd_spellings_and_refuses_symlinked_folders() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::create_dir_all(root.join("Pru\u{308}fung")).unwrap();
        let (rel, full) = on_disk(root, "Pr\u{fc}fung/neu.txt").unwrap();
        assert_eq!(rel, "Pru\u{308}fung/neu.txt");
        assert_eq!(full, root.join("Pru\u{308}fung/neu.txt"));

        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("link")).unwrap();
        assert!(matches!(
            on_disk(root, "link/x.txt"),
            Err(RestoreError::BadPath(_))
        ));
        fs::write(root.join("file"), "x").unwrap();
        assert!(matches!(
            on_disk(root, "file/x.txt"),
            Err(RestoreError::Conflict(_))
        ));
        // Missing folders are fine: the restore creates them.
        assert_eq!(on_disk(root, "a/b/c.txt").unwrap().0, "a/b/c.txt");
    }
}
