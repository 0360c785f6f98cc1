//! Marsaglia's xorshift64: a seeded, repeatable sequence for stress tests
//! and benchmark layouts, the same in the kernel (no_std) and in the host
//! tests. Not for anything that needs unpredictability.
#![no_std]
#![forbid(unsafe_code)]

/// The generator; its state must not be zero (a zero seed stays zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XorShift(pub u64);

impl XorShift {
    /// A generator from any seed (zero becomes one, which is valid).
    pub fn new(seed: u64) -> Self {
        XorShift(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequence_is_marsaglias_and_never_zero() {
        let mut x = XorShift::new(1);
        // 1 << 13 ^ 1 = 8193; then >> 7 and << 17 as the algorithm says.
        let mut y: u64 = 1;
        y ^= y << 13;
        y ^= y >> 7;
        y ^= y << 17;
        assert_eq!(x.next_u64(), y);
        assert_eq!(XorShift::new(0), XorShift(1));
        assert!((0..10_000).all(|_| x.next_u64() != 0));
    }
}
