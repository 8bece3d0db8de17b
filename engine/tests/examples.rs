//! The examples in `engine/examples/` run, and run again on the same data
//! directory (a service restarts): each is started twice as the binary cargo
//! built, and its output is checked, so an example that stops compiling,
//! fails or changes what it shows fails here. The test builds them first
//! (`cargo build --examples`, a no-op after `cargo test` built them). The
//! README's embedding snippet is one of them, `examples/readme.rs`.

//!
//! Its own test binary: the examples it spawns are forked from this process,
//! and a child holds a copy of every open descriptor until it execs, so a
//! test of the `it` binary that closes a store and reopens it at once could
//! find the directory's lock still held (`Locked` by its own pid).

#![expect(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// `target/<profile>/examples/<name>`, after a `cargo build --examples` (a
/// no-op when they are fresh) so that a stale binary is never run.
fn example_path(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let mut build = Command::new(env!("CARGO"));
        build.args(["build", "-p", "millrace", "--examples"]);
        if !cfg!(debug_assertions) {
            build.arg("--release");
        }
        let status = build.status().unwrap();
        assert!(status.success(), "cargo build --examples failed");
    });
    // The test binary is `target/<profile>/deps/examples-<hash>`.
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let path = profile_dir.join("examples").join(name);
    assert!(path.exists(), "{} not built", path.display());
    path
}

/// Run the example on `dir`; its stdout.
fn run(name: &str, dir: &Path) -> String {
    let output = Command::new(example_path(name)).arg(dir).output().unwrap();
    assert!(
        output.status.success(),
        "example {name} failed: {}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn queue_works_through_new_jobs_on_each_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let first = run("queue", &dir);
    assert!(first.contains("submitted offsets 0..3"), "{first}");
    assert!(
        first.contains("job 0: run 1 job 1") && first.contains("job 2: run 1 job 3"),
        "{first}"
    );
    assert!(first.contains("processed 3 jobs"), "{first}");
    let second = run("queue", &dir);
    assert!(second.contains("submitted offsets 3..6"), "{second}");
    assert!(
        second.contains("job 3: run 2 job 1") && second.contains("job 5: run 2 job 3"),
        "{second}"
    );
    assert!(!second.contains("run 1"), "a committed job delivered again: {second}");
    assert!(second.contains("processed 3 jobs"), "{second}");
}

#[test]
fn pipeline_stage_processes_each_order_once_across_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let first = run("pipeline_stage", &dir);
    assert!(first.contains("stage: 4 valid, 1 dead-lettered"), "{first}");
    assert!(
        first.contains("committed offset 5; valid-orders end 4; dlq depth 1"),
        "{first}"
    );
    let second = run("pipeline_stage", &dir);
    assert!(second.contains("stage: 4 valid, 1 dead-lettered"), "{second}");
    assert!(
        second.contains("committed offset 10; valid-orders end 8; dlq depth 2"),
        "{second}"
    );
}

#[test]
fn dlq_redrive_redrives_each_dead_letter_once_across_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let first = run("dlq_redrive", &dir);
    assert!(first.contains("dead-lettered offset 0 at dlq offset 0"), "{first}");
    assert!(
        first.contains("redriven 1 (then 0 on the second run), capped 0"),
        "{first}"
    );
    assert!(first.contains("dlq depth 0"), "{first}");
    let second = run("dlq_redrive", &dir);
    assert!(second.contains("dlq 0: UnknownCurrency"), "{second}");
    assert!(
        second
            .lines()
            .any(|l| l.starts_with("dlq 0:") && l.ends_with(", redriven")),
        "{second}"
    );
    assert!(
        second.contains("redriven 1 (then 0 on the second run), capped 0"),
        "{second}"
    );
    assert!(second.contains("dlq depth 0"), "{second}");
}

/// The README's embedding snippet is `examples/readme.rs` below its header,
/// verbatim, and runs twice in one directory (a service restarting): the
/// second run finds its topic and carries on.
#[test]
fn readme_snippet_is_the_readme_example_and_runs_twice() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(manifest.join("../README.md")).unwrap();
    let start = readme.find("```rust\n").expect("a rust block in README.md") + "```rust\n".len();
    let snippet = &readme[start..start + readme[start..].find("```").unwrap()];
    let example = std::fs::read_to_string(manifest.join("examples/readme.rs")).unwrap();
    let code = &example[example.find("use millrace").unwrap()..];
    assert_eq!(snippet, code, "README.md's snippet differs from examples/readme.rs");
    let tmp = tempfile::tempdir().unwrap();
    for run in 1..=2 {
        let output = Command::new(example_path("readme"))
            .current_dir(tmp.path())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "run {run} of the README snippet failed: {}\nstderr: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert!(tmp.path().join("data/MILLRACE").is_file());
}
