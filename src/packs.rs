//! Merging the archive's small packs.
//!
//! Every commit writes its new objects as one small pack (see
//! [`crate::archive`]). Lookups search the packs one after the other, so
//! they slow down as packs pile up; the writer therefore rolls small packs
//! up into bigger ones, on a thread of its own so that no commit waits for
//! it. Which packs are rolled up follows `git repack --geometric=2`: after
//! a merge, every pack is at least twice the size of all smaller ones
//! together, so an object is rewritten O(log n) times and the number of
//! packs stays O(log n).
//!
//! A merged pack holds exactly the objects listed in the indexes of the
//! packs it replaces, so nothing depends on reachability, and it is synced
//! before they are removed. A reader that has an old pack open keeps
//! reading it; others find the objects in the new one. Packs larger than
//! [`MERGE_MAX`] are left alone: merging reads one object at a time into
//! memory, and only packs written by `git repack` (disposition) can hold
//! objects larger than [`crate::archive::INLINE_LIMIT`].

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use git2::{Oid, Repository};
use tracing::{debug, warn};

use crate::archive::ArchiveError;

/// A merge starts when the archive has this many packs (or more).
pub const MERGE_AT: usize = 24;

/// The zlib level of merged packs. Commits write at level 1 to be quick;
/// a merge runs beside the writer, so it spends more to store less (on
/// text, level 2 of zlib-rs stores about a third less than level 1, at
/// about half the speed, and higher levels gain little more).
pub const MERGE_COMPRESSION: u32 = 2;

/// A merge reads at most this many bytes of packs (the smallest first), so
/// that its burst of writes stays bounded.
pub const MERGE_BATCH: u64 = 64 << 20;

/// A merge syncs its output after every this many bytes (see
/// `crate::archive::Trickle`).
pub const TRICKLE_SYNC: u64 = 4 << 20;

/// Packs up to this size are small: a merge takes all of them.
pub const SMALL_PACK: u64 = 1 << 20;

/// Packs larger than this are never merged.
pub const MERGE_MAX: u64 = 256 << 20;

/// The writer is quiet when it has not committed for this long.
pub const QUIET: Duration = Duration::from_secs(2);

/// Packs over [`SMALL_PACK`] whose entries a merge deflates again (a bulk
/// import's, which commits write at zlib level 1) join a merge only when
/// the writer is quiet, or once the archive has this many packs. Deflating
/// them again takes about a second per 60 MB of content, and in `cargo
/// bench --bench ingest` phase (b) most changes slower than 5 ms came
/// during such a merge: the commits' syncs wait for its writes.
pub const HOLD_UNTIL: usize = 2 * MERGE_AT;

/// A pack of the archive: its index file and the size of its pack file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackFile {
    pub idx: PathBuf,
    pub size: u64,
}

/// What a merge did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    pub packs: usize,
    pub objects: usize,
    /// Objects copied as they were (not deflated again).
    pub copied: usize,
    pub bytes: u64,
    pub took: Duration,
}

