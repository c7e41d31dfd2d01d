"""Parse the prost messages of the `k8s-pb` crate (generated Rust) into plain data.

Why parse generated Rust instead of the .proto files: k8s-pb is what the tests build
bodies with and what Cargo already has, so the descriptor table and the round-trip
tests come from the very same schema.
"""

import re
from pathlib import Path

ATTR = re.compile(r"#\[prost\(([^\]]*)\)\]")
STRUCT = re.compile(r"^pub struct (\w+) \{")


def proto_package(module):
    """`api/apps/v1` -> `k8s.io.api.apps.v1` (k8s-pb mirrors the proto packages)."""
    return "k8s.io." + ".".join(module)


def resolve(module, rust_path):
    """Full proto name of a Rust type path written inside `module`."""
    parts = [p for p in rust_path.replace(" ", "").split("::") if p]
    mod = list(module)
    while parts and parts[0] == "super":
        mod.pop()
        parts.pop(0)
    if parts and parts[0] == "crate":
        mod, parts = [], parts[1:]
    return proto_package(mod + parts[:-1]) + "." + parts[-1]


def split_generics(s):
    """Top-level comma split of `A<B, C>, D`."""
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return [x.strip() for x in out]


def inner_type(rust_type):
    """`Option<Vec<X>>`-style wrappers stripped down to X (or the map's value type)."""
    t = rust_type.replace("::core::option::Option<", "Option<").replace("::prost::alloc::vec::Vec<", "Vec<")
    t = t.replace("::prost::alloc::boxed::Box<", "Box<")
    m = re.match(r"(?:::prost::alloc::collections::)?BTreeMap<(.*)>$", t)
    if m:
        return split_generics(m.group(1).rstrip(","))[1]
    while True:
        m = re.match(r"(?:Option|Vec|Box)<(.*)>$", t)
        if not m:
            return t
        t = m.group(1).rstrip(",")  # rustfmt's trailing comma in multi-line generics


def parse_module(root, module):
    """{proto full name: [field dicts]} for one k8s-pb module."""
    text = (Path(root) / Path(*module) / "mod.rs").read_text()
    messages, current, pending, decl = {}, None, None, None
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("///") or not s:
            continue
        m = STRUCT.match(line)
        if m:
            current = proto_package(module) + "." + m.group(1)
            messages[current] = []
            continue
        if line.startswith("}"):
            current = None
            continue
        if current is None:
            continue
        a = ATTR.match(s)
        if a:
            pending, decl = a.group(1), ""
            continue
        if pending is not None:
            decl += s
            if decl.endswith(",") and decl.count("<") == decl.count(">"):
                messages[current].append(field(module, pending, decl))
                pending = None
    return messages


def field(module, attr, decl):
    name, rust_type = decl[: -1].split(":", 1)
    name = name.replace("pub ", "").strip().removeprefix("r#")
    tag = int(re.search(r'tag = "(\d+)"', attr).group(1))
    first = attr.split(",")[0].strip()
    f = {"rust_name": name, "tag": tag, "repeated": "repeated" in attr, "map": None, "type": None}
    if first.startswith("btree_map") or first.startswith("map"):
        value = re.search(r'map = "string, (\w+)"', attr).group(1)
        f["map"] = resolve(module, inner_type(rust_type.strip())) if value == "message" else value
    elif first == "message":
        f["type"] = resolve(module, inner_type(rust_type.strip()))
    else:
        f["type"] = first.split(" ")[0]  # string, bytes, int32, int64, bool, double
    return f
