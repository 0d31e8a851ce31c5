//! The index files as tantivy reads them: memory-mapped like tantivy's own
//! directory does, but so that the pages a merge reads leave the daemon's
//! resident memory once the merge is done with them.
//!
//! A merge reads every page of the segments it merges. Through tantivy's
//! one shared mapping per file, those pages stayed resident (and counted in
//! the daemon's RSS) until the last reader of the file went: after the
//! merge, until the reader reloaded. At the peak of a 10,000-file import
//! that was 68–77 MB of merged-away segments. So:
//!
//! - a merge (on one of tantivy's merge threads) maps the files it merges
//!   for itself and reads them once, front to back: every
//!   [`MERGE_DROP_EVERY`] bytes merges read, the pages of every file they
//!   have mapped are dropped (a whole document store is stacked in one
//!   read, postings are read term by term);
//! - when a file is deleted (its segment was merged away) the pages of its
//!   shared mapping are dropped at once ([`MappedFiles::release`]);
//! - a search's read of [`OWN_MAPPING_BYTES`] or more (a term dictionary
//!   scanned for a prefix, a very long postings list) gets a mapping of its
//!   own, unmapped when tantivy drops it.
//!
//! The smaller reads of searches share one mapping per file, as in tantivy.
//!
//! Dropping a read-only shared file mapping's pages (`MADV_DONTNEED`)
//! never changes what the mapping reads: a page read again is faulted in
//! from the page cache, with the file's bytes (a deleted file's too, while
//! it is mapped). Slices handed out before stay valid.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use tantivy::HasLen;
use tantivy::directory::error::OpenReadError;
use tantivy::directory::{FileHandle, OwnedBytes};

/// Reads at least this large get a mapping of their own.
pub(crate) const OWN_MAPPING_BYTES: usize = 1 << 20;

/// Merges drop the pages they read after this many bytes.
pub(crate) const MERGE_DROP_EVERY: usize = 1 << 20;

/// The names of tantivy's merge threads start with this.
const MERGE_THREAD: &str = "merge_thread";

/// The mapped index files, one shared mapping per file.
#[derive(Debug, Default)]
pub(crate) struct MappedFiles {
    open: Mutex<HashMap<PathBuf, Weak<MappedFile>>>,
    merges: Arc<MergeReads>,
}

/// The files merges have mapped, and how much they read since their
/// pages were last dropped.
#[derive(Debug, Default)]
struct MergeReads {
    files: Mutex<Vec<Weak<MappedFile>>>,
    read: AtomicUsize,
    /// Files merges opened so far.
    opened: AtomicUsize,
}

impl MergeReads {
    /// Counts `bytes` read; every [`MERGE_DROP_EVERY`] bytes, drops the
    /// pages of every file merges still have mapped.
    fn read(&self, bytes: usize) {
        if self.read.fetch_add(bytes, Ordering::Relaxed) + bytes < MERGE_DROP_EVERY {
            return;
        }
        self.read.store(0, Ordering::Relaxed);
        let mut files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        files.retain(|file| match file.upgrade() {
            Some(file) => {
                file.drop_pages();
                true
            }
            None => false,
        });
    }
}

impl MappedFiles {
    /// A handle on the file at `path`: its shared mapping if one is open.
    pub(crate) fn open(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        let merging = std::thread::current()
            .name()
            .is_some_and(|name| name.starts_with(MERGE_THREAD));
        if merging {
            let file = Arc::new(MappedFile::open(path, Some(self.merges.clone()))?);
            self.merges.opened.fetch_add(1, Ordering::Relaxed);
            let mut files = self
                .merges
                .files
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            files.retain(|file| file.strong_count() > 0);
            files.push(Arc::downgrade(&file));
            return Ok(file);
        }
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(file) = open.get(path).and_then(Weak::upgrade) {
            return Ok(file);
        }
        let file = Arc::new(MappedFile::open(path, None)?);
        open.retain(|_, file| file.strong_count() > 0);
        open.insert(path.to_owned(), Arc::downgrade(&file));
        Ok(file)
    }

    /// How many files merges have opened.
    #[cfg(test)]
    pub(crate) fn merge_opens(&self) -> usize {
        self.merges.opened.load(Ordering::Relaxed)
    }

    /// Drops the resident pages of the file at `path`'s shared mapping, if
    /// it has one: call it when the file is deleted.
    pub(crate) fn release(&self, path: &Path) {
        let file = self
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(path)
            .and_then(|file| file.upgrade());
        if let Some(file) = file {
            file.drop_pages();
        }
    }
}

/// One index file, mapped whole.
struct MappedFile {
    /// The whole file's mapping (empty for an empty file, which cannot
    /// be mapped).
    bytes: OwnedBytes,
    /// The file itself, for reads that get a mapping of their own: kept
    /// open only for a shared mapping of a file that large (one descriptor
    /// per index file would count against the process's open-file limit).
    file: Option<File>,
    /// A merge's mapping (None for a shared one): reads are counted there.
    merge: Option<Arc<MergeReads>>,
}

