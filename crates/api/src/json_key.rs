//! An object key read while decoding JSON: borrowed from the input when it has no
//! escapes, owned otherwise. For deserializers that look at keys before deciding
//! what to do with the value (skip it, project it, hand it on).

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, Visitor};

pub struct JsonKey<'de>(pub Cow<'de, str>);

impl<'de> Deserialize<'de> for JsonKey<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<JsonKey<'de>, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = JsonKey<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<JsonKey<'de>, E> {
                Ok(JsonKey(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<JsonKey<'de>, E> {
                Ok(JsonKey(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<JsonKey<'de>, E> {
                Ok(JsonKey(Cow::Owned(s)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_keys_are_borrowed_and_escaped_ones_owned() {
        let JsonKey(plain) = serde_json::from_str(r#""name""#).unwrap();
        assert!(matches!(plain, Cow::Borrowed("name")));
        let JsonKey(escaped) = serde_json::from_str(r#""n\u0061me""#).unwrap();
        assert!(matches!(escaped, Cow::Owned(ref s) if s == "name"));
    }
}
