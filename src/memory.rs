//! Resident memory that does not depend on luck. With glibc's defaults, the loop over 1000
//! steady groups held 30.8 MiB in some runs and 36.5 MiB in others, whatever the file layout
//! (`make bench`): glibc raises its mmap threshold each time a large block (a file read, a
//! DescribeServices answer) is freed, so later large blocks land in the heap, fragment it, and
//! the top is not given back; and each thread that allocates may get an arena of its own.
//! Here the mmap threshold is fixed (blocks of 128 KiB and more are always mapped and returned
//! on free) and the process keeps one arena (the loop runs on one thread; its other threads
//! only read files). `make bench`, 5 runs a layout: 28.8-29.4 MiB in every run at the end of the
//! structural step; 29.5-30.4 MiB after issue 28's observations (bench/RESULTS.md). An operator's
//! own `MALLOC_ARENA_MAX` / `MALLOC_MMAP_THRESHOLD_` are left alone.
//!
//! glibc documents both: <https://www.gnu.org/software/libc/manual/html_node/Malloc-Tunable-Parameters.html>
//! ("M_MMAP_THRESHOLD ... Note: Nonzero values of M_MMAP_THRESHOLD disable the dynamic
//! adjustment"; "M_ARENA_MAX ... the maximum number of arenas").

/// Fixes the allocator's settings (glibc only; other allocators are left as they are).
#[allow(unsafe_code)]
pub fn settle() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const MMAP_THRESHOLD: libc::c_int = 128 * 1024;
        // SAFETY: mallopt only changes the allocator's parameters; called before any other
        // thread exists, so no allocation races it.
        unsafe {
            if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
                libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            }
            if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
                libc::mallopt(libc::M_ARENA_MAX, 1);
            }
        }
    }
}
