#!/usr/bin/env python3
"""The library's module import graph, read from src/: one line per module with the modules it
names (`use crate::...`, `super::...`, `crate::...` paths in code), then every circle of modules
that reach each other. Test modules (`#[cfg(test)] mod tests`) and the backends' insides are left
out: a backend is one module (`backend::mysql`), as the stages see it.

    python3 scripts/imports.py            # the graph, then its circles
    python3 scripts/imports.py --check    # exits 1 when there is a circle

Reads text, not meaning: a path named in a comment counts (rekey's comments name what they use).
"""

import os
import re
import sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
# Folders shown as one module: the engines and the audit's insides are not what this graph is for.
WHOLE = ["backend/mysql", "backend/postgres", "backend/sqlite", "audit", "report", "cli"]


def module_of(rel):
    """src-relative file path -> module path (`stages/mod.rs` -> `stages`)."""
    for w in WHOLE:
        if rel.startswith(w + "/"):
            return w.replace("/", "::")
    path = rel[:-3]
    if path.endswith("/mod"):
        path = path[:-4]
    if path in ("lib", "main"):
        return path
    return path.replace("/", "::")


def modules():
    found = {}
    for root, _, files in os.walk(SRC):
        for f in files:
            if f.endswith(".rs"):
                full = os.path.join(root, f)
                rel = os.path.relpath(full, SRC).replace(os.sep, "/")
                found.setdefault(module_of(rel), []).append(full)
    return found


def strip(text):
    text = re.split(r"#\[cfg\(test\)\]\s*mod tests", text)[0]
    return "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("//"))


def expand_use(body):
    """`a::{b, c::{d}}` -> [`a::b`, `a::c::d`]."""
    body = re.sub(r"\s+", "", body)
    depth, start = 0, None
    for i, ch in enumerate(body):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                prefix, inner = body[:start], body[start + 1 : i]
                parts, d, cur = [], 0, ""
                for c in inner:
                    if c == "," and d == 0:
                        parts.append(cur)
                        cur = ""
                        continue
                    d += c == "{"
                    d -= c == "}"
                    cur += c
                parts.append(cur)
                out = []
                for p in parts:
                    if p and p != "self":
                        out += expand_use(prefix + p)
                    elif p == "self":
                        out.append(prefix.rstrip(":"))
                return out
    return [re.sub(r"\bas\w+$", "", body)]


def resolve(path, here, known):
    """The longest module that `path` (crate-absolute segments) names, or None."""
    for n in range(len(path), 0, -1):
        name = "::".join(path[:n])
        if name in known:
            return name
    return None


def edges_of(mod, files, known):
    here = mod.split("::")
    parent = here[:-1]
    out = set()
    aliases = {}
    text = "\n".join(strip(open(f, encoding="utf-8").read()) for f in files)
    # Modules declared inside this one (`pub mod x;`) are its children, named without a prefix.
    children = re.findall(r"^\s*(?:pub(?:\(crate\))?\s+)?mod\s+(\w+)\s*;", text, re.M)

    def absolute(segs):
        if not segs:
            return None
        if segs[0] == "crate":
            return segs[1:]
        if segs[0] == "super":
            return parent + segs[1:]
        if segs[0] == "self":
            return here + segs[1:]
        if segs[0] in aliases:
            return aliases[segs[0]] + segs[1:]
        if segs[0] in children:
            return here + segs
        return None

    for body in re.findall(r"\buse\s+([^;]+);", text):
        for u in expand_use(body):
            segs = [s for s in u.split("::") if s]
            a = absolute(segs)
            if a is None:
                continue
            if segs[-1] != "*":
                aliases[segs[-1]] = a
            target = resolve([s for s in a if s != "*"], here, known)
            if target:
                out.add(target)
    for m in re.finditer(r"\b((?:crate|super|self|\w+)(?:::\w+)+)", text):
        segs = m.group(1).split("::")
        a = absolute(segs)
        if a is None:
            continue
        target = resolve(a, here, known)
        if target:
            out.add(target)
    out.discard(mod)
    # A module's own children are part of it, not something it imports.
    return {t for t in out if not t.startswith(mod + "::") or mod in ("lib", "main")}


def circles(graph):
    index, low, stack, on, result, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
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
            if len(comp) > 1:
                result.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return result


def main():
    found = modules()
    known = set(found)
    graph = {m: edges_of(m, files, known) for m, files in found.items()}
    # lib and main only declare and hand on the modules; their arrows say nothing.
    for root in ("lib",):
        graph[root] = set()
    for m in sorted(graph):
        print(f"{m} -> {', '.join(sorted(graph[m])) or '-'}")
    found_circles = circles(graph)
    print()
    print(f"{len(graph)} modules, {sum(len(v) for v in graph.values())} imports, "
          f"{len(found_circles)} circles")
    for c in found_circles:
        inner = sorted(f"{a} -> {b}" for a in c for b in graph[a] if b in c)
        print(f"circle of {len(c)}: {', '.join(c)}")
        for line in inner:
            print(f"    {line}")
    if "--check" in sys.argv and found_circles:
        sys.exit(1)


if __name__ == "__main__":
    main()
