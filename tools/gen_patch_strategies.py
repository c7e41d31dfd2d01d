#!/usr/bin/env python3
"""Generates crates/api/src/patch/strategies_generated.rs.

Upstream Kubernetes keeps strategic-merge-patch metadata in Go struct tags
(`patchStrategy`, `patchMergeKey`) and list semantics in comment markers
(`+listType`, `+listMapKey`). k8s-openapi's schemas do not carry them, but the
kube-rs `k8s-pb` crate keeps upstream's comments verbatim in its doc comments,
so this script reads them from there:

    /// +patchMergeKey=name
    /// +patchStrategy=merge
    /// +listType=map
    /// +listMapKey=name
    #[prost(message, repeated, tag = "2")]
    pub containers: ::prost::alloc::vec::Vec<Container>,

k8s-pb's Rust names are prost's renderings of the proto names (`pod_i_ps`,
`AwsElasticBlockStoreVolumeSource`), so fields and types are matched against
k8s-openapi's schemas (the JSON names, `podIPs`, `AWSElasticBlockStoreVolumeSource`)
by package plus normalized name (lowercase, alphanumerics only).

It also lists every k8s-openapi type that implements `Resource` (group, version,
kind, Rust path, definition name) so the patch code can find the root type of a
request and make schemars describe it.

Usage (from the workspace root, after `cargo fetch`):

    python3 tools/gen_patch_strategies.py            # writes the file
    python3 tools/gen_patch_strategies.py --check    # exits 1 if it is stale

Crate locations default to ~/.cargo/registry/src/*/; override with
--k8s-pb DIR and --k8s-openapi DIR.
"""

import argparse
import glob
import os
import re
import sys

K8S_PB_VERSION = "0.7.0"
K8S_OPENAPI_VERSION = "0.25.0"
K8S_OPENAPI_FEATURE = "v1_32"
OUTPUT = "crates/api/src/patch/strategies_generated.rs"

MARKER = re.compile(r"^\s*///\s*\+(patchMergeKey|patchStrategy|listType|listMapKey)=(\S+)\s*$")
DOC = re.compile(r"^\s*///")
STRUCT = re.compile(r"^pub struct (\w+) \{")
FIELD = re.compile(r"^    pub (?:r#)?(\w+):")
PROPERTY = re.compile(r'\(\s*\n\s*"([^"]+)"\.into\(\),')
DEFINITION = re.compile(r"^// Generated from definition (\S+)", re.M)
SCHEMA_IMPL = "impl crate::schemars::JsonSchema for"
RESOURCE_IMPL = re.compile(
    r"impl crate::Resource for (\w+) \{\s*"
    r'const API_VERSION: &\'static str = "[^"]*";\s*'
    r'const GROUP: &\'static str = "([^"]*)";\s*'
    r'const KIND: &\'static str = "([^"]*)";\s*'
    r'const VERSION: &\'static str = "([^"]*)";'
)


# Go structs embedded with `json:",inline"`: their fields belong to the embedding type's schema.
INLINED = {
    "io.k8s.api.core.v1.EphemeralContainerCommon": "io.k8s.api.core.v1.EphemeralContainer",
}


def normalize(name):
    return re.sub(r"[^a-z0-9]", "", name.lower())


def crate_dir(override, name, version):
    if override:
        return override
    pattern = os.path.expanduser(f"~/.cargo/registry/src/*/{name}-{version}")
    found = sorted(glob.glob(pattern))
    if not found:
        sys.exit(f"{name} {version} not found under ~/.cargo/registry/src (run `cargo fetch`)")
    return found[-1]


def pb_package(src, path):
    """api/core/v1/mod.rs -> io.k8s.api.core.v1 (the OpenAPI definition prefix)."""
    parts = os.path.relpath(os.path.dirname(path), src).split(os.sep)
    # Crate directories use '_' where the Go module paths use '-'.
    parts[0] = parts[0].replace("_", "-")
    return "io.k8s." + ".".join(parts)


def read_pb(src):
    """Yields (package, PbType, pb_field, {marker: [values]}) for every marked field."""
    for path in sorted(glob.glob(os.path.join(src, "**", "mod.rs"), recursive=True)):
        package = pb_package(src, path)
        current = None
        markers = {}
        with open(path) as f:
            for line in f:
                m = STRUCT.match(line)
                if m:
                    current, markers = m.group(1), {}
                    continue
                if line.startswith("}"):
                    current, markers = None, {}
                    continue
                if current is None:
                    continue
                m = MARKER.match(line)
                if m:
                    markers.setdefault(m.group(1), []).append(m.group(2))
                    continue
                if DOC.match(line) or line.lstrip().startswith("#["):
                    continue
                m = FIELD.match(line)
                if m:
                    if markers:
                        yield package, current, m.group(1), markers
                    markers = {}


