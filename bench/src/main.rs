//! `rollout-bench`: the Rust side of `bench/run.sh` (see `bench/README.md`).
//!
//! Every subcommand prints one JSON object on stdout; `bench/run.py` runs each measurement in
//! a child process of its own (so its peak RSS is that measurement's), alternating with the
//! peer's, and assembles the table.
//!
//! ```sh
//! rollout-bench gen --dir bench/data/sf1 --sf 1            # TPC-H lineitem + store (cached)
//! rollout-bench query q1 --dir bench/data/sf1 --side ours  # or --side datafusion
//! rollout-bench query q1 --dir bench/data/sf1 --side ours --cluster df://localhost:50050
//! rollout-bench paired q6 --dir bench/data/sf1 --reps 30    # both sides in one process
//! rollout-bench paired q6 --dir bench/data/sf1 --versus unrecorded   # the reads ledger's cost
//! rollout-bench controller --rollouts 100 --rounds 20
//! rollout-bench events --days 30 --objects 1000 --events 20          # a month of events, compacted or not
//! rollout-bench latency --data bench/data/sf1/lineitem --data bench/data/sf10/lineitem --rounds 50
//! rollout-bench history --entries 10,1000,10000 --rounds 30
//! rollout-bench dashboard --entries 1000 --rounds 20                # pages of a long history
//! rollout-bench spill-drift --dir bench/data/spill --rows 30000000 --side aggregates  # or profiles --memory-limit 4G
//! rollout-bench guard --dir bench/data/sf1 --reps 5        # guarded PROMOTE vs CHECK of the candidate
//! rollout-bench serve-load --dir bench/data/sf0.01 --clients 32 --seconds 60   # --features flight-peer
//! ```

mod dashboard;
mod guard;
mod measure;
mod paired;
mod queries;
mod serve_load;
mod spill;
mod tpch;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(about = "Benchmarks of datafusion-rollout against its peers")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Side {
    /// Through datafusion-rollout: the alias `lineitem`, `CHECK`, drift over versions.
    Ours,
    /// Plain DataFusion over the same Parquet files, no store.
    Datafusion,
}

