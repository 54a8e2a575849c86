//! Scans of a version split by rows at row-group boundaries.
//!
//! DataFusion splits a Parquet scan into byte ranges of equal size, and a partition reads the
//! row groups whose first page lies in its range. When a file holds a few large row groups
//! (the Parquet writer's default is 1,048,576 rows) the split is uneven: four files of one
//! group of 1,048,576 rows and one of about 451,000, read in two partitions, give one
//! partition 4.05 M rows and the other 1.95 M, and one core works alone for the last third of
//! the scan. Once the files' footers are known (DataFusion caches them after a first read),
//! the [`super::RecordReads`] rule gives each partition a run of whole row groups with about
//! the same number of rows, keeping the number of partitions the plan was built for.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, LazyLock, Mutex};

use datafusion::config::ConfigOptions;
use datafusion::datasource::listing::{FileRange, PartitionedFile};
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::physical_plan::parquet::metadata::CachedParquetMetaData;
use datafusion::execution::cache::cache_manager::FileMetadataCache;
use datafusion::object_store::ObjectMeta;
use datafusion::object_store::path::Path;

use super::config::RolloutConfig;

/// Where a row group starts (the offset of its first page, as DataFusion assigns row groups to
/// byte ranges) and how many rows it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RowGroupAt {
    pub offset: i64,
    pub rows: u64,
}

/// A file's row groups, in file order.
#[derive(Debug, Clone)]
struct Layout<'a> {
    pub size: i64,
    pub groups: &'a [RowGroupAt],
}

/// Row groups of files read before, by path, with the size and modification time they were
/// read at (a pinned file does not change; one that did fails its read). Bounded: emptied
/// when full.
static KNOWN: LazyLock<Mutex<HashMap<Path, Known>>> = LazyLock::new(Default::default);

/// Files whose row groups [`KNOWN`] holds at most.
const KNOWN_FILES: usize = 100_000;

struct Known {
    size: u64,
    modified: chrono::DateTime<chrono::Utc>,
    e_tag: Option<String>,
    groups: Arc<[RowGroupAt]>,
}

/// The row groups of `meta`'s file, if read before at its size, time and e-tag (a path alone
/// does not name a file: two stores may hold the same path).
fn known_row_groups(meta: &ObjectMeta) -> Option<Arc<[RowGroupAt]>> {
    let known = KNOWN.lock().unwrap_or_else(|p| p.into_inner());
    known
        .get(&meta.location)
        .filter(|k| {
            k.size == meta.size && k.modified == meta.last_modified && k.e_tag == meta.e_tag
        })
        .map(|k| Arc::clone(&k.groups))
}

/// Keeps the row groups of `meta`'s file.
fn remember_row_groups(meta: &ObjectMeta, groups: &Arc<[RowGroupAt]>) {
    let mut known = KNOWN.lock().unwrap_or_else(|p| p.into_inner());
    if known.len() >= KNOWN_FILES {
        known.clear();
    }
    known.insert(
        meta.location.clone(),
        Known {
            size: meta.size,
            modified: meta.last_modified,
            e_tag: meta.e_tag.clone(),
            groups: Arc::clone(groups),
        },
    );
}

/// A partition's byte ranges: (file, range; `None` for the whole file).
type Ranges = Vec<(usize, Option<Range<i64>>)>;

/// A balanced partition's byte ranges: (file, range).
type Run = Vec<(usize, Range<i64>)>;

