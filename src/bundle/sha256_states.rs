//! SHA-256 of a whole bundle, keeping the chaining state at chosen 64-byte
//! block boundaries, so that the bytes between two kept states can be
//! checked on their own, without the rest of the file.
//!
//! SHA-256 reads its input in 64-byte blocks, each folded into an eight-word
//! state. A bundle is hashed once, as `package` writes it
//! ([`Checkpointing`]) or, for a bundle from elsewhere, by `publish`
//! ([`checkpointed`]). That one pass gives the digest that names the bundle
//! and a state every [`CHECKPOINT`] bytes, from which the states at the
//! block boundaries just before and just after each cookbook's byte range
//! are found again ([`Checkpointed::states_at`]) without hashing the bundle
//! a second time.
//! A pull that fetches one range (widened to those boundaries) runs the
//! compression function from the first state over the fetched bytes and
//! must arrive at the second, or, for a range that runs to the end of the
//! file, at the bundle's own digest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::compress256;
use sha2::digest::generic_array::GenericArray;

/// Bytes per SHA-256 block.
pub const BLOCK: u64 = 64;

/// SHA-256's initial state.
const INITIAL: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// The block boundaries around bytes `start..end` of a file: the one at or
/// before `start` and the one at or after `end`.
pub fn around(start: u64, end: u64) -> (u64, u64) {
    (start / BLOCK * BLOCK, end.div_ceil(BLOCK) * BLOCK)
}

/// Bytes between two states that [`Checkpointed`] keeps: finding the state
/// at any block boundary hashes at most this much again. (A multiple of
/// [`BLOCK`]; 800 states for a 200 MB bundle.)
pub const CHECKPOINT: usize = 256 * 1024;

/// The SHA-256 of an input, with the chaining state kept every
/// [`CHECKPOINT`] bytes. It can be kept (serialised) and used again for the
/// same input, after [`Checkpointed::fits`] has checked its shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpointed {
    /// The digest, lower-case hex.
    pub digest: String,
    /// The state after each whole [`CHECKPOINT`] bytes, from the state
    /// before the first byte.
    states: Vec<[u32; 8]>,
}

/// Hashes `data` in one pass, keeping a state every [`CHECKPOINT`] bytes.
pub fn checkpointed(data: &[u8]) -> Checkpointed {
    let mut hashing = Checkpointing::new();
    hashing.update(data);
    hashing.finish()
}

/// [`checkpointed`] for an input that arrives in pieces: `package` hashes
/// the bundle this way as it writes it.
#[derive(Clone, Debug)]
pub struct Checkpointing {
    state: [u32; 8],
    states: Vec<[u32; 8]>,
    /// Input since the last kept state, less than [`CHECKPOINT`] bytes.
    pending: Vec<u8>,
    total: u64,
}

impl Default for Checkpointing {
    fn default() -> Self {
        Checkpointing::new()
    }
}

impl Checkpointing {
    pub fn new() -> Checkpointing {
        Checkpointing {
            state: INITIAL,
            states: vec![INITIAL],
            pending: Vec::with_capacity(CHECKPOINT),
            total: 0,
        }
    }

    pub fn update(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len() as u64;
        if !self.pending.is_empty() {
            let taken = (CHECKPOINT - self.pending.len()).min(bytes.len());
            self.pending.extend_from_slice(&bytes[..taken]);
            bytes = &bytes[taken..];
            if self.pending.len() < CHECKPOINT {
                return;
            }
            compress(&mut self.state, &self.pending);
            self.states.push(self.state);
            self.pending.clear();
        }
        let mut whole = bytes.chunks_exact(CHECKPOINT);
        for chunk in &mut whole {
            compress(&mut self.state, chunk);
            self.states.push(self.state);
        }
        self.pending.extend_from_slice(whole.remainder());
    }

    pub fn finish(self) -> Checkpointed {
        Checkpointed {
            digest: finish(self.state, &self.pending, self.total),
            states: self.states,
        }
    }
}

impl Checkpointed {
    /// Whether this can be the pass over an input of `len` bytes: it holds
    /// a state for every whole [`CHECKPOINT`], so [`Checkpointed::states_at`]
    /// finds any boundary of that input.
    pub fn fits(&self, len: u64) -> bool {
        self.states.len() as u64 == len / CHECKPOINT as u64 + 1
    }

    /// The state, as hex, after each of `offsets` bytes (multiples of
    /// [`BLOCK`], at most `data.len()`), by offset. `data` is the input
    /// that was hashed.
    pub fn states_at(&self, data: &[u8], offsets: &[u64]) -> BTreeMap<u64, String> {
        offsets
            .iter()
            .map(|&offset| {
                let kept = offset as usize / CHECKPOINT;
                let mut state = self.states[kept];
                compress(&mut state, &data[kept * CHECKPOINT..offset as usize]);
                (offset, to_hex(&state))
            })
            .collect()
    }
}

/// Whether `bytes`, which begin `after` the state `from` (hex), lead to
/// the state `to`; `bytes` must be whole blocks.
pub fn leads_to_state(from: &str, bytes: &[u8], to: &str) -> bool {
    let Some(mut state) = from_hex(from) else {
        return false;
    };
    if !(bytes.len() as u64).is_multiple_of(BLOCK) {
        return false;
    }
    compress(&mut state, bytes);
    to_hex(&state) == to
}

/// Whether `bytes`, which begin at byte `offset` of a file with the state
/// `from` there and run to its end, give the file the digest `digest`.
pub fn leads_to_digest(from: &str, offset: u64, bytes: &[u8], digest: &str) -> bool {
    let Some(state) = from_hex(from) else {
        return false;
    };
    finish(state, bytes, offset + bytes.len() as u64) == digest
}

