//! ImageLocality: prefer nodes that already have the pod's images, weighted by
//! image size and by how widely the image is spread (an image on every node gives
//! no reason to pick one node over another).

use crate::framework::{CycleState, Plugin, Score, MAX_NODE_SCORE};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;
use crate::snapshot::Snapshot;

pub const NAME: &str = "ImageLocality";

const MB: i64 = 1024 * 1024;
/// Below this total, images are too small to matter (upstream: 23 MB).
const MIN_THRESHOLD: i64 = 23 * MB;
/// Per container, images above this size all score the same (upstream: 1000 MB).
const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

/// `nginx` → `nginx:latest`; names with a tag or digest stay as they are.
pub fn normalized_image_name(name: &str) -> String {
    // Upstream's test: the last ':' is not after the last '/' means no tag.
    let pos = |c: char| name.rfind(c).map_or(-1, |i| i as isize);
    if pos(':') <= pos('/') {
        format!("{name}:latest")
    } else {
        name.to_string()
    }
}

pub struct ImageLocality;

impl Plugin for ImageLocality {
    fn name(&self) -> &'static str {
        NAME
    }
}

/// The pod's images, normalised once per cycle, and its container count.
#[derive(Clone)]
struct Images(Vec<String>, usize);

impl Score for ImageLocality {
    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, _nodes: &[&NodeInfo], snap: &Snapshot) -> bool {
        let spec = pod.spec();
        let containers: Vec<_> = spec.init_containers.iter().flatten().chain(&spec.containers).collect();
        // Without images on any node, every node scores 0: skip the work.
        let images: Vec<String> = containers
            .iter()
            .filter_map(|c| c.image.as_deref())
            .map(normalized_image_name)
            .filter(|i| snap.image_nodes.contains_key(i))
            .collect();
        if images.is_empty() {
            return false;
        }
        state.write(NAME, Images(images, containers.len()));
        true
    }

    fn score(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo, snap: &Snapshot) -> i64 {
        let Some(Images(images, containers)) = state.read::<Images>(NAME) else { return 0 };
        let total_nodes = snap.len().max(1) as f64;
        let mut sum = 0i64;
        for image in images {
            if let Some(size) = node.images.get(image) {
                let spread = snap.image_nodes.get(image).copied().unwrap_or(1) as f64;
                sum += (*size as f64 * spread / total_nodes) as i64;
            }
        }
        let max_threshold = MAX_CONTAINER_THRESHOLD * (*containers).max(1) as i64;
        let sum = sum.clamp(MIN_THRESHOLD, max_threshold);
        MAX_NODE_SCORE * (sum - MIN_THRESHOLD) / (max_threshold - MIN_THRESHOLD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod_info::testing::*;

    #[test]
    fn image_names_get_latest() {
        let cases = [
            ("nginx", "nginx:latest"),
            ("nginx:1.25", "nginx:1.25"),
            ("registry:5000/app", "registry:5000/app:latest"),
            ("registry:5000/app:v1", "registry:5000/app:v1"),
            ("app@sha256:abc", "app@sha256:abc"),
        ];
        for (input, want) in cases {
            assert_eq!(normalized_image_name(input), want);
        }
    }

    #[test]
    fn big_local_images_score_higher_and_spread_discounts() {
        let snap = Snapshot::from_nodes(vec![
            NodeInfo::new(node("big").image("app:v1", 500 * MB).build()),
            NodeInfo::new(node("none").build()),
            NodeInfo::new(node("small").image("app:v2", 10 * MB).build()),
        ]);
        let p = pod("p").image("app:v1").info();
        let mut s = CycleState::new();
        assert!(ImageLocality.pre_score(&mut s, &p, &snap.refs(), &snap));
        let score = |n: &str| ImageLocality.score(&s, &p, snap.get(n).unwrap(), &snap);
        // 500 MB on 1 of 3 nodes counts as 166 MB: (166-23)*100/(1000-23) = 14.
        assert_eq!((score("big"), score("none"), score("small")), (14, 0, 0));
    }
}