impl MappedFile {
    /// Maps the file at `path`; for a merge, with where to count its reads.
    fn open(path: &Path, merge: Option<Arc<MergeReads>>) -> Result<MappedFile, OpenReadError> {
        let error = |e: io::Error| match e.kind() {
            io::ErrorKind::NotFound => OpenReadError::FileDoesNotExist(path.to_owned()),
            _ => OpenReadError::wrap_io_error(e, path.to_owned()),
        };
        let file = File::open(path).map_err(error)?;
        let len = file.metadata().map_err(error)?.len();
        let bytes = if len == 0 {
            OwnedBytes::empty()
        } else {
            OwnedBytes::new(map(&file, 0, None).map_err(error)?)
        };
        let large = usize::try_from(len).map_or(true, |len| len >= OWN_MAPPING_BYTES);
        let file = (merge.is_none() && large).then_some(file);
        Ok(MappedFile { bytes, file, merge })
    }

    /// Drops the mapping's resident pages.
    #[allow(unsafe_code)]
    fn drop_pages(&self) {
        if self.bytes.is_empty() {
            return;
        }
        // SAFETY: the range is exactly the mapping's (an mmap starts on a
        // page boundary). The mapping is a shared, read-only mapping of a
        // file, which nothing writes once tantivy has written it: after
        // MADV_DONTNEED, a read of the range faults the same bytes in again
        // from the page cache, so the slices borrowed from it (by other
        // threads too) stay valid.
        let dropped = unsafe {
            rustix::mm::madvise(
                self.bytes.as_ptr().cast_mut().cast(),
                self.bytes.len(),
                rustix::mm::Advice::LinuxDontNeed,
            )
        };
        if let Err(e) = dropped {
            tracing::debug!(error = %e, "cannot drop a deleted index file's pages");
        }
    }
}

/// Maps `len` bytes (or the rest of the file) from `offset`, read-only.
#[allow(unsafe_code)]
fn map(file: &File, offset: u64, len: Option<usize>) -> io::Result<memmap2::Mmap> {
    let mut options = memmap2::MmapOptions::new();
    options.offset(offset);
    if let Some(len) = len {
        options.len(len);
    }
    // SAFETY: tantivy writes an index file once, before it opens it for
    // reading, and never changes it afterwards (a new version is a new
    // file); as with tantivy's own directory, nothing else may write the
    // index directory while the daemon runs.
    unsafe { options.map(file) }
}

impl FileHandle for MappedFile {
    fn read_bytes(&self, range: Range<usize>) -> io::Result<OwnedBytes> {
        if let Some(merge) = &self.merge {
            // Dropped with the rest, however large.
            merge.read(range.len());
            return Ok(self.bytes.slice(range));
        }
        let Some(file) = self
            .file
            .as_ref()
            .filter(|_| range.len() >= OWN_MAPPING_BYTES)
        else {
            return Ok(self.bytes.slice(range));
        };
        // (Panics on a range past the end, as the shared mapping's slice does.)
        assert!(
            range.end <= self.bytes.len(),
            "read past an index file's end"
        );
        let own = map(file, range.start as u64, Some(range.len()))?;
        Ok(OwnedBytes::new(own))
    }
}

impl HasLen for MappedFile {
    fn len(&self) -> usize {
        self.bytes.len()
    }
}

