//! Proves the simulated disk's fault model (module documentation of `sim`):
//! what a power cut must never lose survives every seed, and each thing it may
//! do (drop, keep, tear, garbage, revert a rename, lose a creation or removal)
//! happens on some seed; injected faults hit exactly the chosen call.

use super::*;
use crate::io::{read_all, write_atomic};

const SEEDS: u64 = 500;

fn data_dir() -> &'static Path {
    Path::new("/data")
}

fn disk(seed: u64, plan: FaultPlan) -> SimStorage {
    let sim = SimStorage::new(seed, plan);
    sim.create_dir_all_durable(data_dir()).unwrap();
    sim
}

fn read(sim: &SimStorage, path: &Path) -> Option<Vec<u8>> {
    match read_all(sim, path, u64::MAX) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => panic!("read {}: {e}", path.display()),
    }
}

fn pattern(byte: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| byte.wrapping_add(i as u8)).collect()
}

#[test]
fn synced_bytes_survive_every_seed() {
    let log = data_dir().join("log");
    let meta = data_dir().join("meta");
    let synced = pattern(1, 1300);
    let appended = pattern(7, 2000);
    for seed in 0..SEEDS {
        let sim = disk(seed, FaultPlan::none());
        write_atomic(&sim, &meta, b"old metadata").unwrap();
        let file = sim.open(&log, OpenMode::CreateNew).unwrap();
        file.write_all_at(&synced, 0).unwrap();
        file.sync_data().unwrap();
        sim.sync_dir(data_dir()).unwrap();
        file.write_all_at(&appended, synced.len() as u64).unwrap();
        write_atomic(&sim, &meta, b"new metadata").unwrap();

        let after = sim.power_cut();
        let bytes = read(&after, &log).expect("a synced file with a synced name survives");
        assert!(bytes.len() >= synced.len(), "seed {seed}: synced length lost");
        assert_eq!(
            bytes.get(..synced.len()),
            Some(synced.as_slice()),
            "seed {seed}: synced bytes changed"
        );
        assert!(bytes.len() <= synced.len() + appended.len(), "seed {seed}: file grew");
        assert_eq!(
            read(&after, &meta).as_deref(),
            Some(&b"new metadata"[..]),
            "seed {seed}: atomic write lost"
        );
    }
}

#[test]
fn unsynced_sectors_are_dropped_kept_torn_or_garbage() {
    let path = data_dir().join("log");
    let old = vec![0xAA; 4 * SECTOR_BYTES];
    let new = vec![0xBB; 6 * SECTOR_BYTES];
    let (mut all_old, mut all_new, mut mixed, mut garbage, mut odd_length) = (0, 0, 0, 0, 0);
    for seed in 0..SEEDS {
        let sim = disk(seed, FaultPlan::none());
        let file = sim.open(&path, OpenMode::CreateNew).unwrap();
        file.write_all_at(&old, 0).unwrap();
        file.sync_data().unwrap();
        sim.sync_dir(data_dir()).unwrap();
        file.write_all_at(&new, 0).unwrap();

        let bytes = read(&sim.power_cut(), &path).unwrap();
        assert!(
            bytes.len() >= old.len() && bytes.len() <= new.len(),
            "seed {seed}: length {}",
            bytes.len()
        );
        if bytes.len() / SECTOR_BYTES * SECTOR_BYTES != bytes.len() {
            odd_length += 1;
        }
        let fates: Vec<SectorFate> = bytes
            .chunks(SECTOR_BYTES)
            .enumerate()
            .map(|(index, sector)| {
                if sector.iter().all(|b| *b == 0xBB) {
                    SectorFate::New
                } else if index < 4 && sector.iter().all(|b| *b == 0xAA) {
                    SectorFate::Old
                } else {
                    SectorFate::Garbage
                }
            })
            .collect();
        if fates.iter().all(|f| *f == SectorFate::Old) {
            all_old += 1;
        } else if fates.iter().all(|f| *f == SectorFate::New) {
            all_new += 1;
        } else {
            mixed += 1;
        }
        if fates.contains(&SectorFate::Garbage) {
            garbage += 1;
        }
    }
    assert!(
        all_old > 0 && all_new > 0 && mixed > 0 && garbage > 0 && odd_length > 0,
        "old {all_old} new {all_new} mixed {mixed} garbage {garbage} odd length {odd_length}"
    );
}

