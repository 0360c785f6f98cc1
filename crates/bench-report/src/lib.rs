//! Reads a benchmark results file (the kernel's `BENCH*` lines, plus the
//! `BENCH_RUN` line run-qemu.sh adds) and renders:
//!
//! - `report.md`: the single-CPU workloads with every allocator's figure
//!   and its ratio to ours, the scaling of the parallel workloads (with
//!   the efficiency against linear), the locality of our allocations per
//!   node, and the access matrix with the SLIT distances;
//! - `scaling.svg`: aggregate throughput against the number of CPUs;
//! - `peers.svg`: each peer's time per operation over ours;
//! - `matrix-latency.svg`, `matrix-bandwidth.svg`: the access matrix as
//!   heat maps, the distance in each cell.
//!
//! Every title names the topology and the accelerator. For a topology
//! sweep (`bench-report --sweep OUT.svg NAME=RESULTS.jsonl...`),
//! `sweep.svg` puts each VM's headline workloads side by side.
#![forbid(unsafe_code)]

mod parse;
mod plots;
mod tables;

pub use parse::{Bench, Cell, Results};
pub use plots::{
    best_peer_over_ours, matrix_svg, peers_svg, scaling_svg, sweep_svg, PlotError, SWEEP_HEADLINE,
};
use std::path::{Path, PathBuf};
pub use tables::{markdown, sig3};

/// Writes report.md and the plots into `dir`; returns the files written.
pub fn write_report(r: &Results, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let files = [
        ("report.md", markdown(r)),
        ("scaling.svg", scaling_svg(r).map_err(plot_failed)?),
        ("peers.svg", peers_svg(r).map_err(plot_failed)?),
        (
            "matrix-latency.svg",
            matrix_svg(r, false).map_err(plot_failed)?,
        ),
        (
            "matrix-bandwidth.svg",
            matrix_svg(r, true).map_err(plot_failed)?,
        ),
    ];
    let mut out = Vec::new();
    for (name, body) in files {
        let p = dir.join(name);
        std::fs::write(&p, body)?;
        out.push(p);
    }
    Ok(out)
}

/// Writes the sweep plot of `runs` (each VM's name and results) to `path`.
pub fn write_sweep_plot(runs: &[(String, Results)], path: &Path) -> std::io::Result<()> {
    std::fs::write(path, sweep_svg(runs).map_err(plot_failed)?)
}

fn plot_failed(e: PlotError) -> std::io::Error {
    std::io::Error::other(e)
}

#[cfg(test)]
mod tests;
