//! What `millrace repair` does for a `check` report, as one engine API: the
//! actions ([`repair_actions`], one per damaged thing) and [`Inspector`],
//! which applies them through any [`Storage`] (the real file system for the
//! CLI, the simulated disk for the seeded simulation), so the same repair
//! runs under power cuts and injected faults.

use super::manifest::Journal;
use super::*;

/// One fix for one damaged thing `check` reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepairAction {
    /// Truncate `segment` at its first invalid batch ([`repair_segment`](super::repair_segment)).
    Truncate {
        /// The segment log file.
        segment: PathBuf,
        /// Its first invalid batch.
        position: u64,
        /// What `check` said.
        detail: String,
    },
    /// Move a damaged index into the backup ([`repair_index`](super::repair_index)).
    RebuildIndex {
        /// The segment whose index it is.
        segment: PathBuf,
        /// The index file.
        index: PathBuf,
        /// What `check` said.
        detail: String,
    },
    /// The log ends before a producer snapshot: records were lost already;
    /// set the snapshot(s) aside to accept the loss ([`set_aside_snapshots`](super::set_aside_snapshots)).
    SetAside {
        /// The snapshot `check` reported.
        snapshot: PathBuf,
        /// What `check` said.
        detail: String,
    },
    /// A damaged metadata file: rewrite, rebuild or move it, with a backup
    /// ([`repair_metadata`](super::repair_metadata)).
    RebuildMetadata {
        /// The file.
        path: PathBuf,
        /// What `check` said.
        detail: String,
    },
    /// Nothing repair can do: restore the file from a backup.
    Manual {
        /// The file.
        path: PathBuf,
        /// What `check` said.
        detail: String,
    },
    /// A transaction commit record open cannot apply ([`forget_transactions`](super::forget_transactions)).
    ForgetTransactions {
        /// The `__transactions` segment holding it.
        path: PathBuf,
        /// What `check` said.
        detail: String,
    },
    /// Accept the gap before `segment` (a missing middle segment, offsets
    /// `[from, to)`): record it as a hole and keep every later segment
    /// (`repair --accept-gap`), audited with `reason`.
    AcceptGap {
        /// The segment after the gap.
        segment: PathBuf,
        /// The previous segment's end.
        from: u64,
        /// The segment's base.
        to: u64,
        /// The operator's reason (empty: none given).
        reason: String,
    },
}

fn base_of(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    let (digits, _) = name.split_once('.')?;
    digits.parse().ok()
}

/// One action per damaged thing of `report`, skipping what an earlier
/// truncation of the same partition moves away.
pub fn repair_actions(report: &CheckReport) -> Vec<RepairAction> {
    let mut actions: Vec<RepairAction> = Vec::new();
    // (partition dir, base offset) of planned truncations.
    let mut truncated: Vec<(PathBuf, u64)> = Vec::new();
    // Damaged metadata, recoverable or not, is fixed file by file.
    for p in report
        .problems
        .iter()
        .filter(|p| p.kind == CorruptionKind::BadMetadata && is_repairable_metadata(&p.path))
    {
        let action = RepairAction::RebuildMetadata {
            path: p.path.clone(),
            detail: p.detail.clone(),
        };
        if !actions.contains(&action) {
            actions.push(action);
        }
    }
    for p in report.problems.iter().filter(|p| p.severity == Severity::Corruption) {
        if p.kind == CorruptionKind::BadMetadata && is_repairable_metadata(&p.path) {
            continue;
        }
        let dir = p.path.parent().map(Path::to_path_buf).unwrap_or_default();
        let base = base_of(&p.path);
        let covered = base.is_some_and(|b| truncated.iter().any(|(d, t)| *d == dir && b >= *t));
        if covered {
            continue;
        }
        let is_index = p.path.extension().is_some_and(|e| e == "index");
        let is_snapshot = p.path.extension().is_some_and(|e| e == "producers");
        let action = match (p.kind, base) {
            (CorruptionKind::UnappliableTransaction, _) => RepairAction::ForgetTransactions {
                path: p.path.clone(),
                detail: p.detail.clone(),
            },
            (CorruptionKind::OffsetGap, Some(_)) if is_snapshot => RepairAction::SetAside {
                snapshot: p.path.clone(),
                detail: p.detail.clone(),
            },
            (CorruptionKind::BadIndex, Some(_)) if is_index => RepairAction::RebuildIndex {
                segment: p.path.with_extension("log"),
                index: p.path.clone(),
                detail: p.detail.clone(),
            },
            (CorruptionKind::BadMetadata, _) | (_, None) => RepairAction::Manual {
                path: p.path.clone(),
                detail: p.detail.clone(),
            },
            (_, Some(b)) => {
                truncated.push((dir, b));
                RepairAction::Truncate {
                    segment: p.path.clone(),
                    position: p.position,
                    detail: format!("{:?}: {}", p.kind, p.detail),
                }
            }
        };
        if !actions.contains(&action) {
            actions.push(action);
        }
    }
    actions
}

/// `<backup>/<topic>/<partition>` for a file at `.../topics/<topic>/<partition>/<file>`.
pub fn backup_for(backup_root: &Path, file: &Path) -> PathBuf {
    let partition = file.parent();
    let topic = partition.and_then(Path::parent);
    let name = |p: Option<&Path>| {
        p.and_then(Path::file_name)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("unknown"))
    };
    backup_root.join(name(topic)).join(name(partition))
}

