//! Objects in the store: keys, encoding, resourceVersions, optimistic concurrency,
//! and lists with `limit`/`continue`. Each object is stored as its JSON without
//! `resourceVersion`; the store's `mod_revision` becomes its `resourceVersion` on
//! the way out, exactly as upstream does with etcd.

pub mod cache;
mod continue_token;
pub mod raw;

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::Value;
use skiff_api::registry::{Resource, Storage};
use skiff_api::selector::{FieldSelector, LabelSelector};
use skiff_api::{meta, ApiError, ApiResult};
use skiff_store::{RangeEnd, RangeRequest, Revision, Store};

pub use continue_token::ContinueToken;

/// The store key prefix of a resource: `/registry/{key}/`.
pub fn resource_prefix(res: &Resource) -> String {
    match res.storage {
        Storage::Stored { key } => format!("/registry/{key}/"),
        Storage::Virtual => format!("/registry/virtual/{}/", res.plural),
    }
}

/// The prefix for one namespace, or the whole resource when `namespace` is "".
pub fn list_prefix(res: &Resource, namespace: &str) -> String {
    let prefix = resource_prefix(res);
    if res.namespaced && !namespace.is_empty() {
        format!("{prefix}{namespace}/")
    } else {
        prefix
    }
}

pub fn object_key(res: &Resource, namespace: &str, name: &str) -> String {
    if res.namespaced {
        format!("{}{namespace}/{name}", resource_prefix(res))
    } else {
        format!("{}{name}", resource_prefix(res))
    }
}

/// Decodes a stored object and stamps its resourceVersion.
pub fn decode(bytes: &[u8], revision: Revision) -> ApiResult<Value> {
    let mut obj: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::Internal(format!("stored object is not valid JSON: {e}")))?;
    meta::set_meta(&mut obj, "resourceVersion", revision.to_string());
    Ok(obj)
}

/// Encodes an object for storage, without its resourceVersion (which it removes
/// from `obj` rather than copying the object to leave it out).
pub fn encode(obj: &mut Value) -> ApiResult<Vec<u8>> {
    meta::remove_meta(obj, "resourceVersion");
    serde_json::to_vec(&*obj).map_err(|e| ApiError::Internal(format!("cannot encode object: {e}")))
}

/// What was stored, as a reader would decode it: `obj` (just encoded) with the
/// resourceVersion of the write, without decoding the bytes again.
fn stored(mut obj: Value, revision: Revision) -> Value {
    meta::set_meta(&mut obj, "resourceVersion", revision.to_string());
    obj
}

/// An object a create left in the store: its value (with its resourceVersion) and the
/// JSON a reader of it gets, so that the answer is not serialised a second time.
pub struct Written {
    pub obj: Value,
    /// The stored bytes with the revision spliced in; `None` when nothing was stored
    /// (dry run).
    pub json: Option<Vec<u8>>,
}

/// Parses a resourceVersion given by a client.
pub fn parse_resource_version(rv: &str) -> ApiResult<Revision> {
    rv.parse::<Revision>()
        .ok()
        .filter(|r| *r >= 0)
        .ok_or_else(|| ApiError::BadRequest(format!("invalid resource version: {rv:?}")))
}

/// Maps a store failure to the API error a client should see.
pub fn store_error(e: skiff_store::Error) -> ApiError {
    use skiff_store::Error as E;
    match e {
        E::Compacted { requested, compacted } => {
            ApiError::Expired(format!("too old resource version: {requested} ({compacted})"))
        }
        E::FutureRevision { requested, current } => {
            ApiError::Timeout(format!("Too large resource version: {requested}, current: {current}"))
        }
        E::ValueTooLarge { size, limit } => {
            ApiError::RequestEntityTooLarge(format!("object of {size} bytes exceeds the limit of {limit} bytes"))
        }
        E::Closed => ApiError::ServiceUnavailable("the storage is shutting down".into()),
        other => ApiError::Internal(other.to_string()),
    }
}

/// A page of a list.
#[derive(Debug)]
pub struct ListPage<T = Value> {
    pub items: Vec<T>,
    pub resource_version: Revision,
    /// Set when more items remain.
    pub continue_token: Option<String>,
}

/// An object as the resource's served version shows it (identity for kinds with
/// one version; HPA and Event are stored in one version and served in two).
/// Borrows the object when no conversion is needed (every kind but two).
pub fn present<'a>(res: &Resource, obj: &'a Value) -> Cow<'a, Value> {
    match skiff_api::conversion::storage_version(res.group, res.kind) {
        Some(_) => Cow::Owned(skiff_api::conversion::convert(obj, res.kind, &res.api_version())),
        None => Cow::Borrowed(obj),
    }
}

