"""Read the Go struct definitions of the Kubernetes API types out of a Go binary.

Why: the protobuf schema (k8s-pb) says how fields are encoded but not how the Go
structs behind them marshal to JSON. Three facts only the Go types know decide the
JSON form of a decoded object:

* the JSON name (`json:"podIP"`; snake_case -> camelCase loses `IP`, `CIDR`, ...),
* whether the field is a pointer (`*int32 replicas`: a present 0 means "zero"; a
  plain `int32 minReadySeconds` is always on the wire and 0 means "unset"),
* `omitempty` and `,inline` (embedded structs whose fields JSON flattens).

Any Go binary that links k8s.io/api carries these in its reflection data (struct
field names with their full tags and field types), so we read them from
`/usr/bin/kubectl`. Layouts are Go 1.17+ `internal/abi` (checked with go1.23):

    Type       {Size, PtrBytes uintptr; Hash uint32; TFlag, Align, FieldAlign, Kind uint8;
                Equal, GCData ptr; Str NameOff int32; PtrToThis int32}   -- 48 bytes
    StructType {Type; PkgPath Name; Fields []StructField}               -- 80 bytes, then UncommonType
    StructField{Name Name; Typ *Type; Offset uintptr}                   -- 24 bytes
    Name       flags byte, varint len, bytes[, varint taglen, tag]

Only stdlib; works on a stripped, statically linked ELF (reflection data is never stripped).
"""

import re
import struct

KINDS = {1: "bool", 5: "int32", 6: "int64", 14: "float64", 21: "map", 22: "ptr", 23: "slice", 24: "string", 25: "struct"}


class GoBinary:
    def __init__(self, path):
        self.data = open(path, "rb").read()
        d = self.data
        if d[:4] != b"\x7fELF":
            raise SystemExit(f"{path} is not an ELF binary")
        shoff = struct.unpack_from("<Q", d, 0x28)[0]
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", d, 0x3A)
        raw = [struct.unpack_from("<IIQQQQ", d, shoff + i * shentsize) for i in range(shnum)]
        strtab = raw[shstrndx][4]
        self.sections = {}
        for name, typ, _flags, addr, off, size in raw:
            nm = d[strtab + name : d.index(b"\0", strtab + name)].decode()
            if typ != 8 and addr:  # skip NOBITS (.bss)
                self.sections[nm] = (addr, off, size)
        # Type names (NameOff) are relative to the start of the type data, which the Go
        # linker places at the start of .rodata.
        self.rodata = self.sections[".rodata"]

    def off(self, addr):
        for base, off, size in self.sections.values():
            if base <= addr < base + size:
                return off + addr - base
        raise ValueError(f"address {addr:#x} outside the file")

    def u64(self, addr):
        return struct.unpack_from("<Q", self.data, self.off(addr))[0]

    def i32(self, addr):
        return struct.unpack_from("<i", self.data, self.off(addr))[0]

    def u8(self, addr):
        return self.data[self.off(addr)]

    def _varint(self, o):
        r = s = 0
        while True:
            b = self.data[o]
            o += 1
            r |= (b & 0x7F) << s
            s += 7
            if b < 0x80:
                return r, o

    def name(self, addr):
        """(name, tag) of an abi.Name."""
        o = self.off(addr)
        flags = self.data[o]
        n, p = self._varint(o + 1)
        nm = self.data[p : p + n].decode("utf-8", "replace")
        tag = ""
        if flags & 2:
            t, q = self._varint(p + n)
            tag = self.data[q : q + t].decode("utf-8", "replace")
        return nm, tag

    def kind(self, t):
        return KINDS.get(self.u8(t + 23) & 0x1F, "other")

    def type_name(self, t):
        nm, _ = self.name(self.rodata[0] + self.i32(t + 40))
        return nm[1:] if self.u8(t + 20) & 2 else nm  # TFlagExtraStar

    def pkg_path(self, t):
        if self.u8(t + 20) & 1:  # TFlagUncommon: UncommonType follows the 80-byte StructType
            off = self.i32(t + 80)
            if off:
                return self.name(self.rodata[0] + off)[0]
        p = self.u64(t + 48)
        return self.name(p)[0] if p else ""

    def elem(self, t):
        """Element type of a pointer or slice; value type of a map."""
        return self.u64(t + 56) if self.kind(t) == "map" else self.u64(t + 48)

    def _tagged_names(self):
        """Addresses of every abi.Name whose tag holds a protobuf tag."""
        base, off, size = self.rodata
        ro = self.data[off : off + size]
        found = {}
        ident = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")
        for m in re.finditer(rb'protobuf:"', ro):
            for st in range(m.start() - 3, max(m.start() - 400, 0), -1):
                if ro[st] & ~0x0F:
                    continue
                n, p = self._varint(off + st + 1)
                p -= off
                if not ident.fullmatch(ro[p : p + n]) or not ro[st] & 2:
                    continue
                t, q = self._varint(off + p + n)
                q -= off
                if q <= m.start() < q + t <= len(ro):
                    found[base + st] = True
                    break
        return found

    def structs(self):
        """{(pkgPath, TypeName): [field dicts]} for every struct with protobuf-tagged fields."""
        base, off, size = self.rodata
        ro = self.data[off : off + size]
        names = self._tagged_names()
        words = list(struct.iter_unpack("<Q", ro[: size - size % 8]))
        starts = set()
        for i, (w,) in enumerate(words):
            if w in names:  # a StructField whose Name has a protobuf tag; walk back to field 0
                a = base + 8 * i
                while self.u64(a + 16) != 0:
                    a -= 24
                starts.add(a)
        out = {}
        for i, (w,) in enumerate(words):
            if w not in starts:
                continue
            t = base + 8 * i - 56
            n, cap = self.u64(t + 64), self.u64(t + 72)
            if self.kind(t) != "struct" or n != cap or not 0 < n < 500:
                continue
            fields = []
            for k in range(n):
                fname_addr, ftype, _ = (self.u64(w + 24 * k + j) for j in (0, 8, 16))
                fname, tag = self.name(fname_addr)
                embedded = bool(self.u8(fname_addr) & 8)  # abi.Name flag: embedded field
                fields.append(self._field(fname, tag, ftype, embedded))
            out[(self.pkg_path(t), self.type_name(t).split(".", 1)[-1])] = fields
        return out

    def _field(self, fname, tag, ftype, embedded):
        tags = dict(re.findall(r'(\w+):"([^"]*)"', tag))
        json = tags.get("json", "").split(",")
        proto = tags.get("protobuf", "").split(",")
        kind = self.kind(ftype)
        inner = self.elem(ftype) if kind in ("ptr", "slice", "map") else ftype
        return {
            "go_name": fname,
            # encoding/json: no name in the tag means the Go field name, or inlining for an
            # untagged embedded struct.
            "json": json[0] or ("" if embedded else fname),
            "omitempty": "omitempty" in json[1:],
            "inline": "inline" in json[1:] or (embedded and not json[0]),
            "tag": int(proto[1]) if len(proto) > 1 else None,
            "wire": proto[0] if proto[0] else None,
            "pointer": kind == "ptr",
            "kind": kind,
            "inner_kind": self.kind(inner),
            "inner_name": self.type_name(inner),
        }
