//! Decoding objects with parts of them left out: a [`Rule`] names, level by level,
//! the keys to skip, and serde then skips their values unparsed (the fields keep
//! their defaults).
//!
//! Why: watchers decode every object of a kind, often thousands a second, and most
//! of an object's bytes may be of no use to them: `metadata.managedFields` (the
//! field-ownership tree, often as big as the rest of the object) for every
//! informer, or a pod's container commands, environment and projected volumes for
//! the scheduler. Dropping them after decoding still paid for parsing them into
//! maps and strings.
//!
//! The rule walks along the JSON: an object's keys are checked against the rule of
//! its level; an array takes the rule of the key it is under for each element;
//! keys the rule does not descend into are decoded in full.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{BorrowedStrDeserializer, StringDeserializer};
use serde::de::{DeserializeSeed, Deserializer, EnumAccess, Error, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::json_key::JsonKey;

/// What to decode of an object (and of each element, for an array of objects).
#[derive(Debug)]
pub struct Rule {
    /// Keys skipped unparsed.
    pub skip: &'static [&'static str],
    /// When set, only these keys and the `descend` ones are decoded.
    pub only: Option<&'static [&'static str]>,
    /// Keys whose values are decoded under their own rule.
    pub descend: &'static [(&'static str, &'static Rule)],
}

impl Rule {
    /// Decodes everything (a base for rules that only descend).
    pub const ALL: Rule = Rule { skip: &[], only: None, descend: &[] };

    fn child(&self, key: &str) -> Option<&'static Rule> {
        self.descend.iter().find(|(k, _)| *k == key).map(|(_, r)| *r)
    }

    fn skips(&self, key: &str) -> bool {
        self.skip.contains(&key) || self.only.is_some_and(|only| !only.contains(&key) && self.child(key).is_none())
    }
}

/// An object's `metadata.managedFields`: what every informer leaves out.
pub static WITHOUT_MANAGED_FIELDS: Rule = Rule { descend: &[("metadata", &METADATA)], ..Rule::ALL };

static METADATA: Rule = Rule { skip: &["managedFields"], ..Rule::ALL };
static CONTAINER: Rule = Rule { only: Some(&["name", "image", "resources", "ports", "restartPolicy"]), ..Rule::ALL };
static VOLUME: Rule = Rule { only: Some(&["name", "persistentVolumeClaim", "ephemeral"]), ..Rule::ALL };
static POD_SPEC: Rule = Rule {
    skip: &["ephemeralContainers"],
    descend: &[("containers", &CONTAINER), ("initContainers", &CONTAINER), ("volumes", &VOLUME)],
    ..Rule::ALL
};

/// A pod as the control plane's watchers (the scheduler, the controllers) read it:
/// without managedFields; of each container (init containers included) only its
/// name, image, resources, ports and restart policy; of each volume only its name
/// and claim sources (`persistentVolumeClaim`, `ephemeral`); no ephemeral
/// containers. Commands, environment, probes, mounts and the projected
/// service-account volume are most of a pod's spec, and every pod change is
/// decoded by each watcher. A watcher that needs more of a pod must not use this.
pub static CONTROL_PLANE_POD: Rule = Rule { descend: &[("metadata", &METADATA), ("spec", &POD_SPEC)], ..Rule::ALL };

/// A rule named by a type, for [`Pruned`].
pub trait PruneRule {
    fn rule() -> &'static Rule;
}

/// The control plane's pod rule as a type: [`CONTROL_PLANE_POD`].
pub struct ControlPlanePod;

impl PruneRule for ControlPlanePod {
    fn rule() -> &'static Rule {
        &CONTROL_PLANE_POD
    }
}

/// A `K` decoded under `R`'s rule. To kube's clients and watchers it is a `K`
/// (same kind, group, version and metadata), so `Api<Pruned<Pod, R>>` watches
/// pods and hands over lean ones.
pub struct Pruned<K, R>(pub K, PhantomData<fn() -> R>);

impl<K, R> Pruned<K, R> {
    pub fn new(object: K) -> Self {
        Pruned(object, PhantomData)
    }
}

impl<K: Clone, R> Clone for Pruned<K, R> {
    fn clone(&self) -> Self {
        Pruned::new(self.0.clone())
    }
}

impl<K: fmt::Debug, R> fmt::Debug for Pruned<K, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de, K: Deserialize<'de>, R: PruneRule> Deserialize<'de> for Pruned<K, R> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize(d, R::rule()).map(Pruned::new)
    }
}

impl<K: kube_core::Resource, R> kube_core::Resource for Pruned<K, R> {
    type DynamicType = K::DynamicType;
    type Scope = K::Scope;

    fn kind(dt: &K::DynamicType) -> Cow<'_, str> {
        K::kind(dt)
    }
    fn group(dt: &K::DynamicType) -> Cow<'_, str> {
        K::group(dt)
    }
    fn version(dt: &K::DynamicType) -> Cow<'_, str> {
        K::version(dt)
    }
    fn plural(dt: &K::DynamicType) -> Cow<'_, str> {
        K::plural(dt)
    }
    fn meta(&self) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        self.0.meta()
    }
    fn meta_mut(&mut self) -> &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        self.0.meta_mut()
    }
}

/// Decodes `T` from `deserializer` with what `rule` leaves out skipped.
pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    deserializer: D,
    rule: &'static Rule,
) -> Result<T, D::Error> {
    T::deserialize(Pruning { inner: deserializer, rule })
}

/// A deserializer whose maps go through [`PruningMap`] under `rule`.
struct Pruning<D> {
    inner: D,
    rule: &'static Rule,
}

macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, Self::Error> {
            self.inner.$method($($arg,)* visitor)
        })*
    };
}

