//! What a preset's qemu-args.txt says the VM is: CPUs, memory, and per node
//! its CPUs, RAM and distances. The expected values every topology test
//! compares the kernel's findings against.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// The VM a QEMU command line describes.
#[derive(Debug, Clone)]
pub struct VmShape {
    pub cpus: usize,
    /// Boot RAM (`-m`), not counting pc-dimm or NVDIMM devices.
    pub total_ram: u64,
    /// node -> (its CPU numbers, its RAM in bytes). A VM without `-numa`
    /// has one node with every CPU and all RAM.
    pub nodes: BTreeMap<usize, (Vec<usize>, u64)>,
    /// Given distances, both directions (QEMU mirrors them).
    pub distances: BTreeMap<(usize, usize), u8>,
}

impl VmShape {
    /// The distance the firmware reports: 10 on the diagonal, the given
    /// value, else 20 (QEMU's and Linux's default).
    pub fn distance(&self, i: usize, j: usize) -> u8 {
        if i == j {
            10
        } else {
            *self.distances.get(&(i, j)).unwrap_or(&20)
        }
    }
}

fn size(s: &str) -> u64 {
    let (num, unit) = s.split_at(s.len() - 1);
    match unit {
        "M" => num.parse::<u64>().unwrap() << 20,
        "G" => num.parse::<u64>().unwrap() << 30,
        _ => s.parse().unwrap(),
    }
}

fn key_values(s: &str) -> BTreeMap<&str, &str> {
    s.split(',').filter_map(|p| p.split_once('=')).collect()
}

/// Every topology in fixtures/qemu-acpi: the presets plus the ones only the
/// table parsers use (no SLIT, a pc-dimm, an NVDIMM, separate read and
/// write HMAT data).
pub const FIXTURES: [&str; 10] = [
    "one-node",
    "two-node",
    "two-node-nodist",
    "four-node-asym",
    "memless-cpuless",
    "eight-node-big",
    "hotplug-dimm",
    "nvdimm",
    "tiered",
    "hmat-rw",
];

/// The E820 RAM QEMU (q35) with qboot reports for `total` bytes of boot RAM:
/// low RAM up to 2 GiB when there are 2.75 GiB or more (else all of it
/// below 4 GiB), the rest from 4 GiB; 0x9fc00-0x100000 is not RAM.
pub fn qboot_e820(total: u64) -> Vec<(u64, u64)> {
    let low = if total >= 0xb000_0000 {
        0x8000_0000
    } else {
        total
    };
    let mut v = vec![(0, 0x9fc00), (0x10_0000, low)];
    if total > low {
        v.push((0x1_0000_0000, 0x1_0000_0000 + total - low));
    }
    v
}

/// The fixture folder of a topology.
pub fn fixture_dir(topology: &str) -> PathBuf {
    crate::repo_root().join("fixtures/qemu-acpi").join(topology)
}

/// Parses `fixtures/qemu-acpi/<topology>/qemu-args.txt`.
pub fn load(topology: &str) -> VmShape {
    let path = fixture_dir(topology).join("qemu-args.txt");
    parse(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

pub fn parse(args: &str) -> VmShape {
    let words: Vec<&str> = args.split_whitespace().collect();
    let mut vm = VmShape {
        cpus: 0,
        total_ram: 0,
        nodes: BTreeMap::new(),
        distances: BTreeMap::new(),
    };
    let mut backends = BTreeMap::new();
    for w in words.windows(2) {
        match w[0] {
            "-smp" => vm.cpus = w[1].split(',').next().unwrap().parse().unwrap(),
            "-m" => vm.total_ram = size(w[1].split(',').next().unwrap()),
            "-object" if w[1].starts_with("memory-backend-ram") => {
                let kv = key_values(w[1]);
                backends.insert(kv["id"].to_string(), size(kv["size"]));
            }
            "-numa" if w[1].starts_with("node") => {
                let kv = key_values(w[1]);
                let cpus = kv
                    .get("cpus")
                    .map(|c| {
                        let (a, b) = c.split_once('-').unwrap_or((c, c));
                        (a.parse().unwrap()..=b.parse().unwrap()).collect()
                    })
                    .unwrap_or_default();
                let mem = kv.get("memdev").map(|d| backends[*d]).unwrap_or(0);
                vm.nodes.insert(kv["nodeid"].parse().unwrap(), (cpus, mem));
            }
            "-numa" if w[1].starts_with("dist") => {
                let kv = key_values(w[1]);
                let (s, d) = (kv["src"].parse().unwrap(), kv["dst"].parse().unwrap());
                let v = kv["val"].parse().unwrap();
                vm.distances.insert((s, d), v);
                vm.distances.insert((d, s), v);
            }
            _ => {}
        }
    }
    if vm.nodes.is_empty() {
        vm.nodes.insert(0, ((0..vm.cpus).collect(), vm.total_ram));
    }
    vm
}

#[cfg(test)]
mod tests {
    #[test]
    fn memless_cpuless_arguments_parse() {
        let vm = super::load("memless-cpuless");
        assert_eq!(vm.cpus, 4);
        assert_eq!(vm.nodes[&1], (vec![2, 3], 0));
        assert_eq!(vm.nodes[&2], (vec![], 512 << 20));
        assert_eq!(vm.distance(0, 2), 30);
        assert_eq!(vm.distance(2, 0), 30);
        let one = super::load("one-node");
        assert_eq!(one.nodes[&0], ((0..2).collect(), 512 << 20));
        assert_eq!(one.distance(0, 0), 10);
    }
}
