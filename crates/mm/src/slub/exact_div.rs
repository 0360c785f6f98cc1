//! Exact division by a constant stride: an object's index from its offset
//! in a slab with one multiply and one rotate, and a non-multiple (or an
//! offset below the first object, wrapped) rejected by the same compare.
//!
//! For an odd divisor `d` there is an inverse `inv` with `d * inv == 1`
//! modulo 2^64. Multiplying by it maps the multiples of `d` one to one
//! onto `0 ..= u64::MAX / d` (each `k * d` goes to `k`) and every other
//! value above that range. A stride `d = d_odd << s` is handled by
//! rotating the product right by `s`: a multiple of `d` has `s` low zero
//! bits, which the rotation drops; any other value either has a low bit
//! set, which the rotation lifts to the top, or is not a multiple of
//! `d_odd`. So `quotient(n) < objects` says at once that `n` is an
//! object's start and that the object is inside the slab (the divisibility
//! test of Hacker's Delight, 10-17; Granlund and Montgomery, 1994).

/// A divisor prepared for exact division.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExactDivisor {
    /// The inverse of the divisor's odd part, modulo 2^64.
    inverse: u64,
    /// The divisor's trailing zero bits.
    shift: u32,
}

impl ExactDivisor {
    /// Prepares division by `d` (not zero).
    pub const fn new(d: u64) -> ExactDivisor {
        assert!(d != 0, "a stride is never zero");
        let shift = d.trailing_zeros();
        let odd = d >> shift;
        // Newton's iteration doubles the correct low bits each step: an
        // odd number is its own inverse modulo 8 (3 bits), so five steps
        // give 96 >= 64.
        let mut inverse = odd;
        let mut i = 0;
        while i < 5 {
            inverse = inverse.wrapping_mul(2u64.wrapping_sub(odd.wrapping_mul(inverse)));
            i += 1;
        }
        ExactDivisor { inverse, shift }
    }

    /// `n / d` when `d` divides `n`; otherwise a value above `u64::MAX / d`.
    #[inline(always)]
    pub const fn quotient(self, n: u64) -> u64 {
        n.wrapping_mul(self.inverse).rotate_right(self.shift)
    }
}

// Pure arithmetic with no unsafe code: nothing for Miri to check, and
// the exhaustive test would take it hours.
#[cfg(all(test, not(miri)))]
mod tests {
    use super::ExactDivisor;
    use proptest::prelude::*;

    /// Every stride a cache can have (a multiple of 8, the least
    /// alignment, up to 8 KiB), every offset in a 32 KiB slab (the
    /// largest) and offsets that wrapped below zero.
    #[test]
    fn matches_division_on_every_slab_offset() {
        for d in (8..=8192u64).step_by(8) {
            let div = ExactDivisor::new(d);
            for n in 0..(32 << 10) {
                let q = div.quotient(n);
                if n % d == 0 {
                    assert_eq!(q, n / d, "d {d} n {n}");
                } else {
                    assert!(q > u64::MAX / d, "d {d} n {n}: {q}");
                }
            }
            for below in 1..200u64 {
                // An address before the first object: its offset wraps.
                let q = div.quotient(0u64.wrapping_sub(below));
                assert!(q >= u64::MAX / d - 200, "d {d} below {below}: {q}");
            }
        }
    }

    proptest! {
        #[test]
        fn quotient_is_exact_or_out_of_range(d in 1u64..(1 << 40), n: u64) {
            let q = ExactDivisor::new(d).quotient(n);
            if n % d == 0 {
                prop_assert_eq!(q, n / d);
            } else {
                prop_assert!(q > u64::MAX / d);
            }
        }

        #[test]
        fn multiples_come_back_exact(d in 1u64..(1 << 32), k in 0u64..(1 << 24)) {
            prop_assert_eq!(ExactDivisor::new(d).quotient(k * d), k);
        }
    }
}