/// The rows each partition reads when partition `p` reads the byte ranges `parts[p]` (file,
/// range; `None` for the whole file) of `files`.
fn rows_per_part(files: &[Layout<'_>], parts: &[Ranges]) -> Vec<u64> {
    parts
        .iter()
        .map(|part| {
            part.iter()
                .map(|(file, range)| {
                    files[*file]
                        .groups
                        .iter()
                        .filter(|g| range.as_ref().is_none_or(|r| r.contains(&g.offset)))
                        .map(|g| g.rows)
                        .sum::<u64>()
                })
                .sum()
        })
        .collect()
}

/// `parts` runs of consecutive row groups of `files` (in order), each as byte ranges per file
/// that hold exactly its row groups' first pages, with the largest run as small as it can be,
/// and the rows of that largest run; `None` when there are fewer row groups than parts or a
/// file's row groups are not in ascending order.
fn balanced(files: &[Layout<'_>], parts: usize) -> Option<(Vec<Run>, u64)> {
    let mut flat: Vec<(usize, usize)> = Vec::new();
    for (f, file) in files.iter().enumerate() {
        let ascending = file.groups.windows(2).all(|w| w[0].offset < w[1].offset);
        let inside = file
            .groups
            .iter()
            .all(|g| g.offset >= 0 && g.offset < file.size);
        if !ascending || !inside {
            return None;
        }
        flat.extend((0..file.groups.len()).map(|g| (f, g)));
    }
    if parts == 0 || flat.len() < parts {
        return None;
    }
    let rows: Vec<u64> = flat.iter().map(|&(f, g)| files[f].groups[g].rows).collect();
    // The least largest run: the smallest bound the packing fits in `parts` runs.
    let (mut lo, mut hi) = (
        rows.iter().copied().max().unwrap_or(0),
        rows.iter().sum::<u64>(),
    );
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if cuts(&rows, parts, mid).is_some() {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let starts = cuts(&rows, parts, lo)?;
    let mut out = Vec::with_capacity(parts);
    for (p, &start) in starts.iter().enumerate() {
        let end = starts.get(p + 1).copied().unwrap_or(flat.len());
        let mut ranges: Run = Vec::new();
        for &(f, g) in &flat[start..end] {
            let groups = files[f].groups;
            let until = groups.get(g + 1).map_or(files[f].size, |n| n.offset);
            match ranges.last_mut() {
                Some((last, range)) if *last == f => range.end = until,
                _ => ranges.push((f, groups[g].offset..until)),
            }
        }
        out.push(ranges);
    }
    // The least bound that fits is the largest run's rows (a smaller largest would fit a
    // smaller bound).
    Some((out, lo))
}

/// Where each of exactly `parts` runs of `rows` starts, none holding more than `bound` rows and
/// none empty; `None` when they do not fit.
fn cuts(rows: &[u64], parts: usize, bound: u64) -> Option<Vec<usize>> {
    let mut starts = vec![0];
    let mut load = 0u64;
    for (i, &r) in rows.iter().enumerate() {
        let left = rows.len() - i;
        let runs_left = parts - starts.len();
        // Cut before `i` when it would overflow the run, or when each row group left must
        // open a run of its own for there to be `parts` runs.
        if i > 0 && (load + r > bound || left == runs_left) && runs_left > 0 {
            starts.push(i);
            load = 0;
        }
        if r > bound {
            return None;
        }
        load += r;
    }
    (starts.len() == parts && load <= bound).then_some(starts)
}

/// Whether `config` is a Parquet scan that `options` let be split into partitions, large
/// enough for DataFusion to split it.
pub(super) fn may_balance(config: &FileScanConfig, options: &ConfigOptions) -> bool {
    config.file_source.file_type() == "parquet"
        && options.execution.target_partitions > 1
        && options.optimizer.repartition_file_scans
        && config.output_ordering.is_empty()
        && options
            .extensions
            .get::<RolloutConfig>()
            .is_none_or(|c| c.balance_scans)
        && config
            .file_groups
            .iter()
            .flat_map(|g| g.iter())
            .map(|f| f.object_meta.size)
            .sum::<u64>()
            >= options.optimizer.repartition_file_min_size as u64
}

/// The row groups of the Parquet file `meta`, when its footer is known (read before, here or
/// in `footers`).
fn row_groups(footers: &FileMetadataCache, meta: &ObjectMeta) -> Option<Arc<[RowGroupAt]>> {
    if let Some(known) = known_row_groups(meta) {
        return Some(known);
    }
    let entry = footers.get(&meta.location)?;
    if entry.meta.size != meta.size || entry.meta.last_modified != meta.last_modified {
        return None;
    }
    let footer = entry
        .file_metadata
        .as_any()
        .downcast_ref::<CachedParquetMetaData>()?;
    let groups: Arc<[RowGroupAt]> = footer
        .parquet_metadata()
        .row_groups()
        .iter()
        .map(|g| {
            // The page DataFusion assigns a row group to a byte range by.
            let first = g.columns().first()?;
            let offset = first
                .dictionary_page_offset()
                .unwrap_or_else(|| first.data_page_offset());
            Some(RowGroupAt {
                offset,
                rows: u64::try_from(g.num_rows()).ok()?,
            })
        })
        .collect::<Option<_>>()?;
    remember_row_groups(meta, &groups);
    Some(groups)
}

/// `config` reading the same row groups in the same number of partitions, each a run of whole
/// row groups with about the same number of rows, when every file's row groups are known and
/// that lowers the largest partition; `None` otherwise (see the module's comment).
pub(super) fn balanced_scan(
    config: &FileScanConfig,
    options: &ConfigOptions,
    footers: &FileMetadataCache,
) -> Option<FileScanConfig> {
    let parts = config.file_groups.len();
    if parts < 2 || !may_balance(config, options) {
        return None;
    }
    // Each file once (a byte split repeats it), in scan order.
    let mut files: Vec<&PartitionedFile> = Vec::new();
    let mut index: HashMap<&Path, usize> = HashMap::new();
    let mut current: Vec<Ranges> = Vec::new();
    for group in &config.file_groups {
        let mut part = Vec::new();
        for file in group.iter() {
            let at = *index.entry(file.path()).or_insert_with(|| {
                files.push(file);
                files.len() - 1
            });
            part.push((at, file.range.as_ref().map(|r| r.start..r.end)));
        }
        current.push(part);
    }
    let groups: Vec<Arc<[RowGroupAt]>> = files
        .iter()
        .map(|f| row_groups(footers, &f.object_meta))
        .collect::<Option<_>>()?;
    let layouts: Vec<Layout<'_>> = files
        .iter()
        .zip(&groups)
        .map(|(f, groups)| {
            Some(Layout {
                size: i64::try_from(f.object_meta.size).ok()?,
                groups,
            })
        })
        .collect::<Option<_>>()?;
    let before = rows_per_part(&layouts, &current);
    let total: u64 = layouts.iter().flat_map(|l| l.groups).map(|g| g.rows).sum();
    // A scan that reads only some of its files' row groups is not ours to redistribute.
    if before.iter().sum::<u64>() != total {
        return None;
    }
    let (split, largest) = balanced(&layouts, parts)?;
    if before.iter().all(|&rows| rows <= largest) {
        return None;
    }
    let mut config = config.clone();
    config.file_groups = split
        .into_iter()
        .map(|part| {
            part.into_iter()
                .map(|(f, r)| {
                    let mut file = files[f].clone();
                    file.range = Some(FileRange {
                        start: r.start,
                        end: r.end,
                    });
                    file
                })
                .collect()
        })
        .collect();
    Some(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(groups: &[(i64, u64)]) -> Vec<RowGroupAt> {
        groups
            .iter()
            .map(|&(offset, rows)| RowGroupAt { offset, rows })
            .collect()
    }

    /// The SF1 lineitem files of the benchmark: one row group of 1,048,576 rows and one of
    /// about 451,000 each.
    fn sf1() -> Vec<(i64, Vec<RowGroupAt>)> {
        [
            (52_453_571, 36_315_157, 451_003),
            (52_458_159, 36_294_696, 451_516),
            (52_487_086, 36_294_365, 452_336),
            (52_485_322, 36_293_882, 452_056),
        ]
        .iter()
        .map(|&(size, second, rows)| (size, file(&[(4, 1_048_576), (second, rows)])))
        .collect()
    }

    fn layouts(files: &[(i64, Vec<RowGroupAt>)]) -> Vec<Layout<'_>> {
        files
            .iter()
            .map(|(size, groups)| Layout {
                size: *size,
                groups,
            })
            .collect()
    }

    /// What the balanced ranges read, by the rule DataFusion reads them with.
    fn read(files: &[Layout<'_>], parts: &[Run]) -> Vec<u64> {
        let as_parts: Vec<Ranges> = parts
            .iter()
            .map(|p| p.iter().map(|(f, r)| (*f, Some(r.clone()))).collect())
            .collect();
        rows_per_part(files, &as_parts)
    }

    #[test]
    fn the_benchmark_files_split_evenly_where_byte_ranges_do_not() {
        let files = sf1();
        let files = layouts(&files);
        // DataFusion's byte split in two: files 1 and 2, and the first 30 KB of file 3
        // (which holds its first row group's first page), then the rest.
        let bytes = vec![
            vec![(0, None), (1, None), (2, Some(0..30_000))],
            vec![(2, Some(30_000..52_487_086)), (3, None)],
        ];
        assert_eq!(rows_per_part(&files, &bytes), vec![4_048_247, 1_952_968]);
        let (two, largest) = balanced(&files, 2).unwrap();
        assert_eq!(largest, 3_001_544);
        assert_eq!(read(&files, &two), vec![2_999_671, 3_001_544]);
        let (four, largest) = balanced(&files, 4).unwrap();
        assert_eq!(largest, 1_500_912);
        assert_eq!(
            read(&files, &four),
            vec![1_499_579, 1_500_092, 1_500_912, 1_500_632]
        );
        // Whole files are one range each.
        assert_eq!(four[0], vec![(0, 4..52_453_571)]);
        assert_eq!(two[1], vec![(2, 4..52_487_086), (3, 4..52_485_322)]);
    }

    #[test]
    fn every_row_group_is_read_once_and_the_largest_part_is_least() {
        // Pseudo-random layouts, against every way of cutting them (small enough to try all).
        let mut seed = 7u64;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for _ in 0..300 {
            let nfiles = 1 + next(3) as usize;
            let files: Vec<(i64, Vec<RowGroupAt>)> = (0..nfiles)
                .map(|_| {
                    let mut offset = 4;
                    let groups: Vec<RowGroupAt> = (0..1 + next(4))
                        .map(|_| {
                            let g = RowGroupAt {
                                offset,
                                rows: 1 + next(1000),
                            };
                            offset += 1 + next(500) as i64;
                            g
                        })
                        .collect();
                    (offset + 8, groups)
                })
                .collect();
            let layout = layouts(&files);
            let rows: Vec<u64> = files
                .iter()
                .flat_map(|(_, g)| g.iter().map(|g| g.rows))
                .collect();
            for parts in 1..=4 {
                let Some((split, largest)) = balanced(&layout, parts) else {
                    assert!(rows.len() < parts);
                    continue;
                };
                let got = read(&layout, &split);
                assert_eq!(got.len(), parts);
                assert!(got.iter().all(|&r| r > 0));
                assert_eq!(got.iter().sum::<u64>(), rows.iter().sum::<u64>());
                assert_eq!(*got.iter().max().unwrap(), best(&rows, parts));
                assert_eq!(largest, best(&rows, parts));
            }
        }
    }

    /// The least largest run of `parts` non-empty runs of `rows`, by trying every cut.
    fn best(rows: &[u64], parts: usize) -> u64 {
        if parts == 1 {
            return rows.iter().sum();
        }
        (1..=rows.len() - (parts - 1))
            .map(|i| {
                rows[..i]
                    .iter()
                    .sum::<u64>()
                    .max(best(&rows[i..], parts - 1))
            })
            .min()
            .unwrap()
    }

    #[test]
    fn too_few_row_groups_or_unordered_ones_are_left_alone() {
        let one = file(&[(4, 10)]);
        assert!(
            balanced(
                &[Layout {
                    size: 100,
                    groups: &one
                }],
                2
            )
            .is_none()
        );
        let unordered = file(&[(50, 10), (4, 10)]);
        assert!(
            balanced(
                &[Layout {
                    size: 100,
                    groups: &unordered
                }],
                2
            )
            .is_none()
        );
    }
}