/// The archive's packs that have both files, smallest first.
pub fn list(archive: &Path) -> std::io::Result<Vec<PackFile>> {
    let mut packs = Vec::new();
    for entry in std::fs::read_dir(archive.join("objects").join("pack"))? {
        let idx = entry?.path();
        if idx.extension().is_none_or(|e| e != "idx") {
            continue;
        }
        match std::fs::metadata(idx.with_extension("pack")) {
            Ok(meta) => packs.push(PackFile {
                idx,
                size: meta.len(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    packs.sort_by(|a, b| (a.size, &a.idx).cmp(&(b.size, &b.idx)));
    Ok(packs)
}

/// How many of the smallest packs (`sizes` ascending) to merge into one so
/// that the sizes form a geometric progression with factor 2 again, merging
/// at least `at_least` of them; 0 or 1 means there is nothing to merge.
/// This is `git repack --geometric=2`'s split, with a floor so that merges
/// come in batches rather than one per commit.
pub fn roll_up(sizes: &[u64], at_least: usize) -> usize {
    let weight = |s: u64| s.max(1);
    let split = (1..sizes.len())
        .rev()
        .find(|&i| weight(sizes[i]) < weight(sizes[i - 1]).saturating_mul(2))
        .map_or(0, |i| i + 1);
    let split = split.max(at_least.min(sizes.len()));
    if split < 2 {
        return 0;
    }
    grow(sizes, split)
}

/// How many of the smallest packs (`sizes` ascending) to merge: the first
/// `start`, and each next one while it is smaller than twice the ones
/// taken together (so no pack is rewritten for a much smaller gain).
pub fn grow(sizes: &[u64], start: usize) -> usize {
    let mut split = start.min(sizes.len());
    let mut total: u64 = sizes[..split].iter().map(|&s| s.max(1)).sum();
    while split < sizes.len() && sizes[split].max(1) < total.saturating_mul(2) {
        total += sizes[split].max(1);
        split += 1;
    }
    split
}

/// The objects a version 2 pack index lists.
pub fn idx_objects(data: &[u8]) -> Result<Vec<Oid>, String> {
    const HEADER: usize = 8;
    const FANOUT: usize = 256 * 4;
    if data.len() < HEADER + FANOUT || data[..4] != [0xff, b't', b'O', b'c'] {
        return Err("not a pack index".into());
    }
    if data[4..8] != 2u32.to_be_bytes() {
        return Err("not a version 2 pack index".into());
    }
    let last = HEADER + FANOUT - 4;
    let count = u32::from_be_bytes(data[last..last + 4].try_into().expect("4 bytes")) as usize;
    let names = count
        .checked_mul(20)
        .and_then(|n| data.get(HEADER + FANOUT..HEADER + FANOUT + n))
        .ok_or_else(|| format!("pack index lists {count} objects but is too short"))?;
    names
        .chunks_exact(20)
        .map(|name| Oid::from_bytes(name).map_err(|e| e.to_string()))
        .collect()
}

/// One object of a version 2 pack index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdxEntry {
    pub oid: Oid,
    /// Where the object's entry starts in the pack.
    pub offset: u64,
    /// The CRC-32 of the entry as it is in the pack.
    pub crc: u32,
}

/// The objects a version 2 pack index lists, with their offsets and CRCs.
pub fn idx_entries(data: &[u8]) -> Result<Vec<IdxEntry>, String> {
    let oids = idx_objects(data)?;
    let n = oids.len();
    let short = || format!("pack index lists {n} objects but is too short");
    let tables = 8 + 256 * 4 + 20 * n;
    let crcs = data.get(tables..tables + 4 * n).ok_or_else(short)?;
    let offsets = data.get(tables + 4 * n..tables + 8 * n).ok_or_else(short)?;
    let large = &data[tables + 8 * n..];
    let be32 = |b: &[u8], i: usize| u32::from_be_bytes(b[4 * i..4 * i + 4].try_into().expect("4"));
    oids.into_iter()
        .enumerate()
        .map(|(i, oid)| {
            let small = be32(offsets, i);
            let offset = if small & 0x8000_0000 == 0 {
                u64::from(small)
            } else {
                let j = (small & 0x7fff_ffff) as usize * 8;
                let bytes = large.get(j..j + 8).ok_or_else(short)?;
                u64::from_be_bytes(bytes.try_into().expect("8"))
            };
            Ok(IdxEntry {
                oid,
                offset,
                crc: be32(crcs, i),
            })
        })
        .collect()
}

/// A version 2 pack index of `entries` (sorted here by object id) for the
/// pack whose trailer is `pack_checksum`: the fan-out table, the ids, the
/// CRCs, the offsets (those past 2 GiB in a table of 8-byte ones), the
/// pack's checksum and the index's own SHA-1. Two entries with one id are
/// refused.
pub fn idx_bytes(entries: &mut [IdxEntry], pack_checksum: &[u8; 20]) -> std::io::Result<Vec<u8>> {
    use sha1::Digest;
    entries.sort_unstable_by_key(|e| e.oid);
    if let Some(w) = entries.windows(2).find(|w| w[0].oid == w[1].oid) {
        return Err(std::io::Error::other(format!(
            "object {} is in the pack twice",
            w[0].oid
        )));
    }
    let n = entries.len();
    let mut out = Vec::with_capacity(8 + 256 * 4 + 28 * n + 40);
    out.extend([0xff, b't', b'O', b'c']);
    out.extend(2u32.to_be_bytes());
    let mut fanout = [0u32; 256];
    for e in entries.iter() {
        fanout[e.oid.as_bytes()[0] as usize] += 1;
    }
    let mut total = 0u32;
    for count in fanout {
        total += count;
        out.extend(total.to_be_bytes());
    }
    for e in entries.iter() {
        out.extend(e.oid.as_bytes());
    }
    for e in entries.iter() {
        out.extend(e.crc.to_be_bytes());
    }
    let mut large = Vec::new();
    for e in entries.iter() {
        let small = match u32::try_from(e.offset) {
            Ok(o) if o & 0x8000_0000 == 0 => o,
            _ => {
                let index = u32::try_from(large.len())
                    .ok()
                    .filter(|i| i & 0x8000_0000 == 0)
                    .ok_or_else(|| std::io::Error::other("too many large offsets"))?;
                large.push(e.offset);
                0x8000_0000 | index
            }
        };
        out.extend(small.to_be_bytes());
    }
    for offset in large {
        out.extend(offset.to_be_bytes());
    }
    out.extend(pack_checksum);
    let own = sha1::Sha1::digest(&out);
    out.extend(own);
    Ok(out)
}

/// Entries up to this size may be copied from one pack to another as they
/// are; larger ones go through the object database like deltas do.
const COPY_MAX: u64 = 16 << 20;

/// The kind of object a pack entry holds, if its CRC is the one its index
/// records and it is a whole object (not a delta, which refers to other
/// entries of its pack).
fn whole_kind(entry: &[u8], crc: u32) -> Option<git2::ObjectType> {
    let mut check = flate2::Crc::new();
    check.update(entry);
    if check.sum() != crc {
        return None;
    }
    entry_kind(entry)
}

/// The kind of whole object an entry's header names; None for a delta.
fn entry_kind(entry: &[u8]) -> Option<git2::ObjectType> {
    match (entry.first()? >> 4) & 7 {
        1 => Some(git2::ObjectType::Commit),
        2 => Some(git2::ObjectType::Tree),
        3 => Some(git2::ObjectType::Blob),
        4 => Some(git2::ObjectType::Tag),
        _ => None,
    }
}

/// Whether a whole entry (see [`whole_kind`]) goes into a merged pack as
/// it is, because deflating it again at [`MERGE_COMPRESSION`] would not
/// pay: it was deflated at zlib level 2 or more, or it is a blob that
/// deflating shrank by less than a sixteenth, or stored (level 0) and
/// [`crate::archive::looks_compressed`] (content that is compressed
/// already: docx, xlsx, pdf, jpg). Other level 0 and 1 entries, which
/// commits write, are deflated again once: blobs and, stored as they are,
/// trees, commits and notes.
fn copy_as_is(entry: &[u8]) -> bool {
    if !copy_as_is_by_head(entry, entry.len() as u64) {
        return false;
    }
    // Stored at level 0: by a bulk import's preparer because the content
    // looked compressed, or by the writer's own preparer, which stores
    // all. (A merge's level-2 stream may hold stored blocks too, for a
    // small object that does not shrink: that one is final.)
    let header = header_len(entry);
    let level_0 = entry.get(header + 1).is_some_and(|flags| flags >> 6 == 0);
    let stored = level_0 && entry.get(header + 2).is_some_and(|b| b >> 1 & 3 == 0);
    !stored || crate::archive::looks_compressed(&entry[header..])
}

/// [`copy_as_is`] from an entry's first bytes (its header and zlib's two
/// at least) and its length, except that a stored blob counts as copied
/// (whether it looks compressed takes its bytes).
fn copy_as_is_by_head(head: &[u8], len: u64) -> bool {
    let header = header_len(head);
    // The zlib header's second byte: FLEVEL, the top two bits, is 0 for
    // levels 0 and 1.
    let Some(flags) = head.get(header + 1) else {
        return false;
    };
    let deflated = len.saturating_sub(header as u64);
    flags >> 6 >= 1
        || (entry_kind(head) == Some(git2::ObjectType::Blob)
            && object_size(&head[..header]).is_some_and(|size| deflated * 16 >= size * 15))
}

/// What a merge decides for an entry: copied as it is.
#[cfg(test)]
fn reusable(entry: &[u8], crc: u32) -> bool {
    whole_kind(entry, crc).is_some() && copy_as_is(entry)
}

/// The object a whole entry (see [`whole_kind`]) holds, if it inflates to
/// the size its header gives.
fn inflate(entry: &[u8], inflater: &mut flate2::Decompress) -> Option<Vec<u8>> {
    let header = header_len(entry);
    let size = usize::try_from(object_size(entry.get(..header)?)?).ok()?;
    let mut data = Vec::with_capacity(size);
    inflater.reset(true);
    let status = inflater
        .decompress_vec(
            entry.get(header..)?,
            &mut data,
            flate2::FlushDecompress::Finish,
        )
        .ok()?;
    (status == flate2::Status::StreamEnd && data.len() == size).then_some(data)
}

/// The length of a pack entry's header: a byte, and one more for each
/// byte with its top bit set.
fn header_len(entry: &[u8]) -> usize {
    1 + entry.iter().take_while(|&&b| b & 0x80 != 0).count()
}

/// The object size a pack entry's header gives (4 bits in the first byte,
/// then 7 in each next one); `None` if it does not fit in 64 bits.
fn object_size(header: &[u8]) -> Option<u64> {
    let (&first, rest) = header.split_first()?;
    let mut size = u64::from(first & 0x0f);
    for (i, &b) in rest.iter().enumerate() {
        let shift = 4 + 7 * i as u32;
        let bits = u64::from(b & 0x7f);
        if shift >= 64 || (bits << shift) >> shift != bits {
            return None;
        }
        size |= bits << shift;
    }
    Some(size)
}

/// Merges `packs` of the archive at `archive` into one pack, syncs it, and
/// removes them. Entries already deflated at the merge level are copied
/// as they are, checked against the CRC their index records; the others
/// are read through the object database (which checks their hash) and
/// deflated again. The merged pack's index lists exactly the objects of
/// the packs it replaces.
pub fn merge(archive: &Path, packs: &[PackFile]) -> Result<Merged, ArchiveError> {
    use std::os::unix::fs::FileExt;
    let started = Instant::now();
    let io_err = |path: &Path, source| ArchiveError::Read {
        path: path.to_owned(),
        source,
    };
    let bad = |path: &Path, reason: String| io_err(path, std::io::Error::other(reason));
    let mut seen = HashSet::new();
    // (pack, entry, entry length), in pack order.
    let mut sources = Vec::new();
    let mut files = Vec::with_capacity(packs.len());
    for (p, pack) in packs.iter().enumerate() {
        let data = std::fs::read(&pack.idx).map_err(|e| io_err(&pack.idx, e))?;
        let mut entries = idx_entries(&data).map_err(|reason| bad(&pack.idx, reason))?;
        entries.sort_by_key(|e| e.offset);
        let path = pack.idx.with_extension("pack");
        let file = std::fs::File::open(&path).map_err(|e| io_err(&path, e))?;
        let len = file.metadata().map_err(|e| io_err(&path, e))?.len();
        for (i, e) in entries.iter().enumerate() {
            let end = entries
                .get(i + 1)
                .map_or(len.saturating_sub(20), |next| next.offset);
            if end <= e.offset {
                return Err(bad(&path, format!("entry at {} has no bytes", e.offset)));
            }
            if seen.insert(e.oid) {
                sources.push((p, *e, end - e.offset));
            }
        }
        files.push(file);
    }
    let repo = Repository::open_bare(archive).map_err(|source| ArchiveError::Open {
        path: archive.to_owned(),
        source,
    })?;
    let odb = repo.odb().map_err(|source| ArchiveError::Git {
        what: "opening object database".into(),
        source,
    })?;
    let dir = std::fs::File::open(archive).map_err(|e| io_err(archive, e))?;
    let trickle = crate::archive::Trickle {
        fs: dir.try_clone().map_err(|e| io_err(archive, e))?,
        every: TRICKLE_SYNC,
    };
    let mut out =
        crate::archive::PackWriter::new(archive, sources.len(), MERGE_COMPRESSION, Some(&trickle))?;
    let mut entry = Vec::new();
    let mut inflater = flate2::Decompress::new(true);
    let mut copied = 0;
    for &(p, e, len) in &sources {
        if len <= COPY_MAX {
            entry.resize(len as usize, 0);
            files[p]
                .read_exact_at(&mut entry, e.offset)
                .map_err(|err| io_err(&packs[p].idx.with_extension("pack"), err))?;
            let kind = whole_kind(&entry, e.crc);
            if kind.is_some() && copy_as_is(&entry) {
                out.raw(e.oid, e.crc, &entry)?;
                copied += 1;
                continue;
            }
            // Deflated again from the entry (its CRC checked): reading it
            // through the object database would inflate it all the same,
            // and hash it again with collision-detecting SHA-1.
            if let Some((kind, data)) = kind.zip(inflate(&entry, &mut inflater)) {
                out.object(e.oid, kind, &data)?;
                continue;
            }
        }
        let object = odb.read(e.oid).map_err(|source| ArchiveError::Git {
            what: format!("reading object {}", e.oid),
            source,
        })?;
        out.object(e.oid, object.kind(), object.data())?;
    }
    let written = out.finish()?;
    let objects = seen.len();
    nix::unistd::syncfs(&dir).map_err(|e| ArchiveError::Sync {
        path: archive.to_owned(),
        source: e.into(),
    })?;
    for pack in packs {
        // The merged pack has the same name as an input if it is the same
        // bytes (the indexer renamed it over that input): that one stays.
        if pack
            .idx
            .file_stem()
            .is_some_and(|stem| *stem == *written.name)
        {
            continue;
        }
        // The index first: a pack without one is invisible, and its other
        // files are removed at the next start if this stops half-way.
        let mut files = vec![pack.idx.clone()];
        files.extend(["pack", "rev", "bitmap", "mtimes"].map(|e| pack.idx.with_extension(e)));
        for file in files {
            match std::fs::remove_file(&file) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&file, e)),
            }
        }
    }
    Ok(Merged {
        packs: packs.len(),
        objects,
        copied,
        bytes: packs.iter().map(|p| p.size).sum(),
        took: started.elapsed(),
    })
}

/// Whether a pack's two files agree: the pack is long enough for its
/// header and trailer, the index long enough for the objects it counts, and
/// the pack checksum the index records equals the pack's trailer. A pack
/// that a power loss cut short before its `syncfs` fails this; no ref can
/// need its objects, since refs move only after that `syncfs`.
pub fn is_whole(pack: &PackFile) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let idx_len = std::fs::metadata(&pack.idx)?.len();
    if pack.size < 32 || idx_len < 8 + 256 * 4 + 40 {
        return Ok(false);
    }
    let mut idx = std::fs::File::open(&pack.idx)?;
    let mut count = [0u8; 4];
    idx.seek(SeekFrom::Start(8 + 255 * 4))?;
    idx.read_exact(&mut count)?;
    let objects = u64::from(u32::from_be_bytes(count));
    if idx_len < 8 + 256 * 4 + objects * 28 + 40 {
        return Ok(false);
    }
    let mut recorded = [0u8; 20];
    idx.seek(SeekFrom::End(-40))?;
    idx.read_exact(&mut recorded)?;
    let mut trailer = [0u8; 20];
    let mut data = std::fs::File::open(pack.idx.with_extension("pack"))?;
    data.seek(SeekFrom::End(-20))?;
    data.read_exact(&mut trailer)?;
    Ok(recorded == trailer)
}

