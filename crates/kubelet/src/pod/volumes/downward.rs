//! downwardAPI and projected volumes — the files, computed purely from the pod
//! and the ConfigMaps/Secrets the shell fetched. Formats as upstream: labels and
//! annotations one `key="value"` per line sorted by key; resources divided by
//! the divisor and rounded up.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, DownwardAPIVolumeFile, Pod, ProjectedVolumeSource, Secret};

use super::tokens::Tokens;
use super::{config_map_data, projected_files, secret_data, VolumeFile};
use crate::pod::config::resources::quantity;

/// Go's `%q`-style quoting, enough for label and annotation values.
fn quote(v: &str) -> String {
    let mut out = String::from("\"");
    for ch in v.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn map_lines(m: Option<&BTreeMap<String, String>>) -> String {
    m.into_iter().flatten().map(|(k, v)| format!("{k}={}", quote(v))).collect::<Vec<_>>().join("\n")
}

/// The value of a downward API `fieldPath` for a volume file.
///
/// # Errors
/// A field the downward API volume does not offer.
pub fn field_value(pod: &Pod, path: &str) -> Result<String, String> {
    let m = &pod.metadata;
    let pick = |map: Option<&BTreeMap<String, String>>, key: &str| map.and_then(|m| m.get(key)).cloned();
    let subscript =
        |prefix: &str| path.strip_prefix(prefix).and_then(|r| r.strip_prefix("['")).and_then(|r| r.strip_suffix("']"));
    Ok(match path {
        "metadata.name" => m.name.clone().unwrap_or_default(),
        "metadata.namespace" => m.namespace.clone().unwrap_or_default(),
        "metadata.uid" => m.uid.clone().unwrap_or_default(),
        "metadata.labels" => map_lines(m.labels.as_ref()),
        "metadata.annotations" => map_lines(m.annotations.as_ref()),
        _ => {
            if let Some(k) = subscript("metadata.labels") {
                pick(m.labels.as_ref(), k).unwrap_or_default()
            } else if let Some(k) = subscript("metadata.annotations") {
                pick(m.annotations.as_ref(), k).unwrap_or_default()
            } else {
                return Err(format!("unsupported fieldPath {path} in a downwardAPI volume"));
            }
        }
    })
}

/// `limits.cpu` etc. of a container, divided by `divisor` and rounded up
/// (cpu in cores by default, memory in bytes); an unset value is 0.
fn resource_value(pod: &Pod, container: &str, resource: &str, divisor: Option<&str>) -> Result<String, String> {
    let spec = pod.spec.as_ref().ok_or("pod without spec")?;
    let c = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == container || container.is_empty() && spec.containers.len() == 1)
        .ok_or_else(|| format!("container {container} not found for resourceFieldRef"))?;
    let (kind, name) = resource.split_once('.').ok_or_else(|| format!("unsupported resource {resource}"))?;
    let r = c.resources.as_ref();
    let map = if kind == "limits" { r.and_then(|r| r.limits.as_ref()) } else { r.and_then(|r| r.requests.as_ref()) };
    let value = map.and_then(|m| m.get(name)).and_then(|q| quantity(&q.0)).unwrap_or(0.0);
    let divisor = divisor.and_then(quantity).filter(|d| *d > 0.0).unwrap_or(1.0);
    Ok(format!("{}", (value / divisor).ceil() as i64))
}

/// The files of a downwardAPI volume (or projection).
///
/// # Errors
/// An unsupported field or an unknown container.
pub fn downward_files(
    pod: &Pod,
    items: &[DownwardAPIVolumeFile],
    default_mode: u32,
) -> Result<Vec<VolumeFile>, String> {
    items
        .iter()
        .map(|i| {
            let text = match (&i.field_ref, &i.resource_field_ref) {
                (Some(f), _) => field_value(pod, &f.field_path)?,
                (None, Some(r)) => resource_value(
                    pod,
                    r.container_name.as_deref().unwrap_or(""),
                    &r.resource,
                    r.divisor.as_ref().map(|d| d.0.as_str()),
                )?,
                (None, None) => return Err(format!("{}: neither fieldRef nor resourceFieldRef", i.path)),
            };
            Ok(VolumeFile {
                path: i.path.clone(),
                data: text.into_bytes(),
                mode: i.mode.map(|m| m as u32).unwrap_or(default_mode),
            })
        })
        .collect()
}

