//! `rollout report d -o report.html`: the dataset's page as one file.

use std::io::Write;
use std::path::Path;

use datafusion_rollout::RolloutContext;

use crate::outcome::Failure;

/// Writes the report of `dataset` to `output` (`-`: standard output). A file is written next
/// to its final name and renamed, so a reader never sees half a report.
pub async fn write(ctx: &RolloutContext, dataset: &str, output: &Path) -> Result<(), Failure> {
    let html = rollout_server::web::report::report(ctx, dataset)
        .await
        .map_err(|e| Failure::from_rollout(&e))?;
    if output == Path::new("-") {
        let mut out = std::io::stdout().lock();
        return out
            .write_all(html.as_bytes())
            .and_then(|_| out.flush())
            .map_err(|e| Failure::error(format!("cannot write the report: {e}")));
    }
    let failed =
        |e: std::io::Error| Failure::error(format!("cannot write {}: {e}", output.display()));
    let dir = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(failed)?;
    file.write_all(html.as_bytes()).map_err(failed)?;
    file.persist(output).map_err(|e| failed(e.error))?;
    eprintln!(
        "wrote {} ({} KB)",
        output.display(),
        html.len().div_ceil(1024)
    );
    Ok(())
}