def read_openapi(src):
    """Returns ({definition: [json property names]}, [resource tuples])."""
    definitions = {}
    resources = []
    root = os.path.join(src, "src", K8S_OPENAPI_FEATURE)
    for path in sorted(glob.glob(os.path.join(root, "**", "*.rs"), recursive=True)):
        with open(path) as f:
            text = f.read()
        d = DEFINITION.search(text)
        if not d or SCHEMA_IMPL not in text:
            continue
        schema = text[text.index(SCHEMA_IMPL):]
        definitions[d.group(1)] = PROPERTY.findall(schema)
        for rust_name, group, kind, version in RESOURCE_IMPL.findall(text):
            module = os.path.relpath(os.path.dirname(path), root).replace(os.sep, "::")
            rust_path = f"k8s_openapi::{module}::{rust_name}"
            resources.append((group, version, kind, d.group(1), rust_path))
    return definitions, sorted(set(resources))


def build(pb_src, openapi_src):
    definitions, resources = read_openapi(openapi_src)
    by_norm_type = {}
    for name in definitions:
        package, _, type_name = name.rpartition(".")
        by_norm_type[(package, normalize(type_name))] = name

    rows, skipped_types, unmatched_fields = {}, set(), []
    for package, pb_type, pb_field, markers in read_pb(pb_src):
        definition = by_norm_type.get((package, normalize(pb_type)))
        definition = INLINED.get(f"{package}.{pb_type}", definition)
        if definition is None:
            skipped_types.add(f"{package}.{pb_type}")
            continue
        props = {normalize(p): p for p in definitions[definition]}
        field = props.get(normalize(pb_field))
        if field is None:
            unmatched_fields.append(f"{definition}.{pb_field}")
            continue
        rows[(definition, field)] = (
            ",".join(markers.get("patchStrategy", [])) or None,
            (markers.get("patchMergeKey") or [None])[0],
            (markers.get("listType") or [None])[0],
            markers.get("listMapKey", []),
        )
    return rows, resources, sorted(skipped_types), unmatched_fields


def rust_str(value):
    return "None" if value is None else f'Some("{value}")'


def render(rows, resources):
    out = [
        "// @generated by tools/gen_patch_strategies.py -- do not edit by hand.",
        f"// Source: upstream's +patchStrategy/+patchMergeKey/+listType/+listMapKey markers as kept in the",
        f"// doc comments of k8s-pb {K8S_PB_VERSION}, matched to k8s-openapi {K8S_OPENAPI_VERSION} ({K8S_OPENAPI_FEATURE})",
        "// JSON field names. Regenerate: `python3 tools/gen_patch_strategies.py` (`--check` in CI).",
        "",
        "use super::strategies::PatchMeta;",
        "",
        "/// (OpenAPI definition name, JSON field name, metadata), sorted for binary search.",
        "#[rustfmt::skip]",
        "pub(super) static FIELDS: &[(&str, &str, PatchMeta)] = &[",
    ]
    for (definition, field), (strategy, key, list_type, map_keys) in sorted(rows.items()):
        keys = ", ".join(f'"{k}"' for k in map_keys)
        out.append(
            f'    ("{definition}", "{field}", PatchMeta {{ strategy: {rust_str(strategy)}, '
            f"merge_key: {rust_str(key)}, list_type: {rust_str(list_type)}, list_map_keys: &[{keys}] }}),"
        )
    out += [
        "];",
        "",
        "/// (group, version, kind, OpenAPI definition name) of every k8s-openapi type that implements",
        "/// `Resource`, sorted for binary search.",
        "#[rustfmt::skip]",
        "pub(super) static ROOTS: &[(&str, &str, &str, &str)] = &[",
    ]
    for group, version, kind, definition, _ in resources:
        out.append(f'    ("{group}", "{version}", "{kind}", "{definition}"),')
    out += [
        "];",
        "",
        "/// Makes schemars describe every root type (and so every type reachable from one).",
        "#[rustfmt::skip]",
        "pub(super) fn add_root_schemas(generator: &mut k8s_openapi::schemars::gen::SchemaGenerator) {",
    ]
    for _, _, _, _, rust_path in resources:
        out.append(f"    generator.subschema_for::<{rust_path}>();")
    out += ["}", ""]
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--k8s-pb")
    parser.add_argument("--k8s-openapi")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()

    pb_src = os.path.join(crate_dir(args.k8s_pb, "k8s-pb", K8S_PB_VERSION), "src")
    openapi_src = crate_dir(args.k8s_openapi, "k8s-openapi", K8S_OPENAPI_VERSION)
    rows, resources, skipped, unmatched = build(pb_src, openapi_src)
    text = render(rows, resources)

    print(f"{len(rows)} fields, {len(resources)} root types", file=sys.stderr)
    # Types/fields k8s-pb knows but k8s-openapi v1_32 does not (newer or non-served APIs).
    print(f"skipped {len(skipped)} marked types and {len(unmatched)} fields absent from k8s-openapi", file=sys.stderr)
    if args.verbose:
        for name in skipped + unmatched:
            print(f"  {name}", file=sys.stderr)

    if args.check:
        with open(OUTPUT) as f:
            if f.read() != text:
                sys.exit(f"{OUTPUT} is stale: run python3 tools/gen_patch_strategies.py")
        return
    with open(OUTPUT, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
