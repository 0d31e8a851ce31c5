//! The `docvault` binary's allocator: mimalloc, except that large zeroed
//! blocks are fresh mappings of their own.
//!
//! tantivy makes a segment writer for every index commit (every 75 ms while
//! versions flow), and each asks for eight 1 MiB zeroed arena pages (seven
//! for its fast fields, of which docvault fills one or two) next to its 4 MB
//! term table. mimalloc hands out memory it used before and zeroes it by
//! writing: every page of those blocks was resident, whether tantivy wrote
//! to it or not. A fresh anonymous mapping reads as zeros without being
//! touched, so only what is written takes memory, as with glibc, which maps
//! blocks this large on its own.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;
use std::ptr::null_mut;

use mimalloc::MiMalloc;

/// Zeroed blocks of this size or more are mappings of their own.
pub const MAPPED_ZEROED_MIN: usize = 1 << 20;

/// Mappings are page-aligned: blocks that ask for more stay with mimalloc.
const MAPPED_ALIGN_MAX: usize = 4096;

/// mimalloc, with zeroed blocks of [`MAPPED_ZEROED_MIN`] or more mapped.
pub struct Allocator;

/// Whether `ptr`, a block of `size` bytes, is one of our mappings: large,
/// and not in mimalloc's page map (which holds exactly the pages of
/// mimalloc's live blocks).
fn is_mapped(ptr: *mut u8, size: usize) -> bool {
    // SAFETY: mi_is_in_heap_region only looks the address up.
    size >= MAPPED_ZEROED_MIN
        && !unsafe { libmimalloc_sys::mi_is_in_heap_region(ptr.cast::<c_void>()) }
}

// SAFETY: every block comes from mimalloc or from a mapping of at least its
// size, page-aligned, and goes back the way it came (see `is_mapped`).
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on.
        unsafe { MiMalloc.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() < MAPPED_ZEROED_MIN || layout.align() > MAPPED_ALIGN_MAX {
            // SAFETY: the caller's contract is passed on.
            return unsafe { MiMalloc.alloc_zeroed(layout) };
        }
        // SAFETY: a new private anonymous mapping aliases nothing.
        match unsafe {
            rustix::mm::mmap_anonymous(
                null_mut(),
                layout.size(),
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::PRIVATE,
            )
        } {
            Ok(ptr) => ptr.cast(),
            Err(_) => null_mut(),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_mapped(ptr, layout.size()) {
            // SAFETY: `ptr` is our mapping of `layout.size()` bytes, and
            // the caller gives it up. (munmap fails only for bad arguments.)
            let _ = unsafe { rustix::mm::munmap(ptr.cast(), layout.size()) };
        } else {
            // SAFETY: a block of mimalloc's.
            unsafe { MiMalloc.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !is_mapped(ptr, layout.size()) {
            // SAFETY: a block of mimalloc's; the caller's contract is passed on.
            return unsafe { MiMalloc.realloc(ptr, layout, new_size) };
        }
        if new_size >= MAPPED_ZEROED_MIN {
            // SAFETY: `ptr` is our mapping of `layout.size()` bytes; the
            // kernel moves or extends it, keeping its contents.
            return match unsafe {
                rustix::mm::mremap(
                    ptr.cast(),
                    layout.size(),
                    new_size,
                    rustix::mm::MremapFlags::MAYMOVE,
                )
            } {
                Ok(moved) => moved.cast(),
                Err(_) => null_mut(),
            };
        }
        // SAFETY: `new_size` is non-zero and, rounded to `layout.align()`,
        // fits an isize (the caller's contract).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: as above.
        let new = unsafe { MiMalloc.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks hold at least `new_size` bytes, and they
            // are distinct; then the old one is given up.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, new_size);
                let _ = rustix::mm::munmap(ptr.cast(), layout.size());
            }
        }
        new
    }
}

/// mimalloc's option numbers (`mi_option_e` in mimalloc 3's `mimalloc.h`;
/// the bindings name only the older ones). A test of the binary checks,
/// in mimalloc's own report, that these are the options set.
const MI_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
const MI_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Makes mimalloc give freed memory back at once, as glibc with a fixed
/// mapping threshold does. With its defaults (pages purged a second after
/// they are freed, arenas committed up front) the anonymous memory of the
/// 10,000-file import in `cargo bench --bench ingest` peaked at 194 MB,
/// against 88 MB with glibc; with these, 91 MB.
///
/// A program using [`Allocator`] runs it as an ELF constructor, before
/// `main` (a `#[used]` static in `.init_array`, see [`crate::use_allocator!`]): the
/// Rust runtime's first allocations reserve mimalloc's first arena (1 GiB
/// of address space) before `main` starts, and the arena's commit mode is
/// fixed then. Set from `main`, the anonymous peak was 139 MB.
pub extern "C" fn configure() {
    // SAFETY: mi_option_set writes one of mimalloc's option words, which
    // needs no initialised allocator; both options are read when memory
    // is reserved or purged, and any value is valid for them.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_ARENA_EAGER_COMMIT, 0);
        libmimalloc_sys::mi_option_set(MI_PURGE_DELAY, 0);
    }
}

