//! NUMA memory policies, as Linux's mm/mempolicy.c defines them: what
//! `numactl --membind/--interleave/--preferred` and set_mempolicy(2) set,
//! and where each policy sends one allocation.
//!
//! - default and local: the allocating CPU's node, falling back by
//!   distance;
//! - prefer: one node first, falling back by distance from it;
//! - prefer (many): the nearest allowed node first (from the home node
//!   when one is set), then anywhere;
//! - bind: only the allowed nodes, nearest first (from the home node when
//!   one is set); reclaim and the OOM killer stay within them;
//! - interleave: the allowed nodes in turn, one allocation each;
//! - weighted interleave: the allowed nodes in turn, `weight` allocations
//!   each (weights from the user, or from the HMAT's bandwidths by
//!   Linux's rule, [`auto_weights`]).
//!
//! Hardware-independent: the kernel keeps one policy per task and asks
//! [`place`] where each allocation goes.

use core::fmt;

/// A set of nodes, bit n for node n (128 nodes, Linux's NODES_SHIFT 7).
pub type NodeMask = u128;
pub const MAX_NODES: usize = 128;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Default,
    Preferred,
    Bind,
    Interleave,
    Local,
    PreferredMany,
    WeightedInterleave,
}

impl Mode {
    /// Linux's name for the mode (mm/mempolicy.c's policy_modes, the
    /// names `mpol=` takes and /proc/PID/numa_maps prints).
    pub fn name(self) -> &'static str {
        match self {
            Mode::Default => "default",
            Mode::Preferred => "prefer",
            Mode::Bind => "bind",
            Mode::Interleave => "interleave",
            Mode::Local => "local",
            Mode::PreferredMany => "prefer (many)",
            Mode::WeightedInterleave => "weighted interleave",
        }
    }

    const ALL: [Mode; 7] = [
        Mode::Default,
        Mode::Preferred,
        Mode::Bind,
        Mode::Interleave,
        Mode::Local,
        Mode::PreferredMany,
        Mode::WeightedInterleave,
    ];

    /// A mode by Linux's name, or the same name with `-` or `_` for the
    /// space (a command line splits words at spaces unless quoted), and
    /// `preferred` for `prefer`.
    pub fn from_name(s: &str) -> Option<Mode> {
        let norm = |c: char| if c == '-' || c == '_' { ' ' } else { c };
        let mut buf = [0u8; 24];
        let mut n = 0;
        for c in s.chars().map(norm) {
            let mut tmp = [0u8; 4];
            let b = c.encode_utf8(&mut tmp).as_bytes();
            if n + b.len() > buf.len() {
                return None;
            }
            buf[n..n + b.len()].copy_from_slice(b);
            n += b.len();
        }
        let s = core::str::from_utf8(&buf[..n]).ok()?;
        match s {
            "preferred" => return Some(Mode::Preferred),
            "preferred many" | "prefer many" => return Some(Mode::PreferredMany),
            _ => {}
        }
        Mode::ALL.into_iter().find(|m| m.name() == s)
    }

    /// Whether the mode takes a node list.
    fn wants_nodes(self) -> bool {
        !matches!(self, Mode::Default | Mode::Local)
    }
}

/// One policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemPolicy {
    pub mode: Mode,
    pub nodes: NodeMask,
    /// Where bind and prefer (many) start looking (set_mempolicy_home_node).
    pub home_node: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyError {
    UnknownMode,
    /// A node list that does not parse (the text's byte offset).
    BadNodeList,
    /// A node that does not exist or has no memory.
    NodeWithoutMemory(usize),
    /// default and local take no nodes.
    NodesNotAllowed,
    /// Every other mode needs at least one node.
    NoNodes,
    /// prefer takes exactly one node.
    PreferTakesOneNode,
    /// A home node for a mode that has none (only bind and prefer (many)).
    HomeNodeNotSupported,
    /// A home node outside the policy's nodes.
    HomeNodeNotInNodes(usize),
    /// `=static` / `=relative` flags: accepted by Linux, not modelled here.
    FlagsNotSupported,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::UnknownMode => write!(
                f,
                "unknown mode (default, prefer, bind, interleave, local, prefer (many), weighted interleave)"
            ),
            PolicyError::BadNodeList => write!(f, "node list does not parse (e.g. 0-3 or 0,2)"),
            PolicyError::NodeWithoutMemory(n) => write!(f, "node {n} has no memory"),
            PolicyError::NodesNotAllowed => write!(f, "default and local take no node list"),
            PolicyError::NoNodes => write!(f, "this mode needs a node list"),
            PolicyError::PreferTakesOneNode => write!(f, "prefer takes exactly one node"),
            PolicyError::HomeNodeNotSupported => {
                write!(f, "a home node goes only with bind and prefer (many)")
            }
            PolicyError::HomeNodeNotInNodes(n) => write!(f, "home node {n} is not in the policy's nodes"),
            PolicyError::FlagsNotSupported => write!(f, "mode flags (=static, =relative) are not supported"),
        }
    }
}

