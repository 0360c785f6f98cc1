//! The kernel command line: Linux-style words (`key`, `key=value`,
//! `key="value with spaces"`) parsed into typed [`Settings`].
//!
//! Parsing never fails: an unknown word, a missing or malformed value is
//! handed to the caller's warning sink (one [`Warning`] per bad word) and the
//! setting keeps its default, so boot goes on as Linux's does.
//!
//! No allocation: list-valued settings borrow from the command line.
#![no_std]
#![forbid(unsafe_code)]

use core::fmt;

/// Linux's console log levels: a message is printed when its level is
/// numerically below the console loglevel (0 = emergency ... 7 = debug).
pub const LOGLEVEL_MAX: u8 = 15;
/// The console loglevel Linux uses by default (prints up to KERN_INFO).
pub const LOGLEVEL_DEFAULT: u8 = 7;
/// The console loglevel `quiet` selects (KERN_WARNING and above are hidden;
/// only errors and worse are printed), as in Linux.
pub const LOGLEVEL_QUIET: u8 = 4;

/// Linux's default vm.compaction_proactiveness.
pub const DEFAULT_COMPACTION_PROACTIVENESS: u32 = 20;

/// Linux's default kfence.sample_interval (ms).
pub const DEFAULT_KFENCE_SAMPLE_INTERVAL: u64 = 100;

/// Which boot-time self-test suites run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelfTestSelection<'a> {
    /// Every suite that runs by default (no `selftest` word, or `selftest`).
    Default,
    /// `selftest=off`: none.
    Off,
    /// `selftest=a,b,c`: exactly these suites (explicit-only suites included).
    Suites(SuiteList<'a>),
}

/// A comma-separated list of suite names, borrowed from the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SuiteList<'a>(&'a str);

impl<'a> SuiteList<'a> {
    pub fn iter(&self) -> impl Iterator<Item = &'a str> {
        self.0.split(',').filter(|s| !s.is_empty())
    }

    pub fn contains(&self, suite: &str) -> bool {
        self.iter().any(|s| s == suite)
    }
}

/// Everything the command line can set. `Default` is the boot without words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings<'a> {
    /// Console loglevel (Linux meaning, see [`LOGLEVEL_DEFAULT`]).
    pub loglevel: u8,
    /// `quiet` was given (it lowers the loglevel unless `loglevel=` says otherwise).
    pub quiet: bool,
    pub selftest: SelfTestSelection<'a>,
    /// `numa=off`: ignore the firmware's NUMA description, one node holds everything.
    pub numa_off: bool,
    /// `mem=SIZE`: use no memory above this physical address.
    pub mem_limit: Option<u64>,
    /// `mm.report`: print the memory reports at boot as well as at the end.
    pub mm_report: bool,
    /// `kernelcore=SIZE|N%`: memory kept for unmovable allocations; the rest
    /// of each node becomes ZONE_MOVABLE.
    pub kernelcore: Option<MemAmount>,
    /// `movablecore=SIZE|N%`: memory for ZONE_MOVABLE.
    pub movablecore: Option<MemAmount>,
    /// `min_free_kbytes=N`: overrides the computed reserve behind the watermarks.
    pub min_free_kbytes: Option<u64>,
    /// `sysctl.vm.compaction_proactiveness=N` (or without `sysctl.`):
    /// how hard kcompactd compacts in the background, 0 (off) to 100
    /// (Linux's default 20).
    pub compaction_proactiveness: u32,
    /// `maxcpus=N`: bring up at most N CPUs (the boot CPU included).
    pub maxcpus: Option<u32>,
    /// `smp.fail=N` (for tests): send CPU N no start-up IPI, so it never
    /// answers, to exercise the path of a CPU that does not come up.
    pub smp_fail: Option<u32>,
    /// `slub_debug[=LETTERS[,cache,...]]`: SLUB debugging.
    pub slub_debug: Option<SlubDebug<'a>>,
    /// `bench=all|slab|page|vmalloc|NAME,...`: run the allocator workloads.
    pub bench: Option<&'a str>,
    /// `mpol=`: the system-wide default memory policy, in Linux's `mpol=`
    /// form (`interleave:0-3`); checked against the topology by the kernel.
    pub mpol: Option<&'a str>,
    /// `mpol.weights=`: weighted-interleave weights per node (`4,4,1,1`),
    /// or `auto` (from the HMAT's bandwidths, the default).
    pub mpol_weights: Option<&'a str>,
    /// `numa.demotion_enabled=0|1`: reclaim demotes page-cache pages to a
    /// lower memory tier where there is one (default 1).
    pub numa_demotion: bool,
    /// `bench.scale=N`: divide every workload's operation count by N.
    pub bench_scale: u64,
    /// `workload=pressure`: push memory below the watermarks (kswapd,
    /// direct reclaim, one OOM kill) with the pressure self-tests.
    pub workload: Option<Workload>,
    /// `kfence.sample_interval=MS`: KFENCE samples a slab allocation every
    /// MS milliseconds (0: off).
    pub kfence_sample_interval: u64,
    /// `memhp.expect=N`: the memory-hotplug self-tests wait for N memory
    /// devices to be hot-added (the launcher's --hotplug says how many).
    pub memhp_expect: u32,
    /// `memhp.unplug=N`: of those, the self-tests expect N to be asked
    /// for removal (the launcher's --hotunplug) and place pages on them.
    pub memhp_unplug: u32,
    /// Fault injection: `fail_page_alloc=`, `failslab=`, `fail_vmalloc=`
    /// and their settings.
    pub fault: FaultSettings<'a>,
}

