//! Every fuzz target under `cargo test`: each saved failure (`fuzz/regressions/TARGET/`), each
//! corpus input (`fuzz/corpus/TARGET/`), then mutations of the corpus for a few seconds
//! (`EDC_FUZZ_SECONDS`, default 2; `EDC_FUZZ_SEED` repeats a run). Without coverage feedback
//! this is a smoke run; `make fuzz` is the real search. A failing input is written to
//! `target/fuzz-failures/` and named in the failure, ready to be saved as a regression.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files of a folder, sorted; none when it does not exist.
fn inputs(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
        .into_iter()
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

/// xorshift64*: enough randomness for mutations, repeatable from a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Bytes that parsers treat specially: YAML and JSON structure, controls, UTF-8 lead bytes.
const INTERESTING: &[u8] = b"\0\x01\x7f\xff\xfe\xc3\xe2\n\r\t :-[]{}\"'&*!|>#,\\<0";

/// One to four random edits of `input`, sometimes spliced with `other`.
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(7) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => out.insert(at, INTERESTING[rng.below(INTERESTING.len())]),
            3 if !out.is_empty() => {
                let end = (at + 1 + rng.below(16)).min(out.len());
                out.drain(at.min(end)..end);
            }
            4 if !out.is_empty() => {
                let start = rng.below(out.len());
                let end = (start + 1 + rng.below(32)).min(out.len());
                let chunk = out[start..end].to_vec();
                out.splice(at..at, chunk);
            }
            5 if !other.is_empty() => {
                let start = rng.below(other.len());
                let end = (start + 1 + rng.below(64)).min(other.len());
                out.splice(at..at, other[start..end].iter().copied());
            }
            _ => out.truncate(at),
        }
    }
    out
}

/// Runs `target` on `input`; on a panic, saves the input and fails naming it.
fn run_one(name: &str, target: fn(&[u8]), input: &[u8], origin: &str) {
    if catch_unwind(AssertUnwindSafe(|| target(input))).is_err() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/fuzz-failures");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("{name}-{:016x}", fnv(input)));
        std::fs::write(&file, input).unwrap();
        panic!(
            "fuzz target {name} failed on {origin}; the input is in {} (copy it to fuzz/regressions/{name}/)",
            file.display()
        );
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[test]
fn every_target_passes_its_regressions_corpus_and_a_few_seconds_of_mutations() {
    let seconds: u64 = std::env::var("EDC_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let seed: u64 = std::env::var("EDC_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    println!("EDC_FUZZ_SEED={seed}");
    for &(name, target) in ecs_delegate_fuzz::TARGETS {
        for (path, bytes) in inputs(&fuzz_dir().join("regressions").join(name)) {
            run_one(name, target, &bytes, &path.display().to_string());
        }
        let corpus = inputs(&fuzz_dir().join("corpus").join(name));
        assert!(!corpus.is_empty(), "fuzz/corpus/{name}/ has no seed");
        for (path, bytes) in &corpus {
            run_one(name, target, bytes, &path.display().to_string());
        }
        let mut rng = Rng(seed ^ fnv(name.as_bytes()));
        let until = Instant::now() + Duration::from_secs(seconds);
        let mut runs = 0_u64;
        while Instant::now() < until {
            let (_, input) = &corpus[rng.below(corpus.len())];
            let (_, other) = &corpus[rng.below(corpus.len())];
            let mutated = mutate(&mut rng, input, other);
            run_one(name, target, &mutated, "a mutation");
            runs += 1;
        }
        println!("{name}: {} corpus inputs, {runs} mutations", corpus.len());
        assert!(runs > 0 || seconds == 0, "{name} ran no mutation");
    }
}