/// Parses a node list: `0-3`, `0,2`, `1-2,5`.
pub fn parse_nodelist(s: &str) -> Result<NodeMask, PolicyError> {
    let mut mask: NodeMask = 0;
    if s.is_empty() {
        return Err(PolicyError::BadNodeList);
    }
    for part in s.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let a: usize = a.parse().map_err(|_| PolicyError::BadNodeList)?;
        let b: usize = b.parse().map_err(|_| PolicyError::BadNodeList)?;
        if a > b || b >= MAX_NODES {
            return Err(PolicyError::BadNodeList);
        }
        for n in a..=b {
            mask |= 1 << n;
        }
    }
    Ok(mask)
}

fn first_node(mask: NodeMask) -> Option<usize> {
    (mask != 0).then(|| mask.trailing_zeros() as usize)
}

/// The next node of `mask` after `prev`, wrapping (Linux's next_node_in).
pub fn next_node_in(prev: usize, mask: NodeMask) -> Option<usize> {
    if mask == 0 {
        return None;
    }
    let above = if prev + 1 >= MAX_NODES {
        0
    } else {
        mask & (NodeMask::MAX << (prev + 1))
    };
    first_node(if above != 0 { above } else { mask })
}

impl MemPolicy {
    pub const DEFAULT: MemPolicy = MemPolicy {
        mode: Mode::Default,
        nodes: 0,
        home_node: None,
    };

    /// A policy checked as Linux's mpol_new and mpol_parse_str check it:
    /// `memory` is the set of nodes with memory.
    pub fn new(mode: Mode, nodes: NodeMask, memory: NodeMask) -> Result<MemPolicy, PolicyError> {
        if !mode.wants_nodes() {
            if nodes != 0 {
                return Err(PolicyError::NodesNotAllowed);
            }
        } else if nodes == 0 {
            return Err(PolicyError::NoNodes);
        }
        if let Some(n) = first_node(nodes & !memory) {
            return Err(PolicyError::NodeWithoutMemory(n));
        }
        if mode == Mode::Preferred && nodes.count_ones() != 1 {
            return Err(PolicyError::PreferTakesOneNode);
        }
        Ok(MemPolicy {
            mode,
            nodes,
            home_node: None,
        })
    }

    /// Linux's `mpol=` string: `MODE[:NODELIST]`, e.g. `interleave:0-3`,
    /// `bind:1`, `prefer:2`, `weighted interleave:0,2`, `local`.
    pub fn parse(s: &str, memory: NodeMask) -> Result<MemPolicy, PolicyError> {
        let (mode, nodes) = s.split_once(':').unwrap_or((s, ""));
        if mode.contains('=') {
            return Err(PolicyError::FlagsNotSupported);
        }
        let mode = Mode::from_name(mode.trim()).ok_or(PolicyError::UnknownMode)?;
        let mask = if nodes.is_empty() {
            // Linux: interleave without a list means every node with memory.
            if mode == Mode::Interleave || mode == Mode::WeightedInterleave {
                memory
            } else {
                0
            }
        } else {
            parse_nodelist(nodes)?
        };
        MemPolicy::new(mode, mask, memory)
    }

