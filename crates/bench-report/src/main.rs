//! `bench-report RESULTS.jsonl --out DIR`: writes DIR/report.md and the
//! SVG plots beside it (see the library for what each shows).
//! `bench-report --sweep OUT.svg NAME=RESULTS.jsonl...`: the plot of a
//! topology sweep, one VM per NAME.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--sweep") {
        return sweep(&args[1..]);
    }
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

fn sweep(args: &[String]) -> ExitCode {
    let usage = "usage: bench-report --sweep OUT.svg NAME=RESULTS.jsonl...";
    let Some((out, runs)) = args.split_first() else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let mut parsed = Vec::new();
    for run in runs {
        let Some((name, file)) = run.split_once('=') else {
            eprintln!("bench-report: '{run}' is not NAME=RESULTS.jsonl\n{usage}");
            return ExitCode::from(2);
        };
        match std::fs::read_to_string(file) {
            Ok(text) => parsed.push((name.to_string(), bench_report::Results::parse(&text))),
            Err(e) => {
                eprintln!("bench-report: cannot read {file}: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if parsed.is_empty() {
        eprintln!("{usage}");
        return ExitCode::from(2);
    }
    match bench_report::write_sweep_plot(&parsed, std::path::Path::new(out)) {
        Ok(()) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench-report: {e}");
            ExitCode::FAILURE
        }
    }
}