/// An object received at `res`'s endpoint, in its storage version.
pub fn to_storage(res: &Resource, obj: Value) -> Value {
    match skiff_api::conversion::storage_version(res.group, res.kind) {
        Some(version) => skiff_api::conversion::convert(&obj, res.kind, version),
        None => obj,
    }
}

/// What a list keeps.
pub struct Filter<'a> {
    pub resource: &'a Resource,
    pub labels: &'a LabelSelector,
    pub fields: &'a FieldSelector,
}

impl Filter<'_> {
    /// Matches a stored object, seen in the resource's served version (field
    /// selectors name the served version's fields).
    pub fn matches(&self, obj: &Value) -> bool {
        if !self.labels.matches_object(obj) {
            return false;
        }
        if self.fields.is_empty() {
            return true;
        }
        let res = self.resource;
        match skiff_api::conversion::storage_version(res.group, res.kind) {
            Some(_) => self.fields.matches(res.group, res.kind, &present(res, obj)),
            None => self.fields.matches(res.group, res.kind, obj),
        }
    }
}

/// Access to a resource's objects in the store.
#[derive(Clone)]
pub struct Objects {
    store: Arc<dyn Store>,
}

impl Objects {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Objects { store }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The latest state of one object.
    pub async fn get(&self, res: &Resource, namespace: &str, name: &str) -> ApiResult<Value> {
        let key = object_key(res, namespace, name);
        let (kv, _) = self.store.get(key.as_bytes(), None).await.map_err(store_error)?;
        match kv {
            Some(kv) => decode(&kv.value, kv.mod_revision),
            None => Err(ApiError::not_found(res.group, res.plural, name)),
        }
    }

    /// Stores a new object; returns it with its resourceVersion.
    pub async fn create(&self, res: &Resource, mut obj: Value) -> ApiResult<Written> {
        let key = object_key(res, meta::namespace(&obj), meta::name(&obj));
        let bytes = encode(&mut obj)?;
        // The answer's bytes are the stored ones plus the revision: splicing costs a
        // copy, serialising the object again cost ~3% of a create.
        let json_of = |revision| raw::with_resource_version(&bytes, revision);
        match self.store.create(key.as_bytes(), bytes.clone()).await {
            Ok(kv) => Ok(Written { json: json_of(kv.mod_revision), obj: stored(obj, kv.mod_revision) }),
            Err(skiff_store::Error::AlreadyExists { .. }) => {
                Err(ApiError::already_exists(res.group, res.plural, meta::name(&obj)))
            }
            Err(e) => Err(store_error(e)),
        }
    }

    /// Replaces an object if it is still at `expected` (its current
    /// resourceVersion); a mismatch is the upstream 409 Conflict.
    pub async fn update(&self, res: &Resource, mut obj: Value, expected: Revision) -> ApiResult<Value> {
        let key = object_key(res, meta::namespace(&obj), meta::name(&obj));
        let bytes = encode(&mut obj)?;
        let revision = self.update_stored(res, &key, meta::name(&obj), bytes, expected).await?;
        Ok(stored(obj, revision))
    }

    /// [`Objects::update`] of an object already encoded as the store keeps it (no
    /// resourceVersion) under `key`; returns the write's revision.
    pub async fn update_stored(
        &self,
        res: &Resource,
        key: &str,
        name: &str,
        bytes: Vec<u8>,
        expected: Revision,
    ) -> ApiResult<Revision> {
        match self.store.update(key.as_bytes(), bytes, Some(expected)).await {
            Ok(kv) => Ok(kv.mod_revision),
            Err(skiff_store::Error::Conflict { current: 0, .. }) => {
                Err(ApiError::not_found(res.group, res.plural, name))
            }
            Err(skiff_store::Error::Conflict { .. }) => Err(ApiError::stale(res.group, res.plural, name)),
            Err(e) => Err(store_error(e)),
        }
    }

    /// Removes an object if it is still at `expected`; returns its last state with
    /// the deleting revision as resourceVersion.
    pub async fn delete(&self, res: &Resource, namespace: &str, name: &str, expected: Revision) -> ApiResult<Value> {
        let key = object_key(res, namespace, name);
        match self.store.delete(key.as_bytes(), Some(expected)).await {
            Ok((prev, revision)) => decode(&prev.value, revision),
            Err(skiff_store::Error::Conflict { current: 0, .. }) => {
                Err(ApiError::not_found(res.group, res.plural, name))
            }
            Err(skiff_store::Error::Conflict { .. }) => Err(ApiError::stale(res.group, res.plural, name)),
            Err(e) => Err(store_error(e)),
        }
    }