#[test]
fn unsynced_rename_reverts_on_some_seed_and_is_atomic() {
    let meta = data_dir().join("meta");
    let tmp = data_dir().join("meta.tmp");
    let (mut reverted, mut renamed) = (0, 0);
    for seed in 0..SEEDS {
        let sim = disk(seed, FaultPlan::none());
        write_atomic(&sim, &meta, b"old").unwrap();
        let file = sim.open(&tmp, OpenMode::Truncate).unwrap();
        file.write_all_at(b"new", 0).unwrap();
        file.sync_data().unwrap();
        sim.sync_dir(data_dir()).unwrap();
        sim.rename(&tmp, &meta).unwrap(); // no sync_dir

        let after = sim.power_cut();
        match (read(&after, &meta).as_deref(), read(&after, &tmp).as_deref()) {
            (Some(b"old"), Some(b"new")) => reverted += 1,
            (Some(b"new"), None) => renamed += 1,
            other => panic!("seed {seed}: rename was not atomic: {other:?}"),
        }
    }
    assert!(reverted > 0 && renamed > 0, "reverted {reverted} renamed {renamed}");
}

#[test]
fn unsynced_creation_removal_and_directory_may_revert() {
    let created = data_dir().join("created");
    let removed = data_dir().join("removed");
    let partition = data_dir().join("topic").join("0");
    let (mut created_lost, mut created_kept, mut removed_back, mut removed_gone) = (0, 0, 0, 0);
    let (mut dir_lost, mut dir_kept) = (0, 0);
    for seed in 0..SEEDS {
        let sim = disk(seed, FaultPlan::none());
        write_atomic(&sim, &removed, b"removed").unwrap();
        let file = sim.open(&created, OpenMode::CreateNew).unwrap();
        file.write_all_at(b"created", 0).unwrap();
        file.sync_data().unwrap(); // data durable, name not
        sim.remove_file(&removed).unwrap();
        sim.create_dir_all(&partition).unwrap();
        sim.sync_dir(&partition).unwrap(); // its parent is not synced

        let after = sim.power_cut();
        match read(&after, &created).as_deref() {
            None => created_lost += 1,
            Some(b"created") => created_kept += 1,
            Some(other) => panic!("seed {seed}: synced data of a surviving file changed: {other:?}"),
        }
        match read(&after, &removed).as_deref() {
            None => removed_gone += 1,
            Some(b"removed") => removed_back += 1,
            Some(other) => panic!("seed {seed}: removed file came back changed: {other:?}"),
        }
        if after.exists(&partition) {
            dir_kept += 1;
        } else {
            dir_lost += 1;
        }
    }
    for (what, count) in [
        ("created lost", created_lost),
        ("created kept", created_kept),
        ("removed back", removed_back),
        ("removed gone", removed_gone),
        ("dir lost", dir_lost),
        ("dir kept", dir_kept),
    ] {
        assert!(count > 0, "{what} never happened");
    }
}

#[test]
fn write_faults_hit_the_chosen_write_only() {
    let path = data_dir().join("log");
    for (plan, code) in [
        (FaultPlan::none().eio_at_write(2), libc::EIO),
        (FaultPlan::none().enospc_at_write(2), libc::ENOSPC),
    ] {
        let sim = disk(1, plan);
        let file = sim.open(&path, OpenMode::CreateNew).unwrap();
        file.write_all_at(b"0", 0).unwrap();
        file.write_all_at(b"1", 1).unwrap();
        let error = file.write_all_at(b"2", 2).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(code));
        file.write_all_at(b"3", 2).unwrap();
        assert_eq!(read(&sim, &path).unwrap(), b"013", "the failed write wrote nothing");
        assert_eq!(sim.writes(), 4);
    }
}

#[test]
fn short_write_writes_a_strict_prefix_then_fails() {
    let path = data_dir().join("log");
    let buf = pattern(3, 3000);
    let mut lengths = BTreeSet::new();
    for seed in 0..50 {
        let sim = disk(seed, FaultPlan::none().short_write_at(1));
        let file = sim.open(&path, OpenMode::CreateNew).unwrap();
        file.write_all_at(b"head", 0).unwrap();
        let error = file.write_all_at(&buf, 4).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::ENOSPC));
        let bytes = read(&sim, &path).unwrap();
        let written = bytes.len().saturating_sub(4);
        assert!(written < buf.len(), "seed {seed}: a short write wrote everything");
        assert_eq!(bytes.get(4..), buf.get(..written));
        lengths.insert(written);
    }
    assert!(
        lengths.len() > 10,
        "short write lengths do not vary with the seed: {lengths:?}"
    );
}

