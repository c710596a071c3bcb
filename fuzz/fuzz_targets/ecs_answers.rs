//! libFuzzer entry point of the `ecs_answers` target (crates/fuzz).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ecs_delegate_fuzz::targets::ecs::run(data));
