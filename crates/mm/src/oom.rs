//! The OOM killer's arithmetic, as Linux's mm/oom_kill.c and
//! fs/proc/base.c compute it (5.9 and later):
//!
//! - badness = the task's pages (rss, plus what else it holds) plus
//!   `oom_score_adj` thousandths of all the memory the killer may free;
//!   a task at OOM_SCORE_ADJ_MIN is never a candidate.
//! - /proc/<pid>/oom_score = (1000 + badness x 1000 / totalpages) x 2/3,
//!   0 for the unkillable: a value in [0, 1333].
//! - The victim is the candidate with the highest badness; on a tie the
//!   later one in the task list wins (Linux replaces on `>=`).

pub const OOM_SCORE_ADJ_MIN: i32 = -1000;
pub const OOM_SCORE_ADJ_MAX: i32 = 1000;

/// Why an oom_score_adj write is refused (Linux: -EINVAL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdjOutOfRange(pub i64);

/// Checks a value written to oom_score_adj.
pub fn check_adj(v: i64) -> Result<i32, AdjOutOfRange> {
    if (OOM_SCORE_ADJ_MIN as i64..=OOM_SCORE_ADJ_MAX as i64).contains(&v) {
        Ok(v as i32)
    } else {
        Err(AdjOutOfRange(v))
    }
}

/// A task's badness, or None when it may not be killed.
pub fn badness(pages: u64, adj: i32, totalpages: u64) -> Option<i64> {
    if adj <= OOM_SCORE_ADJ_MIN {
        return None;
    }
    let adj_pages = adj as i64 * (totalpages / 1000) as i64;
    Some(pages as i64 + adj_pages)
}

/// The number /proc/<pid>/oom_score shows.
pub fn oom_score(badness: Option<i64>, totalpages: u64) -> u64 {
    let Some(b) = badness else {
        return 0;
    };
    let total = totalpages.max(1) as i64;
    ((1000 + b * 1000 / total) * 2 / 3).max(0) as u64
}

/// The index of the victim among `candidates` (each a badness, None for
/// the unkillable), or None when nobody may be killed.
pub fn choose_victim(candidates: impl IntoIterator<Item = Option<i64>>) -> Option<usize> {
    let mut best: Option<(usize, i64)> = None;
    for (i, b) in candidates.into_iter().enumerate() {
        let Some(b) = b else { continue };
        if best.is_none_or(|(_, top)| b >= top) {
            best = Some((i, b));
        }
    }
    best.map(|(i, _)| i)
}

/// Which allocations may invoke the OOM killer at all (Linux's
/// __alloc_pages_may_oom): not __GFP_NORETRY, not costly orders, not
/// __GFP_THISNODE, and not callers that cannot do filesystem work (their
/// failure is no proof that the machine is out of memory) unless
/// __GFP_NOFAIL.
pub fn may_oom(gfp: crate::gfp::Gfp, order: usize) -> bool {
    use crate::gfp::Gfp;
    if gfp.contains(Gfp::NOFAIL) {
        return true;
    }
    !gfp.contains(Gfp::NORETRY)
        && !gfp.contains(Gfp::RETRY_MAYFAIL)
        && order <= crate::buddy::COSTLY_ORDER
        && !gfp.contains(Gfp::THISNODE)
        && gfp.contains(Gfp::FS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gfp::Gfp;

    #[test]
    fn adj_range_is_checked() {
        assert_eq!(check_adj(-1000), Ok(-1000));
        assert_eq!(check_adj(1000), Ok(1000));
        assert_eq!(check_adj(1001), Err(AdjOutOfRange(1001)));
        assert_eq!(check_adj(-1001), Err(AdjOutOfRange(-1001)));
    }

    #[test]
    fn badness_adds_adj_thousandths_of_memory() {
        // 1,000,000 pages: adj 500 is worth 500,000 pages.
        assert_eq!(badness(1000, 500, 1_000_000), Some(501_000));
        assert_eq!(badness(1000, 0, 1_000_000), Some(1000));
        assert_eq!(badness(1000, -500, 1_000_000), Some(-499_000));
        assert_eq!(badness(1_000_000, -1000, 1_000_000), None);
    }

    #[test]
    fn proc_score_scales_to_two_thirds() {
        let total = 1_000_000;
        assert_eq!(oom_score(badness(0, 0, total), total), 666);
        assert_eq!(oom_score(badness(total, 0, total), total), 1333);
        assert_eq!(oom_score(badness(0, 1000, total), total), 1333);
        assert_eq!(oom_score(badness(0, -999, total), total), 0);
        assert_eq!(oom_score(None, total), 0);
        // Half the memory: 1000 + 500 = 1500, two thirds of it.
        assert_eq!(oom_score(badness(total / 2, 0, total), total), 1000);
    }

    #[test]
    fn the_victim_is_the_worst_killable_task() {
        let total = 100_000;
        let tasks = [
            badness(60_000, -1000, total), // the biggest, but unkillable
            badness(10_000, 500, total),
            badness(20_000, 0, total),
        ];
        assert_eq!(choose_victim(tasks), Some(1));
        assert_eq!(choose_victim([None, None]), None);
        assert_eq!(
            choose_victim([Some(5), Some(5)]),
            Some(1),
            "later wins a tie"
        );
        assert_eq!(choose_victim([]), None);
    }

    #[test]
    fn only_some_allocations_may_kill() {
        assert!(may_oom(Gfp::KERNEL, 0));
        assert!(may_oom(Gfp::KERNEL, 3));
        assert!(!may_oom(Gfp::KERNEL, 4), "costly order");
        assert!(!may_oom(Gfp::KERNEL | Gfp::NORETRY, 0));
        assert!(!may_oom(Gfp::KERNEL | Gfp::THISNODE, 0));
        assert!(!may_oom(Gfp::NOFS, 0));
        assert!(!may_oom(Gfp::NOIO, 0));
        assert!(may_oom(Gfp::NOFS | Gfp::NOFAIL, 0));
    }
}