#[test]
fn failed_sync_data_is_reported_and_loses_data_for_good() {
    let path = data_dir().join("log");
    let first = pattern(5, 2 * SECTOR_BYTES);
    let second = pattern(9, 8 * SECTOR_BYTES);
    let mut lost = 0;
    for seed in 0..SEEDS {
        let sim = disk(seed, FaultPlan::none().fail_sync_data_at(1));
        let file = sim.open(&path, OpenMode::CreateNew).unwrap();
        file.write_all_at(&first, 0).unwrap();
        file.sync_data().unwrap();
        sim.sync_dir(data_dir()).unwrap();
        file.write_all_at(&second, first.len() as u64).unwrap();
        assert_eq!(file.sync_data().unwrap_err().raw_os_error(), Some(libc::EIO));
        // Retrying succeeds, but (as on Linux) does not write the lost pages.
        file.sync_data().unwrap();
        assert_eq!(sim.syncs_data(), 3);
        let mut expected = first.clone();
        expected.extend_from_slice(&second);
        assert_eq!(
            read(&sim, &path).unwrap(),
            expected,
            "reads still see the written bytes"
        );

        let bytes = read(&sim.power_cut(), &path).unwrap();
        assert_eq!(
            bytes.get(..first.len()),
            Some(first.as_slice()),
            "seed {seed}: bytes synced earlier lost"
        );
        if bytes != expected {
            lost += 1;
        }
    }
    assert!(lost > 0, "a failed fsync never lost data");
}

#[test]
fn failed_sync_dir_is_reported_and_syncs_nothing() {
    let path = data_dir().join("created");
    let mut lost = 0;
    for seed in 0..SEEDS {
        let sim = disk(seed, FaultPlan::none().fail_sync_dir_at(0));
        let file = sim.open(&path, OpenMode::CreateNew).unwrap();
        file.sync_data().unwrap();
        assert_eq!(sim.sync_dir(data_dir()).unwrap_err().raw_os_error(), Some(libc::EIO));
        if !sim.power_cut().exists(&path) {
            lost += 1;
        }
    }
    assert!(lost > 0);
}

/// A fixed sequence of eight storage calls; returns how many succeeded.
fn workload(sim: &SimStorage) -> u64 {
    let path = data_dir().join("log");
    let Ok(file) = sim.open(&path, OpenMode::CreateNew) else {
        return 0;
    };
    let steps: [&dyn Fn() -> io::Result<()>; 7] = [
        &|| file.write_all_at(b"hello", 0),
        &|| file.sync_data(),
        &|| sim.sync_dir(data_dir()),
        &|| file.len().map(drop),
        &|| sim.list_dir(data_dir()).map(drop),
        &|| file.set_len(2),
        &|| sim.rename(&path, &data_dir().join("log2")),
    ];
    1 + steps.iter().take_while(|step| step().is_ok()).count() as u64
}

#[test]
fn crash_point_fails_that_call_and_every_later_one() {
    let reference = disk(0, FaultPlan::none());
    assert_eq!(workload(&reference), 8);
    assert_eq!(reference.calls(), 8, "every storage call is counted");
    for crash in 0..reference.calls() {
        let sim = disk(0, FaultPlan::none().crash_at_call(crash));
        assert_eq!(workload(&sim), crash, "calls before the crash point succeed");
        assert!(sim.is_crashed());
        let error = sim.list_dir(data_dir()).unwrap_err();
        assert!(is_simulated_power_loss(&error), "{error}");
        assert!(!sim.exists(data_dir()), "exists is false once the power is out");
        assert!(sim.lock_dir(data_dir()).is_err());
    }
}

#[test]
fn handles_of_the_old_boot_fail_after_a_power_cut() {
    let sim = disk(0, FaultPlan::none());
    let file = sim.open(&data_dir().join("log"), OpenMode::CreateNew).unwrap();
    let after = sim.power_cut();
    assert!(is_simulated_power_loss(&file.write_all_at(b"x", 0).unwrap_err()));
    assert!(is_simulated_power_loss(&file.sync_data().unwrap_err()));
    assert!(is_simulated_power_loss(&sim.sync_dir(data_dir()).unwrap_err()));
    assert_eq!(after.calls(), 0);
    assert!(after.exists(data_dir()));
}

#[test]
fn lock_is_exclusive_and_released_on_drop_and_power_cut() {
    let sim = disk(0, FaultPlan::none());
    let guard = sim.lock_dir(data_dir()).unwrap().unwrap();
    let other_handle = sim.clone();
    assert_eq!(
        other_handle.lock_dir(data_dir()).unwrap().unwrap_err(),
        Some(std::process::id())
    );
    drop(guard);
    let guard = other_handle.lock_dir(data_dir()).unwrap().unwrap();
    assert!(sim.lock_dir(Path::new("/missing")).is_err());

    let after = sim.power_cut();
    let again = after.lock_dir(data_dir()).unwrap().unwrap();
    drop(guard); // dropping a guard of the old boot leaves the new lock alone
    assert!(after.lock_dir(data_dir()).unwrap().is_err());
    drop(again);
    assert!(after.lock_dir(data_dir()).unwrap().is_ok());
}

