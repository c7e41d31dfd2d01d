//! Image garbage collection by disk thresholds, as upstream's image manager:
//! when the image filesystem is `high_percent` (85) full or more, unused images
//! are removed, least recently used first, until usage is back under
//! `low_percent` (80). An image is never removed while any container (running
//! or not) uses it, when the runtime pins it (the sandbox image), or before
//! `min_age` has passed since the kubelet first saw it.
//!
//! Pure core: [`ImageRecords::observe`] keeps first-seen and last-used times,
//! [`plan`] picks what to remove. [`ImageGc::run`] is the shell: every
//! [`GC_PERIOD`] it lists images and containers, reads the disk, and calls CRI
//! RemoveImage.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::cri;
use crate::runtime::Runtime;

/// How often the collector looks (upstream's ImageGCPeriod).
pub const GC_PERIOD: Duration = Duration::from_secs(300);

/// The thresholds (upstream's kubelet configuration defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// At or above this disk usage (percent), collect.
    pub high_percent: u8,
    /// Collect down to this usage (percent).
    pub low_percent: u8,
    /// An image younger than this (since first seen) is never removed.
    pub min_age: Duration,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy { high_percent: 85, low_percent: 80, min_age: Duration::from_secs(120) }
    }
}

/// The image filesystem's usage as `df` computes it, in bytes: `used` is
/// what is allocated, `available` what unprivileged writers may still use.
/// Blocks reserved for root count as neither: on a filesystem with a large
/// reserve, "capacity minus available" would call it far fuller than it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disk {
    pub used: u64,
    pub available: u64,
}

impl Disk {
    /// From statvfs counts: used = blocks − bfree, available = bavail.
    pub fn from_statvfs(blocks: u64, bfree: u64, bavail: u64, frsize: u64) -> Disk {
        Disk { used: blocks.saturating_sub(bfree).saturating_mul(frsize), available: bavail.saturating_mul(frsize) }
    }

    /// What `df` reports: used / (used + available), in percent rounded up.
    pub fn usage_percent(&self) -> u64 {
        let total = self.used as u128 + self.available as u128;
        if total == 0 {
            return 0;
        }
        (self.used as u128 * 100).div_ceil(total) as u64
    }
}

/// What the collector remembers of one image (unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub first_seen: i64,
    pub last_used: i64,
}

/// Per image id, since the agent started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageRecords(pub BTreeMap<String, Record>);

impl ImageRecords {
    /// Notes the images present at `now` (new ones are first seen now) and
    /// which are in use (their last use is now); forgets images that are gone.
    pub fn observe(&mut self, images: &[cri::Image], in_use: &BTreeSet<String>, now: i64) {
        let present: BTreeSet<&str> = images.iter().map(|i| i.id.as_str()).collect();
        self.0.retain(|id, _| present.contains(id.as_str()));
        for img in images {
            let r = self.0.entry(img.id.clone()).or_insert(Record { first_seen: now, last_used: 0 });
            if in_use.contains(&img.id) {
                r.last_used = now;
            }
        }
    }
}

/// What to remove: image ids in removal order, and the bytes they free.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    pub remove: Vec<String>,
    pub bytes: u64,
    /// What usage above the low threshold asked for; 0 when under the high one.
    pub to_free: u64,
    /// Bytes that should have been freed and no image could free (everything
    /// left is in use, pinned or too young); 0 when the target was met or not
    /// needed.
    pub short_by: u64,
}