/// The state before the first byte.
pub fn initial_state() -> String {
    to_hex(&INITIAL)
}

/// Folds whole blocks into `state`.
fn compress(state: &mut [u32; 8], blocks: &[u8]) {
    for block in blocks.chunks_exact(BLOCK as usize) {
        compress256(state, std::slice::from_ref(GenericArray::from_slice(block)));
    }
}

/// Folds in `rest`, the end of a `total`-byte input, pads it and returns
/// the digest.
fn finish(mut state: [u32; 8], rest: &[u8], total: u64) -> String {
    let whole = rest.len() - rest.len() % BLOCK as usize;
    compress(&mut state, &rest[..whole]);
    let tail = &rest[whole..];
    let mut last = [0u8; 2 * BLOCK as usize];
    last[..tail.len()].copy_from_slice(tail);
    last[tail.len()] = 0x80;
    let blocks = if tail.len() < 56 { 1 } else { 2 };
    let end = blocks * BLOCK as usize;
    last[end - 8..end].copy_from_slice(&(total * 8).to_be_bytes());
    compress(&mut state, &last[..end]);
    to_hex(&state)
}

fn to_hex(state: &[u32; 8]) -> String {
    state.iter().map(|word| format!("{word:08x}")).collect()
}

fn from_hex(text: &str) -> Option<[u32; 8]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut state = [0u32; 8];
    for (i, word) in state.iter_mut().enumerate() {
        *word = u32::from_str_radix(&text[8 * i..8 * i + 8], 16).ok()?;
    }
    Some(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[test]
    fn the_digest_is_sha256_at_every_length_around_the_padding() {
        for len in [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 4099] {
            let data = data(len);
            let offsets: Vec<u64> = (0..=len as u64 / BLOCK).map(|b| b * BLOCK).collect();
            let hashed = checkpointed(&data);
            let (digest, states) = (hashed.digest.clone(), hashed.states_at(&data, &offsets));
            assert_eq!(digest, hex::encode(Sha256::digest(&data)), "len {len}");
            assert_eq!(states[&0], initial_state());
            // Every span between kept states checks on its own, and a
            // changed byte does not.
            for pair in offsets.windows(2) {
                let span = &data[pair[0] as usize..pair[1] as usize];
                let (from, to) = (&states[&pair[0]], &states[&pair[1]]);
                assert!(leads_to_state(from, span, to));
                let mut changed = span.to_vec();
                changed[5] ^= 1;
                assert!(!leads_to_state(from, &changed, to));
            }
            let last = *offsets.last().unwrap();
            let from = &states[&last];
            assert!(leads_to_digest(from, last, &data[last as usize..], &digest));
            assert!(!leads_to_digest(
                from,
                last,
                &data[last as usize..],
                &"0".repeat(64)
            ));
        }
    }

    #[test]
    fn states_from_checkpoints_are_the_states_of_one_straight_pass() {
        let len = 3 * CHECKPOINT + 100;
        let data = data(len);
        let hashed = checkpointed(&data);
        assert_eq!(hashed.digest, hex::encode(Sha256::digest(&data)));
        let offsets: Vec<u64> = [
            0,
            BLOCK,
            CHECKPOINT as u64 - BLOCK,
            CHECKPOINT as u64,
            CHECKPOINT as u64 + BLOCK,
            3 * CHECKPOINT as u64,
            (len as u64) / BLOCK * BLOCK,
        ]
        .into();
        let states = hashed.states_at(&data, &offsets);
        for offset in offsets {
            let mut straight = INITIAL;
            compress(&mut straight, &data[..offset as usize]);
            assert_eq!(states[&offset], to_hex(&straight), "offset {offset}");
        }
        // An input of whole checkpoints has a state kept at its very end.
        let whole = &data[..2 * CHECKPOINT];
        let end = 2 * CHECKPOINT as u64;
        let at_end = checkpointed(whole).states_at(whole, &[end]);
        assert!(leads_to_digest(
            &at_end[&end],
            end,
            &[],
            &hex::encode(Sha256::digest(whole))
        ));
    }

    #[test]
    fn hashing_in_pieces_keeps_the_states_of_one_pass() {
        let len = 2 * CHECKPOINT + 777;
        let data = data(len);
        let whole = checkpointed(&data);
        assert!(whole.fits(len as u64));
        assert!(!whole.fits(len as u64 + CHECKPOINT as u64));
        for piece in [1, 63, 4096, CHECKPOINT - 1, CHECKPOINT, CHECKPOINT + 5] {
            let mut hashing = Checkpointing::new();
            for part in data.chunks(piece) {
                hashing.update(part);
            }
            assert_eq!(hashing.finish(), whole, "pieces of {piece}");
        }
        assert_eq!(Checkpointing::new().finish(), checkpointed(&[]));
    }

    #[test]
    fn states_are_kept_by_offset_in_whatever_order_asked() {
        let data = data(640);
        let hashed = checkpointed(&data);
        let states = hashed.states_at(&data, &[128, 0, 64, 64]);
        let sorted = hashed.states_at(&data, &[0, 64, 128]);
        assert_eq!(states, sorted);
        assert_eq!(states.len(), 3);
        assert!(!leads_to_state("not hex", &data[..64], &sorted[&64]));
        assert!(!leads_to_state(&sorted[&0], &data[..63], &sorted[&64]));
    }

    #[test]
    fn around_is_the_block_boundaries_outside_a_span() {
        assert_eq!(around(0, 64), (0, 64));
        assert_eq!(around(10, 70), (0, 128));
        assert_eq!(around(64, 65), (64, 128));
    }
}
