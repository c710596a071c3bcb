//! Files that are not group files: binary bytes, other encodings, links out of the directory,
//! devices, FIFOs and oversized files. Each is refused with its file (and position where it has
//! one), the load ends, and no message echoes the file's content.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use ecs_delegate_spec::{load, load_str, Diagnostics};

/// A directory of its own under the system's temporary directory.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spec-hostile-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `load(paths)` on a thread; a load that has not ended in 20 s fails the test instead of
/// hanging it (the bound is about ending, not speed: a refusal takes milliseconds).
fn load_ending(paths: Vec<PathBuf>) -> Result<usize, Diagnostics> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(load(&paths).map(|groups| groups.len()));
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("the load did not end")
}

fn only_error(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let file = dir.join(name);
    std::fs::write(&file, bytes).unwrap();
    let errors = load_ending(vec![file]).expect_err("refused");
    assert_eq!(errors.0.len(), 1, "{errors}");
    errors
        .to_string()
        .replace(&format!("{}/", dir.display()), "")
}

#[test]
fn binary_and_wide_files_are_refused_with_their_position() {
    let dir = scratch("bytes");
    let cases: [(&str, &[u8], &str); 5] = [
        (
            "nul.yaml",
            b"\0",
            "nul.yaml:1:1: error: a NUL byte, which YAML does not allow; is this a binary file?",
        ),
        (
            "control.yaml",
            b"apiVersion: x\nkind: \x01\x02",
            "control.yaml:2:7: error: a control character, which YAML does not allow; is this a binary file?",
        ),
        (
            "latin1.yaml",
            b"metadata:\n  name: caf\xe9\n",
            "latin1.yaml:2:12: error: invalid UTF-8; is this a binary file?",
        ),
        (
            "utf16.yaml",
            b"\xff\xfek\x00i\x00n\x00d\x00",
            "utf16.yaml:1:1: error: the file is UTF-16 (little-endian); save it as UTF-8",
        ),
        (
            "environ.yaml",
            b"AWS_SECRET_ACCESS_KEY=hunter2\0HOME=/root\0",
            "environ.yaml:1:30: error: a NUL byte, which YAML does not allow; is this a binary file?",
        ),
    ];
    for (name, bytes, expected) in cases {
        let error = only_error(&dir, name, bytes);
        assert_eq!(error, expected);
        assert!(!error.contains("hunter2") && !error.contains("AWS_SECRET"));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn text_in_memory_is_screened_as_files_are() {
    for text in [
        "\0",
        "kind: \u{1}\u{2}",
        "a: 1\n---\n\u{7f}: [",
        "\u{1}\n---\n---\n",
    ] {
        let (tx, rx) = mpsc::channel();
        let owned = text.to_owned();
        std::thread::spawn(move || {
            let _ = tx.send(load_str(Path::new("x.yaml"), &owned).1);
        });
        let problems = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("load_str did not end on {text:?}"));
        assert_eq!(problems.len(), 1, "{text:?}: {problems:?}");
        assert!(problems[0].message.contains("YAML does not allow"));
    }
}

#[test]
fn links_out_of_the_directory_are_refused_and_never_followed() {
    let dir = scratch("links");
    let groups = dir.join("groups");
    std::fs::create_dir_all(groups.join("sub")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", groups.join("zero.yaml")).unwrap();
    std::os::unix::fs::symlink("/", groups.join("root")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", groups.join("etc.yaml")).unwrap();
    // Inside links are fine, and a link back to an ancestor is walked once.
    std::os::unix::fs::symlink(&groups, groups.join("sub/loop")).unwrap();
    std::fs::write(groups.join("notes.txt"), "not read").unwrap();
    std::os::unix::fs::symlink("/etc/hostname", groups.join("README")).unwrap();
    let errors = load_ending(vec![groups.clone()]).expect_err("refused");
    let canonical = groups.canonicalize().unwrap();
    let text = errors
        .to_string()
        .replace(&format!("{}/", groups.display()), "");
    let outside = format!(
        "symlink to a path outside {}: refused (links must stay inside the directory)",
        canonical.display()
    );
    assert_eq!(
        text,
        [
            format!("etc.yaml: error: {outside}"),
            format!("root: error: {outside}"),
            format!("zero.yaml: error: {outside}"),
        ]
        .join("\n")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn devices_fifos_and_oversized_files_are_refused() {
    let dir = scratch("special");
    // A FIFO that nobody writes: opening it must not wait.
    let fifo = dir.join("fifo.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    std::fs::write(
        dir.join("big.yaml"),
        vec![b'#'; 2 << 20], // a 2 MiB comment
    )
    .unwrap();
    let errors = load_ending(vec![dir.clone()]).expect_err("refused");
    assert_eq!(
        errors
            .to_string()
            .replace(&format!("{}/", dir.display()), ""),
        "big.yaml: error: larger than 1 MiB: refused\n\
         fifo.yaml: error: not a regular file (a device, FIFO or socket): refused"
    );
    // Named on the command line, a device is refused as well, without reading it.
    let errors = load_ending(vec![PathBuf::from("/dev/zero")]).expect_err("refused");
    assert_eq!(
        errors.to_string(),
        "/dev/zero: error: not a regular file (a device, FIFO or socket): refused"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_whole_set_has_a_cap() {
    let dir = scratch("set");
    for i in 0..20 {
        // 20 files of 0.9 MiB: each under the file cap, together over the set's 16 MiB.
        std::fs::write(dir.join(format!("f{i:02}.yaml")), vec![b'#'; 900 << 10]).unwrap();
    }
    let errors = load_ending(vec![dir.clone()]).expect_err("refused");
    assert!(
        errors
            .to_string()
            .contains("error: the files add up to more than 16 MiB: refused"),
        "{errors}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A link inside the directory to a directory sorted after it: the groups under it are read
/// once, whichever path reaches them first.
#[test]
fn a_directory_reached_through_a_link_and_by_name_is_read_once() {
    let dir = scratch("twice");
    std::fs::create_dir_all(dir.join("b")).unwrap();
    std::fs::write(
        dir.join("b/g.yaml"),
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dup-across-files/a.yaml"),
        )
        .unwrap(),
    )
    .unwrap();
    std::os::unix::fs::symlink(dir.join("b"), dir.join("a-link")).unwrap();
    let groups = load_ending(vec![dir.clone()]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(groups, 1);
    std::fs::remove_dir_all(&dir).unwrap();
}
