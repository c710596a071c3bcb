//! Resident memory that does not depend on luck. With glibc's defaults, the loop over 1000
//! steady groups held 30.8 MiB in some runs and 36.5 MiB in others, whatever the file layout
//! (`make bench`): glibc raises its mmap threshold each time a large block (a file read, a
//! DescribeServices answer) is freed, so later large blocks land in the heap, fragment it, and
//! the top is not given back; and each thread that allocates may get an arena of its own.
//! Here the mmap threshold is fixed (blocks of 128 KiB and more are always mapped and returned
//! on free), the process keeps one arena (the loop runs on one thread; its other threads only
//! read files), and after each pass the loop hands the heap's free pages back
//! (`release`, glibc's `malloc_trim`). An operator's own `MALLOC_ARENA_MAX` /
//! `MALLOC_MMAP_THRESHOLD_` are left alone.
//!
//! What is resident, after 10 passes over 1000 groups (`/proc/PID/smaps`): the binary's code
//! pages and the heap, about half each. The release profile is built for size
//! (`opt-level = "s"`, Cargo.toml), which took the resident code from 12.5 to 8.8 MiB; the trim
//! took about 1 MiB off the heap. 5 runs a layout: 24.7-25.5 MiB in every run and layout
//! (29.5-30.4 MiB before both).
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

/// Hands the heap's free pages back to the system (glibc's `malloc_trim`; nothing elsewhere).
/// The loop calls it after each pass, when that pass's answers and plans have just been freed.
#[allow(unsafe_code)]
pub fn release() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory to the system; it takes the arena's lock
    // like any allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}
