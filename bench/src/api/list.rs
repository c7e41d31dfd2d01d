//! Case 2, `list`: with many ConfigMaps stored, how long a client waits for all of
//! them three ways:
//! - `consistent`: `GET /api/v1/configmaps`, a quorum read served from the store;
//! - `cache`: `?resourceVersion=0`, served from the watch cache;
//! - `paginated`: `?limit=500`, following `continue` tokens to the end, as informers
//!   and `kubectl get` page through big lists.
//!
//! A full list is timed until its last byte arrived and parsed afterwards (to check
//! the count); a paginated list has to parse each page for its `continue` token, so
//! that parse is part of its time, as it is for every real client.

use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::client::Conn;
use super::cpu::CpuUse;
use super::creates::{create_loop, Until};
use super::Env;
use crate::report::{emit, round, target, Better};

/// The upstream SLO: LIST calls p99 ≤ 30 s.
const SLO_SECONDS: f64 = 30.0;
const PAGE: usize = 500;

#[derive(Deserialize)]
struct ListHead {
    metadata: ListMeta,
    items: Vec<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct ListMeta {
    #[serde(default, rename = "continue")]
    continue_token: Option<String>,
}

/// One timed list: items, bytes received, seconds.
struct Listed {
    objects: usize,
    bytes: usize,
    elapsed: Duration,
}

/// Runs the case; `stored` ConfigMaps are there already (from the creates case), so
/// only the rest up to `objects` is created.
pub async fn run(env: &Env, objects: u64, stored: u64, clients: usize, repeats: usize) -> anyhow::Result<()> {
    let conns = env.client.connect_many(clients.clamp(1, 64)).await?;
    env.server.reset_peak();
    let missing = objects.saturating_sub(stored);
    if missing > 0 {
        eprintln!("api: list, creating {missing} more ConfigMaps ({stored} stored)");
        let cpu = env.cpu()?;
        let load = create_loop(&conns, clients, "default", "list", Until::Count(missing)).await?;
        let cpu = env.cpu()?.since(&cpu);
        let memory = env.server.memory()?;
        emit(json!({
            "bench": "api", "case": "list_fill", "creates": load.created, "rejected": load.rejected,
            "seconds": round(load.elapsed.as_secs_f64()), "creates_per_sec": round(load.per_sec()),
            "cpu": cpu.json(), "creates_per_server_cpu_second": round(load.created as f64 / cpu.server_cpu_seconds()),
            "server_rss_mib": super::server::mib(memory.rss_kib), "server_peak_rss_mib": super::server::mib(memory.peak_kib),
        }));
    }
    let mut conn = conns[0].clone();
    warm_cache(&mut conn).await?;
    let kinds = [("consistent", "/api/v1/configmaps"), ("cache", "/api/v1/configmaps?resourceVersion=0")];
    for (kind, path) in kinds {
        eprintln!("api: list, {kind} ({repeats}×)");
        env.server.reset_peak();
        let cpu = env.cpu()?;
        let mut runs = Vec::new();
        for _ in 0..repeats {
            runs.push(full_list(&mut conn, path).await?);
        }
        report(env, kind, runs, env.cpu()?.since(&cpu))?;
    }
    eprintln!("api: list, paginated by {PAGE} ({repeats}×)");
    env.server.reset_peak();
    let cpu = env.cpu()?;
    let mut runs = Vec::new();
    for _ in 0..repeats {
        runs.push(paginated(&mut conn).await?);
    }
    report(env, "paginated", runs, env.cpu()?.since(&cpu))
}

/// The server starts a resource's watch cache on first use and answers 503 while
/// its initial list runs (for up to 2 s); with many objects that takes longer. So
/// before timing cache lists, ask it for an empty namespace until it answers, and
/// report how long that took (what the first informer of a big resource would see).
async fn warm_cache(conn: &mut Conn) -> anyhow::Result<()> {
    const PATH: &str = "/api/v1/namespaces/bench-empty/configmaps?resourceVersion=0";
    let start = Instant::now();
    let mut unavailable = 0;
    loop {
        let (status, body) = conn.call(Method::GET, PATH, None).await?;
        match status {
            StatusCode::OK => break,
            StatusCode::SERVICE_UNAVAILABLE if start.elapsed() < Duration::from_secs(120) => unavailable += 1,
            _ => anyhow::bail!("GET {PATH}: {status}: {}", String::from_utf8_lossy(&body)),
        }
    }
    emit(json!({
        "bench": "api", "case": "list_cache_start", "seconds": round(start.elapsed().as_secs_f64()),
        "answers_503": unavailable,
    }));
    Ok(())
}

async fn full_list(conn: &mut Conn, path: &str) -> anyhow::Result<Listed> {
    let start = Instant::now();
    let resp = conn.send(Method::GET, path, None).await?;
    anyhow::ensure!(resp.status() == StatusCode::OK, "GET {path}: {}", resp.status());
    let body = resp.into_body().collect().await?;
    let elapsed = start.elapsed();
    let head: ListHead = serde_json::from_slice(&body)?;
    Ok(Listed { objects: head.items.len(), bytes: body.len(), elapsed })
}

async fn paginated(conn: &mut Conn) -> anyhow::Result<Listed> {
    let start = Instant::now();
    let mut listed = Listed { objects: 0, bytes: 0, elapsed: Duration::ZERO };
    let mut token: Option<String> = None;
    loop {
        let path = match &token {
            None => format!("/api/v1/configmaps?limit={PAGE}"),
            Some(t) => format!("/api/v1/configmaps?limit={PAGE}&continue={}", urlencode(t)),
        };
        let body = conn.expect(StatusCode::OK, Method::GET, &path, None).await?;
        let head: ListHead = serde_json::from_slice(&body)?;
        listed.objects += head.items.len();
        listed.bytes += body.len();
        match head.metadata.continue_token.filter(|t| !t.is_empty()) {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    listed.elapsed = start.elapsed();
    Ok(listed)
}

/// Continue tokens are base64 (with `+`, `/`, `=`), which a query must escape.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn report(env: &Env, kind: &str, mut runs: Vec<Listed>, cpu: CpuUse) -> anyhow::Result<()> {
    runs.sort_by_key(|r| r.elapsed);
    let median = &runs[runs.len() / 2];
    let slowest = &runs[runs.len() - 1];
    let seconds = median.elapsed.as_secs_f64();
    let case = format!("list_{kind}");
    let met = target("api", &case, "max_seconds", slowest.elapsed.as_secs_f64(), SLO_SECONDS, Better::Lower);
    let memory = env.server.memory()?;
    emit(json!({
        "bench": "api", "case": case, "runs": runs.len(), "objects": median.objects, "bytes": median.bytes,
        "seconds_p50": round(seconds), "seconds_max": round(slowest.elapsed.as_secs_f64()),
        "objects_per_sec": round(median.objects as f64 / seconds),
        "mib_per_sec": round(median.bytes as f64 / (1 << 20) as f64 / seconds),
        "target": {"seconds": SLO_SECONDS, "from": "upstream SLO, LIST p99 <= 30 s"}, "met": met,
        "cpu": cpu.json(), "server_cpu_seconds_per_list": round(cpu.server_cpu_seconds() / runs.len() as f64),
        "server_rss_mib": super::server::mib(memory.rss_kib), "server_peak_rss_mib": super::server::mib(memory.peak_kib),
    }));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_are_escaped() {
        assert_eq!(urlencode("eyJ2Ijo+/x=="), "eyJ2Ijo%2B%2Fx%3D%3D");
    }
}