    /// set_mempolicy_home_node: only bind and prefer (many) have one.
    pub fn with_home_node(mut self, node: usize) -> Result<MemPolicy, PolicyError> {
        if !matches!(self.mode, Mode::Bind | Mode::PreferredMany) {
            return Err(PolicyError::HomeNodeNotSupported);
        }
        if node >= MAX_NODES || self.nodes & 1 << node == 0 {
            return Err(PolicyError::HomeNodeNotInNodes(node));
        }
        self.home_node = Some(node);
        Ok(self)
    }

    pub fn is_default(&self) -> bool {
        self.mode == Mode::Default
    }
}

/// Writes a node list as Linux does (`0-1,3`).
pub fn write_nodelist(f: &mut dyn fmt::Write, mask: NodeMask) -> fmt::Result {
    numa::hmat::write_nodelist(f, mask)
}

impl fmt::Display for MemPolicy {
    /// The `mpol=` form: `interleave:0-1`, `default`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.mode.name())?;
        if self.mode.wants_nodes() {
            f.write_str(":")?;
            write_nodelist(f, self.nodes)?;
        }
        Ok(())
    }
}

/// A task's place in its interleave (Linux's il_prev and il_weight).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InterleaveState {
    pub prev: usize,
    pub weight_left: u8,
}

impl InterleaveState {
    /// Where a new interleave policy starts: its first node comes next.
    pub const START: InterleaveState = InterleaveState {
        prev: MAX_NODES - 1,
        weight_left: 0,
    };
}

/// Where one allocation goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The node whose zonelist the allocation walks (its preferred node,
    /// for numa_hit and numa_miss).
    pub node: usize,
    /// The nodes it may use; None for any.
    pub allowed: Option<NodeMask>,
    /// When the allowed nodes fail, try every node (prefer (many)).
    pub then_anywhere: bool,
    /// An interleaved allocation (counted as interleave_hit when it lands
    /// on `node`).
    pub interleave: bool,
}

/// Where `pol` sends the next allocation of a task whose CPU is on
/// `local`. `weights[n]` is node n's weighted-interleave weight (0 counts
/// as 1).
pub fn place(
    pol: &MemPolicy,
    il: &mut InterleaveState,
    local: usize,
    weights: &[u8; MAX_NODES],
) -> Placement {
    let anywhere = |node| Placement {
        node,
        allowed: None,
        then_anywhere: false,
        interleave: false,
    };
    match pol.mode {
        Mode::Default | Mode::Local => anywhere(local),
        Mode::Preferred => anywhere(first_node(pol.nodes).unwrap_or(local)),
        Mode::Bind | Mode::PreferredMany => Placement {
            node: pol.home_node.unwrap_or(local),
            allowed: Some(pol.nodes),
            then_anywhere: pol.mode == Mode::PreferredMany,
            interleave: false,
        },
        Mode::Interleave => match next_node_in(il.prev, pol.nodes) {
            Some(n) => {
                il.prev = n;
                Placement {
                    interleave: true,
                    ..anywhere(n)
                }
            }
            None => anywhere(local),
        },
        Mode::WeightedInterleave => {
            let mut node = il.prev;
            if il.weight_left == 0 || node >= MAX_NODES || pol.nodes & 1 << node == 0 {
                match next_node_in(node, pol.nodes) {
                    Some(n) => node = n,
                    None => return anywhere(local),
                }
                il.prev = node;
                il.weight_left = weights[node].max(1);
            }
            il.weight_left -= 1;
            Placement {
                interleave: true,
                ..anywhere(node)
            }
        }
    }
}

/// Where migrate_pages(2) sends a page on `node`, as Linux's nodes_remap
/// maps the nodes: the n-th node of `from` to the n-th of `to` (n taken
/// modulo `to`'s size); None for a node not in `from` (its pages stay) or
/// an empty `to`.
pub fn remap_node(node: usize, from: NodeMask, to: NodeMask) -> Option<usize> {
    if node >= MAX_NODES || from & (1 << node) == 0 || to == 0 {
        return None;
    }
    let rank = (from & ((1u128 << node) - 1)).count_ones();
    let n = rank % to.count_ones();
    let mut m = to;
    for _ in 0..n {
        m &= m - 1;
    }
    Some(m.trailing_zeros() as usize)
}

