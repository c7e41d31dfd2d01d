//! `watch`: a chunked stream of `{"type": ..., "object": ...}` lines served from the
//! watch cache, with selectors, resume from a resourceVersion, bookmarks,
//! `sendInitialEvents` and `timeoutSeconds`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use serde_json::{json, Value};
use skiff_api::selector::{FieldRequirement, FieldSelector};
use skiff_api::{ApiError, Resource};
use tokio::sync::broadcast::error::RecvError;

use super::Call;
use crate::request::{ListOptions, Output};
use crate::response::HttpResponse;
use crate::storage::cache::{CacheEvent, EventType, Fanout, WatchStart};
use crate::storage::{self, Filter};

/// How many events in a row a watcher takes before it checks its deadline and the
/// server's shutdown (see `events`).
const CHECK_EVERY: u32 = 64;

/// How often a watcher that asked for bookmarks gets one.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(10);

pub async fn watch(call: &Call<'_>) -> Result<HttpResponse, ApiError> {
    let mut opts = ListOptions::from_query(call.query)?;
    let res = call.resource;
    if !call.req.name.is_empty() {
        opts.field_selector.requirements.push(FieldRequirement::Equals("metadata.name".into(), call.req.name.clone()));
    }
    opts.field_selector.check_supported(res.group, res.kind).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let send_initial_events = opts.send_initial_events == Some(true);
    if opts.send_initial_events.is_some() {
        if opts.resource_version_match.as_deref() != Some("NotOlderThan") {
            return Err(ApiError::invalid(
                "",
                "ListOptions",
                "",
                vec![skiff_api::Cause::forbidden(
                    "sendInitialEvents",
                    "sendInitialEvents is forbidden for watch unless resourceVersionMatch is set to NotOlderThan",
                )],
            ));
        }
        if send_initial_events && !opts.allow_watch_bookmarks {
            return Err(ApiError::invalid(
                "",
                "ListOptions",
                "",
                vec![skiff_api::Cause::forbidden(
                    "allowWatchBookmarks",
                    "allowWatchBookmarks must be set to true when sendInitialEvents is true",
                )],
            ));
        }
    }
    let cache = call.ctx.cache(res);
    cache.ready().await?;
    let rv = opts.resource_version.as_deref().map(storage::parse_resource_version).transpose()?;
    let start = match rv {
        Some(n) if n > 0 => {
            if n > cache.revision() {
                cache.wait_for(n).await?;
            }
            if send_initial_events {
                WatchStart::Snapshot
            } else {
                WatchStart::After(n)
            }
        }
        // Unset or "0": the current state as ADDED events, then changes.
        _ => WatchStart::Snapshot,
    };
    let prefix = storage::list_prefix(res, &call.req.namespace);
    let stream = match cache.subscribe(start, &prefix) {
        Ok(sub) => events(
            res,
            Watcher {
                cache: cache.clone(),
                filter: Owned { labels: opts.label_selector.clone(), fields: opts.field_selector.clone() },
                prefix,
                output: call.output,
                table_query: call.query.clone(),
                bookmarks: opts.allow_watch_bookmarks,
                initial_end_bookmark: send_initial_events,
                timeout: Duration::from_secs(opts.timeout_seconds.unwrap_or_else(default_timeout)),
                // Only checked now and then (see `events`): the server's shutdown
                // reaches a waiting watcher through its cache's channel.
                shutdown: call.ctx.shutdown.clone(),
            },
            sub,
        ),
        // Upstream answers 200 and reports an expired start as an ERROR event.
        Err(e @ ApiError::Expired(_)) => {
            let line = line("ERROR", &e.status());
            Box::pin(futures::stream::once(async move { Ok::<_, std::convert::Infallible>(Frame::data(line)) }))
                as std::pin::Pin<Box<dyn futures::Stream<Item = _> + Send>>
        }
        Err(e) => return Err(e),
    };
    let mut resp = Response::new(StreamBody::new(stream).boxed_unsync());
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
    Ok(resp)
}

/// Upstream picks a random timeout between the minimum request timeout (30 min)
/// and twice that, so watchers do not all reconnect at once.
fn default_timeout() -> u64 {
    1800 + (uuid::Uuid::new_v4().as_u128() % 1800) as u64
}

struct Owned {
    labels: skiff_api::selector::LabelSelector,
    fields: FieldSelector,
}

struct Watcher {
    cache: Arc<crate::storage::cache::Cacher>,
    filter: Owned,
    prefix: String,
    output: Output,
    table_query: crate::request::Query,
    bookmarks: bool,
    initial_end_bookmark: bool,
    timeout: Duration,
    shutdown: tokio_util::sync::CancellationToken,
}

impl Watcher {
    fn filter<'a>(&'a self, res: &'a Resource) -> Filter<'a> {
        Filter { resource: res, labels: &self.filter.labels, fields: &self.filter.fields }
    }

    /// How this watcher sees an event, if at all. An object that starts or stops
    /// matching the selectors is ADDED or DELETED.
    fn classify(&self, res: &Resource, e: &CacheEvent) -> Option<EventType> {
        if !e.key.starts_with(&self.prefix) {
            return None;
        }
        let filter = self.filter(res);
        let now = e.kind != EventType::Deleted && e.object.matches(&filter);
        let before = e.prev.as_ref().is_some_and(|p| p.matches(&filter));
        match e.kind {
            EventType::Added if now => Some(EventType::Added),
            EventType::Modified if now && before => Some(EventType::Modified),
            EventType::Modified if now => Some(EventType::Added),
            EventType::Modified if before => Some(EventType::Deleted),
            EventType::Deleted if before || e.object.matches(&filter) => Some(EventType::Deleted),
            _ => None,
        }
    }

