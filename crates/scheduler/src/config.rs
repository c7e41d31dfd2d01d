//! Configuration in upstream's `KubeSchedulerConfiguration` format
//! (`kubescheduler.config.k8s.io/v1`): profiles by scheduler name, plugins
//! enabled/disabled per extension point or for all (`multiPoint`), score weights,
//! and the arguments of NodeResourcesFit, NodeResourcesBalancedAllocation and
//! InterPodAffinity. Fields skiff does not use are accepted and ignored.

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;

use crate::framework::{Profile, ScorePlugin};
use crate::plugins::node_resources_fit::{ResourceWeight, Strategy};
use crate::plugins::{self, Built, PluginArgs, DEFAULT_PLUGINS, DEFAULT_PREEMPTION};
use crate::queue::QueueConfig;

/// The scheduler name pods get when they name none.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not YAML/JSON of the expected shape.
    #[error("invalid scheduler configuration: {0}")]
    Parse(#[source] serde_yaml::Error),
    #[error("unsupported apiVersion/kind {0:?} (want kubescheduler.config.k8s.io/v1 KubeSchedulerConfiguration)")]
    Kind(String),
    #[error("unknown plugin {0:?}")]
    UnknownPlugin(String),
    #[error("plugin {plugin:?} has no {point} extension point")]
    NotAt { plugin: String, point: &'static str },
    #[error("two profiles use the scheduler name {0:?}")]
    DuplicateProfile(String),
    #[error("invalid args for plugin {plugin:?}: {message}")]
    Args { plugin: String, message: String },
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileConfig {
    api_version: Option<String>,
    kind: Option<String>,
    percentage_of_nodes_to_score: Option<u32>,
    pod_initial_backoff_seconds: Option<u64>,
    pod_max_backoff_seconds: Option<u64>,
    #[serde(default)]
    profiles: Vec<FileProfile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileProfile {
    scheduler_name: Option<String>,
    percentage_of_nodes_to_score: Option<u32>,
    #[serde(default)]
    plugins: FilePlugins,
    #[serde(default)]
    plugin_config: Vec<FilePluginConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FilePlugins {
    multi_point: Option<PluginSet>,
    pre_filter: Option<PluginSet>,
    filter: Option<PluginSet>,
    score: Option<PluginSet>,
    reserve: Option<PluginSet>,
    post_filter: Option<PluginSet>,
}

#[derive(Debug, Default, Deserialize)]
struct PluginSet {
    #[serde(default)]
    enabled: Vec<PluginRef>,
    #[serde(default)]
    disabled: Vec<PluginRef>,
}

#[derive(Debug, Deserialize)]
struct PluginRef {
    name: String,
    weight: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct FilePluginConfig {
    name: String,
    #[serde(default)]
    args: serde_json::Value,
}

/// Everything the scheduler is configured with.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    pub profiles: Vec<Profile>,
    pub queue: QueueConfig,
}

impl Default for SchedulerConfig {
    /// One profile, `default-scheduler`, with upstream's default plugins.
    fn default() -> Self {
        SchedulerConfig::parse("{}").expect("the default configuration is valid")
    }
}

/// Applies one extension point's enabled/disabled lists to `base` (upstream's
/// merge: disabled defaults drop out, enabled defaults keep their place with the
/// new weight, other enabled plugins are appended).
fn merge(base: Vec<(String, i64)>, set: Option<&PluginSet>) -> Vec<(String, i64)> {
    let Some(set) = set else { return base };
    let all_disabled = set.disabled.iter().any(|d| d.name == "*");
    let mut out: Vec<(String, i64)> =
        base.into_iter().filter(|(n, _)| !all_disabled && !set.disabled.iter().any(|d| &d.name == n)).collect();
    for e in &set.enabled {
        let weight = e.weight.filter(|w| *w > 0);
        match out.iter_mut().find(|(n, _)| n == &e.name) {
            Some(slot) => slot.1 = weight.unwrap_or(slot.1),
            None => out.push((e.name.clone(), weight.unwrap_or(0))),
        }
    }
    out
}

fn resources_arg(plugin: &str, v: &serde_json::Value) -> Result<Option<Vec<ResourceWeight>>, ConfigError> {
    let Some(list) = v.get("resources") else { return Ok(None) };
    let list = list
        .as_array()
        .ok_or_else(|| ConfigError::Args { plugin: plugin.into(), message: "resources must be a list".into() })?;
    list.iter()
        .map(|r| {
            let name = r.get("name").and_then(|n| n.as_str()).filter(|n| !n.is_empty());
            let name = name.ok_or_else(|| ConfigError::Args {
                plugin: plugin.into(),
                message: "a resource needs a name".into(),
            })?;
            let weight = r.get("weight").and_then(|w| w.as_i64()).filter(|w| *w > 0).unwrap_or(1);
            Ok(ResourceWeight::new(name, weight))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn plugin_args(configs: &[FilePluginConfig]) -> Result<PluginArgs, ConfigError> {
    let mut args = PluginArgs::default();
    for c in configs {
        match c.name.as_str() {
            plugins::node_resources_fit::NAME => {
                if let Some(strategy) = c.args.get("scoringStrategy") {
                    args.fit_strategy = match strategy.get("type").and_then(|t| t.as_str()).unwrap_or("LeastAllocated")
                    {
                        "LeastAllocated" => Strategy::LeastAllocated,
                        "MostAllocated" => Strategy::MostAllocated,
                        other => {
                            return Err(ConfigError::Args {
                                plugin: c.name.clone(),
                                message: format!("scoring strategy {other:?} is not supported"),
                            })
                        }
                    };
                    if let Some(r) = resources_arg(&c.name, strategy)? {
                        args.fit_resources = r;
                    }
                }
            }
            plugins::balanced_allocation::NAME => {
                if let Some(r) = resources_arg(&c.name, &c.args)? {
                    args.balanced_resources = r;
                }
            }
            plugins::inter_pod_affinity::NAME => {
                if let Some(w) = c.args.get("hardPodAffinityWeight").and_then(|w| w.as_i64()) {
                    if !(0..=100).contains(&w) {
                        return Err(ConfigError::Args {
                            plugin: c.name.clone(),
                            message: "hardPodAffinityWeight must be 0..=100".into(),
                        });
                    }
                    args.hard_pod_affinity_weight = w;
                }
            }
            _ => {}
        }
    }
    Ok(args)
}

fn build_profile(p: &FileProfile, global_percentage: Option<u32>) -> Result<Profile, ConfigError> {
    let args = plugin_args(&p.plugin_config)?;
    let defaults: Vec<(String, i64)> = DEFAULT_PLUGINS.iter().map(|(n, w)| (n.to_string(), *w)).collect();
    let multi = merge(defaults, p.plugins.multi_point.as_ref());
    let mut built: HashMap<String, Built> = HashMap::new();
    let mut get = |name: &str| -> Result<Built, ConfigError> {
        if let Some(b) = built.get(name) {
            return Ok(b.clone());
        }
        let b = plugins::build(name, &args).ok_or_else(|| ConfigError::UnknownPlugin(name.into()))?;
        built.insert(name.into(), b.clone());
        Ok(b)
    };
    for (name, _) in &multi {
        get(name)?;
    }
    let at = |point: &'static str,
              set: Option<&PluginSet>,
              has: &dyn Fn(&Built) -> bool,
              get: &mut dyn FnMut(&str) -> Result<Built, ConfigError>|
     -> Result<Vec<(String, i64, Built)>, ConfigError> {
        let mut base = Vec::new();
        for (name, w) in &multi {
            let b = get(name)?;
            if has(&b) {
                base.push((name.clone(), *w));
            }
        }
        merge(base, set)
            .into_iter()
            .map(|(name, w)| {
                let b = get(&name)?;
                if !has(&b) {
                    return Err(ConfigError::NotAt { plugin: name, point });
                }
                Ok((name, w, b))
            })
            .collect()
    };
    let pre_filters = at("preFilter", p.plugins.pre_filter.as_ref(), &|b| b.pre_filter.is_some(), &mut get)?;
    let filters = at("filter", p.plugins.filter.as_ref(), &|b| b.filter.is_some(), &mut get)?;
    let scores = at("score", p.plugins.score.as_ref(), &|b| b.score.is_some(), &mut get)?;
    let reserves = at("reserve", p.plugins.reserve.as_ref(), &|b| b.reserve.is_some(), &mut get)?;
    let post_filters = at("postFilter", p.plugins.post_filter.as_ref(), &|b: &Built| b.other, &mut get)?;
    let default_weight =
        |name: &str| DEFAULT_PLUGINS.iter().find(|(n, _)| *n == name).map(|(_, w)| *w).filter(|w| *w > 0).unwrap_or(1);
    Ok(Profile {
        scheduler_name: p
            .scheduler_name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| DEFAULT_SCHEDULER_NAME.into()),
        pre_filters: pre_filters.into_iter().filter_map(|(_, _, b)| b.pre_filter).collect(),
        filters: filters.into_iter().filter_map(|(_, _, b)| b.filter).collect(),
        scorers: scores
            .into_iter()
            .filter_map(|(name, w, b)| {
                let weight = if w > 0 { w } else { default_weight(&name) };
                b.score.map(|plugin| ScorePlugin { plugin, weight })
            })
            .collect(),
        reservers: reserves.into_iter().filter_map(|(_, _, b)| b.reserve).collect(),
        percentage_of_nodes_to_score: p.percentage_of_nodes_to_score.or(global_percentage).filter(|p| *p > 0),
        preemption: post_filters.iter().any(|(n, _, _)| n == DEFAULT_PREEMPTION),
    })
}

impl SchedulerConfig {
    /// Parses a `KubeSchedulerConfiguration` (YAML or JSON).
    ///
    /// # Errors
    /// [`ConfigError`] for malformed input, another kind, unknown plugins, a plugin
    /// enabled where it has no extension point, bad plugin args, or two profiles
    /// with the same scheduler name.
    pub fn parse(text: &str) -> Result<SchedulerConfig, ConfigError> {
        let file: FileConfig = serde_yaml::from_str(text).map_err(ConfigError::Parse)?;
        let kind_ok = file.kind.as_deref().is_none_or(|k| k == "KubeSchedulerConfiguration")
            && file.api_version.as_deref().is_none_or(|v| v.starts_with("kubescheduler.config.k8s.io/"));
        if !kind_ok {
            return Err(ConfigError::Kind(format!("{:?}/{:?}", file.api_version, file.kind)));
        }
        let file_profiles = if file.profiles.is_empty() { vec![FileProfile::default()] } else { file.profiles };
        let mut profiles: Vec<Profile> = Vec::new();
        for p in &file_profiles {
            let profile = build_profile(p, file.percentage_of_nodes_to_score)?;
            if profiles.iter().any(|q| q.scheduler_name == profile.scheduler_name) {
                return Err(ConfigError::DuplicateProfile(profile.scheduler_name));
            }
            profiles.push(profile);
        }
        let defaults = QueueConfig::default();
        let queue = QueueConfig {
            initial_backoff: file
                .pod_initial_backoff_seconds
                .map(Duration::from_secs)
                .unwrap_or(defaults.initial_backoff),
            max_backoff: file.pod_max_backoff_seconds.map(Duration::from_secs).unwrap_or(defaults.max_backoff),
            ..defaults
        };
        Ok(SchedulerConfig { profiles, queue })
    }

    /// The profile for a pod's `spec.schedulerName` (empty means the default name).
    pub fn profile(&self, scheduler_name: &str) -> Option<&Profile> {
        let name = if scheduler_name.is_empty() { DEFAULT_SCHEDULER_NAME } else { scheduler_name };
        self.profiles.iter().find(|p| p.scheduler_name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(p: &Profile) -> (Vec<&str>, Vec<&str>, Vec<(&str, i64)>) {
        (
            p.pre_filters.iter().map(|x| x.name()).collect(),
            p.filters.iter().map(|x| x.name()).collect(),
            p.scorers.iter().map(|s| (s.plugin.name(), s.weight)).collect(),
        )
    }

    #[test]
    fn defaults_match_upstream() {
        let c = SchedulerConfig::default();
        assert_eq!(c.profiles.len(), 1);
        let p = &c.profiles[0];
        assert_eq!(p.scheduler_name, "default-scheduler");
        assert!(p.preemption);
        let (pre, filters, scores) = names(p);
        assert_eq!(pre, ["NodeAffinity", "NodePorts", "VolumeBinding", "PodTopologySpread", "InterPodAffinity"]);
        assert_eq!(
            filters,
            [
                "NodeUnschedulable",
                "NodeName",
                "TaintToleration",
                "NodeAffinity",
                "NodePorts",
                "NodeResourcesFit",
                "VolumeBinding",
                "PodTopologySpread",
                "InterPodAffinity"
            ]
        );
        assert_eq!(
            scores,
            [
                ("TaintToleration", 3),
                ("NodeAffinity", 2),
                ("NodeResourcesFit", 1),
                ("PodTopologySpread", 2),
                ("InterPodAffinity", 2),
                ("NodeResourcesBalancedAllocation", 1),
                ("ImageLocality", 1)
            ]
        );
    }

    #[test]
    fn profiles_weights_and_disabling() {
        let yaml = r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
percentageOfNodesToScore: 30
profiles:
- schedulerName: default-scheduler
- schedulerName: packer
  plugins:
    score:
      disabled:
      - name: "*"
      enabled:
      - name: NodeResourcesFit
        weight: 5
    postFilter:
      disabled:
      - name: DefaultPreemption
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
        resources:
        - name: cpu
          weight: 2
"#;
        let c = SchedulerConfig::parse(yaml).unwrap();
        assert_eq!(c.profiles.len(), 2);
        let packer = c.profile("packer").unwrap();
        assert_eq!(names(packer).2, [("NodeResourcesFit", 5)]);
        assert!(!packer.preemption);
        assert_eq!(packer.percentage_of_nodes_to_score, Some(30));
        assert!(c.profile("").is_some());
        assert!(c.profile("other").is_none());
    }

    #[test]
    fn multi_point_disable_removes_everywhere() {
        let yaml = "profiles:\n- plugins:\n    multiPoint:\n      disabled:\n      - name: TaintToleration\n";
        let c = SchedulerConfig::parse(yaml).unwrap();
        let (_, filters, scores) = names(&c.profiles[0]);
        assert!(!filters.contains(&"TaintToleration"));
        assert!(!scores.iter().any(|(n, _)| *n == "TaintToleration"));
    }

    #[test]
    fn bad_configurations_are_errors() {
        let cases = [
            ("profiles:\n- plugins:\n    filter:\n      enabled:\n      - name: Nope\n", "unknown plugin"),
            ("profiles:\n- plugins:\n    filter:\n      enabled:\n      - name: ImageLocality\n", "no filter extension point"),
            ("profiles:\n- schedulerName: a\n- schedulerName: a\n", "two profiles"),
            ("kind: Pod\n", "unsupported"),
            ("profiles: 3\n", "invalid scheduler configuration"),
            (
                "profiles:\n- pluginConfig:\n  - name: NodeResourcesFit\n    args:\n      scoringStrategy:\n        type: Bogus\n",
                "not supported",
            ),
        ];
        for (yaml, want) in cases {
            let err = SchedulerConfig::parse(yaml).unwrap_err().to_string();
            assert!(err.contains(want), "{yaml:?}: {err}");
        }
    }
}
