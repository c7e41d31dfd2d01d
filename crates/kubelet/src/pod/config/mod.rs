//! CRI configs for a pod's sandbox and containers — pure translation from the
//! pod spec: names, labels, hostname, log paths, DNS, ports, command/args, env
//! (values, fieldRef, resourceFieldRef, ConfigMap and Secret keys, envFrom).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret};

pub mod resources;
pub mod security;

use super::observed::{LABEL_CONTAINER_NAME, LABEL_POD_NAME, LABEL_POD_NAMESPACE, LABEL_POD_UID};
use crate::cri;

/// A config that cannot be built; the container waits with
/// `CreateContainerConfigError` and this message, as upstream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("configmap \"{0}\" not found")]
    ConfigMapMissing(String),
    #[error("secret \"{0}\" not found")]
    SecretMissing(String),
    #[error("couldn't find key {key} in {kind} {namespace}/{name}")]
    KeyMissing { kind: &'static str, namespace: String, name: String, key: String },
    #[error("unsupported fieldPath {0}")]
    FieldPath(String),
    #[error("container {0} is not in the pod spec")]
    NoSuchContainer(String),
    #[error("{0}")]
    NonRoot(String),
}

/// ConfigMaps and Secrets the pod refers to, fetched by the shell beforehand
/// (absent = does not exist).
#[derive(Debug, Clone, Default)]
pub struct EnvSources {
    pub config_maps: BTreeMap<String, ConfigMap>,
    pub secrets: BTreeMap<String, Secret>,
}

/// Where a pod's logs go: `<root>/<namespace>_<name>_<uid>` as upstream's
/// `/var/log/pods`.
pub fn log_directory(root: &Path, pod: &Pod) -> String {
    let m = &pod.metadata;
    root.join(format!(
        "{}_{}_{}",
        m.namespace.as_deref().unwrap_or("default"),
        m.name.as_deref().unwrap_or(""),
        m.uid.as_deref().unwrap_or("")
    ))
    .display()
    .to_string()
}

fn pod_labels(pod: &Pod) -> HashMap<String, String> {
    let m = &pod.metadata;
    let mut l: HashMap<String, String> = m.labels.clone().unwrap_or_default().into_iter().collect();
    l.insert(LABEL_POD_NAME.into(), m.name.clone().unwrap_or_default());
    l.insert(LABEL_POD_NAMESPACE.into(), m.namespace.clone().unwrap_or_default());
    l.insert(LABEL_POD_UID.into(), m.uid.clone().unwrap_or_default());
    l
}

