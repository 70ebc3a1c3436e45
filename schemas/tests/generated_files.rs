//! The committed JSON Schema and OpenAPI documents must match what the code
//! generates. Run with `SWITCHYARD_BLESS=1` to rewrite them after changing a
//! wire type.

mod common;

use switchyard_schemas::generate::{JSON_DIR, generated_files};

#[test]
fn committed_documents_match_the_generated_ones() {
    let dir = common::repo_root().join(JSON_DIR);
    let bless = std::env::var_os("SWITCHYARD_BLESS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for (name, contents) in generated_files() {
        let path = dir.join(&name);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed == contents {
            continue;
        }
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, contents).unwrap();
        } else {
            stale.push(name);
        }
    }
    // Files that the code no longer generates would mislead readers.
    let generated: Vec<String> = generated_files().into_iter().map(|(n, _)| n).collect();
    let mut extra = Vec::new();
    for path in common::json_files(&dir) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !generated.contains(&name) {
            if bless {
                std::fs::remove_file(&path).unwrap();
            } else {
                extra.push(name);
            }
        }
    }
    assert!(
        stale.is_empty() && extra.is_empty(),
        "{JSON_DIR} is out of date (differs: {stale:?}; no longer generated: {extra:?}). \
         Regenerate with: SWITCHYARD_BLESS=1 cargo test -p switchyard-schemas --test generated_files"
    );
}
