//! What the `rollout-scheduler` and `rollout-executor` binaries share: their runtime and logs.

use ballista_core::config::LogRotationPolicy;
use tracing_subscriber::EnvFilter;

/// Runs a process's main future on a multi-threaded runtime with the deep stacks Ballista's
/// own binaries use (plans are walked recursively).
pub fn block_on<F: std::future::Future<Output = ballista_core::error::Result<()>>>(
    main: F,
) -> ballista_core::error::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(32 * 1024 * 1024)
        .build()?
        .block_on(main)
}

/// Logs to stdout, or to files in `dir` rotated by `rotation` and named from `prefix`, at
/// `RUST_LOG` or else `level` (Ballista's own flags for its binaries).
pub fn init_logging(
    level: &str,
    dir: Option<&str>,
    prefix: &str,
    rotation: LogRotationPolicy,
    thread_info: bool,
) {
    let filter = EnvFilter::new(std::env::var(EnvFilter::DEFAULT_ENV).unwrap_or(level.to_string()));
    let logs = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_thread_names(thread_info)
        .with_thread_ids(thread_info)
        .with_env_filter(filter);
    match dir {
        Some(dir) => {
            let file = match rotation {
                LogRotationPolicy::Minutely => tracing_appender::rolling::minutely(dir, prefix),
                LogRotationPolicy::Hourly => tracing_appender::rolling::hourly(dir, prefix),
                LogRotationPolicy::Daily => tracing_appender::rolling::daily(dir, prefix),
                LogRotationPolicy::Never => tracing_appender::rolling::never(dir, prefix),
            };
            logs.with_writer(file).init();
        }
        None => logs.with_writer(std::io::stdout).init(),
    }
}
