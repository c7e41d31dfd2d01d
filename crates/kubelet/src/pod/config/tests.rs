use super::*;
use k8s_openapi::ByteString;

fn pod() -> Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web", "namespace": "shop", "uid": "u-1", "labels": {"app": "web"}},
        "spec": {"nodeName": "n1", "containers": [{
            "name": "c", "image": "busybox", "command": ["sh", "-c"], "args": ["echo $(GREETING) $$(X)"],
            "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}],
            "env": [
                {"name": "GREETING", "value": "hello"},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "color"}}},
                {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "s", "key": "password"}}},
                {"name": "BOTH", "value": "$(GREETING)-$(POD)"}
            ]}]}
    }))
    .unwrap()
}

fn sources() -> EnvSources {
    let cm: ConfigMap =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "cm"}, "data": {"color": "blue"}})).unwrap();
    let s = Secret {
        data: Some(BTreeMap::from([("password".to_string(), ByteString(b"hunter2".to_vec()))])),
        ..Default::default()
    };
    EnvSources { config_maps: BTreeMap::from([("cm".into(), cm)]), secrets: BTreeMap::from([("s".into(), s)]) }
}

#[test]
fn env_resolves_values_field_refs_config_maps_and_secrets() {
    let cfg = container_config(&pod(), "c", 2, &sources(), "10.42.0.9", "192.0.2.1").unwrap();
    let env: BTreeMap<_, _> = cfg.envs.iter().map(|kv| (kv.key.as_str(), kv.value.as_str())).collect();
    assert_eq!(env["GREETING"], "hello");
    assert_eq!(env["POD"], "web");
    assert_eq!(env["APP"], "web");
    assert_eq!(env["IP"], "10.42.0.9");
    assert_eq!(env["COLOR"], "blue");
    assert_eq!(env["CM_color"], "blue");
    assert_eq!(env["PASS"], "hunter2");
    assert_eq!(env["BOTH"], "hello-web");
    assert_eq!(cfg.args, vec!["echo hello $(X)"]);
    assert_eq!(cfg.log_path, "c/2.log");
    assert_eq!(cfg.labels[LABEL_POD_UID], "u-1");
    assert_eq!(cfg.labels[LABEL_CONTAINER_NAME], "c");
}

#[test]
fn a_missing_config_map_is_a_config_error() {
    let err = container_config(&pod(), "c", 0, &EnvSources::default(), "", "").unwrap_err();
    assert_eq!(err.to_string(), "configmap \"cm\" not found");
}

#[test]
fn cluster_first_dns_uses_the_upstream_search_path() {
    let sb = sandbox_config(&pod(), 1, Path::new("/logs"), &DnsConfig::default());
    let dns = sb.dns_config.unwrap();
    assert_eq!(dns.servers, vec!["10.43.0.10"]);
    assert_eq!(dns.searches, vec!["shop.svc.cluster.local", "svc.cluster.local", "cluster.local"]);
    assert_eq!(sb.log_directory, "/logs/shop_web_u-1");
    assert_eq!(sb.metadata.unwrap().attempt, 1);
}
