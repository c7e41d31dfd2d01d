//! Decoding watched objects without their `metadata.managedFields`.
//!
//! Informers drop managedFields (upstream's controller manager does too,
//! kubernetes#118455), but dropping them after decoding still paid for parsing
//! them: the ownership tree is often as large as the rest of the object, and its
//! `fieldsV1` parses into nested maps. [`Lean`] decodes any object type through a
//! deserializer that skips that one field unparsed (like the scheduler's
//! `WatchedPod`, but for every type): half of the controllers' decoding of each
//! watched ConfigMap during a burst of creates.
//!
//! Only the object's top level and its `metadata` are looked at; everything below
//! is handed to the type's own decoding untouched.

use std::borrow::Cow;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::de::value::{BorrowedStrDeserializer, StringDeserializer};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use skiff_api::json_key::JsonKey;

/// `K`, decoded with `metadata.managedFields` skipped (left `None`).
#[derive(Clone, Debug)]
pub struct Lean<K>(pub K);

impl<'de, K: Deserialize<'de>> Deserialize<'de> for Lean<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        K::deserialize(Skipping { inner: deserializer, level: Level::Object }).map(Lean)
    }
}

impl<K: Resource> Resource for Lean<K> {
    type DynamicType = K::DynamicType;
    type Scope = K::Scope;

    fn kind(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::kind(dt)
    }
    fn group(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::group(dt)
    }
    fn version(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::version(dt)
    }
    fn plural(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        self.0.meta()
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        self.0.meta_mut()
    }
}

/// Where in the object a map is: the object itself, or its `metadata`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Object,
    Metadata,
}

/// A deserializer whose maps, at `level`, go through [`SkippingMap`].
struct Skipping<D> {
    inner: D,
    level: Level,
}

macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, Self::Error> {
            self.inner.$method($($arg,)* visitor)
        })*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Skipping<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_any(SkippingVisitor { inner: visitor, level: self.level })
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_map(SkippingVisitor { inner: visitor, level: self.level })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.inner.deserialize_struct(name, fields, SkippingVisitor { inner: visitor, level: self.level })
    }

    /// A `metadata` read as an `Option` (as generated types' visitors do): its `Some`
    /// goes on at this level.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_option(SkippingVisitor { inner: visitor, level: self.level })
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }

    forward! {
        deserialize_bool(); deserialize_i8(); deserialize_i16(); deserialize_i32(); deserialize_i64();
        deserialize_i128(); deserialize_u8(); deserialize_u16(); deserialize_u32(); deserialize_u64();
        deserialize_u128(); deserialize_f32(); deserialize_f64(); deserialize_char(); deserialize_str();
        deserialize_string(); deserialize_bytes(); deserialize_byte_buf();
        deserialize_unit(); deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str); deserialize_seq(); deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier(); deserialize_ignored_any();
    }
}

