//! `memory::trim` gives memory freed between live blocks back to the
//! kernel, and `memory::anonymous_bytes` sees it. A test binary with one
//! test: it measures the whole process's resident memory, which other
//! tests running beside it would move.

#![cfg(all(target_os = "linux", target_env = "gnu"))]

/// Resident anonymous memory of this process, in bytes, as smaps counts it.
fn anonymous() -> usize {
    let rollup = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap();
    let kb: usize = rollup
        .lines()
        .find_map(|l| l.strip_prefix("Anonymous:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

#[test]
fn trim_gives_back_memory_freed_between_live_blocks() {
    docvault::memory::configure();
    // 80 MB in small blocks, one in eight kept: the freed ones sit between
    // live ones, where glibc does not give memory back on its own.
    let mut blocks: Vec<Vec<u8>> = (0..40_000)
        .map(|i| vec![(i % 251) as u8 + 1; 2000])
        .collect();
    let kept: Vec<Vec<u8>> = blocks.iter_mut().step_by(8).map(std::mem::take).collect();
    drop(blocks);
    assert!(docvault::memory::free_bytes() > 60 << 20);
    let before = anonymous();
    let seen = docvault::memory::anonymous_bytes().unwrap();
    assert!(
        seen.abs_diff(before) < 8 << 20,
        "statm {seen}, smaps {before}"
    );
    docvault::memory::trim();
    let after = anonymous();
    let seen = docvault::memory::anonymous_bytes().unwrap();
    assert!(
        seen.abs_diff(after) < 8 << 20,
        "statm {seen}, smaps {after}"
    );
    assert!(
        after + (40 << 20) < before,
        "trim gave back {} bytes of the ~70 MB freed",
        before.saturating_sub(after)
    );
    assert!(
        docvault::memory::free_bytes() > 60 << 20,
        "freed memory stays free for reuse"
    );
    // What was kept is intact.
    assert_eq!(kept.len(), 5000);
    assert!(
        kept.iter()
            .enumerate()
            .all(|(i, b)| b.len() == 2000 && b.iter().all(|&x| x == ((i * 8) % 251) as u8 + 1))
    );
}
