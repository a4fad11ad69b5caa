//! Which kernels this machine runs: the CPU model, the engine's numeric contract, the
//! kernel families the CPU supports and the one `NAS_SIMD` (or the default) selects.
//!
//! ```text
//! cargo run --release -p nas-bench --example kernels
//! ```

use nas_eval::{NUMERIC_CONTRACT, SimdPath, simd_path};

fn main() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, name)| name.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let families: Vec<&str> = SimdPath::supported().iter().map(|p| p.name()).collect();
    println!("cpu: {cpu} ({})", std::env::consts::ARCH);
    println!("numeric contract: {NUMERIC_CONTRACT}");
    println!("kernel families: {}", families.join(" "));
    match simd_path() {
        Ok(path) => println!("active: {path}"),
        Err(e) => {
            println!("active: none ({e})");
            std::process::exit(1);
        }
    }
}
