//! Deterministic input mutation for the property tests of hie-hl7 and hie-hl7-schema
//! (`#[path]`-included by both, so one copy).
#![allow(dead_code)]

/// xorshift64*: small, deterministic, good enough to pick mutations.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
}

/// One to four mutations of `input`: truncation, byte changes, insertions of `interesting`
/// bytes, removals and duplicated slices.
pub fn mutate(rng: &mut Rng, input: &[u8], interesting: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        if v.is_empty() {
            v.push(interesting[rng.below(interesting.len())]);
            continue;
        }
        let at = rng.below(v.len());
        match rng.below(6) {
            0 => v.truncate(at),
            1 => v[at] = rng.next() as u8,
            2 => v[at] = interesting[rng.below(interesting.len())],
            3 => v.insert(at, interesting[rng.below(interesting.len())]),
            4 => {
                v.remove(at);
            }
            _ => {
                // Duplicate a random slice somewhere else.
                let len = rng.below(40).min(v.len() - at);
                let piece = v[at..at + len].to_vec();
                let to = rng.below(v.len());
                v.splice(to..to, piece);
            }
        }
    }
    v
}