#[test]
fn same_seed_gives_the_same_image() {
    let run = |seed: u64| {
        let sim = disk(seed, FaultPlan::none().short_write_at(3));
        for index in 0..6u64 {
            let path = data_dir().join(format!("file{index}"));
            let file = sim.open(&path, OpenMode::CreateNew).unwrap();
            let _ = file.write_all_at(&pattern(index as u8, 1500), 0);
            if index % 2 == 0 {
                file.sync_data().unwrap();
            }
            let _ = file.write_all_at(&pattern(index as u8 + 100, 700), 1000);
        }
        sim.sync_dir(data_dir()).unwrap();
        sim.power_cut().files()
    };
    for seed in 0..20 {
        assert_eq!(run(seed), run(seed), "seed {seed}");
    }
    assert!(
        (0..20).any(|seed| run(seed) != run(seed + 1)),
        "images do not depend on the seed"
    );
}

#[test]
fn restart_keeps_the_page_cache() {
    let path = data_dir().join("log");
    let sim = disk(0, FaultPlan::none());
    let file = sim.open(&path, OpenMode::CreateNew).unwrap();
    file.write_all_at(b"unsynced", 0).unwrap();
    let after = sim.restart();
    assert!(file.len().is_err());
    assert_eq!(read(&after, &path).as_deref(), Some(&b"unsynced"[..]));
    // Still unsynced: a later power cut may lose it.
    let lost = (0..SEEDS).any(|seed| {
        let sim = disk(seed, FaultPlan::none());
        let file = sim.open(&path, OpenMode::CreateNew).unwrap();
        file.write_all_at(b"unsynced", 0).unwrap();
        read(&sim.restart().power_cut(), &path).as_deref() != Some(&b"unsynced"[..])
    });
    assert!(lost);
}

#[test]
fn truncation_may_revert_until_synced() {
    let path = data_dir().join("log");
    let original = pattern(11, 3 * SECTOR_BYTES + 100);
    let mut reverted = 0;
    for seed in 0..SEEDS {
        let sim = disk(seed, FaultPlan::none());
        write_atomic(&sim, &path, &original).unwrap();
        let file = sim.open(&path, OpenMode::Existing).unwrap();
        file.set_len(700).unwrap();
        let bytes = read(&sim.power_cut(), &path).unwrap();
        assert!(bytes.len() >= 700 && bytes.len() <= original.len(), "seed {seed}");
        if bytes == original {
            reverted += 1;
        }
        file.set_len(700).ok();
    }
    assert!(reverted > 0);

    let sim = disk(0, FaultPlan::none());
    write_atomic(&sim, &path, &original).unwrap();
    let file = sim.open(&path, OpenMode::Existing).unwrap();
    file.set_len(700).unwrap();
    file.set_len(2000).unwrap();
    let mut expected = original.get(..700).unwrap().to_vec();
    expected.resize(2000, 0);
    assert_eq!(read(&sim, &path).unwrap(), expected, "re-extension reads zeros");
    file.sync_data().unwrap();
    assert_eq!(read(&sim.power_cut(), &path).unwrap(), expected);
}

#[test]
fn namespace_errors_match_posix() {
    let sim = disk(0, FaultPlan::none());
    let file = data_dir().join("file");
    assert_eq!(
        sim.open(&file, OpenMode::Existing).unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
    sim.open(&file, OpenMode::CreateNew).unwrap();
    assert_eq!(
        sim.open(&file, OpenMode::CreateNew).unwrap_err().kind(),
        io::ErrorKind::AlreadyExists
    );
    assert_eq!(
        sim.open(data_dir(), OpenMode::Existing).unwrap_err().raw_os_error(),
        Some(libc::EISDIR)
    );
    assert_eq!(sim.list_dir(&file).unwrap_err().raw_os_error(), Some(libc::ENOTDIR));
    assert_eq!(
        sim.remove_dir_all(&file).unwrap_err().raw_os_error(),
        Some(libc::ENOTDIR)
    );
    assert_eq!(
        sim.remove_file(data_dir()).unwrap_err().raw_os_error(),
        Some(libc::EISDIR)
    );
    assert_eq!(
        sim.rename(data_dir(), &data_dir().join("inside"))
            .unwrap_err()
            .raw_os_error(),
        Some(libc::EINVAL)
    );
    assert_eq!(
        sim.open(&data_dir().join("no/such"), OpenMode::Truncate)
            .unwrap_err()
            .kind(),
        io::ErrorKind::NotFound
    );
    sim.create_dir_all(&data_dir().join("a/b")).unwrap();
    assert_eq!(
        sim.list_dir(data_dir()).unwrap(),
        vec!["a".to_string(), "file".to_string()]
    );
    sim.remove_dir_all(&data_dir().join("a")).unwrap();
    assert!(!sim.exists(&data_dir().join("a/b")));
    assert_eq!(read(&sim, &file).unwrap(), b"");
}