/// Removes the packs that are not whole (see [`is_whole`]); returns how
/// many. Call only while holding the data dir lock.
pub fn remove_torn(archive: &Path) -> std::io::Result<usize> {
    let mut removed = 0;
    for pack in list(archive)? {
        if is_whole(&pack)? {
            continue;
        }
        warn!(pack = %pack.idx.display(), "removed a pack cut short before it was synced");
        std::fs::remove_file(&pack.idx)?;
        std::fs::remove_file(pack.idx.with_extension("pack"))?;
        removed += 1;
    }
    Ok(removed)
}

/// The packs to merge now, if the archive has [`MERGE_AT`] or more. Unless
/// the writer is `quiet`, the merge stops before the first pack over
/// [`SMALL_PACK`] that `deflated_again` says it would deflate again (see
/// [`HOLD_UNTIL`]).
pub fn due(
    archive: &Path,
    quiet: bool,
    deflated_again: &mut impl FnMut(&PackFile) -> bool,
) -> std::io::Result<Vec<PackFile>> {
    Ok(due_among(list(archive)?, quiet, deflated_again))
}

/// [`due`] among `packs`, the archive's packs as [`list`] gives them.
fn due_among(
    mut packs: Vec<PackFile>,
    quiet: bool,
    deflated_again: &mut impl FnMut(&PackFile) -> bool,
) -> Vec<PackFile> {
    if packs.len() < MERGE_AT {
        return Vec::new();
    }
    let hold = !quiet && packs.len() < HOLD_UNTIL;
    packs.retain(|p| p.size <= MERGE_MAX);
    let sizes: Vec<u64> = packs.iter().map(|p| p.size).collect();
    let mut n = pick(&sizes);
    if hold {
        // The packs are smallest first: the merge stops before the first
        // one held (see HOLD_UNTIL).
        let held = packs[..n]
            .iter()
            .position(|p| p.size > SMALL_PACK && deflated_again(p));
        n = held.unwrap_or(n);
    }
    packs.truncate(if n >= 2 { n } else { 0 });
    packs
}

