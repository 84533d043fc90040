#!/usr/bin/env python3
"""Print the module import graph of a Rust crate's source folder, and its cycles.

Why: a refactoring note wants to show "import graph before/after" and state which
way each dependency goes, without building the crate (no cargo, stdlib only).

How: every .rs file is a module (lib.rs/main.rs = `crate`, foo/mod.rs = `foo`,
foo/bar.rs = `foo::bar`). After stripping comments, string/char literals and
`#[cfg(test)]` items, every `crate::...` path (in `use` trees, grouped or nested,
and inline) and every `super::...` path (relative to the file's module) is an edge
to the longest path prefix that is an existing module. `self::...`, bare paths
and `mod child;` declarations are not edges; self-edges are dropped.
Test files (a `tests/` folder, or a name ending in `tests.rs`) are excluded
unless --with-tests. Cycles are the strongly connected components (Tarjan) with
more than one module. --top collapses modules to their first path segment.

Usage: module_graph.py [SRC_DIR=engine/src] [--edges] [--top] [--with-tests]
                       [--fail-on-cycle]
Exit status is 0 (it is a report), or 1 with --fail-on-cycle when a cycle exists.
"""
import argparse
import os
import re
import sys

ROOT = "crate"
RAW_STR = re.compile(r'b?r(#*)"')


def module_name(rel):
    parts = rel[:-3].split("/")
    return tuple(parts[:-1] if parts[-1] in ("mod", "lib", "main") else parts)


def is_test_file(rel):
    return "/tests/" in "/" + rel or rel.endswith("tests.rs")


def strip(src):
    """Blank out comments (nested /* */ too), strings, raw strings and char literals."""
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            while i < n and src[i] != "\n":
                i += 1
        elif src.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                step = {"/*": 1, "*/": -1}.get(src[i : i + 2], 0)
                depth, i = depth + step, i + (2 if step else 1)
            out.append(" ")
        elif (m := RAW_STR.match(src, i)) and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")):
            end = src.find('"' + m.group(1), m.end())
            i = n if end < 0 else end + 1 + len(m.group(1))
            out.append('""')
        elif c == '"':
            i += 1
            while i < n and src[i] != '"':
                i += 2 if src[i] == "\\" else 1
            i += 1
            out.append('""')
        elif c == "'" and src.startswith("\\", i + 1):  # escaped char literal
            i = src.find("'", i + 3) + 1 or n
            out.append("' '")
        elif c == "'" and src[i + 2 : i + 3] == "'":  # plain char literal ('a' is a lifetime)
            i += 3
            out.append("' '")
        else:
            out.append(c)
            i += 1
    return "".join(out)


def drop_cfg_test(src):
    """Remove each `#[cfg(test)]` item: up to its `;` or its matching `}`."""
    while (m := re.search(r"#\[cfg\(test\)\]", src)):
        i, depth = m.end(), 0
        while i < len(src):
            c = src[i]
            if c in "([":
                depth += 1
            elif c in ")]":
                depth -= 1
            elif c == ";" and depth == 0:
                i += 1
                break
            elif c == "{" and depth == 0:
                braces = 1
                while i + 1 < len(src) and braces:
                    i += 1
                    braces += {"{": 1, "}": -1}.get(src[i], 0)
                i += 1
                break
            i += 1
        src = src[: m.start()] + " " + src[i:]
    return src


def expand_use(tree):
    """Expand a use tree like `crate::{a, b::{c, d as e}, f::*}` to segment lists."""
    tokens = re.findall(r"::|[{},*]|[A-Za-z_][A-Za-z0-9_]*", tree)
    pos = 0

    def parse(prefix):
        nonlocal pos
        paths, path = [], list(prefix)
        while pos < len(tokens):
            t = tokens[pos]
            pos += 1
            if t == "{":
                while pos < len(tokens) and tokens[pos] != "}":
                    paths += parse(path)
                    if pos < len(tokens) and tokens[pos] == ",":
                        pos += 1
                pos += 1
                return paths
            if t in (",", "}"):
                pos -= 1
                break
            if t == "as":  # skip alias
                pos += 1
            elif t == "self" and path:  # `a::{self}` is `a`
                pass
            elif t != "::":
                path.append(t)
        return paths + [path]

    return parse([])


def resolve(segs, here, modules):
    """Map a path's segments to the longest module prefix; None if not crate/super."""
    if not segs or segs[0] not in (ROOT, "super"):
        return None
    if segs[0] == ROOT:
        base, rest = (), segs[1:]
    else:
        base, rest = here, list(segs)
        while rest and rest[0] == "super":
            base, rest = base[:-1], rest[1:]
    full = base + tuple(rest)
    for k in range(len(full), -1, -1):
        if full[:k] in modules:
            return full[:k]
    return None


def file_edges(src, here, modules):
    src = drop_cfg_test(strip(src))
    paths = []
    use_re = re.compile(r"(?<![\w$])use\s+([^;]*);")
    for m in use_re.finditer(src):
        paths += expand_use(m.group(1))
    src = use_re.sub(" ", src)
    inline = re.compile(r"(?<![\w$:])(?:crate|super)(?:\s*::\s*[A-Za-z_]\w*)+")
    paths += [re.split(r"\s*::\s*", m.group(0)) for m in inline.finditer(src)]
    targets = {resolve(p, here, modules) for p in paths}
    return {t for t in targets if t is not None and t != here}


def tarjan(nodes, adj):
    index, low, stack, on, sccs = {}, {}, [], set(), []
    sys.setrecursionlimit(max(10000, 4 * len(nodes)))

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(adj.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = stack[stack.index(v):]
            del stack[stack.index(v):]
            on.difference_update(comp)
            sccs.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return sccs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src", nargs="?", default="engine/src")
    for flag in ("--edges", "--top", "--with-tests", "--fail-on-cycle"):
        ap.add_argument(flag, action="store_true")
    args = ap.parse_args()

    files = {}
    for dirpath, _, names in os.walk(args.src):
        for name in names:
            if name.endswith(".rs"):
                rel = os.path.relpath(os.path.join(dirpath, name), args.src).replace(os.sep, "/")
                if args.with_tests or not is_test_file(rel):
                    files[module_name(rel)] = os.path.join(dirpath, name)
    modules = set(files) | {()}
    edges = set()
    for mod, path in files.items():
        with open(path, encoding="utf-8", errors="replace") as f:
            edges |= {(mod, t) for t in file_edges(f.read(), mod, modules)}

    def name(m):
        return (m[0] if args.top else "::".join(m)) if m else ROOT

    graph = {(name(a), name(b)) for a, b in edges if name(a) != name(b)}
    nodes = {name(m) for m in files} | {n for e in graph for n in e}
    adj = {n: {b for a, b in graph if a == n} for n in nodes}

    print(f"modules: {len(nodes)}, edges: {len(graph)}")
    cycles = sorted(c for c in tarjan(nodes, adj) if len(c) > 1)
    for c in cycles:
        print(f"cycle ({len(c)} modules): {', '.join(c)}")
    if not cycles:
        print("no cycles")
    if args.edges:
        for a, b in sorted(graph):
            print(f"{a} -> {b}")
    return 1 if cycles and args.fail_on_cycle else 0


if __name__ == "__main__":
    sys.exit(main())