    /// A consistent list from the store: at the latest revision, or at the revision
    /// of the continue token. Reads pages until `limit` matching items are found.
    pub async fn list(
        &self,
        filter: &Filter<'_>,
        namespace: &str,
        limit: Option<usize>,
        continue_token: Option<&str>,
        at: Option<Revision>,
    ) -> ApiResult<ListPage> {
        self.list_with(filter, namespace, limit, continue_token, at, |kv| {
            let obj = decode(&kv.value, kv.mod_revision)?;
            Ok(filter.matches(&obj).then_some(obj))
        })
        .await
    }

    /// [`Objects::list`] with each item as its JSON bytes (storage version, with
    /// resourceVersion), never decoded when there is no selector to check.
    pub async fn list_json(
        &self,
        filter: &Filter<'_>,
        namespace: &str,
        limit: Option<usize>,
        continue_token: Option<&str>,
        at: Option<Revision>,
    ) -> ApiResult<ListPage<bytes::Bytes>> {
        let everything = filter.labels.is_empty() && filter.fields.is_empty();
        self.list_with(filter, namespace, limit, continue_token, at, |kv| {
            if everything {
                let json = raw::with_resource_version(&kv.value, kv.mod_revision)
                    .ok_or_else(|| ApiError::Internal("stored object is not valid JSON".into()))?;
                return Ok(Some(json.into()));
            }
            let obj = cache::CachedObject::from_stored(filter.resource, &kv.value, kv.mod_revision)?;
            Ok(obj.matches(filter).then_some(obj.json))
        })
        .await
    }

    /// The list loop: `item` turns a stored key into a list item, or `None` when the
    /// filter drops it.
    async fn list_with<T>(
        &self,
        filter: &Filter<'_>,
        namespace: &str,
        limit: Option<usize>,
        continue_token: Option<&str>,
        at: Option<Revision>,
        item: impl Fn(&skiff_store::KeyValue) -> ApiResult<Option<T>>,
    ) -> ApiResult<ListPage<T>> {
        let prefix = list_prefix(filter.resource, namespace);
        let (mut start, mut revision) = match continue_token {
            Some(token) => {
                let token = ContinueToken::decode(token)?;
                (format!("{prefix}{}", token.start), Some(token.revision))
            }
            None => (prefix.clone(), at),
        };
        let end = skiff_store::prefix_end(prefix.as_bytes()).unwrap_or_default();
        let mut items = Vec::new();
        loop {
            let want = limit.map(|l| l - items.len());
            // Over-read a little when filtering, so a selective filter needs fewer rounds.
            let page = want.map(|w| if filter.labels.is_empty() && filter.fields.is_empty() { w } else { w.max(256) });
            let resp = self
                .store
                .range(RangeRequest {
                    start: start.as_bytes().to_vec(),
                    end: RangeEnd::Exclusive(end.clone()),
                    revision,
                    limit: page,
                })
                .await
                .map_err(|e| match e {
                    skiff_store::Error::Compacted { .. } if continue_token.is_some() => ApiError::Expired(
                        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.".into(),
                    ),
                    other => store_error(other),
                })?;
            revision = Some(resp.revision);
            let mut last_key = None;
            for kv in &resp.kvs {
                last_key = Some(kv.key.clone());
                if let Some(obj) = item(kv)? {
                    items.push(obj);
                    if limit.is_some_and(|l| items.len() == l) {
                        break;
                    }
                }
            }
            let full = limit.is_some_and(|l| items.len() >= l);
            let examined_all = last_key.as_ref() == resp.kvs.last().map(|kv| &kv.key);
            let more = resp.more || !examined_all;
            if !more {
                return Ok(ListPage { items, resource_version: resp.revision, continue_token: None });
            }
            let mut next = last_key.unwrap_or_else(|| start.as_bytes().to_vec());
            next.push(0);
            let next = String::from_utf8(next).map_err(|_| ApiError::Internal("non-UTF-8 key".into()))?;
            if full {
                let token = ContinueToken { revision: resp.revision, start: next[prefix.len()..].to_string() };
                return Ok(ListPage { items, resource_version: resp.revision, continue_token: Some(token.encode()) });
            }
            start = next;
        }
    }
}