macro_rules! wrap {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, Self::Error> {
            self.inner.$method($($arg,)* PruningVisitor { inner: visitor, rule: self.rule })
        })*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Pruning<D> {
    type Error = D::Error;

    wrap! {
        deserialize_any(); deserialize_map(); deserialize_option(); deserialize_seq();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_newtype_struct(name: &'static str);
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
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier(); deserialize_ignored_any();
    }
}

/// Hands maps and arrays to the wrapped visitor pruned; anything else as is.
struct PruningVisitor<V> {
    inner: V,
    rule: &'static Rule,
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty);)*) => {
        $(fn $method<E: Error>(self, v: $ty) -> Result<Self::Value, E> {
            self.inner.$method(v)
        })*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for PruningVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_map(PruningMap { inner: map, rule: self.rule, child: None })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_seq(PruningSeq { inner: seq, rule: self.rule })
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.inner.visit_some(Pruning { inner: d, rule: self.rule })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.inner.visit_newtype_struct(Pruning { inner: d, rule: self.rule })
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_enum(data)
    }

    fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_unit()
    }

    forward_visit! {
        visit_bool(bool); visit_i64(i64); visit_i128(i128); visit_u64(u64); visit_u128(u128);
        visit_f64(f64); visit_str(&str); visit_borrowed_str(&'de str); visit_string(String);
        visit_bytes(&[u8]); visit_borrowed_bytes(&'de [u8]); visit_byte_buf(Vec<u8>);
    }
}

/// An object's keys under `rule`: skipped ones are not shown to the visitor.
struct PruningMap<A> {
    inner: A,
    rule: &'static Rule,
    /// The rule for the value of the key just read, if it has its own.
    child: Option<&'static Rule>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for PruningMap<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        loop {
            let Some(JsonKey(key)) = self.inner.next_key::<JsonKey<'de>>()? else { return Ok(None) };
            if self.rule.skips(&key) {
                self.inner.next_value::<IgnoredAny>()?;
                continue;
            }
            self.child = self.rule.child(&key);
            return match key {
                Cow::Borrowed(s) => seed.deserialize(BorrowedStrDeserializer::new(s)),
                Cow::Owned(s) => seed.deserialize(StringDeserializer::new(s)),
            }
            .map(Some);
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        match self.child.take() {
            Some(rule) => self.inner.next_value_seed(PruningSeed { inner: seed, rule }),
            None => self.inner.next_value_seed(seed),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

/// An array's elements, each under the array's rule.
struct PruningSeq<A> {
    inner: A,
    rule: &'static Rule,
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for PruningSeq<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, A::Error> {
        self.inner.next_element_seed(PruningSeed { inner: seed, rule: self.rule })
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

/// Decodes a value through [`Pruning`] under `rule`.
struct PruningSeed<S> {
    inner: S,
    rule: &'static Rule,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for PruningSeed<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        self.inner.deserialize(Pruning { inner: deserializer, rule: self.rule })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// Decodes `json` under `rule` into a `Value` (which keeps whatever it is given).
    fn pruned(json: &Value, rule: &'static Rule) -> Value {
        let text = json.to_string();
        let mut de = serde_json::Deserializer::from_str(&text);
        let borrowed: Value = deserialize(&mut de, rule).unwrap();
        // From a reader too (keys are then not borrowed).
        let mut de = serde_json::Deserializer::from_reader(text.as_bytes());
        let owned: Value = deserialize(&mut de, rule).unwrap();
        assert_eq!(borrowed, owned);
        borrowed
    }

    static ITEM: Rule = Rule { only: Some(&["name", "size"]), ..Rule::ALL };
    static SPEC: Rule = Rule { skip: &["secret"], descend: &[("items", &ITEM)], ..Rule::ALL };
    static OBJECT: Rule = Rule {
        descend: &[("metadata", &Rule { skip: &["managedFields"], ..Rule::ALL }), ("spec", &SPEC)],
        ..Rule::ALL
    };

    #[test]
    fn skips_by_level_and_keeps_the_rest() {
        let input = json!({
            "metadata": {"name": "a", "managedFields": [{"f:x": {}}], "labels": {"managedFields": "kept"}},
            "spec": {"secret": {"deep": [1, 2]}, "other": {"secret": "kept: not under spec"},
                "items": [{"name": "i", "size": 1, "env": [{"name": "E"}]}, {"name": "j", "extra": null}]},
            "status": {"managedFields": "kept: not under metadata"}
        });
        let want = json!({
            "metadata": {"name": "a", "labels": {"managedFields": "kept"}},
            "spec": {"other": {"secret": "kept: not under spec"}, "items": [{"name": "i", "size": 1}, {"name": "j"}]},
            "status": {"managedFields": "kept: not under metadata"}
        });
        assert_eq!(pruned(&input, &OBJECT), want);
        assert_eq!(pruned(&input, &Rule::ALL), input);
    }

    #[test]
    fn escaped_keys_are_matched_after_unescaping() {
        let input = r#"{"metadata": {"m\u0061nagedFields": [1], "name": "a"}}"#;
        let mut de = serde_json::Deserializer::from_str(input);
        let out: Value = deserialize(&mut de, &OBJECT).unwrap();
        assert_eq!(out, json!({"metadata": {"name": "a"}}));
    }

    #[test]
    fn malformed_input_is_still_an_error() {
        for bad in [
            r#"{"metadata": {"managedFields": [}}"#,
            r#"{"spec": {"secret": {"a": }}}"#,
            r#"{"spec": {"items": [{"env": [}]}}"#,
            r#"{"metadata": "#,
        ] {
            let mut de = serde_json::Deserializer::from_str(bad);
            assert!(deserialize::<Value, _>(&mut de, &OBJECT).is_err(), "{bad}");
        }
    }
}
