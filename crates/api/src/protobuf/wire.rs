//! A minimal protobuf wire-format reader: varints, fixed-width values and
//! length-delimited slices over a borrowed buffer. Every read is bounds-checked and
//! fails with a [`WireError`] instead of panicking, since the bytes come from clients.

use super::WireError;

/// The wire types Kubernetes messages use. Groups (3, 4) never appear in them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WireType {
    Varint,
    Fixed64,
    Len,
    Fixed32,
}

impl WireType {
    fn from_bits(bits: u8) -> Result<WireType, WireError> {
        match bits {
            0 => Ok(WireType::Varint),
            1 => Ok(WireType::Fixed64),
            2 => Ok(WireType::Len),
            5 => Ok(WireType::Fixed32),
            other => Err(WireError::UnsupportedWireType(other)),
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            WireType::Varint => "varint",
            WireType::Fixed64 => "64-bit",
            WireType::Len => "length-delimited",
            WireType::Fixed32 => "32-bit",
        }
    }
}

pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn varint(&mut self) -> Result<u64, WireError> {
        let mut value = 0u64;
        for (i, &byte) in self.buf.iter().enumerate().take(10) {
            // The 10th byte may only carry the top bit of a 64-bit value.
            if i == 9 && byte > 1 {
                return Err(WireError::VarintOverflow);
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                self.buf = &self.buf[i + 1..];
                return Ok(value);
            }
        }
        Err(if self.buf.len() >= 10 { WireError::VarintOverflow } else { WireError::TruncatedVarint })
    }

    /// A field key: the field number and its wire type.
    pub fn key(&mut self) -> Result<(u32, WireType), WireError> {
        let key = self.varint()?;
        let tag = key >> 3;
        if tag == 0 || tag > u64::from(u32::MAX >> 3) {
            return Err(WireError::InvalidFieldNumber(tag));
        }
        Ok((tag as u32, WireType::from_bits((key & 7) as u8)?))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if n > self.buf.len() {
            return Err(WireError::Truncated { wanted: n as u64, remaining: self.buf.len() });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// A length-delimited payload (string, bytes, embedded message, packed values).
    pub fn len_delimited(&mut self) -> Result<&'a [u8], WireError> {
        let len = self.varint()?;
        match usize::try_from(len) {
            Ok(n) if n <= self.buf.len() => self.take(n),
            _ => Err(WireError::Truncated { wanted: len, remaining: self.buf.len() }),
        }
    }

    pub fn fixed64(&mut self) -> Result<u64, WireError> {
        let bytes = self.take(8)?;
        Ok(u64::from_le_bytes(bytes.try_into().expect("take(8) returns 8 bytes")))
    }

    pub fn fixed32(&mut self) -> Result<u32, WireError> {
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes(bytes.try_into().expect("take(4) returns 4 bytes")))
    }

    /// Skips a value of an unknown field.
    pub fn skip(&mut self, wire: WireType) -> Result<(), WireError> {
        match wire {
            WireType::Varint => self.varint().map(drop),
            WireType::Fixed64 => self.fixed64().map(drop),
            WireType::Len => self.len_delimited().map(drop),
            WireType::Fixed32 => self.fixed32().map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_decode_up_to_64_bits() {
        assert_eq!(Reader::new(&[0x96, 0x01]).varint(), Ok(150));
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(Reader::new(&max).varint(), Ok(u64::MAX));
    }

    #[test]
    fn malformed_varints_are_errors() {
        assert_eq!(Reader::new(&[0x80, 0x80]).varint(), Err(WireError::TruncatedVarint));
        assert_eq!(Reader::new(&[]).varint(), Err(WireError::TruncatedVarint));
        assert_eq!(Reader::new(&[0xff; 11]).varint(), Err(WireError::VarintOverflow));
        let too_big = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(Reader::new(&too_big).varint(), Err(WireError::VarintOverflow));
    }

    #[test]
    fn lengths_past_the_buffer_are_errors() {
        assert_eq!(Reader::new(&[0x05, b'a']).len_delimited(), Err(WireError::Truncated { wanted: 5, remaining: 1 }));
        let huge = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
        assert!(matches!(Reader::new(&huge).len_delimited(), Err(WireError::Truncated { .. })));
        assert_eq!(Reader::new(&[1, 2, 3]).fixed64(), Err(WireError::Truncated { wanted: 8, remaining: 3 }));
    }

    #[test]
    fn keys_reject_groups_and_field_zero() {
        assert_eq!(Reader::new(&[0x0a]).key(), Ok((1, WireType::Len)));
        assert_eq!(Reader::new(&[0x0b]).key(), Err(WireError::UnsupportedWireType(3)));
        assert_eq!(Reader::new(&[0x02]).key(), Err(WireError::InvalidFieldNumber(0)));
    }
}
