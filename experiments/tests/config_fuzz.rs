//! Fuzzing the config parser: random text and random mutations of valid configs never
//! panic; they parse or give an error (bounded: runs in about a second).

mod common;

use std::path::Path;

use experiments::config;
use proptest::prelude::*;

const VALID: &str = common::TINY;

fn parse(text: &str) {
    match config::parse(text, Path::new("fuzz.toml")) {
        Ok(loaded) => {
            // What parses resolves and re-serializes, and its resolved form parses again.
            let again = config::parse(&loaded.config.to_toml(), Path::new("resolved.toml"));
            assert!(again.is_ok(), "resolved config does not parse: {again:?}");
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_text_never_panics(text in "\\PC{0,400}") {
        parse(&text);
    }

    #[test]
    fn mutated_configs_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8)
    ) {
        let mut bytes = VALID.as_bytes().to_vec();
        for (at, byte, op) in edits {
            let i = at.index(bytes.len().max(1));
            match op {
                0 if !bytes.is_empty() => bytes[i] = byte,
                1 => bytes.insert(i.min(bytes.len()), byte),
                _ if !bytes.is_empty() => { bytes.remove(i); }
                _ => {}
            }
        }
        parse(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn any_numbers_in_a_valid_config_never_panic(
        seed in any::<i64>(), reps in any::<i64>(), evals in any::<i64>(), workers in any::<i64>(),
        layers in any::<i64>(), units in any::<i64>(), rate in any::<f64>(), lr in any::<f64>(),
    ) {
        let text = format!(
            "[experiment]\nseed = {seed}\nrepetitions = {reps}\nevaluations = {evals}\nworkers = {workers}\n\
             [space]\nmax_layers = {layers}\n[space.dense]\nunits = [{units}]\nactivations = [\"relu\"]\n\
             [space.dropout]\nrates = [{rate:?}]\n[training]\nlearning_rate = {lr:?}\n[[strategy]]\nkind = \"random\"\n"
        );
        parse(&text);
    }
}
