//! The interpreter returns, without a panic and within its bounds, on
//! QEMU's own AML, on the test SSDTs, and on random mutations of them.

use aml_check::run;
use boot_tests::{repo_root, XorShift};
use std::panic;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn fixture(topology: &str, table: &str) -> Option<Vec<u8>> {
    std::fs::read(
        repo_root()
            .join("fixtures/qemu-acpi")
            .join(topology)
            .join(format!("{table}.bin")),
    )
    .ok()
}

fn qemu_fadt() -> Vec<u8> {
    fixture("two-node", "FACP").expect("fixtures/qemu-acpi/two-node/FACP.bin")
}

/// Every DSDT and SSDT QEMU generated for the fixtures, and the test SSDTs.
fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut seeds = Vec::new();
    let dir = repo_root().join("fixtures/qemu-acpi");
    let mut topologies: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    topologies.sort();
    for t in topologies {
        for table in ["DSDT", "SSDT"] {
            if let Ok(bytes) = std::fs::read(t.join(format!("{table}.bin"))) {
                seeds.push((
                    format!("{}/{table}", t.file_name().unwrap().to_string_lossy()),
                    bytes,
                ));
            }
        }
    }
    for name in ["sta-divide-by-zero", "ini-loops-forever", "garbage"] {
        let path = repo_root()
            .join("fixtures/ssdt")
            .join(format!("{name}.aml"));
        seeds.push((name.into(), std::fs::read(&path).unwrap()));
    }
    assert!(seeds.len() >= 10, "{} seeds", seeds.len());
    seeds
}

/// Runs `tables` on a thread of its own, so that a hang is reported as one
/// (after `limit`) instead of hanging the test.
fn run_bounded(tables: Vec<Vec<u8>>, limit: Duration) -> Result<aml_check::Outcome, String> {
    let fadt = qemu_fadt();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let refs: Vec<&[u8]> = tables.iter().map(|t| t.as_slice()).collect();
        let r = panic::catch_unwind(|| run(&fadt, &refs));
        let _ = tx.send(r.map_err(|e| {
            e.downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into())
        }));
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(o)) => Ok(o),
        Ok(Err(panic)) => Err(format!("panicked: {panic}")),
        Err(_) => Err(format!("did not return within {limit:?}")),
    }
}

#[test]
fn qemus_aml_loads_whole_and_gives_s5() {
    for (name, bytes) in seeds().into_iter().filter(|(n, _)| n.ends_with("/DSDT")) {
        let o = run_bounded(vec![bytes], Duration::from_secs(30)).unwrap();
        assert_eq!((o.loaded, o.load_errors.len()), (1, 0), "{name}: {o:?}");
        assert!(matches!(o.s5, Some(Ok(()))), "{name}: {o:?}");
    }
}

