//! The kernel's `numactl --hardware` block, read back.

/// `numactl --hardware` read back: node count, per node (cpus, size MB),
/// and the distance rows.
pub type Numactl = (usize, Vec<(Vec<usize>, u64)>, Vec<Vec<u8>>);

pub fn parse(console: &str) -> Numactl {
    let mut lines = console
        .lines()
        .skip_while(|l| !l.starts_with("available: "));
    let avail = lines.next().expect("available line");
    let count: usize = avail["available: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // numactl names one node "(0)", more "(0-N)".
    let range = if count == 1 {
        "0".to_string()
    } else {
        format!("0-{}", count - 1)
    };
    assert_eq!(avail, format!("available: {count} nodes ({range})"));
    let mut nodes = Vec::new();
    for n in 0..count {
        let cpus = lines.next().unwrap();
        let prefix = format!("node {n} cpus:");
        assert!(cpus.starts_with(&prefix), "{cpus}");
        let cpus = cpus[prefix.len()..]
            .split_whitespace()
            .map(|c| c.parse().unwrap())
            .collect();
        let size = lines.next().unwrap();
        let mb = size
            .strip_prefix(&format!("node {n} size: "))
            .and_then(|s| s.strip_suffix(" MB"))
            .unwrap_or_else(|| panic!("{size}"))
            .parse()
            .unwrap();
        let free = lines.next().unwrap();
        assert!(
            free.starts_with(&format!("node {n} free: ")) && free.ends_with(" MB"),
            "{free}"
        );
        nodes.push((cpus, mb));
    }
    assert_eq!(lines.next(), Some("node distances:"));
    let header: String = (0..count).map(|j| format!("{j:>3} ")).collect();
    assert_eq!(lines.next(), Some(format!("node {header}").as_str()));
    let mut rows = Vec::new();
    for i in 0..count {
        let row = lines.next().unwrap();
        let rest = row
            .strip_prefix(&format!("{i:>3}: "))
            .unwrap_or_else(|| panic!("{row}"));
        rows.push(
            rest.split_whitespace()
                .map(|d| d.parse().unwrap())
                .collect(),
        );
    }
    (count, nodes, rows)
}
