//! Renders the SQL reference (`docs/functions.md`) from the registry, so the page is never
//! written twice. A test compares it with the committed file; regenerate with
//! `UPDATE_DOCS=1 cargo test -p datafusion-rollout-udfs --test integration docs`.

use std::fmt::Write;

use datafusion::logical_expr::Documentation;

use crate::all_functions;

/// Markdown reference of every function of this crate, grouped by documentation section.
pub fn render_markdown() -> String {
    let mut out = String::new();
    out.push_str(
        "<!-- Generated from the function registry of `datafusion-rollout-udfs`. Do not edit.\n     \
         Regenerate: UPDATE_DOCS=1 cargo test -p datafusion-rollout-udfs --test integration docs -->\n\n",
    );
    out.push_str("# Data-quality and drift functions\n\n");
    out.push_str(
        "Register them with `datafusion_rollout_udfs::register_all(&ctx)`. Each function's \
         documentation is also available from SQL: `SHOW FUNCTIONS LIKE 'ks%'` (with \
         `datafusion.catalog.information_schema = true`).\n\n",
    );
    let funcs = all_functions();
    let mut docs: Vec<(String, Vec<String>, &Documentation)> = Vec::new();
    for f in &funcs.aggregate {
        if let Some(d) = f.documentation() {
            docs.push((f.name().to_string(), f.aliases().to_vec(), d));
        }
    }
    let mut sections: Vec<&str> = Vec::new();
    for (_, _, d) in &docs {
        if !sections.contains(&d.doc_section.label) {
            sections.push(d.doc_section.label);
        }
    }
    for section in sections {
        let _ = writeln!(out, "## {section}\n");
        if let Some((_, _, d)) = docs.iter().find(|(_, _, d)| d.doc_section.label == section)
            && let Some(desc) = d.doc_section.description
        {
            let _ = writeln!(out, "{desc}\n");
        }
        for (name, _, _) in docs
            .iter()
            .filter(|(_, _, d)| d.doc_section.label == section)
        {
            let _ = writeln!(out, "- [`{name}`](#{name})");
        }
        out.push('\n');
        for (name, aliases, d) in docs
            .iter()
            .filter(|(_, _, d)| d.doc_section.label == section)
        {
            let _ = writeln!(out, "### `{name}`\n");
            let _ = writeln!(out, "{}\n", d.description);
            let _ = writeln!(out, "```sql\n{}\n```\n", d.syntax_example);
            if let Some(args) = &d.arguments {
                out.push_str("#### Arguments\n\n");
                for (a, t) in args {
                    let _ = writeln!(out, "- **{a}**: {t}");
                }
                out.push('\n');
            }
            if let Some(ex) = &d.sql_example {
                let _ = writeln!(out, "#### Example\n\n```sql\n{ex}\n```\n");
            }
            if !aliases.is_empty() {
                let _ = writeln!(out, "Aliases: {}\n", aliases.join(", "));
            }
        }
    }
    out
}