/// The files of a projected volume: every source's files in one directory.
///
/// # Errors
/// A missing (non-optional) ConfigMap or Secret or key, an unsupported field,
/// or a serviceAccountToken source whose token the shell could not get.
pub fn projected_volume_files(
    pod: &Pod,
    p: &ProjectedVolumeSource,
    config_maps: &BTreeMap<String, ConfigMap>,
    secrets: &BTreeMap<String, Secret>,
    tokens: &Tokens,
) -> Result<Vec<VolumeFile>, String> {
    let mode = p.default_mode.unwrap_or(0o644) as u32;
    let mut out = Vec::new();
    for s in p.sources.iter().flatten() {
        if let Some(c) = &s.config_map {
            match config_maps.get(&c.name) {
                Some(cm) => out.extend(projected_files(&config_map_data(cm), c.items.as_ref(), mode)?),
                None if c.optional == Some(true) => {}
                None => return Err(format!("configmap \"{}\" not found", c.name)),
            }
        } else if let Some(c) = &s.secret {
            match secrets.get(&c.name) {
                Some(sec) => out.extend(projected_files(&secret_data(sec), c.items.as_ref(), mode)?),
                None if c.optional == Some(true) => {}
                None => return Err(format!("secret \"{}\" not found", c.name)),
            }
        } else if let Some(d) = &s.downward_api {
            out.extend(downward_files(pod, d.items.as_deref().unwrap_or(&[]), mode)?);
        } else if let Some(t) = &s.service_account_token {
            let token = tokens.get(&super::tokens::key(t)).ok_or("no service account token issued yet")?;
            out.push(VolumeFile { path: t.path.clone(), data: token.clone().into_bytes(), mode });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ConfigMapProjection, Container, DownwardAPIProjection, ObjectFieldSelector, PodSpec, ResourceFieldSelector,
        ResourceRequirements, VolumeProjection,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    fn pod() -> Pod {
        let mut p = Pod::default();
        p.metadata.name = Some("web".into());
        p.metadata.namespace = Some("prod".into());
        p.metadata.labels = Some(BTreeMap::from([("b".into(), "2".into()), ("a".into(), "x\"y".into())]));
        let c = Container {
            name: "main".into(),
            resources: Some(ResourceRequirements {
                limits: Some(BTreeMap::from([("memory".into(), Quantity("64Mi".into()))])),
                requests: Some(BTreeMap::from([("cpu".into(), Quantity("250m".into()))])),
                ..Default::default()
            }),
            ..Default::default()
        };
        p.spec = Some(PodSpec { containers: vec![c], ..Default::default() });
        p
    }

    fn field(path: &str, field_path: &str) -> DownwardAPIVolumeFile {
        DownwardAPIVolumeFile {
            path: path.into(),
            field_ref: Some(ObjectFieldSelector { field_path: field_path.into(), ..Default::default() }),
            ..Default::default()
        }
    }

    fn text(files: &[VolumeFile], path: &str) -> String {
        String::from_utf8(files.iter().find(|f| f.path == path).unwrap().data.clone()).unwrap()
    }

    #[test]
    fn fields_and_label_lines_as_upstream() {
        let items = vec![
            field("name", "metadata.name"),
            field("labels", "metadata.labels"),
            field("b", "metadata.labels['b']"),
        ];
        let files = downward_files(&pod(), &items, 0o644).unwrap();
        assert_eq!(text(&files, "name"), "web");
        assert_eq!(text(&files, "labels"), "a=\"x\\\"y\"\nb=\"2\"");
        assert_eq!(text(&files, "b"), "2");
        assert!(downward_files(&pod(), &[field("x", "status.podIP")], 0o644).is_err(), "not in volumes");
    }

    #[test]
    fn resources_divided_and_rounded_up() {
        let r = |resource: &str, divisor: Option<&str>| DownwardAPIVolumeFile {
            path: resource.into(),
            resource_field_ref: Some(ResourceFieldSelector {
                container_name: Some("main".into()),
                resource: resource.into(),
                divisor: divisor.map(|d| Quantity(d.into())),
            }),
            ..Default::default()
        };
        let files =
            downward_files(&pod(), &[r("limits.memory", Some("1Mi")), r("requests.cpu", Some("1m"))], 0o644).unwrap();
        assert_eq!(text(&files, "limits.memory"), "64");
        assert_eq!(text(&files, "requests.cpu"), "250");
        let cores = downward_files(&pod(), &[r("requests.cpu", None)], 0o644).unwrap();
        assert_eq!(text(&cores, "requests.cpu"), "1", "250m in whole cores, rounded up");
    }

    #[test]
    fn projections_join_configmaps_and_downward_files() {
        let cm = ConfigMap { data: Some(BTreeMap::from([("greeting".into(), "hi".into())])), ..Default::default() };
        let p = ProjectedVolumeSource {
            sources: Some(vec![
                VolumeProjection {
                    config_map: Some(ConfigMapProjection { name: "cfg".into(), ..Default::default() }),
                    ..Default::default()
                },
                VolumeProjection {
                    downward_api: Some(DownwardAPIProjection { items: Some(vec![field("ns", "metadata.namespace")]) }),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        };
        let cms = BTreeMap::from([("cfg".to_string(), cm)]);
        let files = projected_volume_files(&pod(), &p, &cms, &BTreeMap::new(), &Tokens::new()).unwrap();
        assert_eq!((text(&files, "greeting"), text(&files, "ns")), ("hi".into(), "prod".into()));
        let missing =
            projected_volume_files(&pod(), &p, &BTreeMap::new(), &BTreeMap::new(), &Tokens::new()).unwrap_err();
        assert!(missing.contains("configmap \"cfg\" not found"), "{missing}");
    }
}