/// Picks the images to remove so that usage falls to `low_percent`, when it is
/// at or above `high_percent`: unused, unpinned images at least `min_age` old,
/// the least recently used (then the oldest seen) first.
pub fn plan(
    policy: &Policy,
    disk: Disk,
    images: &[cri::Image],
    in_use: &BTreeSet<String>,
    records: &ImageRecords,
    now: i64,
) -> Decision {
    let total = disk.used as u128 + disk.available as u128;
    if total == 0 || disk.usage_percent() < policy.high_percent as u64 {
        return Decision::default();
    }
    // Free what brings usage down to the low threshold.
    let target_used = total * policy.low_percent.min(100) as u128 / 100;
    let to_free = (disk.used as u128).saturating_sub(target_used) as u64;
    let min_age = policy.min_age.as_secs() as i64;
    let mut candidates: Vec<(&cri::Image, Record)> = images
        .iter()
        .filter(|i| !i.pinned && !in_use.contains(&i.id))
        .filter_map(|i| records.0.get(&i.id).map(|r| (i, *r)))
        .filter(|(_, r)| now - r.first_seen >= min_age)
        .collect();
    candidates
        .sort_by(|(a, ra), (b, rb)| (ra.last_used, ra.first_seen, &a.id).cmp(&(rb.last_used, rb.first_seen, &b.id)));
    let mut d = Decision { to_free, ..Decision::default() };
    for (img, _) in candidates {
        if d.bytes >= to_free {
            break;
        }
        d.remove.push(img.id.clone());
        d.bytes += img.size;
    }
    d.short_by = to_free.saturating_sub(d.bytes);
    d
}

/// The ids of the images containers use (any state: an exited container may
/// be restarted from its image).
pub fn images_in_use(containers: &[cri::Container], images: &[cri::Image]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for c in containers {
        if !c.image_ref.is_empty() {
            out.insert(c.image_ref.clone());
        }
        // Runtimes that report a name rather than an id: map it to the id.
        let name = c.image.as_ref().map(|s| s.image.as_str()).unwrap_or("");
        if let Some(i) = images.iter().find(|i| i.id == name || i.repo_tags.iter().any(|t| t == name)) {
            out.insert(i.id.clone());
        }
    }
    out
}

/// The shell: collects on the runtime's images every [`GC_PERIOD`].
pub struct ImageGc {
    pub runtime: Arc<dyn Runtime>,
    /// A directory on the image filesystem (containerd's root).
    pub image_fs: PathBuf,
    pub policy: Policy,
    /// Images never removed whatever the runtime says (the sandbox image).
    pub keep: Vec<String>,
}

impl ImageGc {
    /// Runs until `shutdown`; errors are logged and retried next period.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut records = ImageRecords::default();
        let mut tick = tokio::time::interval(GC_PERIOD);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.once(&mut records).await {
                tracing::warn!("image garbage collection: {e}");
            }
        }
    }

    async fn once(&self, records: &mut ImageRecords) -> Result<(), crate::runtime::Error> {
        let mut images = self.runtime.list_images().await?;
        for img in images.iter_mut() {
            if img.repo_tags.iter().any(|t| self.keep.contains(t)) {
                img.pinned = true;
            }
        }
        let containers = self.runtime.list_containers(None).await?;
        let in_use = images_in_use(&containers, &images);
        let now = chrono::Utc::now().timestamp();
        records.observe(&images, &in_use, now);
        let Some(disk) = disk_of(&self.image_fs) else { return Ok(()) };
        let d = plan(&self.policy, disk, &images, &in_use, records, now);
        for id in &d.remove {
            tracing::info!("removing unused image {id} (image filesystem above {}%)", self.policy.high_percent);
            self.runtime.remove_image(id).await?;
        }
        if d.short_by > 0 {
            // Upstream's wording.
            tracing::warn!(
                "Failed to garbage collect required amount of images. Attempted to free {} bytes, but only found {} bytes eligible to free.",
                d.to_free,
                d.bytes
            );
        }
        Ok(())
    }
}