#[derive(Subcommand)]
enum Command {
    /// Generates TPC-H lineitem as Parquet under `<dir>/lineitem/` and a store `<dir>/store`
    /// with v1 (those files), v2 (a shifted copy made by SQL) and an 11-check contract.
    /// Both are kept and reused by later runs.
    Gen {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 1.0)]
        sf: f64,
        /// Only the Parquet files, no store (for the PROMOTE-at-SF10 data).
        #[arg(long)]
        no_store: bool,
        /// lineitem in this many files (default 4 × sf, about 1.5M rows each): planning
        /// costs that grow with the pinned files are measured at SF1 in 40 files.
        #[arg(long)]
        parts: Option<u32>,
    },
    /// Times one benchmark on one side: `warmup` untimed runs, then `reps` timed ones.
    Query {
        #[arg(value_enum)]
        bench: queries::Bench,
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, value_enum)]
        side: Side,
        #[arg(long, default_value_t = 5)]
        reps: usize,
        #[arg(long, default_value_t = 1)]
        warmup: usize,
        /// Run `--side ours` on a Ballista cluster (df://host:port) of `rollout-scheduler` and
        /// `rollout-executor` on the same store.
        #[arg(long, value_name = "URL")]
        cluster: Option<String>,
    },
    /// Plans (SQL to physical plan, nothing executed) TPC-H Q1 or Q6 `reps` times on one
    /// side: for profiling what planning through the alias adds (under callgrind, one process
    /// per side).
    Plan {
        #[arg(value_enum)]
        bench: queries::Bench,
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, value_enum)]
        side: Side,
        #[arg(long, default_value_t = 100)]
        reps: usize,
    },
    /// TPC-H Q1 or Q6 through the alias and directly, in one process, alternating query by
    /// query, planning and execution timed apart; fails if the physical plans differ.
    Paired {
        #[arg(value_enum)]
        bench: queries::Bench,
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 30)]
        reps: usize,
        #[arg(long, default_value_t = 2)]
        warmup: usize,
        /// The other side: DataFusion over the same files, or the alias with
        /// `rollout.record_reads = false` (the cost of the reads ledger).
        #[arg(long, value_enum, default_value = "datafusion")]
        versus: paired::Versus,
    },
    /// One controller round over `rollouts` live AUTO rollouts (each with live guards and
    /// recorded reads), timed `rounds` times; a round scans no data.
    Controller {
        #[arg(long, default_value_t = 100)]
        rollouts: usize,
        #[arg(long, default_value_t = 20)]
        rounds: usize,
    },
    /// Reading a month of events by a fresh process, as flushed (many small objects) and
    /// after VACUUM compacted each day into one Parquet object.
    Events {
        #[arg(long, default_value_t = 30)]
        days: i64,
        #[arg(long, default_value_t = 1000)]
        objects: usize,
        #[arg(long, default_value_t = 20)]
        events: usize,
        #[arg(long, default_value_t = 3)]
        reps: usize,
    },
    /// PROMOTE (to a cohort) and ROLLBACK latency on a fresh store per `--data` folder (its
    /// two versions are the Parquet files there), round by round across the stores.
    Latency {
        #[arg(long, required = true)]
        data: Vec<PathBuf>,
        #[arg(long, default_value_t = 50)]
        rounds: usize,
    },
    /// Opening and PROMOTE/ROLLBACK latency on fresh stores with histories of `entries`
    /// commits (comma-separated), measured round by round across the stores.
    History {
        #[arg(long, value_delimiter = ',', required = true)]
        entries: Vec<u64>,
        #[arg(long, default_value_t = 30)]
        rounds: usize,
    },
    /// The dashboard's pages and API for a dataset with `entries` log entries: time to answer
    /// over loopback (cold, then `rounds` warm) and bytes of each.
    Dashboard {
        #[arg(long, default_value_t = 1000)]
        entries: u64,
        #[arg(long, default_value_t = 20)]
        rounds: usize,
    },
    /// Exact drift of two versions of `rows` doubles each (generated once under `dir`), from
    /// their profiles under a memory limit (DataFusion's spilling sort) or with the in-memory
    /// drift aggregates: time, peak RSS and the values' bits, one side per process.
    SpillDrift {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        rows: u64,
        /// DataFusion's memory limit (`4G`, `512M`); none by default.
        #[arg(long)]
        memory_limit: Option<String>,
        #[arg(long, value_enum)]
        side: spill::DriftSide,
        /// Session settings, `key=value`, repeated (`datafusion.execution.sort_spill_reservation_bytes=...`).
        #[arg(long = "set")]
        settings: Vec<String>,
    },
    /// Times each of `sql` (through the store the data was generated into: our functions,
    /// the alias `lineitem`), alternating statement by statement, `reps` times after one
    /// warm-up each; prints every time and the medians.
    Sql {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 5)]
        reps: usize,
        #[arg(required = true)]
        sql: Vec<String>,
    },
    /// A guarded PROMOTE (the benchmark contract plus five drift expectations, against stable
    /// v1) vs `CHECK` of the same candidate without drift, alternating, `reps` rounds; the
    /// versions' profiles are computed by the first, untimed PROMOTE.
    Guard {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 5)]
        reps: usize,
    },
    /// `rollout serve` under `clients` concurrent Flight SQL clients for `seconds` (the first
    /// `writers` PROMOTE/ROLLBACK, the rest read), every commit checked against the log; then
    /// the same readers on datafusion-flight-sql-server (with `--features flight-peer`).
    ServeLoad {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 32)]
        clients: usize,
        #[arg(long, default_value_t = 4)]
        writers: usize,
        /// Each side's total time.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// The sides take turns in slices of this many seconds.
        #[arg(long, default_value_t = 10)]
        slice: u64,
        /// Only our side (for profiling it alone).
        #[arg(long)]
        no_peer: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let out = match args.command {
        Command::Gen {
            dir,
            sf,
            no_store,
            parts,
        } => tpch::generate(&dir, sf, parts, !no_store).await?,
        Command::Query {
            bench,
            dir,
            side,
            reps,
            warmup,
            cluster,
        } => queries::run(bench, &dir, side, reps, warmup, cluster.as_deref()).await?,
        Command::Plan {
            bench,
            dir,
            side,
            reps,
        } => paired::plan_only(bench, &dir, side, reps).await?,
        Command::Paired {
            bench,
            dir,
            reps,
            warmup,
            versus,
        } => paired::run(bench, &dir, reps, warmup, versus).await?,
        Command::Controller { rollouts, rounds } => measure::controller(rollouts, rounds).await?,
        Command::Events {
            days,
            objects,
            events,
            reps,
        } => measure::events(days, objects, events, reps).await?,
        Command::Latency { data, rounds } => measure::latency(&data, rounds).await?,
        Command::History { entries, rounds } => measure::history(&entries, rounds).await?,
        Command::Dashboard { entries, rounds } => dashboard::dashboard(entries, rounds).await?,
        Command::SpillDrift {
            dir,
            rows,
            memory_limit,
            side,
            settings,
        } => spill::spill_drift(&dir, rows, memory_limit.as_deref(), side, &settings).await?,
        Command::Guard { dir, reps } => guard::guard(&dir, reps).await?,
        Command::Sql { dir, reps, sql } => queries::alternate_sql(&dir, &sql, reps).await?,
        Command::ServeLoad {
            dir,
            clients,
            writers,
            seconds,
            slice,
            no_peer,
        } => serve_load::run(&dir, clients, writers, seconds, slice, !no_peer).await?,
    };
    println!("{out}");
    Ok(())
}
