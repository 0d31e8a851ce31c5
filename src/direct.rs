//! Writing a big new file past the page cache (`O_DIRECT`).
//!
//! A bulk import writes hundreds of megabytes of packs that nothing reads
//! soon. Through the page cache, each of those bytes is first copied into a
//! freshly allocated cache page, which the writer's `syncfs` then writes out;
//! on a virtual machine whose host backs guest memory lazily, the copy into
//! pages the guest had given back ran at ~250 MB/s and was 40 % of the
//! writer thread's time. [`DirectFile`] hands the device whole aligned
//! chunks from one reused buffer instead, and evicts nothing from the cache
//! that readers use; the part of a file that is read soon (a pack's trees
//! and commit) can still go through the cache ([`DirectFile::cache_rest`]).
//!
//! Direct I/O needs the buffer, the file offset and the length aligned to
//! the device's block: chunks are [`CHUNK`] bytes from an [`ALIGN`]ed
//! buffer, the last one is padded with zeros and the file cut back to its
//! length. A file system that does not take `O_DIRECT` (tmpfs on older
//! kernels, some FUSE ones) refuses it when it is set, or at the first
//! write; the file is then written through the page cache, as any other.
//! Durability is unchanged: the data is on the device when a write
//! returns, and the caller's `syncfs`/`fsync` still flushes the device's
//! cache and the file's size and name.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsFd;

use nix::fcntl::{FcntlArg, OFlag, fcntl};

/// Alignment of the buffer, offsets and lengths (a page: every block size
/// Linux supports divides it).
pub const ALIGN: usize = 4096;

/// Bytes written at once.
pub const CHUNK: usize = 1 << 20;

/// A new file written in [`CHUNK`]s, with `O_DIRECT` where the file system
/// takes it. [`DirectFile::finish`] writes the rest; dropped without it,
/// what was not yet written is lost (the caller removes the file).
pub struct DirectFile {
    file: File,
    /// [`CHUNK`] + [`ALIGN`] bytes; the chunk starts at `start`.
    buf: Vec<u8>,
    start: usize,
    /// Bytes in the chunk.
    filled: usize,
    /// Bytes handed to `file` so far (whole chunks).
    written: u64,
    direct: bool,
}

impl DirectFile {
    /// Takes over `file` (new, empty, opened for writing) and asks for
    /// `O_DIRECT` on it.
    pub fn new(file: File) -> DirectFile {
        let direct = set_direct(&file, true).is_ok();
        let buf = vec![0; CHUNK + ALIGN];
        let start = buf.as_ptr().align_offset(ALIGN);
        DirectFile {
            file,
            buf,
            start,
            filled: 0,
            written: 0,
            direct,
        }
    }

    /// Whether writes bypass the page cache.
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    /// Writes what comes from here on through the page cache: the part of
    /// the file that will be read soon. (The chunk being filled starts at
    /// an aligned offset, so whatever it holds goes to the cache.)
    pub fn cache_rest(&mut self) -> io::Result<()> {
        if self.direct {
            set_direct(&self.file, false)?;
            self.direct = false;
        }
        Ok(())
    }

    /// Writes what is buffered and cuts the file to the bytes written;
    /// returns the file.
    pub fn finish(mut self) -> io::Result<File> {
        let len = self.written + self.filled as u64;
        if self.filled > 0 {
            let padded = if self.direct {
                self.filled.next_multiple_of(ALIGN)
            } else {
                self.filled
            };
            self.buf[self.start + self.filled..self.start + padded].fill(0);
            self.write_chunk(padded)?;
            if padded != self.filled {
                self.file.set_len(len)?;
            }
        }
        Ok(self.file)
    }

    /// Writes the first `len` bytes of the chunk where the file ends;
    /// falls back to the page cache when the file system refuses a direct
    /// write (and writes the whole chunk again: a short direct write may
    /// have written part of it, the same bytes at the same place).
    fn write_chunk(&mut self, len: usize) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let chunk = &self.buf[self.start..self.start + len];
        match self.file.write_all_at(chunk, self.written) {
            Err(e) if self.direct && e.raw_os_error() == Some(libc::EINVAL) => {
                set_direct(&self.file, false)?;
                self.direct = false;
                self.file.write_all_at(chunk, self.written)?;
            }
            other => other?,
        }
        self.written += len as u64;
        self.filled = 0;
        Ok(())
    }
}