    fn render(&self, res: &Resource, kind: EventType, e: &CacheEvent, first: &mut bool) -> Bytes {
        let converted = skiff_api::conversion::storage_version(res.group, res.kind).is_some();
        if !converted && !matches!(self.output, Output::Table | Output::Metadata) {
            // The stored bytes as they are, and the same line for every watcher of
            // this event that sees it as `kind`.
            return e.json_line(kind, || raw_line(kind.as_str(), &e.object.json));
        }
        let obj = match e.object.decode() {
            Ok(obj) => obj,
            Err(err) => return line("ERROR", &err.status()),
        };
        let obj = storage::present(res, &obj);
        let object = match self.output {
            Output::Table => {
                let t = crate::table::table_for_watch(res, &obj, &self.table_query, *first);
                *first = false;
                t
            }
            Output::Metadata => crate::table::partial_metadata(&obj),
            _ => return line(kind.as_str(), &obj),
        };
        line(kind.as_str(), &object)
    }
}

/// One watch event as a line of JSON, written without copying the object.
fn line(kind: &str, object: &Value) -> Bytes {
    raw_line(kind, &serde_json::to_vec(object).unwrap_or_else(|_| b"null".to_vec()))
}

/// One watch event as a line of JSON around an object already encoded.
fn raw_line(kind: &str, object: &[u8]) -> Bytes {
    let mut bytes = Vec::with_capacity(object.len() + 32);
    // Event types are plain upper-case words: no escaping needed.
    bytes.extend_from_slice(b"{\"type\":\"");
    bytes.extend_from_slice(kind.as_bytes());
    bytes.extend_from_slice(b"\",\"object\":");
    bytes.extend_from_slice(object);
    bytes.extend_from_slice(b"}\n");
    Bytes::from(bytes)
}

fn bookmark(res: &Resource, revision: i64, initial_end: bool) -> Bytes {
    let mut metadata = json!({"resourceVersion": revision.to_string()});
    if initial_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    line("BOOKMARK", &json!({"kind": res.kind, "apiVersion": res.api_version(), "metadata": metadata}))
}

type FrameStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<Frame<Bytes>, std::convert::Infallible>> + Send>>;

fn events(res: &'static Resource, w: Watcher, mut sub: crate::storage::cache::Subscription) -> FrameStream {
    Box::pin(async_stream::stream! {
        let mut first = true;
        let mut last = sub.revision;
        for e in std::mem::take(&mut sub.initial) {
            if let Some(kind) = w.classify(res, &e) {
                yield Ok(Frame::data(w.render(res, kind, &e, &mut first)));
            }
            last = last.max(e.revision);
        }
        if w.initial_end_bookmark {
            yield Ok(Frame::data(bookmark(res, sub.revision, true)));
        }
        let deadline = tokio::time::sleep(w.timeout);
        tokio::pin!(deadline);
        // The server's shutdown ends a waiting watcher through its cache: the
        // cacher sends `Fanout::Reset` when the shutdown token fires (after
        // which every new subscriber finds the token cancelled here). Polling the
        // token whenever the watcher waited, once per delivery in a burst to
        // many watchers, took its lock every time (~5 % of a delivery).
        let mut ticker = tokio::time::interval(BOOKMARK_INTERVAL);
        ticker.tick().await;
        if w.shutdown.is_cancelled() {
            // Subscribed after the cache told its watchers to end.
            return;
        }
        let mut unchecked = 0u32;
        loop {
            // Events first (`biased`): a watcher woken by an event takes it without
            // polling the other branches, whose futures stay registered from the last
            // time the stream waited. A watcher that never waits checks its
            // deadline and the shutdown every `CHECK_EVERY` events instead.
            tokio::select! {
                biased;
                received = sub.live.recv() => match received {
                    Ok(Fanout::Event(e)) => {
                        unchecked += 1;
                        if unchecked >= CHECK_EVERY {
                            unchecked = 0;
                            if deadline.is_elapsed() || w.shutdown.is_cancelled() {
                                break;
                            }
                        }
                        if e.revision <= last && e.revision <= sub.revision {
                            continue;
                        }
                        last = last.max(e.revision);
                        if let Some(kind) = w.classify(res, &e) {
                            yield Ok(Frame::data(w.render(res, kind, &e, &mut first)));
                        }
                    }
                    Ok(Fanout::Reset) | Err(RecvError::Closed) => break,
                    // Too slow to keep up: end the watch, as upstream's cacher ends a
                    // watcher whose buffer is full. The client resumes from the last
                    // resourceVersion it saw, which the cache's history (larger than
                    // the fan-out buffer) still serves: no relist.
                    Err(RecvError::Lagged(_)) => break,
                },
                _ = &mut deadline => break,
                _ = ticker.tick(), if w.bookmarks => {
                    let revision = w.cache.quiet_revision(&sub.live).unwrap_or(last).max(last);
                    yield Ok(Frame::data(bookmark(res, revision, false)));
                }
            }
        }
    })
}