/// Makes [`Allocator`] the program's global allocator and runs
/// [`configure`] before `main`: `docvault::use_allocator!();` at the top
/// level of a binary (`docvault serve`, and the ingest bench, whose phase
/// (b) runs ingest in its own process). The constructor must be a static
/// of the binary itself: one in this library would not be linked in.
#[macro_export]
macro_rules! use_allocator {
    () => {
        #[global_allocator]
        static ALLOCATOR: $crate::alloc::Allocator = $crate::alloc::Allocator;

        #[cfg(target_os = "linux")]
        #[used]
        #[allow(unsafe_code)]
        #[unsafe(link_section = ".init_array")]
        static CONFIGURE_ALLOCATOR: extern "C" fn() = $crate::alloc::configure;
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many of the pages of `len` bytes at `ptr` (page-aligned) are resident.
    fn resident_pages(ptr: *mut u8, len: usize) -> usize {
        let pages = len.div_ceil(4096);
        let mut vec = vec![0u8; pages];
        // SAFETY: `ptr..ptr + len` is a mapping of ours; `vec` has a byte per page.
        let rc = unsafe { libc::mincore(ptr.cast(), len, vec.as_mut_ptr()) };
        assert_eq!(rc, 0, "mincore: {}", std::io::Error::last_os_error());
        vec.iter().filter(|&&b| b & 1 == 1).count()
    }

    #[test]
    fn large_zeroed_blocks_are_mappings_that_take_memory_only_where_written() {
        let layout = Layout::from_size_align(64 << 20, 8).unwrap();
        // SAFETY: a non-zero layout; the block is freed below.
        let ptr = unsafe { Allocator.alloc_zeroed(layout) };
        assert!(!ptr.is_null());
        assert!(is_mapped(ptr, layout.size()));
        assert_eq!(resident_pages(ptr, layout.size()), 0);
        // SAFETY: inside the block.
        unsafe {
            ptr.add(12345).write(7);
            ptr.add(40 << 20).write(7);
        }
        // Two pages (two huge pages where transparent huge pages are "always").
        let resident = resident_pages(ptr, layout.size());
        assert!((2..=1024).contains(&resident), "{resident} pages resident");
        // SAFETY: inside the block.
        let bytes = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
        assert_eq!(bytes.iter().filter(|&&b| b != 0).count(), 2);
        // SAFETY: ours, of this layout.
        unsafe { Allocator.dealloc(ptr, layout) };
    }

    #[test]
    fn mapped_blocks_keep_their_contents_when_reallocated_either_way() {
        let layout = Layout::from_size_align(2 << 20, 16).unwrap();
        // SAFETY: non-zero layouts; every block is freed with its layout.
        unsafe {
            let ptr = Allocator.alloc_zeroed(layout);
            assert!(is_mapped(ptr, layout.size()));
            for i in 0..layout.size() {
                ptr.add(i).write((i % 251) as u8);
            }
            let grown = Allocator.realloc(ptr, layout, 5 << 20);
            let grown_layout = Layout::from_size_align(5 << 20, 16).unwrap();
            assert!(is_mapped(grown, grown_layout.size()));
            assert!((0..layout.size()).all(|i| *grown.add(i) == (i % 251) as u8));
            let shrunk = Allocator.realloc(grown, grown_layout, 1000);
            assert!(!is_mapped(shrunk, MAPPED_ZEROED_MIN));
            assert!((0..1000).all(|i| *shrunk.add(i) == (i % 251) as u8));
            Allocator.dealloc(shrunk, Layout::from_size_align(1000, 16).unwrap());
        }
    }

    #[test]
    fn other_blocks_are_mimallocs() {
        // SAFETY: non-zero layouts; every block is freed with its layout.
        unsafe {
            for (size, align, zeroed) in [
                (100, 8, true),
                (4 << 20, 8, false),
                // mimalloc's huge blocks (pages of their own) are in its page map too.
                (64 << 20, 8, false),
                (2 << 20, 1 << 16, true),
            ] {
                let layout = Layout::from_size_align(size, align).unwrap();
                let ptr = if zeroed {
                    Allocator.alloc_zeroed(layout)
                } else {
                    Allocator.alloc(layout)
                };
                assert!(libmimalloc_sys::mi_is_in_heap_region(ptr.cast()));
                assert_eq!(ptr as usize % align, 0);
                if zeroed {
                    assert!((0..size).all(|i| *ptr.add(i) == 0));
                }
                // Grown past the threshold, a mimalloc block stays mimalloc's.
                let grown = Allocator.realloc(ptr, layout, size + (2 << 20));
                assert!(libmimalloc_sys::mi_is_in_heap_region(grown.cast()));
                Allocator.dealloc(
                    grown,
                    Layout::from_size_align(size + (2 << 20), align).unwrap(),
                );
            }
        }
    }
}
