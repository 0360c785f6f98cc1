//! SLIT: the relative distance between every pair of proximity domains
//! (ACPI 6.5, 5.2.17). The diagonal is 10 by definition; 255 means the
//! domains cannot reach each other.

use crate::{u64_at, validate, Error, Header};

pub const LOCAL_DISTANCE: u8 = 10;
pub const UNREACHABLE: u8 = 255;

pub struct Slit<'a> {
    pub header: Header,
    localities: usize,
    matrix: &'a [u8],
}

/// Validates the header, the checksum and that the N x N matrix fits.
pub fn parse(bytes: &[u8]) -> Result<Slit<'_>, Error> {
    let (header, table) = validate(bytes, b"SLIT")?;
    if table.len() < 44 {
        return Err(Error::TooShort {
            have: table.len(),
            need: 44,
        });
    }
    let n = u64_at(table, 36);
    let size = n
        .checked_mul(n)
        .and_then(|nn| nn.checked_add(44))
        .filter(|&s| s <= table.len() as u64);
    match size {
        Some(s) => Ok(Slit {
            header,
            localities: n as usize,
            matrix: &table[44..s as usize],
        }),
        None => Err(Error::SlitMatrixOverflow {
            localities: n,
            length: header.length,
        }),
    }
}

/// Why a well-formed SLIT's contents cannot be used (Linux's slit_valid).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalid {
    Diagonal { domain: usize, value: u8 },
    OffDiagonalNotAboveLocal { from: usize, to: usize, value: u8 },
}

impl core::fmt::Display for Invalid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Invalid::Diagonal { domain, value } => {
                write!(f, "distance({domain},{domain}) is {value}, not 10")
            }
            Invalid::OffDiagonalNotAboveLocal { from, to, value } => {
                write!(f, "distance({from},{to}) is {value}, not above 10")
            }
        }
    }
}

impl Slit<'_> {
    pub fn localities(&self) -> usize {
        self.localities
    }

    /// The distance between two proximity domains, if both are in the table.
    pub fn distance(&self, from: usize, to: usize) -> Option<u8> {
        if from < self.localities && to < self.localities {
            Some(self.matrix[from * self.localities + to])
        } else {
            None
        }
    }

    /// Checks the contents as Linux does: 10 on the diagonal, more than
    /// 10 everywhere else.
    pub fn check(&self) -> Result<(), Invalid> {
        for i in 0..self.localities {
            for j in 0..self.localities {
                let value = self.matrix[i * self.localities + j];
                if i == j && value != LOCAL_DISTANCE {
                    return Err(Invalid::Diagonal { domain: i, value });
                }
                if i != j && value <= LOCAL_DISTANCE {
                    return Err(Invalid::OffDiagonalNotAboveLocal {
                        from: i,
                        to: j,
                        value,
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::testutil::*;

    fn slit(n: u64, m: &[u8]) -> std::vec::Vec<u8> {
        let mut body = n.to_le_bytes().to_vec();
        body.extend_from_slice(m);
        table(b"SLIT", 1, &body)
    }

    #[test]
    fn four_node_asym_fixture_matches_its_qemu_arguments() {
        let t = fixture("four-node-asym", "SLIT").unwrap();
        let s = parse(&t).unwrap();
        assert_eq!(s.localities(), 4);
        let want = [
            [10, 16, 22, 28],
            [16, 10, 16, 22],
            [22, 16, 10, 16],
            [28, 22, 16, 10],
        ];
        for (i, row) in want.iter().enumerate() {
            for (j, &d) in row.iter().enumerate() {
                assert_eq!(s.distance(i, j), Some(d));
            }
        }
        assert_eq!(s.distance(4, 0), None);
        assert!(s.check().is_ok());
    }

    #[test]
    fn matrix_larger_than_the_table_is_an_error() {
        let t = slit(3, &[10, 20, 20, 10]);
        assert!(matches!(
            parse(&t),
            Err(Error::SlitMatrixOverflow { localities: 3, .. })
        ));
        // N x N overflowing u64 must not wrap into a small size.
        let t = slit(1 << 32, &[10]);
        assert!(matches!(parse(&t), Err(Error::SlitMatrixOverflow { .. })));
        let t = slit(u64::MAX, &[10]);
        assert!(matches!(parse(&t), Err(Error::SlitMatrixOverflow { .. })));
    }

    #[test]
    fn bad_contents_are_found_by_check() {
        let s = slit(2, &[10, 20, 20, 11]);
        assert_eq!(
            parse(&s).unwrap().check(),
            Err(Invalid::Diagonal {
                domain: 1,
                value: 11
            })
        );
        let s = slit(2, &[10, 10, 20, 10]);
        assert!(matches!(
            parse(&s).unwrap().check(),
            Err(Invalid::OffDiagonalNotAboveLocal { .. })
        ));
        let s = slit(2, &[10, 255, 255, 10]);
        assert!(
            parse(&s).unwrap().check().is_ok(),
            "255 (unreachable) is valid"
        );
    }
}
