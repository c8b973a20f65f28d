#!/usr/bin/env python3
"""Lists cycles between the source files of each crate: file A names something in file B
(`crate::b::...`, `super::b`, `use crate::{b, ...}`) and B, directly or through others,
names A. A module's own children (`a/mod.rs` → `a/x.rs`, named relatively or not) count
like any other file.
Prints each cycle (a strongly connected component of more than one file) and exits 1 if
there is any. Usage: scripts/module_cycles.py [crate-src-dir ...] (default: src and
crates/pretext-data/src)."""
import re
import sys
from pathlib import Path


def module_of(root: Path, file: Path) -> tuple:
    parts = list(file.relative_to(root).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def edges(root: Path):
    files = {module_of(root, f): f for f in root.rglob("*.rs")}
    graph = {m: set() for m in files}
    for module, file in files.items():
        text = re.sub(r"//[^\n]*", "", file.read_text())
        # Test modules may reach anywhere.
        text = text.split("#[cfg(test)]")[0]
        paths = re.findall(r"crate::((?:\w+::)*\w+)", text)
        # A child named relatively (`use progress::Reporter` in train/mod.rs).
        paths += [
            "::".join(module + (p,))
            for p in re.findall(r"(?<![\w:])(\w+)::", text)
            if module + (p,) in files
        ]
        # `super::x::…` from the parent, `super::super::x::…` from the grandparent. (A
        # child's `use super::{A, B}` of its parent's items is not followed: that is how a
        # module's files share the items its mod.rs declares.)
        for ups, rest in re.findall(r"(?<![\w:])((?:super::)+)((?:\w+::)*\w+)", text):
            base = module[: len(module) - ups.count("super::")]
            paths.append("::".join(base + (rest,)))
        for group in re.findall(r"crate::\{([^}]*)\}", text):
            paths += [p.strip().split("::")[0] for p in group.split(",") if p.strip()]
        for path in paths:
            parts = tuple(p for p in path.split("::") if p != "self")
            # The longest prefix that is a file.
            for n in range(len(parts), 0, -1):
                if parts[:n] in files and parts[:n] != module:
                    graph[module].add(parts[:n])
                    break
    return files, graph


def components(graph):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return [c for c in out if len(c) > 1]


roots = [Path(a) for a in sys.argv[1:]] or [Path("src"), Path("crates/pretext-data/src")]
found = False
for root in roots:
    files, graph = edges(root)
    for comp in components(graph):
        found = True
        names = sorted(str(files[m].relative_to(root)) for m in comp)
        print(f"{root}: cycle among {', '.join(names)}")
        for m in sorted(comp):
            inside = sorted(str(files[w].relative_to(root)) for w in graph[m] if w in comp)
            print(f"    {files[m].relative_to(root)} → {', '.join(inside)}")
sys.exit(1 if found else 0)
