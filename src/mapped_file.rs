//! A read-only map of a whole file that another process cutting the file
//! short cannot crash.
//!
//! Reading a mapped page that lies past the file's end raises SIGBUS, whose
//! default action ends the process. From the first [`MappedFile`] on, a
//! SIGBUS handler is in place: for an address in an open map, it replaces
//! that page with a page of zeros and marks the map as cut
//! ([`MappedFile::was_cut`]), so the read goes on and its reader can refuse
//! what it read. A SIGBUS at any other address gets the action that was
//! there before (the Rust runtime's, then the default). Up to
//! [`GUARDED_MAPS`] maps are guarded at once; a map beyond that is still
//! made, unguarded, as a plain map would be.

use std::fs::File;
use std::io;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// How many maps the SIGBUS handler can guard at the same time.
pub const GUARDED_MAPS: usize = 16;

/// One guarded map's address range; `start` 0 is a free slot.
struct Guard {
    start: AtomicUsize,
    len: AtomicUsize,
    cut: AtomicBool,
}

static GUARDS: [Guard; GUARDED_MAPS] = [const {
    Guard {
        start: AtomicUsize::new(0),
        len: AtomicUsize::new(0),
        cut: AtomicBool::new(false),
    }
}; GUARDED_MAPS];

/// What the handler needs, set once when it is put in place: the page
/// size, and the SIGBUS action it replaced.
struct Installed {
    page_size: usize,
    previous: libc::sigaction,
}

static INSTALLED: OnceLock<Option<Installed>> = OnceLock::new();

/// A file mapped read-only and shared, guarded against being cut short.
pub struct MappedFile {
    map: memmap2::Mmap,
    guard: Option<&'static Guard>,
}

impl MappedFile {
    /// Maps all of `file`, which must not be empty.
    pub fn map(file: &File) -> io::Result<MappedFile> {
        // SAFETY: the map is read only; a file changed underneath it shows
        // its new bytes, and one cut short is what the guard is for.
        let map = unsafe { memmap2::Mmap::map(file) }?;
        let guard = if install() {
            claim(map.as_ptr() as usize, map.len())
        } else {
            None
        };
        Ok(MappedFile { map, guard })
    }

    /// Whether a read found part of the map past the file's end (the file
    /// was cut short after it was mapped): what was read there is zeros.
    pub fn was_cut(&self) -> bool {
        self.guard
            .is_some_and(|guard| guard.cut.load(Ordering::Acquire))
    }

    /// Maps in the pages of `len` bytes from `start` ahead of their
    /// readers (Linux 5.14 and later); an error means it stopped.
    pub fn populate(&self, start: usize, len: usize) -> io::Result<()> {
        self.map
            .advise_range(memmap2::Advice::PopulateRead, start, len)
    }

    /// Lets go of the pages of `len` bytes from `start` (whole pages):
    /// their memory goes, their contents stay in the file.
    pub fn release(&self, start: usize, len: usize) -> io::Result<()> {
        // SAFETY: the map is a shared, read-only mapping of the file, so
        // dropping its pages loses nothing: a later read maps the same file
        // pages again. (On a private map with written pages it would
        // discard those writes; there are none.)
        unsafe {
            self.map
                .unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, len)
        }
    }
}

impl std::ops::Deref for MappedFile {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.map
    }
}

impl Drop for MappedFile {
    fn drop(&mut self) {
        if let Some(guard) = self.guard {
            // The range goes before the map does, and the slot is free
            // again once both are cleared.
            guard.len.store(0, Ordering::Release);
            guard.start.store(0, Ordering::Release);
        }
    }
}

/// Puts the handler in place, once; false where that failed.
fn install() -> bool {
    INSTALLED
        .get_or_init(|| {
            // SAFETY: sysconf and sigaction with a zeroed, then filled,
            // action; the handler only touches atomics and calls mmap and
            // sigaction, which are safe in a signal handler.
            unsafe {
                let page_size = usize::try_from(libc::sysconf(libc::_SC_PAGESIZE)).ok()?;
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_sigbus as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut action.sa_mask);
                let mut previous: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(libc::SIGBUS, &action, &mut previous) != 0 {
                    return None;
                }
                Some(Installed {
                    page_size,
                    previous,
                })
            }
        })
        .is_some()
}

/// Takes a free slot for the range, if there is one.
fn claim(start: usize, len: usize) -> Option<&'static Guard> {
    let guard = GUARDS.iter().find(|guard| {
        guard
            .start
            .compare_exchange(0, start, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    })?;
    guard.cut.store(false, Ordering::Release);
    guard.len.store(len, Ordering::Release);
    Some(guard)
}

extern "C" fn on_sigbus(
    _signal: libc::c_int,
    info: *mut libc::siginfo_t,
    _context: *mut libc::c_void,
) {
    let Some(Some(installed)) = INSTALLED.get() else {
        return;
    };
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let address = unsafe { (*info).si_addr() } as usize;
    for guard in &GUARDS {
        let start = guard.start.load(Ordering::Acquire);
        let len = guard.len.load(Ordering::Acquire);
        if start == 0 || address < start || address - start >= len {
            continue;
        }
        let page = address & !(installed.page_size - 1);
        // SAFETY: the page lies inside a live map of ours (it is released
        // from its slot before it is unmapped), which is read only: a page
        // of zeros in its place changes nothing anyone relies on but the
        // bytes past the file's end, and the map is marked for that.
        let replaced = unsafe {
            libc::mmap(
                page as *mut libc::c_void,
                installed.page_size,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if replaced != libc::MAP_FAILED {
            guard.cut.store(true, Ordering::Release);
            return;
        }
    }
    // Not ours: the action from before takes over, and the same fault
    // happens again when this returns.
    // SAFETY: `previous` is the action sigaction reported.
    unsafe {
        libc::sigaction(libc::SIGBUS, &installed.previous, std::ptr::null_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_file_cut_short_under_its_map_reads_as_zeros_past_the_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bundle");
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&vec![0xab; 256 << 10])
            .unwrap();
        let map = MappedFile::map(&File::open(&path).unwrap()).unwrap();
        assert_eq!(map[100 << 10], 0xab);
        assert!(!map.was_cut());
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(4096)
            .unwrap();
        let bytes = &map[..];
        // SAFETY: in bounds of the map; read as a real load.
        let past_the_cut = unsafe { std::ptr::read_volatile(&bytes[200 << 10]) };
        assert_eq!(past_the_cut, 0);
        assert!(map.was_cut());
        assert_eq!(bytes[0], 0xab, "what is left of the file is unchanged");
        drop(map);
        // Once that map is gone, another can use its slot, uncut.
        let again = MappedFile::map(&File::open(&path).unwrap()).unwrap();
        assert!(!again.was_cut());
    }
}