/// The fault-injection words, Linux's boot syntax: `fail_page_alloc=`,
/// `failslab=` and (ours) `fail_vmalloc=` take
/// `<interval>,<probability>,<space>,<times>`, which the kernel parses
/// and reports on; the debugfs settings Linux has for each come as
/// `NAME.setting=` words.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultSettings<'a> {
    pub page_alloc: Option<&'a str>,
    pub slab: Option<&'a str>,
    pub vmalloc: Option<&'a str>,
    /// `fail_page_alloc.min_order=N` (Linux's min-order; default 1).
    pub page_min_order: Option<u32>,
    /// `fail_page_alloc.ignore_gfp_wait=0|1` (default 1).
    pub page_ignore_gfp_wait: Option<bool>,
    /// `fail_page_alloc.ignore_gfp_highmem=0|1` (default 1).
    pub page_ignore_gfp_highmem: Option<bool>,
    /// `failslab.ignore_gfp_wait=0|1` (default 1).
    pub slab_ignore_gfp_wait: Option<bool>,
    /// `failslab.cache_filter=0|1`: only caches marked with
    /// `slub_debug=A` fail (default 0).
    pub slab_cache_filter: Option<bool>,
    /// `fail_vmalloc.ignore_gfp_wait=0|1` (default 0: vmalloc sleeps).
    pub vmalloc_ignore_gfp_wait: Option<bool>,
    /// `NAME.verbose=0|1|2`, per fault type in the order above.
    pub verbose: [Option<u32>; 3],
}

/// What `workload=` runs besides the self-tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    Pressure,
}

/// `slub_debug`: which checks (Linux's letters F, Z, P, U; none given
/// means all), on which caches (none named means every cache).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlubDebug<'a> {
    pub letters: &'a str,
    pub caches: Option<&'a str>,
}

impl<'a> SlubDebug<'a> {
    /// Whether the checks apply to `cache`.
    pub fn applies_to(&self, cache: &str) -> bool {
        self.caches
            .is_none_or(|list| list.split(',').any(|c| c == cache))
    }
}

/// An amount of memory as `kernelcore=` and `movablecore=` take it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemAmount {
    Bytes(u64),
    /// A share of all RAM, 0 to 100.
    Percent(u8),
}

/// Parses `512M`, `2G`, or `30%` (Linux's cmdline_parse_core).
pub fn parse_mem_amount(s: &str) -> Option<MemAmount> {
    match s.strip_suffix('%') {
        Some(pc) => match pc.parse::<u8>() {
            Ok(p) if p <= 100 => Some(MemAmount::Percent(p)),
            _ => None,
        },
        None => parse_size(s).map(MemAmount::Bytes),
    }
}

