//! Proves the simulation can fail: with the engine's `test-skip-fsync`
//! feature, an `Always` append is acknowledged without its fdatasync, and
//! the seeded power-loss simulation (the same harness and the same seeds as
//! `tests/tests/it/simulation.rs`) must report acknowledged records lost. A kill
//! -9 test cannot see this bug: the page cache survives a process crash.

#![allow(dead_code, reason = "the harness also serves tests/tests/it/simulation.rs")]

#[path = "../../tests/it/simulation/harness.rs"]
mod harness;

use harness::{run_seed, Scenarios};

const SEEDS: u64 = 1000;

#[test]
fn simulation_catches_a_missing_fsync() {
    let mut lost = Vec::new();
    let mut other = Vec::new();
    for seed in 0..SEEDS {
        if let Err(failure) = run_seed(seed, Scenarios::CI) {
            if failure.message.contains("acknowledged or flushed records lost") {
                lost.push(seed);
            } else {
                other.push((seed, failure.message));
            }
        }
    }
    eprintln!(
        "negative control: {} of {SEEDS} seeds lost acknowledged records, {} failed otherwise",
        lost.len(),
        other.len()
    );
    for (seed, message) in other.iter().take(3) {
        eprintln!("  seed {seed}: {message}");
    }
    assert!(
        lost.len() as u64 * 20 > SEEDS,
        "with fdatasync skipped, only {} of {SEEDS} seeds lost acknowledged records",
        lost.len()
    );
}
