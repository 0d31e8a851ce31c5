//! Where the index files live: tantivy's memory-mapped directory, made
//! durable once per index commit instead of once per file.
//!
//! tantivy's own directory syncs every segment file as it is closed and every
//! rewrite of its list of managed files: about 30 fsyncs per commit, which on a
//! busy disk is most of a commit's time. Here files are written without a
//! sync; when a commit writes `meta.json` (the file that makes segments
//! visible), every file written since the last commit is synced first (in
//! parallel, so the journal commits together), then the directory, then
//! `meta.json` itself. What a commit references is durable before the commit
//! is, as with tantivy's directory.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use tantivy::directory::error::{
    DeleteError, LockError, OpenDirectoryError, OpenReadError, OpenWriteError,
};
use tantivy::directory::{
    AntiCallToken, Directory, DirectoryLock, FileHandle, Lock, MmapDirectory, TerminatingWrite,
    WatchCallback, WatchHandle, WritePtr,
};

/// The file whose atomic write is an index commit.
const META: &str = "meta.json";

#[derive(Debug, Clone)]
pub(crate) struct CommitSyncedDirectory {
    inner: MmapDirectory,
    root: PathBuf,
    /// Files written since the last commit (relative paths).
    unsynced: Arc<Mutex<BTreeSet<PathBuf>>>,
}

impl CommitSyncedDirectory {
    pub(crate) fn open(root: &Path) -> Result<CommitSyncedDirectory, OpenDirectoryError> {
        Ok(CommitSyncedDirectory {
            inner: MmapDirectory::open(root)?,
            root: root.to_owned(),
            unsynced: Arc::default(),
        })
    }

    fn unsynced(&self) -> std::sync::MutexGuard<'_, BTreeSet<PathBuf>> {
        self.unsynced.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Syncs every file written since the last commit, then the directory.
    fn sync_written(&self) -> io::Result<()> {
        let paths = std::mem::take(&mut *self.unsynced());
        let results: Vec<io::Result<()>> = std::thread::scope(|scope| {
            let syncs: Vec<_> = paths
                .iter()
                .map(|p| scope.spawn(move || sync_file(&self.root.join(p))))
                .collect();
            syncs
                .into_iter()
                .map(|s| {
                    s.join()
                        .unwrap_or_else(|_| Err(io::Error::other("fsync thread panicked")))
                })
                .collect()
        });
        if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
            // Sync them again at the next commit.
            self.unsynced().extend(paths);
            return Err(e);
        }
        sync_file(&self.root)
    }
}

/// fdatasync; a file deleted meanwhile needs none.
fn sync_file(path: &Path) -> io::Result<()> {
    match File::open(path) {
        Ok(f) => f.sync_data(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// A file written without a sync on close.
struct UnsyncedFile(File);

impl Write for UnsyncedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl TerminatingWrite for UnsyncedFile {
    fn terminate_ref(&mut self, _: AntiCallToken) -> io::Result<()> {
        self.0.flush()
    }
}

impl Directory for CommitSyncedDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        self.inner.get_file_handle(path)
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        self.unsynced().remove(path);
        self.inner.delete(path)
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.inner.exists(path)
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.root.join(path))
            .map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => OpenWriteError::FileAlreadyExists(path.to_owned()),
                _ => OpenWriteError::wrap_io_error(e, path.to_owned()),
            })?;
        self.unsynced().insert(path.to_owned());
        Ok(BufWriter::new(Box::new(UnsyncedFile(file))))
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        self.inner.atomic_read(path)
    }

    fn atomic_write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        if path == Path::new(META) {
            self.sync_written()?;
            // Writes a temp file, syncs it, renames it over meta.json.
            self.inner.atomic_write(path, data)?;
            return sync_file(&self.root);
        }
        // tantivy's list of managed files: replaced now, durable at the next commit.
        // (A name starting with a dot is not a managed file.)
        let name = path
            .file_name()
            .unwrap_or(path.as_os_str())
            .to_string_lossy();
        let temp = self.root.join(format!(".{name}.tmp"));
        std::fs::write(&temp, data)?;
        std::fs::rename(&temp, self.root.join(path))?;
        self.unsynced().insert(path.to_owned());
        Ok(())
    }

    fn sync_directory(&self) -> io::Result<()> {
        // Done by the next commit.
        Ok(())
    }

    fn acquire_lock(&self, lock: &Lock) -> Result<DirectoryLock, LockError> {
        self.inner.acquire_lock(lock)
    }

    fn watch(&self, callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        self.inner.watch(callback)
    }
}