impl Default for Settings<'_> {
    fn default() -> Self {
        Settings {
            loglevel: LOGLEVEL_DEFAULT,
            quiet: false,
            selftest: SelfTestSelection::Default,
            numa_off: false,
            mem_limit: None,
            mm_report: false,
            kernelcore: None,
            movablecore: None,
            min_free_kbytes: None,
            compaction_proactiveness: DEFAULT_COMPACTION_PROACTIVENESS,
            maxcpus: None,
            smp_fail: None,
            slub_debug: None,
            bench: None,
            mpol: None,
            mpol_weights: None,
            numa_demotion: true,
            bench_scale: 1,
            workload: None,
            fault: FaultSettings::default(),
            kfence_sample_interval: DEFAULT_KFENCE_SAMPLE_INTERVAL,
            memhp_expect: 0,
            memhp_unplug: 0,
        }
    }
}

/// One word the parser could not use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Warning<'a> {
    /// A key nobody knows.
    Unknown { word: &'a str },
    /// A known key whose value does not parse.
    BadValue {
        key: &'a str,
        value: &'a str,
        expected: &'static str,
    },
    /// A known key that needs a value and got none.
    MissingValue {
        key: &'a str,
        expected: &'static str,
    },
    /// A flag that takes no value was given one.
    UnexpectedValue { key: &'a str, value: &'a str },
    /// A `"` that never closes: the rest of the line was taken as the value.
    UnterminatedQuote { word: &'a str },
}

impl fmt::Display for Warning<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::Unknown { word } => {
                write!(f, "unknown command-line parameter '{word}', ignored")
            }
            Warning::BadValue {
                key,
                value,
                expected,
            } => write!(
                f,
                "bad value '{value}' for '{key}' (expected {expected}), default kept"
            ),
            Warning::MissingValue { key, expected } => {
                write!(f, "'{key}' needs a value ({expected}), default kept")
            }
            Warning::UnexpectedValue { key, value } => {
                write!(f, "'{key}' takes no value, '{value}' ignored")
            }
            Warning::UnterminatedQuote { word } => {
                write!(
                    f,
                    "unterminated quote in '{word}', taken to the end of the line"
                )
            }
        }
    }
}

/// One word of the line: its key and, after `=`, its value (quotes removed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Word<'a> {
    pub raw: &'a str,
    pub key: &'a str,
    pub value: Option<&'a str>,
}

/// Splits a command line into words as Linux's `next_arg` does: whitespace
/// separates words except inside double quotes; `key="a b"` gives value `a b`.
pub fn words<'a>(line: &'a str) -> impl Iterator<Item = (Word<'a>, bool)> {
    let mut rest = line;
    core::iter::from_fn(move || {
        rest = rest.trim_start();
        if rest.is_empty() {
            return None;
        }
        let bytes = rest.as_bytes();
        let mut in_quote = false;
        let mut end = bytes.len();
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'"' {
                in_quote = !in_quote;
            } else if b.is_ascii_whitespace() && !in_quote {
                end = i;
                break;
            }
        }
        let raw = &rest[..end];
        rest = &rest[end..];
        let (key, value) = match raw.split_once('=') {
            Some((k, v)) => (k, Some(strip_quotes(v))),
            None => (strip_quotes(raw), None),
        };
        Some((Word { raw, key, value }, in_quote))
    })
}

fn strip_quotes(s: &str) -> &str {
    let s = s.strip_prefix('"').unwrap_or(s);
    s.strip_suffix('"').unwrap_or(s)
}

/// Parses `1234`, `0x4d2`, or a size with a K/M/G/T suffix (binary units, as
/// Linux's memparse).
pub fn parse_size(s: &str) -> Option<u64> {
    let (digits, shift) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 10),
        b'm' | b'M' => (&s[..s.len() - 1], 20),
        b'g' | b'G' => (&s[..s.len() - 1], 30),
        b't' | b'T' => (&s[..s.len() - 1], 40),
        _ => (s, 0),
    };
    let n = parse_u64(digits)?;
    n.checked_mul(1u64 << shift)
}