impl std::fmt::Debug for MappedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedFile")
            .field("len", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The resident size of the mapping that holds `addr`, from smaps.
    fn resident_kib(addr: *const u8) -> u64 {
        let addr = addr as usize;
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ') {
                if let Some((start, end)) = range.split_once('-') {
                    if let (Ok(start), Ok(end)) = (
                        usize::from_str_radix(start, 16),
                        usize::from_str_radix(end, 16),
                    ) {
                        inside = (start..end).contains(&addr);
                        continue;
                    }
                }
            }
            if inside {
                if let Some(kib) = line.strip_prefix("Rss:") {
                    return kib.trim().trim_end_matches(" kB").trim().parse().unwrap();
                }
            }
        }
        panic!("no mapping holds {addr:#x}");
    }

    fn touch(bytes: &[u8]) -> u64 {
        bytes.iter().step_by(4096).map(|&b| u64::from(b)).sum()
    }

    fn file_of(dir: &Path, len: usize) -> PathBuf {
        let path = dir.join("0efdc7b332744b7a9ff910836eb9d026.store");
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, data).unwrap();
        path
    }

    #[test]
    fn reads_return_the_files_bytes_small_and_large() {
        let dir = tempfile::tempdir().unwrap();
        let path = file_of(dir.path(), 3 * OWN_MAPPING_BYTES + 123);
        let expected = std::fs::read(&path).unwrap();
        let files = MappedFiles::default();
        let handle = files.open(&path).unwrap();
        assert_eq!(handle.len(), expected.len());
        for range in [
            0..10,
            5000..5100,
            4097..4097 + OWN_MAPPING_BYTES,
            0..expected.len(),
            expected.len() - OWN_MAPPING_BYTES - 1..expected.len(),
        ] {
            let bytes = handle.read_bytes(range.clone()).unwrap();
            assert_eq!(bytes.as_slice(), &expected[range.clone()], "{range:?}");
        }
        // Every handle on the file shares its one mapping.
        let again = files.open(&path).unwrap();
        assert_eq!(
            again.read_bytes(0..4).unwrap().as_ptr(),
            handle.read_bytes(0..4).unwrap().as_ptr()
        );
    }

    #[test]
    fn an_empty_or_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let files = MappedFiles::default();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, b"").unwrap();
        assert_eq!(files.open(&empty).unwrap().len(), 0);
        files.release(&empty);
        assert!(matches!(
            files.open(&dir.path().join("missing")),
            Err(OpenReadError::FileDoesNotExist(_))
        ));
    }

    #[test]
    fn a_large_read_gets_a_mapping_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = file_of(dir.path(), 8 * OWN_MAPPING_BYTES);
        let files = MappedFiles::default();
        let handle = files.open(&path).unwrap();
        let shared = handle.read_bytes(0..1).unwrap();
        let whole = handle.read_bytes(0..8 * OWN_MAPPING_BYTES).unwrap();
        assert_ne!(whole.as_ptr(), shared.as_ptr(), "its own mapping");
        assert!(touch(&whole) > 0);
        assert!(resident_kib(whole.as_ptr()) >= 8 * 1024);
        assert!(resident_kib(shared.as_ptr()) < 1024, "the shared mapping");
    }

    #[test]
    fn a_merge_reads_through_its_own_mapping_and_drops_what_it_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = file_of(dir.path(), 6 * MERGE_DROP_EVERY);
        let dictionary = dir.path().join("0efdc7b332744b7a9ff910836eb9d026.term");
        std::fs::copy(&path, &dictionary).unwrap();
        let expected = std::fs::read(&path).unwrap();
        let files = Arc::new(MappedFiles::default());
        let shared = files.open(&path).unwrap();
        let on_merge_thread = |path: &Path| {
            let (files, path) = (files.clone(), path.to_owned());
            std::thread::Builder::new()
                .name(format!("{MERGE_THREAD}_0"))
                .spawn(move || files.open(&path).unwrap())
                .unwrap()
                .join()
                .unwrap()
        };
        let (merging, scanned) = (on_merge_thread(&path), on_merge_thread(&dictionary));
        assert_ne!(
            merging.read_bytes(0..1).unwrap().as_ptr(),
            shared.read_bytes(0..1).unwrap().as_ptr(),
            "not the shared mapping"
        );
        // A dictionary read whole and scanned, as a merge streams terms.
        let whole = scanned.read_bytes(0..expected.len()).unwrap();
        assert!(touch(&whole) > 0);
        // Postings read front to back in blocks, each used before the next
        // is asked for.
        let mut read = Vec::new();
        let mut last = None;
        for at in (0..expected.len()).step_by(16 * 1024) {
            let block = merging.read_bytes(at..at + 16 * 1024).unwrap();
            read.extend_from_slice(&block);
            last = Some(block);
        }
        assert_eq!(read, expected);
        // What stays resident is about what was read since the last drop.
        let resident = resident_kib(last.unwrap().as_ptr());
        assert!(resident <= 2 * 1024, "{resident} KiB of postings resident");
        let resident = resident_kib(whole.as_ptr());
        assert!(
            resident <= 1024,
            "{resident} KiB of the dictionary resident"
        );
        assert_eq!(whole.as_slice(), expected, "and it reads the same");
    }

    #[test]
    fn release_drops_the_shared_mappings_pages_and_keeps_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = file_of(dir.path(), 4 * OWN_MAPPING_BYTES);
        let expected = std::fs::read(&path).unwrap();
        let files = MappedFiles::default();
        let handle = files.open(&path).unwrap();
        let blocks: Vec<OwnedBytes> = (0..expected.len())
            .step_by(64 * 1024)
            .map(|at| handle.read_bytes(at..at + 64 * 1024).unwrap())
            .collect();
        let sum: u64 = blocks.iter().map(|b| touch(b)).sum();
        assert!(sum > 0);
        assert!(resident_kib(blocks[0].as_ptr()) >= 4 * 1024);

        std::fs::remove_file(&path).unwrap();
        files.release(&path);
        assert!(resident_kib(blocks[0].as_ptr()) < 1024);
        // The bytes read before are still the file's.
        let again: Vec<u8> = blocks.iter().flat_map(|b| b.iter().copied()).collect();
        assert_eq!(again, expected);
        // A new handle opens the path anew (here: the file is gone).
        assert!(files.open(&path).is_err());
    }
}