#[test]
fn faulting_looping_and_garbage_ssdts_are_reported_and_return() {
    let dsdt = fixture("two-node", "DSDT").unwrap();
    for name in ["sta-divide-by-zero", "ini-loops-forever", "garbage"] {
        let ssdt = std::fs::read(
            repo_root()
                .join("fixtures/ssdt")
                .join(format!("{name}.aml")),
        )
        .unwrap();
        let o = run_bounded(vec![dsdt.clone(), ssdt], Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // The DSDT still loads and \_S5 still answers: one bad table
        // costs only itself.
        assert!(o.loaded >= 1, "{name}: {o:?}");
        assert!(matches!(o.s5, Some(Ok(()))), "{name}: {o:?}");
        if name == "garbage" {
            assert_eq!(o.load_errors.len(), 1, "{o:?}");
        }
    }
}

/// One mutation of `seed`, described for the failure message.
fn mutate(rng: &mut XorShift, seed: &[u8], other: &[u8]) -> (Vec<u8>, String) {
    const INTERESTING: [u8; 16] = [
        0x00, 0x01, 0xff, 0x14, 0x5b, 0x70, 0x78, 0x85, 0x86, 0x88, 0xa0, 0xa2, 0xa4, 0x0a, 0x0b,
        0x12,
    ];
    let mut t = seed.to_vec();
    let body = aml_check::HEADER_LEN;
    let mut what = Vec::new();
    for _ in 0..1 + rng.next_u64() % 4 {
        let len = t.len().max(body + 1);
        let at = body + (rng.next_u64() as usize) % (len - body);
        match rng.next_u64() % 6 {
            0 if at < t.len() => {
                t[at] ^= 1 << (rng.next_u64() % 8);
                what.push(format!("flip@{at}"));
            }
            1 if at < t.len() => {
                t[at] = INTERESTING[(rng.next_u64() % 16) as usize];
                what.push(format!("set@{at}={:#x}", t[at]));
            }
            2 => {
                let b = rng.next_u64() as u8;
                t.insert(at.min(t.len()), b);
                what.push(format!("insert@{at}={b:#x}"));
            }
            3 if at < t.len() => {
                t.remove(at);
                what.push(format!("delete@{at}"));
            }
            4 => {
                t.truncate(at);
                what.push(format!("truncate@{at}"));
            }
            _ if other.len() > body => {
                let from = body + (rng.next_u64() as usize) % (other.len() - body);
                let n = ((rng.next_u64() % 64) as usize).min(other.len() - from);
                let at = at.min(t.len());
                t.splice(at..at, other[from..from + n].iter().copied());
                what.push(format!("splice@{at}+{n}"));
            }
            _ => {}
        }
    }
    (t, what.join(","))
}

static PANIC_AT: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

#[test]
fn mutated_aml_never_panics_or_hangs() {
    // Bounded: AML_FUZZ_SECS (default 20) of mutations from a fixed seed,
    // or AML_FUZZ_SEED for another sequence; a failure names the seed, the
    // table and the mutations, so it reproduces.
    let secs: u64 = std::env::var("AML_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("AML_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_a311);
    let seeds = seeds();
    let mut rng = XorShift(seed);
    let hook = panic::take_hook();
    // Panics are collected with where they happened, not printed.
    panic::set_hook(Box::new(|info| {
        if let Some(l) = info.location() {
            *PANIC_AT.lock().unwrap() = format!("{}:{}", l.file(), l.line());
        }
    }));
    let start = Instant::now();
    let (mut runs, mut failures) = (0u64, Vec::new());
    while start.elapsed() < Duration::from_secs(secs) && failures.len() < 10 {
        let i = (rng.next_u64() as usize) % seeds.len();
        let j = (rng.next_u64() as usize) % seeds.len();
        let (bytes, what) = mutate(&mut rng, &seeds[i].1, &seeds[j].1);
        if let Err(e) = run_bounded(vec![bytes.clone()], Duration::from_secs(20)) {
            let at = std::mem::take(&mut *PANIC_AT.lock().unwrap());
            // Kept for `AML_FUZZ_REPLAY=path cargo host-test -p aml-check`.
            let dir = repo_root().join("target/aml-fuzz-failures");
            let _ = std::fs::create_dir_all(&dir);
            let file = dir.join(format!("seed-{seed:x}-run-{runs}.aml"));
            let _ = std::fs::write(&file, &bytes);
            failures.push(format!(
                "run {runs} (seed {seed:#x}): {} mutated by {what}: {e} at {at}; bytes in {}",
                seeds[i].0,
                file.display()
            ));
        }
        runs += 1;
    }
    panic::set_hook(hook);
    eprintln!(
        "{runs} mutated tables in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    assert!(runs > 0);
    assert!(
        failures.is_empty(),
        "{} of {runs} runs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn replay_a_saved_failure() {
    // AML_FUZZ_REPLAY=path: runs that one table, with panics printed.
    let Ok(path) = std::env::var("AML_FUZZ_REPLAY") else {
        return;
    };
    let bytes = std::fs::read(&path).unwrap();
    let o = run(&qemu_fadt(), &[&bytes]);
    eprintln!("{path}: {o:?}");
}
