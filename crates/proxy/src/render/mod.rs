//! The plan rendered for each kernel interface. Pure: text in, text out.

pub mod iptables;
pub mod iptables_partial;
pub mod ipvs;
pub mod nft;
pub mod nft_partial;

use sha2::{Digest, Sha256};

/// The fwmark bit that asks KUBE-POSTROUTING to masquerade (upstream's default, bit 14).
pub const MASQ_MARK: u32 = 0x4000;
/// The fwmark bit for packets to drop (external traffic with no local endpoint).
pub const DROP_MARK: u32 = 0x8000;

/// RFC 4648 base32 of the SHA-256 of `parts`, first `len` characters — upstream's
/// chain-name hash, so our chain names for a service port match kube-proxy's.
pub(crate) fn hash(parts: &[&str], len: usize) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
    }
    let digest = h.finalize();
    let mut out = String::with_capacity(len);
    let (mut buf, mut bits) = (0u32, 0u32);
    for byte in digest.iter() {
        buf = (buf << 8) | u32::from(*byte);
        bits += 8;
        while bits >= 5 && out.len() < len {
            bits -= 5;
            out.push(ALPHABET[((buf >> bits) & 31) as usize] as char);
        }
        if out.len() >= len {
            break;
        }
    }
    out
}

/// Upstream's per-endpoint probability: the i-th of n endpoints gets 1/(n-i), so
/// each is chosen with equal probability overall.
pub(crate) fn probability(i: usize, n: usize) -> String {
    format!("{:.10}", 1.0 / (n - i) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_rfc4648_base32_of_sha256() {
        // sha256("") = e3b0c442...; its base32 starts with 4OYMIQUY7QOBJGX3.
        assert_eq!(hash(&[""], 16), "4OYMIQUY7QOBJGX3");
        assert_eq!(hash(&["a", "b"], 16), hash(&["ab"], 16));
    }

    #[test]
    fn probabilities_are_equal_overall() {
        assert_eq!(probability(0, 3), "0.3333333333");
        assert_eq!(probability(1, 3), "0.5000000000");
    }
}
