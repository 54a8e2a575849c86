//! `docs/functions.md` is generated from the registry; this test fails when it is stale.

#[test]
fn docs_functions_md_is_up_to_date() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/functions.md");
    let rendered = datafusion_rollout_udfs::docs::render_markdown();
    if std::env::var("UPDATE_DOCS").is_ok_and(|v| v == "1") {
        std::fs::write(path, &rendered).unwrap();
        return;
    }
    let current = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        current == rendered,
        "docs/functions.md is stale; regenerate it with:\n  UPDATE_DOCS=1 cargo test -p datafusion-rollout-udfs --test integration docs"
    );
}
