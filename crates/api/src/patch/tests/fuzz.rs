//! Robustness: random, garbage and absurdly deep input must come back as a result or a
//! `PatchError`, never a panic. Deterministic: a failure names the seed that replays it.

use serde_json::{json, Map, Value};

use crate::patch::{json_patch, merge_patch, strategic_merge_patch, PatchError, MAX_DEPTH};

/// xorshift64*: small, seedable, good enough to shake out edge cases.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Field names the walkers give meaning to, directives (well- and ill-formed), and junk.
const KEYS: &[&str] = &[
    "metadata",
    "spec",
    "status",
    "template",
    "containers",
    "initContainers",
    "name",
    "image",
    "env",
    "ports",
    "containerPort",
    "protocol",
    "finalizers",
    "labels",
    "annotations",
    "volumes",
    "emptyDir",
    "configMap",
    "tolerations",
    "args",
    "strategy",
    "type",
    "rollingUpdate",
    "conditions",
    "ownerReferences",
    "uid",
    "$patch",
    "$retainKeys",
    "$setElementOrder/containers",
    "$setElementOrder/finalizers",
    "$setElementOrder/env",
    "$setElementOrder/volumes",
    "$deleteFromPrimitiveList/finalizers",
    "$deleteFromPrimitiveList/args",
    "$setElementOrder",
    "$setElementOrder/",
    "$deleteFromPrimitiveList",
    "$deleteFromPrimitiveListx/a",
    "",
    "~",
    "a/b",
];
const STRINGS: &[&str] = &[
    "replace",
    "delete",
    "merge",
    "retainKeys",
    "a",
    "b",
    "app",
    "",
    "name",
    "containerPort",
    "add",
    "remove",
    "move",
    "copy",
    "test",
    "/",
    "/spec",
    "/spec/containers/0",
    "/spec/containers/-",
    "/metadata/labels/a",
    "/metadata/finalizers/1",
    "/a/-",
    "/~1",
    "/~2",
    "~",
    "-",
    "0",
    "01",
];
const OPS: &[&str] = &["add", "remove", "replace", "move", "copy", "test", "nope"];
const KINDS: &[(&str, &str, &str)] =
    &[("", "v1", "Pod"), ("apps", "v1", "Deployment"), ("", "v1", "Service"), ("example.com", "v1", "Widget")];

fn random_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth == 0 { 5 } else { 9 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.below(2) == 0),
        2 => match rng.below(3) {
            0 => json!(rng.below(100)),
            1 => json!(rng.below(100) as f64 / 2.0),
            _ => json!(-(rng.below(100) as i64)),
        },
        3 | 4 => Value::String(rng.pick(STRINGS).to_string()),
        5 | 6 => Value::Array((0..rng.below(4)).map(|_| random_value(rng, depth - 1)).collect()),
        _ => random_object(rng, depth - 1),
    }
}

fn random_object(rng: &mut Rng, depth: usize) -> Value {
    let mut map = Map::new();
    for _ in 0..rng.below(5) {
        map.insert(rng.pick(KEYS).to_string(), random_value(rng, depth));
    }
    Value::Object(map)
}

fn random_path(rng: &mut Rng) -> Value {
    if rng.below(4) == 0 {
        return Value::String(rng.pick(STRINGS).to_string());
    }
    let steps: String = (0..rng.below(4))
        .map(|_| match rng.below(3) {
            0 => format!("/{}", rng.below(3)),
            1 => "/-".to_string(),
            _ => format!("/{}", rng.pick(KEYS).replace('~', "~0").replace('/', "~1")),
        })
        .collect();
    Value::String(steps)
}

/// Mostly well-formed JSON patch operations aimed at plausible paths, with junk mixed in.
fn random_json_patch(rng: &mut Rng) -> Value {
    if rng.below(8) == 0 {
        return random_value(rng, 3);
    }
    let ops = (0..rng.below(5))
        .map(|_| {
            let mut op = Map::new();
            op.insert("op".into(), Value::String(rng.pick(OPS).into()));
            op.insert("path".into(), random_path(rng));
            if rng.below(2) == 0 {
                op.insert("from".into(), random_path(rng));
            }
            if rng.below(4) != 0 {
                op.insert("value".into(), random_value(rng, 3));
            }
            Value::Object(op)
        })
        .collect();
    Value::Array(ops)
}

fn realistic_pod() -> Value {
    json!({
        "metadata": {"name": "p", "labels": {"a": "1"}, "finalizers": ["a", "b"]},
        "spec": {
            "containers": [
                {"name": "app", "image": "x", "env": [{"name": "A"}], "ports": [{"containerPort": 80}], "args": ["a"]},
                {"name": "b"}
            ],
            "volumes": [{"name": "v", "emptyDir": {}}],
            "tolerations": [{"key": "k"}],
            "template": {"spec": {"containers": [{"name": "app"}]}}
        }
    })
}