/// Whether a merge would deflate some of a pack's entries again (a
/// commit's pack: commits store their trees, and their blobs too or
/// deflate them at zlib level 1), judged by its first
/// 64 entries with `copy_as_is`'s rule. A merged pack's entries
/// are at [`MERGE_COMPRESSION`] or were copied as they are. A pack that
/// cannot be read counts as not.
pub fn deflated_again(pack: &PackFile) -> bool {
    use std::os::unix::fs::FileExt;
    const SAMPLED: usize = 64;
    let Ok(idx) = std::fs::read(&pack.idx) else {
        return false;
    };
    let Ok(mut entries) = idx_entries(&idx) else {
        return false;
    };
    let Ok(file) = std::fs::File::open(pack.idx.with_extension("pack")) else {
        return false;
    };
    entries.sort_by_key(|e| e.offset);
    let ends = entries
        .iter()
        .skip(1)
        .map(|e| e.offset)
        .chain([pack.size.saturating_sub(20)]);
    entries.iter().zip(ends).take(SAMPLED).any(|(e, end)| {
        let mut head = [0u8; 16];
        let len = end.saturating_sub(e.offset);
        let wanted = head.len().min(len as usize);
        file.read_exact_at(&mut head[..wanted], e.offset).is_ok()
            && entry_kind(&head[..wanted]).is_some()
            && !copy_as_is_by_head(&head[..wanted], len)
    })
}

/// How many of the smallest packs (`sizes` ascending) to merge now.
fn pick(sizes: &[u64]) -> usize {
    // All the small packs at least (one per small commit): merged in one go,
    // so merges come in batches. Bigger ones join only while they are
    // smaller than twice what is merged so far: every lookup of a missing
    // object searches every pack, so the many small packs go first, in a
    // merge that takes milliseconds. Rolling up a bulk import's packs with
    // them would take seconds, while commits pile up packs behind it.
    let small = sizes.iter().take_while(|&&s| s <= SMALL_PACK).count();
    let n = match grow(sizes, small.max(1)) {
        n if n >= 2 => n,
        _ => roll_up(sizes, small),
    };
    n.min(within_batch(sizes))
}

/// How many of the smallest packs (`sizes` ascending) fit in [`MERGE_BATCH`].
fn within_batch(sizes: &[u64]) -> usize {
    let mut total = 0;
    sizes
        .iter()
        .take_while(|&&s| {
            total += s;
            total <= MERGE_BATCH
        })
        .count()
}

/// Runs merges on a thread of their own, one at a time.
#[derive(Default)]
pub struct Merger {
    running: Option<JoinHandle<Result<Merged, ArchiveError>>>,
    /// When the writer last committed.
    committed_at: Option<Instant>,
    /// Per pack (index path), whether a merge would deflate it again.
    deflated_again: std::collections::HashMap<PathBuf, bool>,
    /// Whether a merge removed packs since handles were last reopened.
    removed: bool,
    /// Merges that failed in a row, and when to try again.
    failures: u32,
    retry_at: Option<Instant>,
    /// The pack count of the last listing, and the writer's handle's
    /// [`crate::archive::Archive::packs_written`] then: no merge is due
    /// while the two cannot add up to [`MERGE_AT`], and listing the packs
    /// (a directory read and a stat per pack) after every commit cost
    /// more than a tenth of a millisecond.
    listed: Option<(usize, u64)>,
}

/// How long merging waits after `failures` failures in a row: a minute,
/// doubling, at most an hour.
fn backoff(failures: u32) -> Duration {
    Duration::from_secs(60 << failures.saturating_sub(1).min(6)).min(Duration::from_secs(3600))
}

impl Merger {
    /// Notes that the writer commits (see [`QUIET`]).
    pub fn committing(&mut self) {
        self.committed_at = Some(Instant::now());
    }

    /// Whether the writer is quiet at `now`: it has not committed for
    /// [`QUIET`] (or ever, in this process).
    fn quiet(&self, now: Instant) -> bool {
        self.committed_at
            .is_none_or(|at| now.saturating_duration_since(at) >= QUIET)
    }