impl Write for DirectFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK - self.filled);
        let at = self.start + self.filled;
        self.buf[at..at + n].copy_from_slice(&data[..n]);
        self.filled += n;
        if self.filled == CHUNK {
            self.write_chunk(CHUNK)?;
        }
        Ok(n)
    }

    /// Writes nothing: a partial chunk can only be written at the end.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Sets or clears `O_DIRECT` on `file`.
fn set_direct(file: &File, on: bool) -> io::Result<()> {
    let flags = fcntl(file.as_fd(), FcntlArg::F_GETFL).map_err(io::Error::from)?;
    let mut flags = OFlag::from_bits_truncate(flags);
    flags.set(OFlag::O_DIRECT, on);
    fcntl(file.as_fd(), FcntlArg::F_SETFL(flags))
        .map(drop)
        .map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn write_in_pieces(file: File, data: &[u8], pieces: &[usize]) -> (bool, File) {
        let mut out = DirectFile::new(file);
        let direct = out.is_direct();
        let mut rest = data;
        let mut sizes = pieces.iter().cycle();
        while !rest.is_empty() {
            let n = (*sizes.next().unwrap()).clamp(1, rest.len());
            out.write_all(&rest[..n]).unwrap();
            rest = &rest[n..];
        }
        (direct, out.finish().unwrap())
    }

    #[test]
    fn the_rest_can_go_through_the_page_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut out = DirectFile::new(File::create_new(&path).unwrap());
        let want = data(2 * CHUNK + 12_345, 3);
        out.write_all(&want[..CHUNK + 999]).unwrap();
        out.cache_rest().unwrap();
        assert!(!out.is_direct());
        out.write_all(&want[CHUNK + 999..]).unwrap();
        out.finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), want);
    }

    fn data(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31) ^ seed)
            .collect()
    }

    /// Whether the file system of `path` takes `O_DIRECT` on every kernel.
    fn takes_direct_io(path: &std::path::Path) -> bool {
        use nix::sys::statfs::{BTRFS_SUPER_MAGIC, EXT4_SUPER_MAGIC, XFS_SUPER_MAGIC, statfs};
        let kind = statfs(path).unwrap().filesystem_type();
        [EXT4_SUPER_MAGIC, XFS_SUPER_MAGIC, BTRFS_SUPER_MAGIC].contains(&kind)
    }

    /// Past the page cache (on ext4, xfs or btrfs; through it elsewhere),
    /// the file holds exactly what was written.
    #[test]
    fn a_file_written_direct_holds_exactly_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        for len in [
            0,
            1,
            ALIGN - 1,
            ALIGN,
            CHUNK - 1,
            CHUNK,
            CHUNK + 1,
            3 * CHUNK + 77,
        ] {
            let path = dir.path().join(format!("f{len}"));
            let file = File::create_new(&path).unwrap();
            let want = data(len, 7);
            let (direct, _) = write_in_pieces(file, &want, &[100_000, 3, 4096, 65_537]);
            if takes_direct_io(dir.path()) {
                assert!(direct, "ext4, xfs and btrfs take O_DIRECT");
            }
            assert_eq!(std::fs::read(&path).unwrap(), want, "length {len}");
        }
    }

    #[test]
    fn refusing_direct_io_falls_back_to_the_page_cache() {
        let dir = tempfile::tempdir().unwrap();
        if !takes_direct_io(dir.path()) {
            return;
        }
        let path = dir.path().join("f");
        let mut out = DirectFile::new(File::create_new(&path).unwrap());
        // As a file system that accepts the flag and then refuses the
        // write: a misaligned chunk fails with EINVAL.
        out.start += 1;
        let want = data(CHUNK + 5_000, 9);
        out.write_all(&want).unwrap();
        assert!(!out.is_direct());
        out.finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), want);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn any_writes_read_back(
            len in 0usize..(2 * CHUNK + 10_000),
            pieces in prop::collection::vec(1usize..300_000, 1..8),
            seed: u8,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("f");
            let want = data(len, seed);
            write_in_pieces(File::create_new(&path).unwrap(), &want, &pieces);
            prop_assert_eq!(std::fs::read(&path).unwrap(), want);
        }
    }
}
