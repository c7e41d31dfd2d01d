//! Validation reads JSON that the decoder already type-checked, but it must not
//! panic whatever it is given: every kind gets generated objects of every shape,
//! built from the field names validation reads.

use serde_json::{json, Map, Value};

const KEYS: &[&str] = &[
    "spec",
    "status",
    "metadata",
    "name",
    "namespace",
    "labels",
    "annotations",
    "template",
    "selector",
    "matchLabels",
    "matchExpressions",
    "key",
    "operator",
    "values",
    "containers",
    "initContainers",
    "image",
    "ports",
    "port",
    "targetPort",
    "nodePort",
    "protocol",
    "containerPort",
    "resources",
    "requests",
    "limits",
    "cpu",
    "memory",
    "storage",
    "type",
    "rules",
    "verbs",
    "apiGroups",
    "resources",
    "subjects",
    "roleRef",
    "kind",
    "apiGroup",
    "hard",
    "scopes",
    "scopeSelector",
    "accessModes",
    "capacity",
    "webhooks",
    "clientConfig",
    "url",
    "service",
    "path",
    "host",
    "http",
    "paths",
    "backend",
    "pathType",
    "ingress",
    "egress",
    "from",
    "ipBlock",
    "cidr",
    "except",
    "endpoints",
    "addresses",
    "subsets",
    "ip",
    "addressType",
    "minAvailable",
    "maxUnavailable",
    "minReplicas",
    "maxReplicas",
    "metrics",
    "target",
    "value",
    "strategy",
    "rollingUpdate",
    "maxSurge",
    "replicas",
    "updateStrategy",
    "data",
    "stringData",
    "immutable",
    "request",
    "signerName",
    "usages",
    "conditions",
    "handler",
    "overhead",
    "podFixed",
    "drivers",
    "nodeID",
    "source",
    "attacher",
    "leaseDurationSeconds",
    "eventTime",
    "involvedObject",
    "reportingController",
    "series",
    "count",
    "clusterIP",
    "clusterIPs",
    "externalIPs",
    "sessionAffinity",
    "ipFamilies",
    "policyTypes",
    "endPort",
    "provisioner",
    "parameters",
    "reclaimPolicy",
    "volumeBindingMode",
    "preemptionPolicy",
    "schedule",
    "timeZone",
    "parallelism",
    "completions",
    "revision",
    "overheadCpu",
    "hostPath",
    "csi",
    "local",
    "nfs",
];

/// xorshift: deterministic, so a failure reproduces.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn value(rng: &mut Rng, depth: usize) -> Value {
    let scalars = [
        json!(null),
        json!(true),
        json!(0),
        json!(-1),
        json!(70000),
        json!(1.5),
        json!(""),
        json!("a"),
        json!("-1"),
        json!("100%"),
        json!("1Gi"),
        json!("10.0.0.1"),
        json!("10.0.0.0/8"),
        json!("::1"),
        json!("Always"),
        json!("*"),
        json!("a/b/c"),
        json!("ünï"),
        json!("https://x/y?z#f"),
        json!(u64::MAX),
    ];
    match rng.below(if depth == 0 { 1 } else { 4 }) {
        0 => scalars[rng.below(scalars.len())].clone(),
        1 => Value::Array((0..rng.below(4)).map(|_| value(rng, depth - 1)).collect()),
        _ => {
            let mut map = Map::new();
            for _ in 0..rng.below(6) {
                map.insert(KEYS[rng.below(KEYS.len())].to_string(), value(rng, depth - 1));
            }
            Value::Object(map)
        }
    }
}

/// Paths deep into the objects validation reads; `[]` is the first list item.
const PATHS: &[&str] = &[
    "spec.template.spec.containers[].resources.limits.cpu",
    "spec.template.spec.containers[].resources.requests.example.com/gpu",
    "spec.template.spec.containers[].ports[].containerPort",
    "spec.template.metadata.labels.app",
    "spec.selector.matchExpressions[].values[]",
    "spec.strategy.rollingUpdate.maxSurge",
    "spec.updateStrategy.rollingUpdate.maxUnavailable",
    "spec.ports[].targetPort",
    "spec.rules[].http.paths[].backend.service.port.number",
    "spec.ingress[].from[].ipBlock.except[]",
    "spec.ingress[].ports[].endPort",
    "spec.limits[].max.cpu",
    "spec.limits[].maxLimitRequestRatio.memory",
    "spec.metrics[].resource.target.averageUtilization",
    "spec.behavior.scaleUp.policies[].periodSeconds",
    "spec.scopeSelector.matchExpressions[].scopeName",
    "spec.resources.requests.storage",
    "spec.capacity.storage",
    "spec.volumeClaimTemplates[].spec.accessModes[]",
    "subsets[].addresses[].ip",
    "subsets[].ports[].port",
    "endpoints[].addresses[]",
    "ports[].protocol",
    "webhooks[].clientConfig.service.port",
    "webhooks[].clientConfig.url",
    "webhooks[].rules[].resources[]",
    "rules[].verbs[]",
    "rules[].nonResourceURLs[]",
    "subjects[].kind",
    "roleRef.name",
    "spec.request",
    "status.conditions[].type",
    "status.certificate",
    "overhead.podFixed.cpu",
    "scheduling.tolerations[].tolerationSeconds",
    "spec.drivers[].allocatable.count",
    "spec.source.inlineVolumeSpec.csi.driver",
    "data.key",
    "series.count",
    "involvedObject.namespace",
];

/// Sets `path` in `obj` to `leaf`, making objects and one-item lists on the way.
fn set_path(obj: &mut Value, path: &str, leaf: Value) {
    let mut cur = obj;
    for part in path.split('.') {
        let (name, list) = match part.strip_suffix("[]") {
            Some(name) => (name, true),
            None => (part, false),
        };
        if !cur.is_object() {
            *cur = json!({});
        }
        cur = cur.as_object_mut().expect("made an object above").entry(name).or_insert(Value::Null);
        if list {
            if !cur.is_array() || cur.as_array().is_some_and(Vec::is_empty) {
                *cur = json!([{}]);
            }
            cur = &mut cur.as_array_mut().expect("made a list above")[0];
        }
    }
    *cur = leaf;
}

fn deep(rng: &mut Rng) -> Value {
    let mut obj = json!({});
    for _ in 0..1 + rng.below(8) {
        let leaf = value(rng, 2);
        set_path(&mut obj, PATHS[rng.below(PATHS.len())], leaf);
    }
    obj
}

#[test]
fn no_object_of_any_shape_makes_validation_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for r in crate::registry::RESOURCES {
        for i in 0..300 {
            let (obj, old) =
                if i % 2 == 0 { (value(&mut rng, 5), value(&mut rng, 5)) } else { (deep(&mut rng), deep(&mut rng)) };
            let _ = super::validate(r.group, r.kind, &obj, None);
            let _ = super::validate(r.group, r.kind, &obj, Some(&old));
            let _ = super::validate(r.group, r.kind, &obj, Some(&obj));
        }
    }
}
