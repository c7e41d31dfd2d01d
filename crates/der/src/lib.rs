//! Just enough DER to take a certificate apart and put it back together (the API
//! server's certificate code and the CSR signer replace fields of what rcgen builds
//! and sign again), and PEM blocks. Single-byte tags and definite lengths only,
//! which is all X.509 uses.

pub const SEQUENCE: u8 = 0x30;
pub const BIT_STRING: u8 = 0x03;
pub const OCTET_STRING: u8 = 0x04;
pub const INTEGER: u8 = 0x02;
pub const SET: u8 = 0x31;
pub const OID: u8 = 0x06;
pub const UTF8_STRING: u8 = 0x0c;

/// The input is not the DER it should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed DER")]
pub struct Malformed;

/// A TLV with a definite length.
pub fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
    out
}

/// The value of the TLV that must fill `input` exactly and have tag `tag`.
pub fn contents(input: &[u8], tag: u8) -> Result<&[u8], Malformed> {
    let (header, len) = header(input)?;
    if input[0] != tag || header.checked_add(len) != Some(input.len()) {
        return Err(Malformed);
    }
    Ok(&input[header..])
}

/// The TLVs one after the other in `input` (the value of a SEQUENCE), each whole.
pub fn elements(mut input: &[u8]) -> Result<Vec<&[u8]>, Malformed> {
    let mut out = Vec::new();
    while !input.is_empty() {
        let (first, rest) = split_first(input)?;
        out.push(first);
        input = rest;
    }
    Ok(out)
}

/// Splits the first TLV off `input`: `(that whole TLV, the rest)`.
pub fn split_first(input: &[u8]) -> Result<(&[u8], &[u8]), Malformed> {
    let (header, len) = header(input)?;
    let end = header.checked_add(len).filter(|end| *end <= input.len()).ok_or(Malformed)?;
    Ok(input.split_at(end))
}

/// PEM text for one DER block (64-column base64, as OpenSSL and Go's `pem.Encode`
/// write it).
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        // base64 is ASCII, so every chunk is UTF-8.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// `(header length, value length)` of the TLV at the start of `input`.
fn header(input: &[u8]) -> Result<(usize, usize), Malformed> {
    let first = *input.get(1).ok_or(Malformed)?;
    if first < 0x80 {
        return Ok((2, first as usize));
    }
    let count = (first & 0x7f) as usize;
    if count == 0 || count > std::mem::size_of::<usize>() {
        return Err(Malformed);
    }
    let bytes = input.get(2..2 + count).ok_or(Malformed)?;
    let len = bytes.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
    Ok((2 + count, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_split_into_their_elements_and_back() {
        let long = vec![7u8; 300];
        let body = [tlv(INTEGER, &[1]), tlv(OCTET_STRING, &long), tlv(SEQUENCE, &[])].concat();
        let seq = tlv(SEQUENCE, &body);
        let parts = elements(contents(&seq, SEQUENCE).unwrap()).unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[1].len(), 304, "a two-byte length: 0x82 0x01 0x2c");
        assert_eq!(tlv(SEQUENCE, &parts.concat()), seq);
    }

    #[test]
    fn truncated_or_mistagged_input_is_malformed_not_a_panic() {
        let seq = tlv(SEQUENCE, &[tlv(INTEGER, &[1, 2, 3]), tlv(0x06, &[42])].concat());
        for cut in 0..seq.len() {
            assert!(contents(&seq[..cut], SEQUENCE).is_err(), "cut at {cut}");
        }
        assert_eq!(contents(&seq, OCTET_STRING), Err(Malformed));
        assert_eq!(elements(&[0x30, 0x85, 1]), Err(Malformed));
    }
}