/// The weight scale of automatic weights (Linux's weightiness).
pub const WEIGHTINESS: u32 = 32;

/// Weighted-interleave weights from per-node bandwidths, Linux's rule
/// (mm/mempolicy.c, reduce_interleave_weights): each node's share of the
/// total bandwidth scaled to 1..=32 (a node below one part in 32 gets 1),
/// then divided by the weights' greatest common divisor. `bandwidth[n]`
/// is the smaller of node n's read and write bandwidth; only nodes in
/// `memory` get a weight.
pub fn auto_weights(bandwidth: &[u32; MAX_NODES], memory: NodeMask) -> [u8; MAX_NODES] {
    let mut w = [0u8; MAX_NODES];
    let nodes = || (0..MAX_NODES).filter(move |&n| memory & 1 << n != 0);
    let sum: u64 = nodes().map(|n| bandwidth[n] as u64).sum();
    let mut g = 0u32;
    for n in nodes() {
        let scaled = WEIGHTINESS as u64 * bandwidth[n] as u64;
        let v = if bandwidth[n] != 0 && sum < scaled {
            (scaled / sum) as u32
        } else {
            1
        };
        w[n] = v.min(255) as u8;
        g = gcd(g, v);
    }
    if g > 1 {
        for n in nodes() {
            w[n] /= g as u8;
        }
    }
    w
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn remap_sends_the_nth_node_of_from_to_the_nth_of_to() {
        // {0,1} -> {2,3}: 0 -> 2, 1 -> 3; nodes outside `from` stay.
        assert_eq!(remap_node(0, 0b11, 0b1100), Some(2));
        assert_eq!(remap_node(1, 0b11, 0b1100), Some(3));
        assert_eq!(remap_node(2, 0b11, 0b1100), None);
        // More sources than targets: modulo the target count.
        assert_eq!(remap_node(2, 0b111, 0b10), Some(1));
        assert_eq!(remap_node(3, 0b1010, 0b101), Some(2));
        assert_eq!(remap_node(0, 1, 0), None);
        assert_eq!(remap_node(127, 1 << 127, 1), Some(0));
    }
    use std::string::ToString;
    use std::vec::Vec;

    const MEM4: NodeMask = 0b1111;

    #[test]
    fn mpol_strings_parse_as_linux_writes_them() {
        for (s, mode, nodes) in [
            ("interleave:0-3", Mode::Interleave, 0b1111),
            ("bind:1", Mode::Bind, 0b10),
            ("prefer:2", Mode::Preferred, 0b100),
            ("preferred:2", Mode::Preferred, 0b100),
            ("weighted interleave:0,2", Mode::WeightedInterleave, 0b101),
            ("weighted-interleave:0,2", Mode::WeightedInterleave, 0b101),
            ("prefer (many):1-2", Mode::PreferredMany, 0b110),
            ("local", Mode::Local, 0),
            ("default", Mode::Default, 0),
            ("interleave", Mode::Interleave, MEM4),
        ] {
            let p = MemPolicy::parse(s, MEM4).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!((p.mode, p.nodes), (mode, nodes), "{s}");
        }
        assert_eq!(
            MemPolicy::parse("interleave:0-1", MEM4)
                .unwrap()
                .to_string(),
            "interleave:0-1"
        );
        assert_eq!(
            MemPolicy::parse("local", MEM4).unwrap().to_string(),
            "local"
        );
    }

    #[test]
    fn bad_mpol_strings_are_errors_that_say_why() {
        for (s, e) in [
            ("shuffle:0", PolicyError::UnknownMode),
            ("bind:", PolicyError::NoNodes),
            ("bind:9", PolicyError::NodeWithoutMemory(9)),
            ("bind:3-1", PolicyError::BadNodeList),
            ("bind:x", PolicyError::BadNodeList),
            ("bind:0-200", PolicyError::BadNodeList),
            ("prefer:0-1", PolicyError::PreferTakesOneNode),
            ("local:0", PolicyError::NodesNotAllowed),
            ("bind=static:0", PolicyError::FlagsNotSupported),
        ] {
            assert_eq!(MemPolicy::parse(s, MEM4), Err(e), "{s}");
            assert!(!e.to_string().is_empty());
        }
        let bind = MemPolicy::parse("bind:1-2", MEM4).unwrap();
        assert_eq!(bind.with_home_node(2).unwrap().home_node, Some(2));
        assert_eq!(
            bind.with_home_node(0),
            Err(PolicyError::HomeNodeNotInNodes(0))
        );
        let il = MemPolicy::parse("interleave:1-2", MEM4).unwrap();
        assert_eq!(il.with_home_node(1), Err(PolicyError::HomeNodeNotSupported));
    }

    fn run(pol: &MemPolicy, n: usize, weights: &[u8; MAX_NODES]) -> Vec<usize> {
        let mut il = InterleaveState::START;
        (0..n)
            .map(|_| place(pol, &mut il, 0, weights).node)
            .collect()
    }

    #[test]
    fn interleave_takes_the_nodes_in_turn_from_the_first() {
        let p = MemPolicy::parse("interleave:1-3", MEM4).unwrap();
        let w = [1; MAX_NODES];
        assert_eq!(run(&p, 7, &w), [1, 2, 3, 1, 2, 3, 1]);
        let mut il = InterleaveState::START;
        assert!(place(&p, &mut il, 0, &w).interleave);
    }

    #[test]
    fn weighted_interleave_gives_each_node_its_weight_in_turn() {
        let p = MemPolicy::parse("weighted interleave:0,2", MEM4).unwrap();
        let mut w = [1; MAX_NODES];
        w[0] = 3;
        w[2] = 1;
        assert_eq!(run(&p, 8, &w), [0, 0, 0, 2, 0, 0, 0, 2]);
        // A weight of 0 counts as 1.
        w[0] = 0;
        assert_eq!(run(&p, 4, &w), [0, 2, 0, 2]);
    }

    #[test]
    fn bind_and_prefer_many_start_from_the_home_node_or_the_cpu() {
        let w = [1; MAX_NODES];
        let mut il = InterleaveState::START;
        let bind = MemPolicy::parse("bind:1-2", MEM4).unwrap();
        let p = place(&bind, &mut il, 0, &w);
        assert_eq!(
            (p.node, p.allowed, p.then_anywhere),
            (0, Some(0b110), false)
        );
        let home = bind.with_home_node(2).unwrap();
        assert_eq!(place(&home, &mut il, 0, &w).node, 2);
        let many = MemPolicy::parse("prefer (many):1-2", MEM4).unwrap();
        assert!(place(&many, &mut il, 3, &w).then_anywhere);
        let pref = MemPolicy::parse("prefer:3", MEM4).unwrap();
        assert_eq!(
            place(&pref, &mut il, 0, &w),
            Placement {
                node: 3,
                allowed: None,
                then_anywhere: false,
                interleave: false
            }
        );
    }

    #[test]
    fn automatic_weights_follow_bandwidth_reduced_by_their_gcd() {
        let mut bw = [0u32; MAX_NODES];
        // The tiered preset: 20 GiB/s DRAM, 5 GiB/s slow memory.
        bw[..4].copy_from_slice(&[20480, 20480, 5120, 5120]);
        let w = auto_weights(&bw, 0b1111);
        // 32*20480/51200 = 12, 32*5120/51200 = 3; gcd 3 -> 4:4:1:1.
        assert_eq!(&w[..4], &[4, 4, 1, 1]);
        // Equal bandwidth: all 1.
        let w = auto_weights(&[1000; MAX_NODES], 0b111);
        assert_eq!(&w[..4], &[1, 1, 1, 0]);
        // A node with no figure gets 1.
        bw[..3].copy_from_slice(&[3000, 1000, 0]);
        let w = auto_weights(&bw, 0b111);
        // 32*3000/4000 = 24, 32*1000/4000 = 8, 1; gcd 1.
        assert_eq!(&w[..3], &[24, 8, 1]);
    }

    #[test]
    fn next_node_in_wraps() {
        assert_eq!(next_node_in(MAX_NODES - 1, 0b1010), Some(1));
        assert_eq!(next_node_in(1, 0b1010), Some(3));
        assert_eq!(next_node_in(3, 0b1010), Some(1));
        assert_eq!(next_node_in(0, 0), None);
    }
}