    /// Forgets how many packs there are: another handle or process may
    /// have written some (a disposition's repack, a reopened handle).
    pub fn forget_count(&mut self) {
        self.listed = None;
    }

    /// Starts a merge if none is running and one is due. `written` is the
    /// writer's handle's [`crate::archive::Archive::packs_written`].
    pub fn start_if_due(&mut self, archive: &Path, written: u64) {
        if self.running.is_some() || self.retry_at.is_some_and(|at| Instant::now() < at) {
            return;
        }
        let at_most = self.listed.and_then(|(count, then)| {
            written
                .checked_sub(then)
                .map(|n| count.saturating_add(n as usize))
        });
        if at_most.is_some_and(|n| n < MERGE_AT) {
            return;
        }
        let quiet = self.quiet(Instant::now());
        let known = &mut self.deflated_again;
        if known.len() > 4 * HOLD_UNTIL {
            // Forget the packs merged away since.
            known.retain(|idx, _| idx.exists());
        }
        let mut deflated_again = |pack: &PackFile| {
            *known
                .entry(pack.idx.clone())
                .or_insert_with(|| deflated_again(pack))
        };
        let packs = match list(archive) {
            Ok(packs) => {
                self.listed = Some((packs.len(), written));
                due_among(packs, quiet, &mut deflated_again)
            }
            Err(e) => {
                warn!(error = %e, "cannot list the archive's packs");
                return;
            }
        };
        if packs.is_empty() {
            return;
        }
        let archive = archive.to_owned();
        let spawned = std::thread::Builder::new()
            .name("docvault-packs".into())
            .spawn(move || {
                crate::background::lower_this_thread();
                merge(&archive, &packs)
            });
        match spawned {
            Ok(handle) => self.running = Some(handle),
            Err(e) => warn!(error = %e, "cannot start merging packs"),
        }
    }

    /// Whether a merge removed packs since the last time this said so:
    /// then handles opened before should be reopened. A libgit2 handle
    /// never forgets a pack it loaded, even once the file is gone, and
    /// every lookup of an object it lacks (each new object a commit
    /// writes) searches all of them: with a few hundred stale packs, a
    /// one-file commit took 3× longer.
    pub fn reopen_due(&mut self) -> bool {
        if self.running.as_ref().is_some_and(JoinHandle::is_finished) {
            self.wait();
        }
        std::mem::take(&mut self.removed)
    }

    /// Waits for the running merge, if any, and logs its result.
    pub fn wait(&mut self) {
        let Some(handle) = self.running.take() else {
            return;
        };
        match handle.join() {
            Ok(Ok(m)) => {
                debug!(
                    packs = m.packs,
                    objects = m.objects,
                    copied = m.copied,
                    bytes = m.bytes,
                    took_ms = m.took.as_millis() as u64,
                    "merged packs"
                );
                self.removed |= m.packs > 0;
                self.failures = 0;
                self.retry_at = None;
            }
            Ok(Err(e)) => self.failed(&e.to_string()),
            Err(_) => self.failed("the merge panicked"),
        }
    }

