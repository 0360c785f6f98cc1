//! Parsers for the memory reports the kernel prints at the end of a run
//! (`==> /proc/buddyinfo <==` and the others), as a user's script would
//! read Linux's files.

use std::collections::BTreeMap;

/// The text of the last section called `name` (up to its blank line).
pub fn section<'a>(console: &'a str, name: &str) -> Option<&'a str> {
    section_with_blanks(console, name, 0)
}

/// A section with `blanks` blank lines of its own (pagetypeinfo has two,
/// as Linux prints it): it ends at the blank line after those.
pub fn section_with_blanks<'a>(console: &'a str, name: &str, blanks: usize) -> Option<&'a str> {
    let header = format!("==> {name} <==\n");
    let start = console.rfind(&header)? + header.len();
    let rest = &console[start..];
    let mut end = 0;
    for _ in 0..=blanks {
        match rest[end..].find("\n\n") {
            Some(e) => end += e + 1,
            None => return Some(rest),
        }
    }
    Some(&rest[..end])
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZoneInfo {
    pub node: usize,
    pub zone: String,
    pub fields: BTreeMap<String, u64>,
    pub protection: Vec<u64>,
}

impl ZoneInfo {
    pub fn get(&self, field: &str) -> u64 {
        *self
            .fields
            .get(field)
            .unwrap_or_else(|| panic!("zone {} {} has no '{field}'", self.node, self.zone))
    }
}

/// `Node N, zone NAME` headers and their `name value` lines.
pub fn zoneinfo(text: &str) -> Vec<ZoneInfo> {
    let mut zones: Vec<ZoneInfo> = Vec::new();
    // Inside a zone's `pagesets` block the names (count, high, batch) are
    // per CPU, not the zone's: skipped until `start_pfn:`.
    let mut in_pagesets = false;
    for line in text.lines() {
        if line.trim() == "pagesets" {
            in_pagesets = true;
            continue;
        }
        if in_pagesets && !line.trim_start().starts_with("start_pfn:") {
            continue;
        }
        in_pagesets = false;
        if let Some(rest) = line.strip_prefix("Node ") {
            let (node, zone) = rest.split_once(", zone").expect("Node N, zone NAME");
            zones.push(ZoneInfo {
                node: node.parse().unwrap(),
                zone: zone.trim().to_string(),
                ..Default::default()
            });
            continue;
        }
        let z = zones.last_mut().expect("a zone header first");
        let line = line.trim();
        if let Some(p) = line.strip_prefix("protection: (") {
            z.protection = p
                .trim_end_matches(')')
                .split(", ")
                .map(|v| v.parse().unwrap())
                .collect();
        } else if let Some(v) = line.strip_prefix("pages free") {
            z.fields.insert("free".into(), v.trim().parse().unwrap());
        } else if let Some((k, v)) = line.rsplit_once(char::is_whitespace) {
            if let Ok(v) = v.parse() {
                z.fields
                    .insert(k.trim().trim_end_matches(':').to_string(), v);
            }
        }
    }
    zones
}

/// `Node N, zone NAME c0 c1 ... c10` lines.
pub fn buddyinfo(text: &str) -> Vec<(usize, String, Vec<u64>)> {
    zone_rows(text, |c| c.parse().unwrap())
}

/// `Node N, zone NAME v0 v1 ...` lines (buddyinfo, the extfrag indices):
/// node, zone and each value as `value` reads it.
pub fn zone_rows<T>(text: &str, value: impl Fn(&str) -> T) -> Vec<(usize, String, Vec<T>)> {
    text.lines()
        .map(|l| {
            let mut w = l.split_whitespace();
            assert_eq!(w.next(), Some("Node"), "{l}");
            let node = w.next().unwrap().trim_end_matches(',').parse().unwrap();
            assert_eq!(w.next(), Some("zone"), "{l}");
            let zone = w.next().unwrap().to_string();
            (node, zone, w.map(&value).collect())
        })
        .collect()
}

/// /proc/pagetypeinfo: free blocks per order of each (node, zone, type),
/// and pageblocks per type of each (node, zone) in the header's type order.
pub struct PageTypeInfo {
    pub pageblock_order: u32,
    pub free: Vec<(usize, String, String, Vec<u64>)>,
    pub types: Vec<String>,
    pub blocks: Vec<(usize, String, Vec<u64>)>,
}

pub fn pagetypeinfo(text: &str) -> PageTypeInfo {
    let mut lines = text.lines();
    let order_line = lines.next().unwrap();
    let pageblock_order = order_line
        .strip_prefix("Page block order: ")
        .unwrap_or_else(|| panic!("{order_line}"))
        .parse()
        .unwrap();
    let mut info = PageTypeInfo {
        pageblock_order,
        free: Vec::new(),
        types: Vec::new(),
        blocks: Vec::new(),
    };
    for l in lines {
        if let Some(rest) = l.strip_prefix("Number of blocks type") {
            info.types = rest.split_whitespace().map(String::from).collect();
        } else if l.contains(", type ") {
            // `Node    0, zone      DMA, type    Unmovable      0 ...`
            let w: Vec<&str> = l.split_whitespace().collect();
            let counts = w[6..].iter().map(|c| c.parse().unwrap()).collect();
            let zone = w[3].trim_end_matches(',').to_string();
            info.free.push((
                w[1].trim_end_matches(',').parse().unwrap(),
                zone,
                w[5].to_string(),
                counts,
            ));
        } else if l.starts_with("Node ") {
            info.blocks.extend(zone_rows(l, |c| c.parse().unwrap()));
        }
    }
    info
}

/// The `key value` line `key` of the section `name` (the /proc/vmstat
/// excerpts); panics, showing the section, when it is missing.
pub fn section_value(console: &str, name: &str, key: &str) -> u64 {
    let s = section(console, name).unwrap_or_else(|| panic!("no {name} section"));
    s.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {key} in\n{s}"))
        .trim()
        .parse()
        .unwrap()
}

/// numastat's table: row name -> one count per node column.
pub fn numastat(text: &str) -> (Vec<String>, BTreeMap<String, Vec<u64>>) {
    let mut lines = text.lines();
    let nodes = lines
        .next()
        .unwrap()
        .split_whitespace()
        .map(String::from)
        .collect();
    let rows = lines
        .map(|l| {
            let mut w = l.split_whitespace();
            let name = w.next().unwrap().to_string();
            (name, w.map(|c| c.parse().unwrap()).collect())
        })
        .collect();
    (nodes, rows)
}
