//! Fuzz targets: one function per parser of outside bytes, each `fn(&[u8])` that panics when an
//! invariant breaks. The same functions run under libFuzzer (`make fuzz`, `fuzz/`) and under
//! `cargo test` over the corpus, the saved failures and a few seconds of mutations
//! (`tests/smoke.rs`), so a failure found by either is reproduced by both.

pub mod html;
pub mod targets;

/// A target: its name (the corpus folder's) and its function.
pub type Target = (&'static str, fn(&[u8]));

/// Every target.
pub const TARGETS: &[Target] = &[
    ("loader", targets::loader::run),
    ("render", targets::render::run),
    ("events", targets::events::run),
    ("harness", targets::harness::run),
    ("ecs_answers", targets::ecs::run),
    ("status_page", targets::page::run),
];
