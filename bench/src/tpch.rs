//! TPC-H lineitem as Parquet (tpchgen), and the benchmark store over it.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion_rollout::RolloutContext;
use serde_json::{Value, json};
use tpchgen::generators::LineItemGenerator;
use tpchgen_arrow::LineItemArrow;

/// The contract of the CHECK benchmark: 10 data checks (plus the schema-only type of
/// `l_orderkey`) over one version, all in one scan. `bench/peers.py` runs the same checks as
/// SQL in DuckDB; keep the two in step.
pub const CONTRACT: &str = "CREATE CONTRACT lineitem_contract FOR lineitem (
  l_orderkey BIGINT NOT NULL,
  l_quantity CHECK (l_quantity BETWEEN 1 AND 50),
  l_extendedprice NOT NULL CHECK (l_extendedprice > 0),
  l_discount CHECK (l_discount BETWEEN 0 AND 0.1),
  l_tax CHECK (l_tax BETWEEN 0 AND 0.08),
  l_shipdate NOT NULL,
  EXPECT row_count() > 1000,
  EXPECT invalid_count_in(l_shipmode, 'AIR', 'FOB', 'MAIL', 'RAIL', 'REG AIR', 'SHIP', 'TRUCK') = 0,
  EXPECT max_length(l_comment) <= 44,
  EXPECT duplicate_count(l_orderkey, l_linenumber) = 0
)";

/// v2: every 20th order's prices up by 10% (5% of rows), everything else as in v1.
const V2: &str = "CREATE VERSION 'v2' OF lineitem AS SELECT l_orderkey, l_partkey, l_suppkey, \
    l_linenumber, l_quantity, \
    CAST(CASE WHEN l_orderkey % 20 = 0 THEN l_extendedprice * 1.1 ELSE l_extendedprice END AS DECIMAL(15, 2)) AS l_extendedprice, \
    l_discount, l_tax, l_returnflag, l_linestatus, l_shipdate, l_commitdate, l_receiptdate, \
    l_shipinstruct, l_shipmode, l_comment FROM lineitem VERSION AS OF 'v1'";

pub fn lineitem_dir(dir: &Path) -> PathBuf {
    dir.join("lineitem")
}

pub fn store_dir(dir: &Path) -> PathBuf {
    dir.join("store")
}

/// The folder of v2's files inside the store (`data/lineitem/v2/<transaction>/`).
pub fn v2_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    let parent = store_dir(dir).join("data/lineitem/v2");
    let mut found = std::fs::read_dir(&parent)
        .with_context(|| format!("{} (run `rollout-bench gen` first)", parent.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect::<Vec<_>>();
    found.sort();
    match found.pop() {
        Some(p) => Ok(p),
        None => bail!("no v2 files under {}", parent.display()),
    }
}

pub fn path_str(p: &Path) -> anyhow::Result<String> {
    let abs = std::path::absolute(p)?;
    abs.to_str()
        .map(str::to_owned)
        .with_context(|| format!("{} is not UTF-8", abs.display()))
}

pub async fn generate(
    dir: &Path,
    sf: f64,
    parts: Option<u32>,
    with_store: bool,
) -> anyhow::Result<Value> {
    let t = Instant::now();
    let files = lineitem_dir(dir);
    let done = files.join("_SUCCESS");
    let generated = !done.exists();
    if generated {
        write_lineitem(&files, sf, parts)?;
        File::create(&done)?;
    }
    let gen_seconds = t.elapsed().as_secs_f64();
    let mut out = json!({
        "lineitem": path_str(&files)?,
        "generated": generated,
        "generate_seconds": gen_seconds,
    });
    if with_store {
        let t = Instant::now();
        let store = store_dir(dir);
        // READY holds the contract the store was made with; a store made with an earlier
        // contract gets this one (the data is unchanged).
        let ready = store.join("READY");
        let made_with = std::fs::read_to_string(&ready).ok();
        if made_with.as_deref().is_some_and(|c| c != CONTRACT) {
            let rc = RolloutContext::open(&path_str(&store)?).await?;
            rc.sql(&CONTRACT.replacen("CREATE CONTRACT", "CREATE OR REPLACE CONTRACT", 1))
                .await?;
            std::fs::write(&ready, CONTRACT)?;
        } else if made_with.is_none() {
            if store.exists() {
                std::fs::remove_dir_all(&store)?;
            }
            let rc = RolloutContext::open(&path_str(&store)?).await?;
            rc.sql("CREATE DATASET lineitem").await?;
            rc.sql(&format!(
                "REGISTER VERSION 'v1' OF lineitem FROM '{}/'",
                path_str(&files)?
            ))
            .await?;
            rc.sql("PROMOTE lineitem TO 'v1'").await?;
            rc.sql(V2).await?;
            rc.sql(CONTRACT).await?;
            std::fs::write(&ready, CONTRACT)?;
        }
        out["store"] = json!(path_str(&store)?);
        out["v2"] = json!(path_str(&v2_dir(dir)?)?);
        out["store_seconds"] = json!(t.elapsed().as_secs_f64());
    }
    Ok(out)
}

/// Writes lineitem in `parts` parts (by default `4 × sf`, about 1.5M rows each), one writer
/// thread per core.
fn write_lineitem(files: &Path, sf: f64, parts: Option<u32>) -> anyhow::Result<()> {
    let parts = match parts {
        Some(0) => anyhow::bail!("--parts must be at least 1"),
        Some(n) => i32::try_from(n).context("--parts is too large")?,
        None => ((sf * 4.0).ceil() as i32).max(1),
    };
    if files.exists() {
        std::fs::remove_dir_all(files)?;
    }
    std::fs::create_dir_all(files)?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as i32;
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build(),
    );
    std::thread::scope(|s| -> anyhow::Result<()> {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let props = Arc::clone(&props);
                s.spawn(move || -> anyhow::Result<()> {
                    for part in (1..=parts).filter(|p| (p - 1) % threads == t) {
                        let generator = LineItemGenerator::new(sf, part, parts);
                        let mut batches = LineItemArrow::new(generator).with_batch_size(64 * 1024);
                        let path = files.join(format!("part-{part:04}.parquet"));
                        let first = batches.next().context("empty lineitem part")??;
                        let mut writer = ArrowWriter::try_new(
                            File::create(&path)?,
                            first.schema(),
                            Some((*props).clone()),
                        )?;
                        writer.write(&first)?;
                        for batch in batches {
                            writer.write(&batch?)?;
                        }
                        writer.close()?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("generator thread panicked"))??;
        }
        Ok(())
    })
}
