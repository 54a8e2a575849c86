//! [`Refusal`]: why the rollout state machine refused a transition.

use chrono::{DateTime, Utc};

/// Why the rollout state machine refused a transition (see `catalog::Transition`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The version failed its contract at registration.
    #[error(
        "version '{version}' of {dataset} was rejected by its contract; PROMOTE ... FORCE REASON '...' to expose it anyway"
    )]
    Rejected {
        /// The dataset.
        dataset: String,
        /// The version.
        version: String,
    },

    /// `ROLLBACK ... TO` a rejected version.
    #[error("version '{version}' of {dataset} was rejected and cannot become stable")]
    RejectedCannotBeStable {
        /// The dataset.
        dataset: String,
        /// The version.
        version: String,
    },

    /// Another version is the candidate.
    #[error(
        "{dataset} already has candidate '{candidate}' exposed to {exposure}; ROLLBACK {dataset} \
         (or PROMOTE {dataset} TO '{candidate}') before promoting '{new}'"
    )]
    OtherCandidate {
        /// The dataset.
        dataset: String,
        /// The live candidate.
        candidate: String,
        /// Who the candidate is exposed to (`cohort canary + 10% of consumers`).
        exposure: String,
        /// The version the statement wanted to promote.
        new: String,
    },

    /// A partial exposure with no stable version to compare against.
    #[error(
        "{dataset} has no stable version yet, so there is nothing to roll out against: \
         PROMOTE {dataset} TO '{version}' (without FOR COHORT / AT PERCENT) makes it the first stable version"
    )]
    NoStable {
        /// The dataset.
        dataset: String,
        /// The version.
        version: String,
    },

    /// A partial exposure of the stable version.
    #[error("'{version}' is already the stable version of {dataset}")]
    AlreadyStable {
        /// The dataset.
        dataset: String,
        /// The version.
        version: String,
    },

    /// `IN STAGES` while the version is rolling out already.
    #[error(
        "'{version}' is already rolling out on {dataset}; ADVANCE {dataset} moves it to its next stage"
    )]
    AlreadyRollingOut {
        /// The dataset.
        dataset: String,
        /// The version.
        version: String,
    },

    /// `ADVANCE` without a staged rollout.
    #[error(
        "{dataset} has no staged rollout to advance; PROMOTE {dataset} TO '<v>' IN STAGES (1, 10, 50, 100) starts one"
    )]
    NotStaged {
        /// The dataset.
        dataset: String,
    },

    /// `ADVANCE` at the last stage of stages that stop short of 100%.
    #[error(
        "'{version}' is at its last stage on {dataset}; PROMOTE {dataset} TO '{version}' makes it stable"
    )]
    LastStage {
        /// The dataset.
        dataset: String,
        /// The version.
        version: String,
    },

    /// `ADVANCE` before the stage has soaked.
    #[error(
        "stage {stage} of {stages} ({percent}) of '{version}' on {dataset} soaks until {} (another {}m{}s); the next stage ({next}) may start then",
        until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        remaining_seconds / 60,
        remaining_seconds % 60
    )]
    Soaking {
        /// The dataset.
        dataset: String,
        /// The version.
        version: String,
        /// The current stage, 1-based.
        stage: usize,
        /// How many stages there are.
        stages: usize,
        /// The current stage's exposure, as `12.5%`.
        percent: String,
        /// The next stage's exposure.
        next: String,
        /// When the stage has soaked.
        until: DateTime<Utc>,
        /// Seconds from now until then.
        remaining_seconds: i64,
    },

    /// Making a staged candidate stable (or widening it past its stages) before its stages ran.
    #[error(
        "'{version}' is at stage {stage} of {stages} ({percent}) on {dataset}; stages cannot be skipped: \
         ADVANCE {dataset} moves it to the next stage ({next}), or add FORCE REASON '...' to skip them"
    )]
    StagesRemain {
        /// The dataset.
        dataset: String,
        /// The version.
        version: String,
        /// The current stage, 1-based.
        stage: usize,
        /// How many stages there are.
        stages: usize,
        /// The current stage's exposure, as `5%`.
        percent: String,
        /// The next stage's exposure.
        next: String,
    },

    /// A percentage below the candidate's current exposure.
    #[error(
        "'{version}' is exposed to {from} of consumers on {dataset}; exposure cannot be lowered to {to} \
         (consumers who read it would flip back): ROLLBACK {dataset} aborts the rollout, or add FORCE REASON '...'"
    )]
    LowerExposure {
        /// The dataset.
        dataset: String,
        /// The candidate.
        version: String,

        /// The current exposure, as `30%`.
        from: String,
        /// The asked-for exposure.
        to: String,
    },

    /// `ROLLBACK` with no candidate and no earlier stable version.
    #[error("nothing to roll back: {dataset} has no candidate and no earlier stable version")]
    NothingToRollBack {
        /// The dataset.
        dataset: String,
    },

    /// The rollout changed between the statement's look at it and its commit.
    #[error(
        "{dataset} changed while {operation} was being committed (another writer committed first); \
         nothing was changed: check SHOW ROLLOUT {dataset} and retry if still wanted"
    )]
    ChangedMeanwhile {
        /// The dataset.
        dataset: String,
        /// The statement that was refused (`PROMOTE`, ...).
        operation: String,
    },

    /// `SET APPROVALS` on a store with no users: there is nobody to tell apart.
    #[error(
        "approvals on {dataset} need users to tell principals apart: CREATE USER first (the store has none)"
    )]
    ApprovalsNeedUsers {
        /// The dataset.
        dataset: String,
    },

    /// `APPROVE` by the principal who asked.
    #[error("request #{id} was made by {requester}; another principal must approve it")]
    OwnRequest {
        /// The request's id.
        id: u64,
        /// The principal who made it.
        requester: String,
    },

    /// `APPROVE` of a statement nobody asked for (or whose request expired).
    #[error("no pending request for {statement}; SHOW PENDING lists them")]
    NothingPending {
        /// The statement as approved.
        statement: String,
    },

    /// `DROP COHORT` of a cohort a live rollout exposes a candidate to.
    #[error(
        "cohort '{cohort}' is exposed to {}: its members read the candidate; ROLLBACK or PROMOTE \
         the rollout first, then DROP COHORT {cohort}",
        exposed.join(", ")
    )]
    CohortExposed {
        /// The cohort.
        cohort: String,
        /// Each rollout exposing it, as `orders 'v2'`.
        exposed: Vec<String>,
    },

    /// `ALTER COHORT ... ADD MEMBERS` of consumers already in it, or `DROP MEMBERS` of ones
    /// not in it.
    #[error(
        "{} {} of cohort '{cohort}': {}; nothing was changed",
        if members.len() == 1 { "consumer" } else { "consumers" },
        if *already { "already members" } else { "not members" },
        members.iter().map(|m| format!("'{m}'")).collect::<Vec<_>>().join(", ")
    )]
    Membership {
        /// The cohort.
        cohort: String,
        /// The consumers named wrongly.
        members: Vec<String>,
        /// `true` when adding members already in, `false` when dropping ones not in.
        already: bool,
    },

    /// `PROMOTE` / `ROLLBACK` whose target version's pinned files are not as registered.
    #[error(
        "{operation} {dataset} refused: it would serve '{version}', whose pinned file '{path}' {problem}; \
         nothing was changed (VERIFY VERSION '{version}' OF {dataset} lists every file)"
    )]
    TargetFilesChanged {
        /// The statement refused (`PROMOTE`, `ROLLBACK`).
        operation: String,
        /// The dataset.
        dataset: String,
        /// The version it would serve.
        version: String,
        /// The first file found changed, missing or unreadable.
        path: String,
        /// What is wrong with it.
        problem: String,
    },

    /// `DROP VERSION` of a version the rollout still needs.
    #[error("'{version}' is {role} of {dataset} and cannot be dropped; PROMOTE or ROLLBACK first")]
    VersionInUse {
        /// The dataset.
        dataset: String,
        /// The version.
        version: String,
        /// What it is (`the stable version`, `the candidate`, `the version ROLLBACK would
        /// restore`).
        role: String,
    },

    /// `ROLLBACK ... CASCADE` that cannot roll back a derived version.
    #[error(
        "ROLLBACK {dataset} CASCADE refused: {derived} cannot be rolled back: {why}; nothing was changed"
    )]
    CascadeBlocked {
        /// The dataset rolled back.
        dataset: String,
        /// The derived version, as `summary 'r2'`.
        derived: String,
        /// Why not.
        why: String,
    },

    /// `FINISH MIGRATION` of a dataset with none in progress.
    #[error(
        "{dataset} has no migration in progress; REGISTER VERSION ... WITH MIGRATION (...) declares one"
    )]
    NoMigration {
        /// The dataset.
        dataset: String,
    },

    /// `FINISH MIGRATION` while consumers still read through the old names.
    #[error(
        "FINISH MIGRATION of {dataset} (declared by '{version}') refused: the latest reads of these consumers still use its compatibility columns: {readers}; they must read the new names first; nothing was changed"
    )]
    CompatColumnsInUse {
        /// The dataset.
        dataset: String,
        /// The version that declared the migration.
        version: String,
        /// Who reads which old names.
        readers: String,
    },

    /// `FINISH MIGRATION` while the contract still names an old column.
    #[error(
        "FINISH MIGRATION of {dataset} refused: its contract {contract} would no longer hold once the old names are gone ({problem}); CREATE OR REPLACE CONTRACT {contract} with the new names first; nothing was changed"
    )]
    ContractUsesOldNames {
        /// The dataset.
        dataset: String,
        /// The contract's name.
        contract: String,
        /// What no longer plans.
        problem: String,
    },

    /// A change of one dataset of a release of several in stages.
    #[error(
        "{dataset} is released in stages together with {other}: ADVANCE {dataset} moves both and ROLLBACK {dataset} rolls both back; {operation} of {dataset} alone would split the release; nothing was changed"
    )]
    Linked {
        /// The dataset named.
        dataset: String,
        /// A dataset released with it.
        other: String,
        /// The statement refused.
        operation: String,
    },

    /// A second migration while one is unfinished.
    #[error(
        "{dataset} is migrating to the schema of '{version}', not finished yet: ALTER DATASET {dataset} FINISH MIGRATION first (or, if '{version}' was never exposed, DROP VERSION '{version}' OF {dataset} to abandon it); nothing was changed"
    )]
    MigrationInProgress {
        /// The dataset.
        dataset: String,
        /// The version that declared the unfinished migration.
        version: String,
    },
}