/// statvfs of `dir`, as `df` reads it.
fn disk_of(dir: &std::path::Path) -> Option<Disk> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs with a valid NUL-terminated path and a zeroed out-struct.
    let st = unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(path.as_ptr(), &mut st) != 0 {
            return None;
        }
        st
    };
    #[allow(clippy::unnecessary_cast)] // the field types differ between targets
    Some(Disk::from_statvfs(st.f_blocks as u64, st.f_bfree as u64, st.f_bavail as u64, st.f_frsize as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    fn img(id: &str, size_gib: u64, pinned: bool) -> cri::Image {
        cri::Image {
            id: id.into(),
            repo_tags: vec![format!("{id}:1")],
            size: size_gib * GIB,
            pinned,
            ..Default::default()
        }
    }

    fn records(v: &[(&str, i64, i64)]) -> ImageRecords {
        ImageRecords(
            v.iter()
                .map(|(id, first, last)| (id.to_string(), Record { first_seen: *first, last_used: *last }))
                .collect(),
        )
    }

    #[test]
    fn plans_by_threshold_usage_age_and_pinning() {
        let policy = Policy::default();
        let images = vec![
            img("a", 3, false),
            img("b", 2, false),
            img("c", 4, false),
            img("pause", 1, true),
            img("young", 5, false),
        ];
        // first seen / last used (unix seconds); now = 10,000.
        let recs = records(&[("a", 0, 500), ("b", 0, 100), ("c", 0, 0), ("pause", 0, 0), ("young", 9_950, 0)]);
        let in_use: BTreeSet<String> = ["a".to_string()].into();
        struct Case {
            name: &'static str,
            available: u64,
            remove: &'static [&'static str],
            short_by: u64,
        }
        // 100 GiB disk (no reserve): 80% target → 20 GiB available.
        let cases = [
            Case { name: "under the high threshold: nothing", available: 16, remove: &[], short_by: 0 },
            Case { name: "exactly at 85%: collect to 80% (5 GiB)", available: 15, remove: &["c", "b"], short_by: 0 },
            Case { name: "needs 6 GiB: c and b free exactly that", available: 14, remove: &["c", "b"], short_by: 0 },
            Case {
                name: "needs more than there is: all that may go",
                available: 5,
                remove: &["c", "b"],
                short_by: 9 * GIB,
            },
        ];
        for case in cases {
            let disk = Disk { used: (100 - case.available) * GIB, available: case.available * GIB };
            let d = plan(&policy, disk, &images, &in_use, &recs, 10_000);
            assert_eq!(d.remove, case.remove.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "{}", case.name);
            assert_eq!(d.short_by, case.short_by, "{}", case.name);
        }
    }

    #[test]
    fn usage_is_dfs_not_counting_the_root_reserve() {
        // statvfs of a machine's root where df said 67%: 66,053,021 blocks of
        // 4 KiB, 50,224,428 free, 7,992,879 available (a large root reserve).
        // "capacity minus available" made that 88% and asked to free 19.5 GB.
        let disk = Disk::from_statvfs(66_053_021, 50_224_428, 7_992_879, 4096);
        assert_eq!(disk.usage_percent(), 67);
        let images = vec![img("old", 4, false)];
        let recs = records(&[("old", 0, 0)]);
        let d = plan(&Policy::default(), disk, &images, &BTreeSet::new(), &recs, 1_000);
        assert_eq!(d, Decision::default(), "under the high threshold: nothing to do, nothing to warn about");
        // The same disk at 90% (df): free down to 80% of used + available.
        let disk = Disk { used: 90 * GIB, available: 10 * GIB };
        let d = plan(&Policy::default(), disk, &images, &BTreeSet::new(), &recs, 1_000);
        assert_eq!((d.to_free, d.bytes, d.short_by), (10 * GIB, 4 * GIB, 6 * GIB));
    }

    #[test]
    fn removal_stops_once_enough_is_freed() {
        let images = vec![img("old", 4, false), img("older", 4, false), img("newer", 4, false)];
        let recs = records(&[("old", 0, 200), ("older", 0, 100), ("newer", 0, 300)]);
        let disk = Disk { used: 86 * GIB, available: 14 * GIB }; // 86% used, 6 GiB to free
        let d = plan(&Policy::default(), disk, &images, &BTreeSet::new(), &recs, 1_000);
        assert_eq!(d.remove, vec!["older".to_string(), "old".to_string()]);
        assert_eq!(d.bytes, 8 * GIB);
        assert_eq!(d.short_by, 0);
    }

    #[test]
    fn ties_in_last_use_go_to_the_first_seen() {
        let images = vec![img("x", 10, false), img("y", 10, false)];
        let recs = records(&[("x", 50, 0), ("y", 10, 0)]);
        let disk = Disk { used: 90 * GIB, available: 10 * GIB };
        let d = plan(&Policy::default(), disk, &images, &BTreeSet::new(), &recs, 1_000);
        assert_eq!(d.remove, vec!["y".to_string()]);
    }

    #[test]
    fn unknown_capacity_or_unrecorded_images_are_left_alone() {
        let images = vec![img("x", 10, false)];
        let d = plan(
            &Policy::default(),
            Disk { used: 0, available: 0 },
            &images,
            &BTreeSet::new(),
            &records(&[("x", 0, 0)]),
            1_000,
        );
        assert!(d.remove.is_empty());
        let full = Disk { used: 100 * GIB, available: 0 };
        let d = plan(&Policy::default(), full, &images, &BTreeSet::new(), &ImageRecords::default(), 1_000);
        assert!(d.remove.is_empty(), "an image the collector has not seen yet has no age");
    }

    #[test]
    fn observe_tracks_first_seen_last_use_and_forgets_removed_images() {
        let mut r = ImageRecords::default();
        let images = vec![img("a", 1, false), img("b", 1, false)];
        r.observe(&images, &["a".to_string()].into(), 100);
        assert_eq!(r.0["a"], Record { first_seen: 100, last_used: 100 });
        assert_eq!(r.0["b"], Record { first_seen: 100, last_used: 0 });
        r.observe(&images, &["b".to_string()].into(), 200);
        assert_eq!(r.0["a"], Record { first_seen: 100, last_used: 100 });
        assert_eq!(r.0["b"], Record { first_seen: 100, last_used: 200 });
        r.observe(&images[..1], &BTreeSet::new(), 300);
        assert!(!r.0.contains_key("b"));
    }

    #[test]
    fn images_in_use_by_id_or_by_name() {
        let images = vec![img("sha256:aa", 1, false), img("sha256:bb", 1, false)];
        let by_id = cri::Container { image_ref: "sha256:aa".into(), ..Default::default() };
        let by_name = cri::Container { image: Some(crate::runtime::image_spec("sha256:bb:1")), ..Default::default() };
        let used = images_in_use(&[by_id, by_name], &images);
        assert_eq!(used, ["sha256:aa".to_string(), "sha256:bb".to_string()].into());
    }

    #[tokio::test]
    async fn the_shell_removes_through_cri_and_never_what_containers_use() {
        use crate::runtime::{FakeConfig, FakeRuntime, ImageService, RuntimeService};
        let rt = Arc::new(FakeRuntime::new(FakeConfig {
            images: vec!["busybox:1.36".into(), "old:1".into(), "skiff.local/pause:3.10".into()],
            ..Default::default()
        }));
        let sb_cfg = cri::PodSandboxConfig::default();
        let sb = rt.run_pod_sandbox(sb_cfg.clone()).await.unwrap();
        let cfg =
            cri::ContainerConfig { image: Some(crate::runtime::image_spec("busybox:1.36")), ..Default::default() };
        rt.create_container(&sb, cfg, sb_cfg).await.unwrap();
        // A zero minimum age and thresholds of 0% collect whatever may go.
        let gc = ImageGc {
            runtime: rt.clone(),
            image_fs: std::env::temp_dir(),
            policy: Policy { high_percent: 0, low_percent: 0, min_age: Duration::ZERO },
            keep: vec!["skiff.local/pause:3.10".into()],
        };
        let mut records = ImageRecords::default();
        gc.once(&mut records).await.unwrap();
        let left: Vec<String> = rt.list_images().await.unwrap().into_iter().flat_map(|i| i.repo_tags).collect();
        assert_eq!(left, vec!["docker.io/library/busybox:1.36".to_string(), "skiff.local/pause:3.10".to_string()]);
    }
}