/// Hands maps to the wrapped visitor through [`SkippingMap`]; anything else as is.
struct SkippingVisitor<V> {
    inner: V,
    level: Level,
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty);)*) => {
        $(fn $method<E: serde::de::Error>(self, v: $ty) -> Result<Self::Value, E> {
            self.inner.$method(v)
        })*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for SkippingVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_map(SkippingMap { inner: map, level: self.level, descend: false })
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_seq(seq)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.inner.visit_some(Skipping { inner: d, level: self.level })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.inner.visit_newtype_struct(d)
    }

    fn visit_enum<A: serde::de::EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_enum(data)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_unit()
    }

    forward_visit! {
        visit_bool(bool); visit_i64(i64); visit_i128(i128); visit_u64(u64); visit_u128(u128);
        visit_f64(f64); visit_str(&str); visit_borrowed_str(&'de str); visit_string(String);
        visit_bytes(&[u8]); visit_borrowed_bytes(&'de [u8]); visit_byte_buf(Vec<u8>);
    }
}

/// A map that hides `managedFields` at the metadata level and descends into
/// `metadata` at the object level.
struct SkippingMap<A> {
    inner: A,
    level: Level,
    /// The key just read was the object's `metadata`.
    descend: bool,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for SkippingMap<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        loop {
            let Some(JsonKey(key)) = self.inner.next_key::<JsonKey<'de>>()? else { return Ok(None) };
            let name: &str = &key;
            if self.level == Level::Metadata && name == "managedFields" {
                self.inner.next_value::<IgnoredAny>()?;
                continue;
            }
            self.descend = self.level == Level::Object && name == "metadata";
            return match key {
                Cow::Borrowed(s) => seed.deserialize(BorrowedStrDeserializer::new(s)),
                Cow::Owned(s) => seed.deserialize(StringDeserializer::new(s)),
            }
            .map(Some);
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        if std::mem::take(&mut self.descend) {
            return self.inner.next_value_seed(SkippingSeed { inner: seed, level: Level::Metadata });
        }
        self.inner.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

/// Decodes a value through [`Skipping`] at `level`.
struct SkippingSeed<S> {
    inner: S,
    level: Level,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for SkippingSeed<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        self.inner.deserialize(Skipping { inner: deserializer, level: self.level })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ConfigMap, Pod};
    use kube::api::{DynamicObject, ObjectList};
    use kube::core::WatchEvent;
    use serde_json::json;

    fn object() -> serde_json::Value {
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {
                "name": "c", "namespace": "d", "labels": {"managedFields": "a label, kept"},
                "managedFields": [{"manager": "m", "operation": "Update", "fieldsType": "FieldsV1",
                                   "fieldsV1": {"f:data": {"f:k": {}}}}],
                "ownerReferences": [{"apiVersion": "v1", "kind": "K", "name": "o", "uid": "u"}]
            },
            "data": {"k": "v", "managedFields": "a data key, kept"}
        })
    }

    /// What decoding fully and then dropping managedFields gives.
    fn expected<K: serde::de::DeserializeOwned + Resource>(value: &serde_json::Value) -> K {
        let mut full: K = serde_json::from_value(value.clone()).unwrap();
        assert!(full.meta().managed_fields.is_some(), "the input has managedFields");
        full.meta_mut().managed_fields = None;
        full
    }

    #[test]
    fn objects_decode_as_in_full_but_for_managed_fields() {
        let text = object().to_string();
        let lean: Lean<ConfigMap> = serde_json::from_str(&text).unwrap();
        assert_eq!(lean.0, expected::<ConfigMap>(&object()));
        // From a reader too (keys are then not borrowed).
        let lean: Lean<ConfigMap> = serde_json::from_reader(text.as_bytes()).unwrap();
        assert_eq!(lean.0, expected::<ConfigMap>(&object()));
        // A dynamic object (flattened fields) and a type whose metadata comes last.
        let lean: Lean<DynamicObject> = serde_json::from_str(&text).unwrap();
        let full = expected::<DynamicObject>(&object());
        assert_eq!((lean.0.metadata, lean.0.data), (full.metadata, full.data));
        let pod = json!({"spec": {"containers": []}, "metadata": object()["metadata"].clone()});
        let lean: Lean<Pod> = serde_json::from_str(&pod.to_string()).unwrap();
        assert_eq!(lean.0, expected::<Pod>(&pod));
    }

    #[test]
    fn lists_and_watch_events_decode_lean_items() {
        let list = json!({"apiVersion": "v1", "kind": "ConfigMapList", "metadata": {"resourceVersion": "5"},
                          "items": [object(), object()]});
        let lean: ObjectList<Lean<ConfigMap>> = serde_json::from_str(&list.to_string()).unwrap();
        assert_eq!(lean.items.len(), 2);
        assert!(lean.items.iter().all(|i| i.0 == expected::<ConfigMap>(&object())));
        let event = json!({"type": "MODIFIED", "object": object()}).to_string();
        match serde_json::from_str::<WatchEvent<Lean<ConfigMap>>>(&event).unwrap() {
            WatchEvent::Modified(o) => assert_eq!(o.0, expected::<ConfigMap>(&object())),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_input_is_still_an_error() {
        for bad in
            [r#"{"metadata": {"managedFields": [}}"#, r#"{"metadata": {"name": 5}}"#, r#"{"metadata": "#, r#"[1, 2]"#]
        {
            assert!(serde_json::from_str::<Lean<ConfigMap>>(bad).is_err(), "{bad}");
        }
    }
}
