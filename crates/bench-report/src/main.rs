//! `bench-report RESULTS.jsonl --out DIR`: writes DIR/report.md and the
//! SVG plots beside it (see the library for what each shows).
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut input, mut out) = (None, None);
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--out" if i + 1 < args.len() => {
                out = Some(PathBuf::from(&args[i + 1]));
                i += 1;
            }
            a if !a.starts_with("--") && input.is_none() => input = Some(PathBuf::from(a)),
            a => {
                eprintln!("bench-report: unknown argument '{a}'\nusage: bench-report RESULTS.jsonl --out DIR");
                return ExitCode::from(2);
            }
        }
        i += 1;
    }
    let (Some(input), Some(out)) = (input, out) else {
        eprintln!("usage: bench-report RESULTS.jsonl --out DIR");
        return ExitCode::from(2);
    };
    let text = match std::fs::read_to_string(&input) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("bench-report: cannot read {}: {e}", input.display());
            return ExitCode::from(2);
        }
    };
    let results = bench_report::Results::parse(&text);
    for w in &results.warnings {
        eprintln!("bench-report: {w}");
    }
    match bench_report::write_report(&results, &out) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench-report: {e}");
            ExitCode::FAILURE
        }
    }
}