/// The sandbox config for `attempt`.
pub fn sandbox_config(pod: &Pod, attempt: u32, log_root: &Path, dns: &DnsConfig) -> cri::PodSandboxConfig {
    let m = &pod.metadata;
    let spec = pod.spec.clone().unwrap_or_default();
    let host_network = spec.host_network.unwrap_or(false);
    let hostname = spec.hostname.clone().unwrap_or_else(|| m.name.clone().unwrap_or_default());
    let port_mappings = spec
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .filter(|p| p.host_port.is_some_and(|h| h > 0))
        .map(|p| cri::PortMapping {
            protocol: match p.protocol.as_deref() {
                Some("UDP") => cri::Protocol::Udp,
                Some("SCTP") => cri::Protocol::Sctp,
                _ => cri::Protocol::Tcp,
            } as i32,
            container_port: p.container_port,
            host_port: p.host_port.unwrap_or(0),
            host_ip: p.host_ip.clone().unwrap_or_default(),
        })
        .collect();
    let namespace_mode = if host_network { cri::NamespaceMode::Node } else { cri::NamespaceMode::Pod } as i32;
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: m.name.clone().unwrap_or_default(),
            uid: m.uid.clone().unwrap_or_default(),
            namespace: m.namespace.clone().unwrap_or_default(),
            attempt,
        }),
        hostname: if host_network { String::new() } else { hostname },
        log_directory: log_directory(log_root, pod),
        dns_config: dns_config(pod, dns),
        port_mappings,
        labels: pod_labels(pod),
        annotations: m.annotations.clone().unwrap_or_default().into_iter().collect(),
        linux: Some(cri::LinuxPodSandboxConfig {
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(cri::NamespaceOption {
                    network: namespace_mode,
                    pid: if spec.host_pid.unwrap_or(false) {
                        cri::NamespaceMode::Node
                    } else {
                        cri::NamespaceMode::Container
                    } as i32,
                    ipc: if spec.host_ipc.unwrap_or(false) { cri::NamespaceMode::Node } else { cri::NamespaceMode::Pod }
                        as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            cgroup_parent: resources::cgroup_parent(pod),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The cluster DNS the agent puts into pods' resolv.conf.
#[derive(Debug, Clone)]
pub struct DnsConfig {
    pub cluster_dns: Vec<String>,
    pub cluster_domain: String,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig { cluster_dns: vec!["10.43.0.10".into()], cluster_domain: "cluster.local".into() }
    }
}

/// resolv.conf for the pod's `dnsPolicy` (ClusterFirst: cluster DNS with the
/// upstream search path; Default: the node's; None: only `dnsConfig`).
fn dns_config(pod: &Pod, dns: &DnsConfig) -> Option<cri::DnsConfig> {
    let spec = pod.spec.as_ref()?;
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let policy = spec.dns_policy.as_deref().unwrap_or("ClusterFirst");
    let host_network = spec.host_network.unwrap_or(false);
    let mut out = match policy {
        "ClusterFirst" if !host_network => cri::DnsConfig {
            servers: dns.cluster_dns.clone(),
            searches: vec![
                format!("{ns}.svc.{}", dns.cluster_domain),
                format!("svc.{}", dns.cluster_domain),
                dns.cluster_domain.clone(),
            ],
            options: vec!["ndots:5".into()],
        },
        "ClusterFirstWithHostNet" => cri::DnsConfig {
            servers: dns.cluster_dns.clone(),
            searches: vec![format!("{ns}.svc.{}", dns.cluster_domain), format!("svc.{}", dns.cluster_domain)],
            options: vec!["ndots:5".into()],
        },
        "None" => cri::DnsConfig::default(),
        // Default (and ClusterFirst with hostNetwork): the runtime copies the node's.
        _ => return None,
    };
    if let Some(extra) = &spec.dns_config {
        out.servers.extend(extra.nameservers.iter().flatten().cloned());
        out.searches.extend(extra.searches.iter().flatten().cloned());
        for o in extra.options.iter().flatten() {
            let name = o.name.clone().unwrap_or_default();
            out.options.push(match &o.value {
                Some(v) => format!("{name}:{v}"),
                None => name,
            });
        }
    }
    Some(out)
}

fn field_ref(pod: &Pod, path: &str, pod_ip: &str, host_ip: &str) -> Result<String, ConfigError> {
    let m = &pod.metadata;
    let spec = pod.spec.as_ref();
    let map_key = |prefix: &str, map: Option<&BTreeMap<String, String>>| {
        path.strip_prefix(prefix)
            .and_then(|k| k.strip_prefix("['").and_then(|k| k.strip_suffix("']")))
            .map(|k| map.and_then(|m| m.get(k)).cloned().unwrap_or_default())
    };
    Ok(match path {
        "metadata.name" => m.name.clone().unwrap_or_default(),
        "metadata.namespace" => m.namespace.clone().unwrap_or_default(),
        "metadata.uid" => m.uid.clone().unwrap_or_default(),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec.and_then(|s| s.service_account_name.clone()).unwrap_or_default(),
        "status.podIP" | "status.podIPs" => pod_ip.to_string(),
        "status.hostIP" | "status.hostIPs" => host_ip.to_string(),
        _ => {
            if let Some(v) = map_key("metadata.labels", m.labels.as_ref()) {
                v
            } else if let Some(v) = map_key("metadata.annotations", m.annotations.as_ref()) {
                v
            } else {
                return Err(ConfigError::FieldPath(path.into()));
            }
        }
    })
}

fn secret_value(s: &Secret, key: &str) -> Option<String> {
    s.data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        .or_else(|| s.string_data.as_ref().and_then(|d| d.get(key)).cloned())
}

fn config_map_value(c: &ConfigMap, key: &str) -> Option<String> {
    c.data.as_ref().and_then(|d| d.get(key)).cloned()
}

/// The container's environment, in the order upstream builds it: `envFrom`
/// first, then `env` (later entries win), with `$(VAR)` references expanded.
pub fn environment(
    pod: &Pod,
    c: &Container,
    sources: &EnvSources,
    pod_ip: &str,
    host_ip: &str,
) -> Result<Vec<(String, String)>, ConfigError> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let mut env: Vec<(String, String)> = Vec::new();
    let set = |env: &mut Vec<(String, String)>, k: String, v: String| {
        if let Some(e) = env.iter_mut().find(|(n, _)| *n == k) {
            e.1 = v;
        } else {
            env.push((k, v));
        }
    };
    for from in c.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        if let Some(r) = &from.config_map_ref {
            match sources.config_maps.get(&r.name) {
                Some(cm) => {
                    for (k, v) in cm.data.iter().flatten() {
                        set(&mut env, format!("{prefix}{k}"), v.clone());
                    }
                }
                None if r.optional == Some(true) => {}
                None => return Err(ConfigError::ConfigMapMissing(r.name.clone())),
            }
        }
        if let Some(r) = &from.secret_ref {
            match sources.secrets.get(&r.name) {
                Some(s) => {
                    for k in s.data.iter().flat_map(|d| d.keys()) {
                        set(&mut env, format!("{prefix}{k}"), secret_value(s, k).unwrap_or_default());
                    }
                }
                None if r.optional == Some(true) => {}
                None => return Err(ConfigError::SecretMissing(r.name.clone())),
            }
        }
    }
    for e in c.env.iter().flatten() {
        let value = if let Some(from) = &e.value_from {
            if let Some(f) = &from.field_ref {
                Some(field_ref(pod, &f.field_path, pod_ip, host_ip)?)
            } else if let Some(r) = &from.config_map_key_ref {
                match sources.config_maps.get(&r.name) {
                    Some(cm) => match config_map_value(cm, &r.key) {
                        Some(v) => Some(v),
                        None if r.optional == Some(true) => None,
                        None => {
                            return Err(ConfigError::KeyMissing {
                                kind: "configmap",
                                namespace: ns.clone(),
                                name: r.name.clone(),
                                key: r.key.clone(),
                            })
                        }
                    },
                    None if r.optional == Some(true) => None,
                    None => return Err(ConfigError::ConfigMapMissing(r.name.clone())),
                }
            } else if let Some(r) = &from.secret_key_ref {
                match sources.secrets.get(&r.name) {
                    Some(s) => match secret_value(s, &r.key) {
                        Some(v) => Some(v),
                        None if r.optional == Some(true) => None,
                        None => {
                            return Err(ConfigError::KeyMissing {
                                kind: "secret",
                                namespace: ns.clone(),
                                name: r.name.clone(),
                                key: r.key.clone(),
                            })
                        }
                    },
                    None if r.optional == Some(true) => None,
                    None => return Err(ConfigError::SecretMissing(r.name.clone())),
                }
            } else {
                from.resource_field_ref.as_ref().map(|r| resource_field(c, &r.resource))
            }
        } else {
            Some(expand(e.value.as_deref().unwrap_or(""), &env))
        };
        if let Some(v) = value {
            set(&mut env, e.name.clone(), v);
        }
    }
    Ok(env)
}

/// `limits.cpu` etc. as upstream's downward API reports them when unset: the
/// node's allocatable — here, a plain "0" for unset requests and the quantity
/// string otherwise (cpu rounded up to whole cores as upstream's divisor 1).
fn resource_field(c: &Container, resource: &str) -> String {
    let (kind, name) = resource.split_once('.').unwrap_or(("", resource));
    let res = c.resources.as_ref();
    let map = match kind {
        "limits" => res.and_then(|r| r.limits.as_ref()),
        _ => res.and_then(|r| r.requests.as_ref()),
    };
    map.and_then(|m| m.get(name)).map(|q| q.0.clone()).unwrap_or_else(|| "0".into())
}

/// Expands `$(VAR)` with earlier variables; `$$` escapes; unknown stays as is.
pub fn expand(s: &str, env: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(a) = after.strip_prefix('$') {
            out.push('$');
            rest = a;
        } else if let Some(inner) = after.strip_prefix('(') {
            match inner.find(')') {
                Some(end) => {
                    let name = &inner[..end];
                    match env.iter().rev().find(|(k, _)| k == name) {
                        Some((_, v)) => out.push_str(v),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &inner[end + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = inner;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The container config for `name` (an app or init container) at `attempt`.
pub fn container_config(
    pod: &Pod,
    name: &str,
    attempt: u32,
    sources: &EnvSources,
    pod_ip: &str,
    host_ip: &str,
) -> Result<cri::ContainerConfig, ConfigError> {
    let spec = pod.spec.clone().unwrap_or_default();
    let c = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == name)
        .ok_or_else(|| ConfigError::NoSuchContainer(name.into()))?;
    security::check_non_root(pod, c).map_err(ConfigError::NonRoot)?;
    let env = environment(pod, c, sources, pod_ip, host_ip)?;
    let command = c.command.clone().unwrap_or_default().iter().map(|s| expand(s, &env)).collect();
    let args = c.args.clone().unwrap_or_default().iter().map(|s| expand(s, &env)).collect();
    let mut labels = pod_labels(pod);
    labels.retain(|k, _| k.starts_with("io.kubernetes."));
    labels.insert(LABEL_CONTAINER_NAME.into(), name.into());
    Ok(cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata { name: name.into(), attempt }),
        image: Some(crate::runtime::image_spec(c.image.as_deref().unwrap_or(""))),
        command,
        args,
        working_dir: c.working_dir.clone().unwrap_or_default(),
        envs: env.into_iter().map(|(key, value)| cri::KeyValue { key, value }).collect(),
        labels,
        log_path: format!("{name}/{attempt}.log"),
        stdin: c.stdin.unwrap_or(false),
        stdin_once: c.stdin_once.unwrap_or(false),
        tty: c.tty.unwrap_or(false),
        linux: Some(cri::LinuxContainerConfig {
            resources: Some(resources::linux_resources(c)),
            security_context: Some(security::security_context(pod, c)),
        }),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests;
