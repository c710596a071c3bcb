//! libFuzzer entry point of the `render` target (crates/fuzz).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ecs_delegate_fuzz::targets::render::run(data));