/// Parses a decimal or `0x` hexadecimal number.
pub fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Parses the whole line. Every word that cannot be used goes to `warn`.
pub fn parse<'a>(line: &'a str, mut warn: impl FnMut(Warning<'a>)) -> Settings<'a> {
    let mut s = Settings::default();
    let mut explicit_loglevel = false;
    for (word, unterminated) in words(line) {
        if unterminated {
            warn(Warning::UnterminatedQuote { word: word.raw });
        }
        let key = word.key;
        let flag = |warn: &mut dyn FnMut(Warning<'a>)| {
            if let Some(value) = word.value {
                warn(Warning::UnexpectedValue { key, value });
            }
        };
        match key {
            "loglevel" => {
                const EXPECTED: &str = "a number from 0 to 15";
                match word.value {
                    None => warn(Warning::MissingValue {
                        key,
                        expected: EXPECTED,
                    }),
                    Some(v) => match v.parse::<u8>() {
                        Ok(n) if n <= LOGLEVEL_MAX => {
                            s.loglevel = n;
                            explicit_loglevel = true;
                        }
                        _ => warn(Warning::BadValue {
                            key,
                            value: v,
                            expected: EXPECTED,
                        }),
                    },
                }
            }
            "quiet" => {
                flag(&mut warn);
                s.quiet = true;
            }
            "selftest" => match word.value {
                None => s.selftest = SelfTestSelection::Default,
                Some("off") | Some("none") => s.selftest = SelfTestSelection::Off,
                Some("all") => s.selftest = SelfTestSelection::Default,
                Some(v) if !v.is_empty() && v.split(',').all(valid_suite_name) => {
                    s.selftest = SelfTestSelection::Suites(SuiteList(v))
                }
                Some(v) => warn(Warning::BadValue {
                    key,
                    value: v,
                    expected: "off, all, or a comma-separated list of suite names",
                }),
            },
            "numa" => match word.value {
                Some("off") => s.numa_off = true,
                Some(v) => warn(Warning::BadValue {
                    key,
                    value: v,
                    expected: "off",
                }),
                None => warn(Warning::MissingValue {
                    key,
                    expected: "off",
                }),
            },
            "mem" => {
                let size = |v: &str| parse_size(v).filter(|&n| n > 0);
                if let Some(n) = value(word, "a size such as 512M or 2G", size, &mut warn) {
                    s.mem_limit = Some(n);
                }
            }
            "kernelcore" | "movablecore" => {
                const EXPECTED: &str = "a size such as 1G, or a percentage such as 25%";
                let amount = value(word, EXPECTED, parse_mem_amount, &mut warn);
                if key == "kernelcore" {
                    s.kernelcore = amount.or(s.kernelcore);
                } else {
                    s.movablecore = amount.or(s.movablecore);
                }
            }
            "maxcpus" => {
                let n = |v: &str| v.parse::<u32>().ok().filter(|&n| n >= 1);
                if let Some(n) = value(word, "a number of CPUs from 1", n, &mut warn) {
                    s.maxcpus = Some(n);
                }
            }
            "smp.fail" => {
                let n = |v: &str| v.parse::<u32>().ok().filter(|&n| n >= 1);
                if let Some(n) = value(word, "a secondary CPU number (1 or more)", n, &mut warn) {
                    s.smp_fail = Some(n);
                }
            }
            "slub_debug" => {
                let v = word.value.unwrap_or("");
                let (letters, caches) = match v.split_once(',') {
                    Some((l, c)) => (l, Some(c)),
                    None => (v, None),
                };
                if letters.chars().all(|c| "FZPUAfzpua-".contains(c)) {
                    let letters = if letters.is_empty() { "FZPU" } else { letters };
                    s.slub_debug = Some(SlubDebug { letters, caches });
                } else {
                    warn(Warning::BadValue {
                        key,
                        value: v,
                        expected: "letters from F, Z, P, U, A, then optionally ,cache,...",
                    });
                }
            }
            "bench" => match word.value {
                Some(v) if !v.is_empty() && v.split(',').all(valid_suite_name) => s.bench = Some(v),
                Some(v) => warn(Warning::BadValue {
                    key,
                    value: v,
                    expected: "all, slab, page or workload names",
                }),
                None => s.bench = Some("all"),
            },
            "mpol" => match word.value {
                Some(v) if !v.is_empty() => s.mpol = Some(v),
                _ => warn(Warning::BadValue {
                    key,
                    value: word.value.unwrap_or(""),
                    expected: "a policy such as interleave:0-3, bind:1, prefer:2, local",
                }),
            },
            "mpol.weights" => match word.value {
                Some(v)
                    if v == "auto"
                        || v.split(',').all(|w| w.parse::<u8>().is_ok_and(|w| w >= 1)) =>
                {
                    s.mpol_weights = Some(v)
                }
                _ => warn(Warning::BadValue {
                    key,
                    value: word.value.unwrap_or(""),
                    expected: "auto, or a weight from 1 to 255 per node (4,4,1,1)",
                }),
            },
            "workload" => {
                let w = |v: &str| (v == "pressure").then_some(Workload::Pressure);
                if let Some(w) = value(word, "pressure", w, &mut warn) {
                    s.workload = Some(w);
                }
            }
            "bench.scale" => {
                let n = |v: &str| parse_u64(v).filter(|&n| n >= 1);
                if let Some(n) = value(word, "a divisor from 1", n, &mut warn) {
                    s.bench_scale = n;
                }
            }
            "min_free_kbytes" => {
                let kib = |v: &str| parse_u64(v).filter(|&n| n > 0 && n <= 1 << 30);
                if let Some(n) = value(word, "a number of KiB from 1", kib, &mut warn) {
                    s.min_free_kbytes = Some(n);
                }
            }
            // Linux takes sysctls on its command line with the `sysctl.`
            // prefix (since 5.8); the bare name is accepted too.
            "sysctl.vm.compaction_proactiveness" | "vm.compaction_proactiveness" => {
                let p = |v: &str| parse_u64(v).filter(|&n| n <= 100);
                if let Some(n) = value(word, "a number from 0 to 100", p, &mut warn) {
                    s.compaction_proactiveness = n as u32;
                }
            }
            "fail_page_alloc" | "failslab" | "fail_vmalloc" => {
                let attrs = |v: &str| (!v.is_empty()).then_some(());
                let expected = "<interval>,<probability>,<space>,<times>";
                if let (Some(()), Some(v)) = (value(word, expected, attrs, &mut warn), word.value) {
                    match key {
                        "fail_page_alloc" => s.fault.page_alloc = Some(v),
                        "failslab" => s.fault.slab = Some(v),
                        _ => s.fault.vmalloc = Some(v),
                    }
                }
            }
            "kfence.sample_interval" => {
                let ms = |v: &str| parse_u64(v).filter(|&n| n <= 3_600_000);
                if let Some(n) = value(word, "milliseconds, 0 for off", ms, &mut warn) {
                    s.kfence_sample_interval = n;
                }
            }
            key @ ("memhp.expect" | "memhp.unplug") => {
                let n = |v: &str| parse_u64(v).filter(|&n| n <= 64).map(|n| n as u32);
                if let Some(n) = value(word, "a count of memory devices from 0 to 64", n, &mut warn)
                {
                    if key == "memhp.expect" {
                        s.memhp_expect = n;
                    } else {
                        s.memhp_unplug = n;
                    }
                }
            }
            "fail_page_alloc.min_order" => {
                let n = |v: &str| parse_u64(v).filter(|&n| n <= 10).map(|n| n as u32);
                if let Some(n) = value(word, "an order from 0 to 10", n, &mut warn) {
                    s.fault.page_min_order = Some(n);
                }
            }
            "fail_page_alloc.ignore_gfp_wait"
            | "fail_page_alloc.ignore_gfp_highmem"
            | "failslab.ignore_gfp_wait"
            | "failslab.cache_filter"
            | "fail_vmalloc.ignore_gfp_wait" => {
                if let Some(on) = value(word, "0 or 1", parse_bool, &mut warn) {
                    let f = &mut s.fault;
                    *match key {
                        "fail_page_alloc.ignore_gfp_wait" => &mut f.page_ignore_gfp_wait,
                        "fail_page_alloc.ignore_gfp_highmem" => &mut f.page_ignore_gfp_highmem,
                        "failslab.ignore_gfp_wait" => &mut f.slab_ignore_gfp_wait,
                        "failslab.cache_filter" => &mut f.slab_cache_filter,
                        _ => &mut f.vmalloc_ignore_gfp_wait,
                    } = Some(on);
                }
            }
            "fail_page_alloc.verbose" | "failslab.verbose" | "fail_vmalloc.verbose" => {
                let n = |v: &str| parse_u64(v).filter(|&n| n <= 2).map(|n| n as u32);
                if let Some(n) = value(word, "0, 1 or 2", n, &mut warn) {
                    let i = ["fail_page_alloc.verbose", "failslab.verbose"]
                        .iter()
                        .position(|k| *k == key)
                        .unwrap_or(2);
                    s.fault.verbose[i] = Some(n);
                }
            }
            "numa.demotion_enabled" => {
                if let Some(on) = value(word, "0 or 1", parse_bool, &mut warn) {
                    s.numa_demotion = on;
                }
            }
            "mm.report" => {
                flag(&mut warn);
                s.mm_report = true;
            }
            _ => warn(Warning::Unknown { word: word.raw }),
        }
    }
    if s.quiet && !explicit_loglevel {
        s.loglevel = LOGLEVEL_QUIET;
    }
    s
}

/// The parsed value of `word`, or a warning saying what was expected.
fn value<'a, T>(
    word: Word<'a>,
    expected: &'static str,
    parse: impl Fn(&str) -> Option<T>,
    warn: &mut impl FnMut(Warning<'a>),
) -> Option<T> {
    let key = word.key;
    match word.value {
        None => {
            warn(Warning::MissingValue { key, expected });
            None
        }
        Some(v) => {
            let parsed = parse(v);
            if parsed.is_none() {
                warn(Warning::BadValue {
                    key,
                    value: v,
                    expected,
                });
            }
            parsed
        }
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "0" | "false" | "off" | "N" | "n" => Some(false),
        "1" | "true" | "on" | "Y" | "y" => Some(true),
        _ => None,
    }
}

fn valid_suite_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    fn parse_collect(line: &str) -> (Settings<'_>, Vec<Warning<'_>>) {
        let mut warnings = Vec::new();
        let s = parse(line, |w| warnings.push(w));
        (s, warnings)
    }

    #[test]
    fn workload_pressure_is_known_and_other_workloads_warn() {
        let (s, w) = parse_collect("workload=pressure");
        assert_eq!(s.workload, Some(Workload::Pressure));
        assert!(w.is_empty());
        let (s, w) = parse_collect("workload=swap");
        assert_eq!(s.workload, None);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn compaction_proactiveness_takes_0_to_100_with_or_without_the_sysctl_prefix() {
        let (s, w) = parse_collect("sysctl.vm.compaction_proactiveness=0");
        assert_eq!((s.compaction_proactiveness, w.len()), (0, 0));
        let (s, w) = parse_collect("vm.compaction_proactiveness=100");
        assert_eq!((s.compaction_proactiveness, w.len()), (100, 0));
        for bad in ["101", "-1", "x", ""] {
            let line = std::format!("vm.compaction_proactiveness={bad}");
            let (s, w) = parse_collect(&line);
            assert_eq!(s.compaction_proactiveness, 20, "{bad}");
            assert_eq!(w.len(), 1, "{bad}");
        }
        let (s, w) = parse_collect("vm.compaction_proactiveness");
        assert_eq!((s.compaction_proactiveness, w.len()), (20, 1));
    }

    #[test]
    fn memhp_expect_takes_a_device_count_and_refuses_the_rest() {
        let (s, w) = parse_collect("memhp.expect=2");
        assert_eq!((s.memhp_expect, w.len()), (2, 0));
        for bad in ["65", "-1", "two", ""] {
            let line = std::format!("memhp.expect={bad}");
            let (s, w) = parse_collect(&line);
            assert_eq!((s.memhp_expect, w.len()), (0, 1), "{bad}");
            let line = std::format!("memhp.unplug={bad}");
            let (s, w) = parse_collect(&line);
            assert_eq!((s.memhp_unplug, w.len()), (0, 1), "{bad}");
        }
        let (s, w) = parse_collect("memhp.expect=2 memhp.unplug=2");
        assert_eq!((s.memhp_unplug, w.len()), (2, 0));
    }

    #[test]
    fn fault_injection_words_take_linuxs_syntax_and_settings() {
        let (s, w) = parse_collect(
            "fail_page_alloc=1,10,0,-1 failslab=1,10,0,-1 fail_vmalloc=2,50,4096,5 fail_page_alloc.min_order=0 fail_page_alloc.ignore_gfp_wait=0 failslab.ignore_gfp_wait=N failslab.cache_filter=1 failslab.verbose=0",
        );
        assert!(w.is_empty(), "{w:?}");
        let f = s.fault;
        assert_eq!(f.page_alloc, Some("1,10,0,-1"));
        assert_eq!(f.slab, Some("1,10,0,-1"));
        assert_eq!(f.vmalloc, Some("2,50,4096,5"));
        assert_eq!(f.page_min_order, Some(0));
        assert_eq!(f.page_ignore_gfp_wait, Some(false));
        assert_eq!(f.slab_ignore_gfp_wait, Some(false));
        assert_eq!(f.slab_cache_filter, Some(true));
        assert_eq!(f.verbose, [None, Some(0), None]);
        assert_eq!(
            (f.page_ignore_gfp_highmem, f.vmalloc_ignore_gfp_wait),
            (None, None)
        );
        for bad in [
            "failslab",
            "failslab=",
            "fail_page_alloc.min_order=11",
            "failslab.cache_filter=2",
            "fail_vmalloc.verbose=3",
        ] {
            let (s, w) = parse_collect(bad);
            assert_eq!(s.fault, FaultSettings::default(), "{bad}");
            assert_eq!(w.len(), 1, "{bad}");
        }
        // slub_debug=A marks caches for failslab's cache filter.
        let (s, w) = parse_collect("slub_debug=A,dentry");
        assert!(w.is_empty());
        assert_eq!(s.slub_debug.unwrap().letters, "A");
    }

    #[test]
    fn empty_line_gives_defaults_and_no_warning() {
        let (s, w) = parse_collect("   ");
        assert_eq!(s, Settings::default());
        assert!(w.is_empty());
    }

    #[test]
    fn unknown_word_and_bad_loglevel_each_warn_once_and_keep_defaults() {
        let (s, w) = parse_collect("bogus=1 loglevel=x");
        assert_eq!(s.loglevel, LOGLEVEL_DEFAULT);
        assert_eq!(
            w,
            [
                Warning::Unknown { word: "bogus=1" },
                Warning::BadValue {
                    key: "loglevel",
                    value: "x",
                    expected: "a number from 0 to 15"
                }
            ]
        );
    }

    #[test]
    fn quiet_lowers_loglevel_unless_loglevel_is_explicit() {
        assert_eq!(parse_collect("quiet").0.loglevel, LOGLEVEL_QUIET);
        assert_eq!(parse_collect("quiet loglevel=8").0.loglevel, 8);
        assert_eq!(parse_collect("loglevel=2 quiet").0.loglevel, 2);
    }

    #[test]
    fn loglevel_out_of_range_is_rejected() {
        let (s, w) = parse_collect("loglevel=16");
        assert_eq!(s.loglevel, LOGLEVEL_DEFAULT);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn selftest_forms() {
        assert_eq!(
            parse_collect("selftest").0.selftest,
            SelfTestSelection::Default
        );
        assert_eq!(
            parse_collect("selftest=off").0.selftest,
            SelfTestSelection::Off
        );
        let (s, w) = parse_collect("selftest=boot,cmdline");
        assert!(w.is_empty());
        match s.selftest {
            SelfTestSelection::Suites(list) => {
                assert!(list.contains("boot") && list.contains("cmdline"));
                assert!(!list.contains("boo"));
                assert_eq!(list.iter().count(), 2);
            }
            other => panic!("unexpected {other:?}"),
        }
        let (s, w) = parse_collect("selftest=a;b");
        assert_eq!(s.selftest, SelfTestSelection::Default);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn quoted_values_keep_spaces() {
        let ws: Vec<_> = words(r#"a="x y" b c="z""#).map(|(w, _)| w).collect();
        assert_eq!(ws.len(), 3);
        assert_eq!(ws[0].key, "a");
        assert_eq!(ws[0].value, Some("x y"));
        assert_eq!(ws[1].key, "b");
        assert_eq!(ws[1].value, None);
        assert_eq!(ws[2].value, Some("z"));
    }

    #[test]
    fn unterminated_quote_warns() {
        let (_, w) = parse_collect(r#"selftest="boot quiet"#);
        assert!(matches!(w[0], Warning::UnterminatedQuote { .. }));
    }

    #[test]
    fn policy_and_demotion_words_parse_or_warn() {
        let (s, w) = parse_collect("mpol=interleave:0-1 mpol.weights=4,1 numa.demotion_enabled=0");
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(s.mpol, Some("interleave:0-1"));
        assert_eq!(s.mpol_weights, Some("4,1"));
        assert!(!s.numa_demotion);
        let (s, w) = parse_collect("mpol.weights=0,1 numa.demotion_enabled=maybe mpol=");
        assert_eq!(w.len(), 3, "{w:?}");
        assert_eq!(s.mpol_weights, None);
        assert!(s.numa_demotion);
        let (s, _) = parse_collect("mpol=\"weighted interleave:0,2\"");
        assert_eq!(s.mpol, Some("weighted interleave:0,2"));
    }

    #[test]
    fn flags_with_values_warn_but_still_apply() {
        let (s, w) = parse_collect("quiet=1");
        assert!(s.quiet);
        assert_eq!(
            w,
            [Warning::UnexpectedValue {
                key: "quiet",
                value: "1"
            }]
        );
    }

    #[test]
    fn sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_size("512M"), Some(512 << 20));
        assert_eq!(parse_size("2g"), Some(2 << 30));
        assert_eq!(parse_size("0x1000"), Some(4096));
        assert_eq!(parse_size("12"), Some(12));
        assert_eq!(parse_size("M"), None);
        assert_eq!(parse_size("99999999999T"), None);
        let (s, w) = parse_collect("mem=1G numa=off");
        assert_eq!(s.mem_limit, Some(1 << 30));
        assert!(s.numa_off);
        assert!(w.is_empty());
        let (_, w) = parse_collect("mem=0 numa=on numa");
        assert_eq!(w.len(), 3);
    }

    #[test]
    fn zone_sizing_words_take_sizes_and_percentages() {
        let (s, w) = parse_collect("kernelcore=1G movablecore=25% min_free_kbytes=8192");
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(s.kernelcore, Some(MemAmount::Bytes(1 << 30)));
        assert_eq!(s.movablecore, Some(MemAmount::Percent(25)));
        assert_eq!(s.min_free_kbytes, Some(8192));
        let (s, w) =
            parse_collect("kernelcore=mirror movablecore=101% min_free_kbytes=0 kernelcore");
        assert_eq!(w.len(), 4);
        assert_eq!(
            (s.kernelcore, s.movablecore, s.min_free_kbytes),
            (None, None, None)
        );
        assert!(matches!(
            w[0],
            Warning::BadValue {
                key: "kernelcore",
                value: "mirror",
                ..
            }
        ));
    }

    #[test]
    fn slub_debug_takes_letters_and_caches() {
        let (s, w) = parse_collect("slub_debug");
        assert!(w.is_empty());
        let d = s.slub_debug.unwrap();
        assert_eq!(d.letters, "FZPU");
        assert!(d.applies_to("kmalloc-64"));
        let (s, _) = parse_collect("slub_debug=FZ,kmalloc-64,dentry");
        let d = s.slub_debug.unwrap();
        assert_eq!(d.letters, "FZ");
        assert!(d.applies_to("dentry") && !d.applies_to("kmalloc-32"));
        let (s, w) = parse_collect("slub_debug=XY");
        assert_eq!(w.len(), 1);
        assert!(s.slub_debug.is_none());
    }

    #[test]
    fn cpu_words_take_numbers() {
        let (s, w) = parse_collect("maxcpus=2 smp.fail=3");
        assert!(w.is_empty());
        assert_eq!((s.maxcpus, s.smp_fail), (Some(2), Some(3)));
        let (s, w) = parse_collect("maxcpus=0 smp.fail=0 maxcpus=x");
        assert_eq!(w.len(), 3);
        assert_eq!((s.maxcpus, s.smp_fail), (None, None));
    }

    #[test]
    fn every_warning_names_the_word() {
        use std::string::ToString;
        let (_, w) = parse_collect("bogus=1 loglevel=x");
        assert!(w[0].to_string().contains("bogus=1"));
        assert!(w[1].to_string().contains("loglevel") && w[1].to_string().contains("'x'"));
    }
}