    /// Logs a failed merge and puts the next one off (see [`backoff`]).
    fn failed(&mut self, reason: &str) {
        self.failures += 1;
        let wait = backoff(self.failures);
        warn!(
            error = reason,
            retry_in_s = wait.as_secs(),
            "cannot merge packs; they stay as they are"
        );
        self.retry_at = Some(Instant::now() + wait);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn roll_up_follows_git_geometric_split() {
        // Already a progression: nothing to do.
        assert_eq!(roll_up(&[1, 2, 4, 8], 0), 0);
        assert_eq!(roll_up(&[5], 0), 0);
        assert_eq!(roll_up(&[5], 3), 0);
        assert_eq!(roll_up(&[], 0), 0);
        // Two equal small packs under a big one: merge the two.
        assert_eq!(roll_up(&[10, 10, 1000], 0), 2);
        // Many tiny packs whose sum reaches the next: that one joins.
        assert_eq!(roll_up(&[1, 1, 1, 1, 5, 1000], 0), 5);
        // A floor merges more than the progression needs, and what the
        // merged pack then outgrows joins too.
        assert_eq!(roll_up(&[1, 2, 4, 8, 1000], 2), 4);
        assert_eq!(roll_up(&[1, 4, 16, 64, 1000], 2), 2);
        assert_eq!(roll_up(&[1, 2, 4, 8, 1000], 3), 4);
    }

    #[test]
    fn small_packs_merge_first_and_big_ones_only_when_outgrown() {
        const MB: u64 = 1 << 20;
        // 30 commits' packs beside a bulk import's ten: only the small ones.
        let mut sizes = vec![30_000; 30];
        sizes.extend([20 * MB; 10]);
        assert_eq!(pick(&sizes), 30);
        // Once what is merged outgrows half the next, that one joins too.
        let mut sizes = vec![30_000; 30];
        sizes.extend([MB, 20 * MB]);
        assert_eq!(pick(&sizes), 31);
        // No small packs: equal big ones merge, as many as a batch holds.
        assert_eq!(pick(&[20 * MB; 30]), 3);
        // A progression already: nothing.
        let doubling: Vec<u64> = (0..30).map(|i| (2 * MB) << i).collect();
        assert_eq!(pick(&doubling), 0);
        // The smallest pack alone outgrown by the rest, which are not a
        // progression: git's split merges them.
        let mut sizes = vec![2 * MB];
        sizes.extend([10 * MB; 5]);
        assert_eq!(pick(&sizes), 6);
    }

    proptest! {
        #[test]
        fn after_a_roll_up_sizes_are_geometric(
            mut sizes in prop::collection::vec(1u64..1_000_000, 0..40),
            at_least in 0usize..40,
        ) {
            sizes.sort_unstable();
            let n = roll_up(&sizes, at_least);
            // Merging one pack alone is no merge; from two on, the floor holds.
            prop_assert!(at_least.min(sizes.len()) < 2 || n >= at_least.min(sizes.len()));
            prop_assert!(n <= sizes.len());
            prop_assert!(n != 1, "one pack is never merged alone");
            let mut after: Vec<u64> = if n >= 2 {
                std::iter::once(sizes[..n].iter().sum()).chain(sizes[n..].iter().copied()).collect()
            } else {
                sizes.clone()
            };
            after.sort_unstable();
            for pair in after.windows(2) {
                prop_assert!(pair[1] >= 2 * pair[0], "{:?} -> {:?}", sizes, after);
            }
        }

        #[test]
        fn an_index_written_reads_back_entry_for_entry(
            raw in prop::collection::vec(
                (any::<[u8; 20]>(), prop_oneof![0u64..(1 << 31), (1u64 << 31)..(1 << 40)], any::<u32>()),
                0..300,
            ),
            checksum in any::<[u8; 20]>(),
        ) {
            let mut entries: Vec<IdxEntry> = raw
                .iter()
                .map(|(oid, offset, crc)| IdxEntry {
                    oid: Oid::from_bytes(oid).unwrap(),
                    offset: *offset,
                    crc: *crc,
                })
                .collect();
            let unique: HashSet<Oid> = entries.iter().map(|e| e.oid).collect();
            let written = idx_bytes(&mut entries, &checksum);
            if unique.len() < entries.len() {
                prop_assert!(written.is_err(), "an object twice is refused");
                return Ok(());
            }
            let idx = written.unwrap();
            let mut read = idx_entries(&idx).unwrap();
            read.sort_by_key(|e| e.oid);
            prop_assert_eq!(read, entries);
            let n = idx.len();
            prop_assert_eq!(&idx[n - 40..n - 20], &checksum[..]);
            use sha1::Digest;
            prop_assert_eq!(&idx[n - 20..], &sha1::Sha1::digest(&idx[..n - 20])[..]);
        }

        #[test]
        fn idx_parser_never_panics(data in prop::collection::vec(any::<u8>(), 0..2_000)) {
            let _ = idx_objects(&data);
            let _ = idx_entries(&data);
        }
    }

    fn archive_with_packs(n: usize) -> (tempfile::TempDir, crate::archive::Archive, Vec<Oid>) {
        let dir = tempfile::tempdir().unwrap();
        let archive = crate::archive::Archive::open_or_init(&dir.path().join("a.git")).unwrap();
        let blobs = archive_blobs(&archive, n, "document");
        (dir, archive, blobs)
    }

    /// Commits `n` files, one per commit (so one pack each); their blobs.
    fn archive_blobs(archive: &crate::archive::Archive, n: usize, stem: &str) -> Vec<Oid> {
        let mut blobs = Vec::new();
        for i in 0..n {
            let blob = archive
                .store_bytes(format!("{stem} {i}\n").repeat(i + 1).as_bytes())
                .unwrap();
            let record = crate::catalog::VersionRecord::new(
                "alpha",
                &format!("dir{}/{stem}{i}.txt", i % 3),
                1,
                crate::catalog::Event::Created,
                blob.size,
                blob.sha256,
            );
            let mut staged = vec![crate::archive::Staged {
                record,
                tree: crate::archive::TreeOp::Upsert {
                    oid: blob.oid,
                    mode: git2::FileMode::Blob,
                },
            }];
            archive.commit_batch("alpha", &mut staged, &[]).unwrap();
            blobs.push(blob.oid);
        }
        blobs
    }

    #[test]
    fn each_commit_is_one_pack_and_the_index_lists_its_objects() {
        let (_dir, archive, blobs) = archive_with_packs(3);
        let packs = list(archive.path()).unwrap();
        assert_eq!(packs.len(), 3, "one pack per commit: {packs:?}");
        let listed: HashSet<Oid> = packs
            .iter()
            .flat_map(|p| idx_objects(&std::fs::read(&p.idx).unwrap()).unwrap())
            .collect();
        for blob in &blobs {
            assert!(listed.contains(blob));
        }
    }

    /// The index docvault writes for a pack is, byte for byte, the one
    /// `git index-pack` computes from the pack alone: commit packs and
    /// merged packs (objects deflated again and entries copied as they are).
    #[test]
    fn every_index_is_the_one_git_index_pack_writes() {
        let (dir, archive, _) = archive_with_packs(MERGE_AT + 2);
        merge(
            archive.path(),
            &due(archive.path(), true, &mut |_| false).unwrap(),
        )
        .unwrap();
        archive_blobs(&archive, 2, "after");
        let packs = list(archive.path()).unwrap();
        assert!(packs.len() >= 3, "{packs:?}");
        for (i, pack) in packs.iter().enumerate() {
            let check = dir.path().join(format!("check{i}.idx"));
            let out = std::process::Command::new("git")
                .arg("index-pack")
                .arg("-o")
                .arg(&check)
                .arg(pack.idx.with_extension("pack"))
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            assert!(
                std::fs::read(&check).unwrap() == std::fs::read(&pack.idx).unwrap(),
                "{} differs from git's index of its pack",
                pack.idx.display()
            );
        }
        crate::dispose::tests::assert_fsck_clean(archive.path());
    }

    /// A pack's entries in pack order, each with its bytes (up to the next
    /// entry, or the trailer).
    fn entries_with_bytes(pack: &PackFile) -> Vec<(IdxEntry, Vec<u8>)> {
        let data = std::fs::read(pack.idx.with_extension("pack")).unwrap();
        let mut entries = idx_entries(&std::fs::read(&pack.idx).unwrap()).unwrap();
        entries.sort_by_key(|e| e.offset);
        let ends: Vec<u64> = entries
            .iter()
            .skip(1)
            .map(|e| e.offset)
            .chain([data.len() as u64 - 20])
            .collect();
        entries
            .into_iter()
            .zip(ends)
            .map(|(e, end)| (e, data[e.offset as usize..end as usize].to_vec()))
            .collect()
    }

    /// A merge deflates entries again from their bytes: every entry of a
    /// commit's pack inflates to the object its index names; a wrong CRC
    /// or a cut entry gives nothing (the merge then reads the object
    /// through the object database).
    #[test]
    fn entries_inflate_to_the_objects_their_index_names() {
        let (_dir, archive, _) = archive_with_packs(2);
        let mut inflater = flate2::Decompress::new(true);
        for pack in list(archive.path()).unwrap() {
            for (e, bytes) in entries_with_bytes(&pack) {
                let bytes = &bytes[..];
                let kind = whole_kind(bytes, e.crc).unwrap();
                let object = inflate(bytes, &mut inflater).unwrap();
                assert_eq!(Oid::hash_object(kind, &object).unwrap(), e.oid);
                assert!(whole_kind(bytes, e.crc ^ 1).is_none());
                let cut = &bytes[..bytes.len() - 3];
                let mut crc = flate2::Crc::new();
                crc.update(cut);
                assert!(whole_kind(cut, crc.sum()).is_some());
                assert!(inflate(cut, &mut inflater).is_none());
            }
        }
    }

    /// An archive whose pack folder holds empty packs of these sizes
    /// (sparse files), named in size order.
    fn packs_of_sizes(sizes: &[u64]) -> tempfile::TempDir {
        let dir = tempfile::TempDir::new().unwrap();
        let pack_dir = dir.path().join("objects/pack");
        std::fs::create_dir_all(&pack_dir).unwrap();
        for (i, &size) in sizes.iter().enumerate() {
            std::fs::write(pack_dir.join(format!("pack-{i:03}.idx")), b"").unwrap();
            let pack = std::fs::File::create(pack_dir.join(format!("pack-{i:03}.pack"))).unwrap();
            pack.set_len(size).unwrap();
        }
        dir
    }

    #[test]
    fn a_busy_writer_holds_the_packs_a_merge_would_deflate_again() {
        const KB: u64 = 1 << 10;
        const MB: u64 = 1 << 20;
        // The small packs of many commits, then a bulk import's pack and a
        // bigger one, which the merge takes in as they are outgrown.
        let mut sizes = vec![100 * KB; MERGE_AT];
        sizes.extend([3 * MB, 5 * MB]);
        let dir = packs_of_sizes(&sizes);
        let import = |p: &PackFile| p.size == 3 * MB;
        let due_len = |quiet, raw: &dyn Fn(&PackFile) -> bool| {
            due(dir.path(), quiet, &mut |p: &PackFile| raw(p))
                .unwrap()
                .len()
        };
        assert_eq!(due_len(true, &import), MERGE_AT + 2);
        assert_eq!(due_len(false, &import), MERGE_AT, "held while busy");
        assert_eq!(
            due_len(false, &|_| false),
            MERGE_AT + 2,
            "merged packs are not held"
        );
        // With many packs, nothing is held.
        let mut many = vec![100 * KB; HOLD_UNTIL];
        many.extend([3 * MB, 5 * MB]);
        let dir = packs_of_sizes(&many);
        let due = due(dir.path(), false, &mut |p: &PackFile| import(p)).unwrap();
        assert!(due.iter().any(|p| p.size == 3 * MB), "{due:?}");
    }

    /// The packs are listed only once the writer's handle can have
    /// written enough of them for a merge.
    #[test]
    fn packs_are_listed_only_when_enough_can_have_been_written() {
        let (_dir, archive, _) = archive_with_packs(MERGE_AT - 1);
        let mut merger = Merger::default();
        merger.start_if_due(archive.path(), archive.packs_written());
        assert!(merger.running.is_none(), "{} packs", MERGE_AT - 1);
        // A pack the writer's handle did not write is not counted...
        let other = crate::archive::Archive::open(archive.path()).unwrap();
        archive_blobs(&other, 1, "other");
        assert_eq!(list(archive.path()).unwrap().len(), MERGE_AT);
        merger.start_if_due(archive.path(), archive.packs_written());
        assert!(merger.running.is_none(), "not listed again");
        // ...until the count is forgotten.
        merger.forget_count();
        merger.start_if_due(archive.path(), archive.packs_written());
        assert!(merger.running.is_some(), "listed, and a merge is due");
        merger.wait();
        assert_eq!(merger.failures, 0);
        let merged = list(archive.path()).unwrap().len();
        assert!(merged < MERGE_AT, "{merged} packs");
        // The handle's own commits count: once they can reach MERGE_AT,
        // the packs are listed.
        merger.forget_count();
        merger.start_if_due(archive.path(), archive.packs_written());
        archive_blobs(&archive, MERGE_AT - merged - 1, "more");
        merger.start_if_due(archive.path(), archive.packs_written());
        assert!(merger.running.is_none(), "{} packs", MERGE_AT - 1);
        archive_blobs(&archive, 1, "last");
        merger.start_if_due(archive.path(), archive.packs_written());
        assert!(merger.running.is_some(), "{MERGE_AT} packs");
        merger.wait();
    }

    #[test]
    fn the_writer_is_quiet_until_it_commits_and_again_after_a_while() {
        let mut merger = Merger::default();
        let now = Instant::now();
        assert!(merger.quiet(now), "nothing committed yet");
        merger.committing();
        let committed = merger.committed_at.unwrap();
        assert!(!merger.quiet(committed));
        assert!(!merger.quiet(committed + QUIET - Duration::from_millis(1)));
        assert!(merger.quiet(committed + QUIET));
    }

    #[test]
    fn commit_packs_are_deflated_again_and_merged_ones_not() {
        let (_dir, archive, _) = archive_with_packs(MERGE_AT + 2);
        // Commits write text blobs at level 1.
        let commits = list(archive.path()).unwrap();
        assert!(commits.iter().all(deflated_again), "{commits:?}");
        merge(archive.path(), &commits).unwrap();
        let merged = list(archive.path()).unwrap();
        assert_eq!(merged.len(), 1);
        assert!(!deflated_again(&merged[0]));
        // A pack that cannot be read is not held.
        let gone = PackFile {
            idx: archive.path().join("objects/pack/missing.idx"),
            size: 1,
        };
        assert!(!deflated_again(&gone));
    }

    #[test]
    fn a_merge_stays_within_its_batch() {
        let mib = 1 << 20;
        assert_eq!(within_batch(&[mib; 100]), 64);
        assert_eq!(within_batch(&[10, 20, 100 * mib]), 2);
        assert_eq!(within_batch(&[]), 0);
    }

    #[test]
    fn a_failed_merge_waits_longer_each_time() {
        assert_eq!(backoff(1), Duration::from_secs(60));
        assert_eq!(backoff(2), Duration::from_secs(120));
        assert_eq!(backoff(30), Duration::from_secs(3600));
    }

    #[test]
    fn a_pack_cut_short_is_removed_and_whole_ones_stay() {
        let (_dir, archive, blobs) = archive_with_packs(3);
        let packs = list(archive.path()).unwrap();
        assert!(packs.iter().all(|p| is_whole(p).unwrap()));
        // The biggest pack, cut short as a power loss before its syncfs leaves it.
        let torn = packs.last().unwrap();
        let data = std::fs::read(torn.idx.with_extension("pack")).unwrap();
        std::fs::write(torn.idx.with_extension("pack"), &data[..data.len() / 2]).unwrap();
        let torn_objects = idx_objects(&std::fs::read(&torn.idx).unwrap()).unwrap();
        assert_eq!(remove_torn(archive.path()).unwrap(), 1);
        assert_eq!(list(archive.path()).unwrap().len(), 2);
        let fresh = crate::archive::Archive::open(archive.path()).unwrap();
        for blob in blobs.iter().filter(|b| !torn_objects.contains(b)) {
            assert!(fresh.repo().find_blob(*blob).is_ok());
        }
    }

    #[test]
    fn merging_keeps_every_object_and_leaves_one_pack() {
        let (_dir, archive, blobs) = archive_with_packs(MERGE_AT + 2);
        let packs = due(archive.path(), true, &mut |_| false).unwrap();
        assert!(
            packs.len() >= 2,
            "a merge is due with {} packs",
            MERGE_AT + 2
        );
        let before = list(archive.path()).unwrap().len();
        let merged = merge(archive.path(), &packs).unwrap();
        assert_eq!(merged.packs, packs.len());
        assert_eq!(
            list(archive.path()).unwrap().len(),
            before - packs.len() + 1
        );
        let fresh = crate::archive::Archive::open(archive.path()).unwrap();
        for blob in &blobs {
            assert!(
                fresh.repo().find_blob(*blob).is_ok(),
                "{blob} survives the merge"
            );
        }
        crate::dispose::tests::assert_fsck_clean(archive.path());
        // The writer's own handle, opened before the merge, still reads.
        assert!(archive.repo().find_blob(blobs[0]).is_ok());
        // Commits store their objects: the merge deflated them all (none
        // of this text looks compressed).
        assert_eq!(merged.copied, 0, "{merged:?}");
    }

    #[test]
    fn a_merged_pack_is_copied_as_it_is_into_the_next_merge() {
        let (_dir, archive, blobs) = archive_with_packs(MERGE_AT + 2);
        let first = merge(
            archive.path(),
            &due(archive.path(), true, &mut |_| false).unwrap(),
        )
        .unwrap();
        let more = archive_blobs(&archive, MERGE_AT, "more");
        let packs = list(archive.path()).unwrap();
        let second = merge(archive.path(), &packs).unwrap();
        assert_eq!(list(archive.path()).unwrap().len(), 1);
        assert!(
            second.copied >= first.objects,
            "the first merge's {} objects are copied, not deflated again: {second:?}",
            first.objects
        );
        assert!(
            second.copied < second.objects,
            "the new commits' level-1 objects are deflated again: {second:?}"
        );
        let fresh = crate::archive::Archive::open(archive.path()).unwrap();
        for blob in blobs.iter().chain(&more) {
            let content = fresh.repo().find_blob(*blob).unwrap();
            assert_eq!(content.id(), *blob);
        }
        crate::dispose::tests::assert_fsck_clean(archive.path());
    }

    #[test]
    fn index_entries_point_at_their_bytes_and_name_the_zlib_level() {
        use std::io::Write as _;
        let (_dir, archive, _) = archive_with_packs(2);
        for pack in list(archive.path()).unwrap() {
            let idx = std::fs::read(&pack.idx).unwrap();
            let entries = entries_with_bytes(&pack);
            assert_eq!(entries.len(), idx_objects(&idx).unwrap().len());
            assert_eq!(
                entries[0].0.offset, 12,
                "the first entry follows the header"
            );
            for (e, bytes) in &entries {
                let bytes = &bytes[..];
                let mut crc = flate2::Crc::new();
                crc.update(bytes);
                assert_eq!(crc.sum(), e.crc, "the CRC of {}", e.oid);
                // A small commit's pack stores every object (zlib level
                // 0, stored blocks), and a merge deflates text again.
                let header = header_len(bytes);
                let size = object_size(&bytes[..header]).unwrap();
                assert_eq!(bytes[header + 1] >> 6, 0, "{} is level 0", e.oid);
                assert_eq!(bytes[header + 2] >> 1 & 3, 0, "{} is stored", e.oid);
                assert!(bytes.len() - header > size as usize, "{} is stored", e.oid);
                assert!(!reusable(bytes, e.crc), "{}", e.oid);
            }
        }
        // An entry deflated at level 2 is reusable, unless its CRC is off
        // or it is a delta.
        let mut z = flate2::write::ZlibEncoder::new(vec![0x35], flate2::Compression::new(2));
        z.write_all(b"hello").unwrap();
        let entry = z.finish().unwrap();
        let crc = |b: &[u8]| {
            let mut c = flate2::Crc::new();
            c.update(b);
            c.sum()
        };
        assert!(reusable(&entry, crc(&entry)));
        assert!(!reusable(&entry, crc(&entry) ^ 1));
        let mut delta = entry.clone();
        delta[0] = 0x65;
        assert!(!reusable(&delta, crc(&delta)));
        assert!(!reusable(&[], crc(&[])));
        // At level 1: text is deflated again, noise is copied.
        let level_1 = |object: &[u8]| {
            let header =
                crate::archive::pack_entry_header(git2::ObjectType::Blob, object.len()).unwrap();
            let mut z = flate2::write::ZlibEncoder::new(header, flate2::Compression::new(1));
            z.write_all(object).unwrap();
            z.finish().unwrap()
        };
        let text = b"minutes of the steering committee ".repeat(600);
        let mut noise = vec![0u8; 20_000];
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        for b in &mut noise {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        let (text, noise) = (level_1(&text), level_1(&noise));
        assert!(!reusable(&text, crc(&text)));
        assert!(reusable(&noise, crc(&noise)));
        assert_eq!(object_size(&noise[..3]), Some(20_000));
        // Stored (level 0): a blob is copied (it was stored because it
        // looked compressed), a tree is deflated again.
        let stored = |kind, object: &[u8]| {
            let mut out = Vec::new();
            crate::archive::store_entry(kind, object, &mut out).unwrap();
            out
        };
        let blob = stored(git2::ObjectType::Blob, &noise);
        let tree = stored(git2::ObjectType::Tree, &noise);
        assert!(reusable(&blob, crc(&blob)));
        assert!(!reusable(&tree, crc(&tree)));
        // A stored blob of text is deflated again.
        let text = stored(git2::ObjectType::Blob, &b"minutes ".repeat(2_000));
        assert!(!reusable(&text, crc(&text)));
        // A merge's level-2 stream that zlib stored (a small object that
        // does not shrink) is final: copied.
        let mut z = flate2::write::ZlibEncoder::new(
            crate::archive::pack_entry_header(git2::ObjectType::Tree, 40).unwrap(),
            flate2::Compression::new(2),
        );
        z.write_all(&noise[..40]).unwrap();
        let small = z.finish().unwrap();
        let header = header_len(&small);
        assert_eq!(small[header + 2] >> 1 & 3, 0, "zlib stored it");
        assert!(reusable(&small, crc(&small)));
    }
}