/// What [`Inspector::repair`] did.
#[derive(Debug, Clone)]
pub struct RepairRun {
    /// Each action applied, with its outcome, in order.
    pub applied: Vec<(RepairAction, RepairOutcome)>,
    /// The actions repair cannot do (restore from a backup).
    pub manual: Vec<RepairAction>,
    /// `check` after the repair.
    pub after: CheckReport,
}

/// `check` and `repair` through one [`Storage`]: the CLI's repair with
/// [`FsStorage`], the seeded simulation's with the simulated disk. Every
/// read, write, fsync, rename and lock of a repair goes through it.
#[derive(Debug, Clone)]
pub struct Inspector {
    storage: Arc<dyn Storage>,
    journal: Option<Arc<Journal>>,
}

impl Inspector {
    /// An inspector working through `storage`.
    pub fn new(storage: Arc<dyn Storage>) -> Inspector {
        Inspector { storage, journal: None }
    }

    /// Undo the repair whose backup is `backup_root` ([`restore`](super::restore)).
    pub fn restore(&self, data_dir: &Path, backup_root: &Path) -> Result<super::RestoreOutcome> {
        super::restore::restore_on(self.storage.as_ref(), data_dir, backup_root)
    }

    /// Record every change in `journal` (the backup's `repair.manifest`)
    /// before making it, so that `restore` can undo the repair.
    pub fn with_journal(mut self, journal: Arc<Journal>) -> Inspector {
        self.journal = Some(journal);
        self
    }

    /// Check the data directory (see [`check_dir`](super::check_dir)) under
    /// the lock the storage gives ([`Storage::lock_dir`]).
    pub fn check(&self, data_dir: &Path) -> Result<CheckReport> {
        let storage = self.storage.as_ref();
        require_store(storage, data_dir)?;
        let _lock = lock(storage, data_dir)?;
        super::check::check_once(storage, data_dir, false, &mut |_| {})
    }

    /// What `action` would take out of service (the dry run), or `None`
    /// for an action that takes out no record range.
    pub fn plan(&self, data_dir: &Path, action: &RepairAction) -> Result<Option<RepairPlan>> {
        let storage = self.storage.as_ref();
        require_store(storage, data_dir)?;
        let _lock = lock(storage, data_dir)?;
        Ok(match action {
            RepairAction::Truncate { segment, position, .. } => {
                Some(super::plan::plan_segment_locked(storage, data_dir, segment, *position)?)
            }
            RepairAction::SetAside { snapshot, .. } => {
                Some(super::plan::plan_snapshot_locked(storage, data_dir, snapshot)?)
            }
            _ => None,
        })
    }

    /// Apply one action, backing up under `backup_root` (per partition,
    /// [`backup_for`]). `None` for [`RepairAction::Manual`], which repair
    /// cannot do.
    pub fn apply(&self, data_dir: &Path, action: &RepairAction, backup_root: &Path) -> Result<Option<RepairOutcome>> {
        let storage = self.storage.as_ref();
        let journal = self.journal.as_deref();
        Ok(Some(match action {
            RepairAction::Truncate { segment, position, .. } => super::repair::repair_segment_on(
                storage,
                data_dir,
                (segment, *position),
                &backup_for(backup_root, segment),
                journal,
            )?,
            RepairAction::RebuildIndex { segment, .. } => {
                super::repair::repair_index_on(storage, data_dir, segment, &backup_for(backup_root, segment), journal)?
            }
            RepairAction::SetAside { snapshot, .. } => super::repair::set_aside_snapshots_on(
                storage,
                data_dir,
                snapshot,
                &backup_for(backup_root, snapshot),
                journal,
            )?,
            RepairAction::AcceptGap { segment, reason, .. } => super::manifest::accept_gap_on(
                storage,
                data_dir,
                segment,
                &backup_for(backup_root, segment),
                journal,
                reason,
            )?,
            RepairAction::ForgetTransactions { .. } => {
                super::transactions::forget_transactions_on(&self.storage, data_dir, backup_root, journal)?
            }
            RepairAction::RebuildMetadata { path, .. } => {
                let relative = path
                    .strip_prefix(data_dir)
                    .ok()
                    .and_then(Path::parent)
                    .unwrap_or(Path::new(""));
                super::metadata::repair_metadata_on(storage, data_dir, path, &backup_root.join(relative), journal)?
            }
            RepairAction::Manual { .. } => return Ok(None),
        }))
    }

    /// `millrace repair --yes`: check, apply every action (one
    /// forget-transaction covers every unappliable part), check again.
    pub fn repair(&self, data_dir: &Path, backup_root: &Path) -> Result<RepairRun> {
        let report = self.check(data_dir)?;
        let mut run = RepairRun {
            applied: Vec::new(),
            manual: Vec::new(),
            after: CheckReport::default(),
        };
        let mut forgot = false;
        for action in repair_actions(&report) {
            if matches!(action, RepairAction::ForgetTransactions { .. }) {
                if forgot {
                    continue;
                }
                forgot = true;
            }
            match self.apply(data_dir, &action, backup_root)? {
                Some(outcome) => run.applied.push((action, outcome)),
                None => run.manual.push(action),
            }
        }
        run.after = self.check(data_dir)?;
        Ok(run)
    }
}
