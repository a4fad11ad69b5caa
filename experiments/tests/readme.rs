//! The config shown in the top-level README parses and checks, and every config shipped
//! under experiments/ does too.

use std::path::Path;

use experiments::config;

#[test]
fn the_readme_config_and_the_shipped_configs_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let block = readme
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("README.md shows a config");
    let loaded = config::parse(block, Path::new("README.md")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.config.strategies.len(), 3);
    let mut shipped = 0;
    for entry in std::fs::read_dir(root.join("experiments")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") && !path.ends_with("Cargo.toml") {
            config::load(&path).unwrap_or_else(|e| panic!("{e}"));
            shipped += 1;
        }
    }
    assert!(shipped >= 1);
}