#[test]
fn random_patches_never_panic() {
    for seed in 0..3000u64 {
        let mut rng = Rng::new(seed);
        let doc = if rng.below(3) == 0 { random_value(&mut rng, 4) } else { realistic_pod() };
        let patch = if rng.below(2) == 0 { random_object(&mut rng, 5) } else { random_value(&mut rng, 5) };
        let (group, version, kind) = KINDS[rng.below(KINDS.len())];
        // A panic fails the test; print the seed first so it can be replayed.
        let outcome = std::panic::catch_unwind(|| {
            let _ = strategic_merge_patch(&doc, &patch, group, version, kind);
            let _ = merge_patch(&doc, &patch);
            let mut rng = Rng::new(seed ^ 0xFFFF);
            let _ = json_patch(&doc, &random_json_patch(&mut rng));
        });
        assert!(outcome.is_ok(), "panic with seed {seed}: doc {doc} patch {patch}");
    }
}

#[test]
fn merge_patch_is_idempotent() {
    for seed in 0..1000u64 {
        let mut rng = Rng::new(seed);
        let (doc, patch) = (random_value(&mut rng, 4), random_value(&mut rng, 4));
        let once = merge_patch(&doc, &patch);
        assert_eq!(merge_patch(&once, &patch), once, "seed {seed}");
    }
}

/// Without strategies or directives, a strategic merge patch is a merge patch.
#[test]
fn strategic_patch_without_schema_or_directives_is_a_merge_patch() {
    // Drops directive keys, and nulls below a list: a strategic patch discards those when
    // it adds a list the object lacks (upstream's `discardNullValuesFromPatch`), while RFC
    // 7386 stores lists verbatim.
    fn plain(v: Value, in_list: bool) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.into_iter()
                    .filter(|(k, v)| !(k.starts_with('$') || (in_list && v.is_null())))
                    .map(|(k, v)| (k, plain(v, in_list)))
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.into_iter().map(|v| plain(v, true)).collect()),
            other => other,
        }
    }
    for seed in 0..1000u64 {
        let mut rng = Rng::new(seed);
        let doc = random_object(&mut rng, 4);
        let patch = plain(random_object(&mut rng, 4), false);
        let got = strategic_merge_patch(&doc, &patch, "example.com", "v1", "Widget").unwrap();
        assert_eq!(got, merge_patch(&doc, &patch), "seed {seed}");
    }
}

fn nested(depth: usize, leaf: Value, wrap: fn(Value) -> Value) -> Value {
    (0..depth).fold(leaf, |inner, _| wrap(inner))
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    // Far deeper than serde_json would parse; run on a thread with a known stack so that
    // building and dropping the values themselves is safe.
    let worker = std::thread::Builder::new().stack_size(64 << 20).spawn(|| {
        let deep_map = nested(5 * MAX_DEPTH, json!(1), |v| json!({ "spec": v }));
        let deep_list = nested(5 * MAX_DEPTH, json!(1), |v| json!([v]));
        let pod = realistic_pod();
        assert_eq!(strategic_merge_patch(&pod, &deep_map, "", "v1", "Pod"), Err(PatchError::TooDeep));
        assert_eq!(strategic_merge_patch(&deep_map, &json!({}), "", "v1", "Pod"), Err(PatchError::TooDeep));
        let op = json!([{"op": "add", "path": "/x", "value": deep_list}]);
        assert_eq!(json_patch(&pod, &op), Err(PatchError::TooDeep));
        assert!(merge_patch(&pod, &deep_map).is_object());

        // Within the limit everything works.
        let fine = nested(MAX_DEPTH - 2, json!(1), |v| json!({ "spec": v }));
        assert!(strategic_merge_patch(&pod, &fine, "", "v1", "Pod").is_ok());
    });
    worker.unwrap().join().unwrap();
}

#[test]
fn garbage_documents_are_errors() {
    let pod = realistic_pod();
    for garbage in [json!(null), json!(1), json!("x"), json!([1, 2]), json!(true)] {
        assert!(matches!(strategic_merge_patch(&pod, &garbage, "", "v1", "Pod"), Err(PatchError::Malformed(_))));
        assert!(matches!(strategic_merge_patch(&garbage, &json!({}), "", "v1", "Pod"), Err(PatchError::Invalid(_))));
        assert!(json_patch(&pod, &garbage).is_err());
        assert_eq!(merge_patch(&pod, &garbage), garbage);
    }
}
