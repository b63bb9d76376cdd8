//! What a run found: printed as tables, and written as JSON for tools.

use std::path::Path;
use std::time::SystemTime;

use serde::Serialize;

use super::report::{self, Ratio, TargetReport};
use super::{BenchError, Settings, memory};

/// Everything a run found, as written to the JSON file.
#[derive(Serialize)]
pub(super) struct Results {
    pub(super) date: String,
    pub(super) machine: Machine,
    pub(super) settings: Settings,
    pub(super) targets: Vec<TargetReport>,
    pub(super) ratios: Vec<Ratio>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) memory: Option<memory::MemoryReport>,
}

#[derive(Serialize)]
pub(super) struct Machine {
    pub(super) cpu: String,
    pub(super) logical_cpus: usize,
}

pub(super) fn print(results: &Results) {
    let s = &results.settings;
    println!(
        "Keyshard benchmark, {} on {} ({} logical CPUs); {} round(s) of {:.1} s after {:.1} s \
         of warm-up, concurrency {}, medians over rounds{}",
        results.date,
        results.machine.cpu,
        results.machine.logical_cpus,
        s.rounds,
        s.duration.as_secs_f64(),
        s.warmup.as_secs_f64(),
        s.concurrency,
        if s.quick {
            " (quick smoke run: not a measurement)"
        } else {
            ""
        },
    );
    println!(
        "server µs and client µs: CPU time per answered call of the servers and of the load generator\n"
    );
    println!("{}", report::results_table(&results.targets));
    println!("{}", report::ratio_table(&results.ratios));
    print!("{}", report::store_and_memory_lines(&results.targets));
    if let Some(memory) = &results.memory {
        print!("{}", memory.lines());
    }
}

pub(super) fn write_json(path: &Path, results: &Results) -> Result<(), BenchError> {
    let json_error = |source| BenchError::Json {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(json_error)?;
    }
    let text = serde_json::to_string_pretty(results).map_err(|err| json_error(err.into()))?;
    std::fs::write(path, text + "\n").map_err(json_error)?;
    println!("\nresults written to {}", path.display());
    Ok(())
}

pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The processor's model name and the number of logical CPUs.
pub(super) fn machine() -> Machine {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name")?.split_once(':'))
                .map(|(_, name)| name.trim().to_owned())
        })
        .unwrap_or_else(|| "an unknown processor".to_owned());
    Machine {
        cpu,
        logical_cpus: std::thread::available_parallelism().map_or(0, usize::from),
    }
}
