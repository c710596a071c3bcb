//! libFuzzer entry point of the `loader` target (crates/fuzz).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ecs_delegate_fuzz::targets::loader::run(data));
