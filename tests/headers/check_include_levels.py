#!/usr/bin/env python3
"""Checks every #include of the product against the folder map in docs/architecture.md.

The map is the table between the `folder-map` markers: one row per folder, its first cell the
folder in backticks, its last cell the folders it may include (in backticks). A file belongs to
the folder that holds it directly. An include of a file in the same folder is always
allowed; any other must name a folder the map allows, so includes only point down. The map
itself must have levels: a cycle in it is an error too. A source file in a folder the map does
not list is an error, so a new folder is written into the map before it is used.

Usage: check_include_levels.py SOURCE_DIR [STAMP]   (exit 1 and one line per problem)
"""

import pathlib
import re
import sys

PRODUCT = ("common/", "daemon/", "client/")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
FOLDER = re.compile(r"`([a-z_/]+/)`")


def read_map(doc):
    text = doc.read_text(encoding="utf-8")
    match = re.search(r"<!-- folder-map -->(.*?)<!-- /folder-map -->", text, re.S)
    if not match:
        sys.exit(f"{doc}: no <!-- folder-map --> table")
    allowed = {}
    for line in match.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not FOLDER.fullmatch(cells[0]):
            continue
        allowed[cells[0].strip("`")] = set(FOLDER.findall(cells[-1]))
    return allowed


def cycle_in(allowed):
    """A folder reached again from itself through may-include edges, or None."""
    state = {}

    def visit(folder, path):
        state[folder] = "open"
        for below in allowed.get(folder, ()):
            if state.get(below) == "open":
                return path + [below]
            if below not in state:
                found = visit(below, path + [below])
                if found:
                    return found
        state[folder] = "done"
        return None

    for folder in allowed:
        if folder not in state:
            found = visit(folder, [folder])
            if found:
                return found
    return None


def folder_of(path, allowed):
    folder = path.rpartition("/")[0] + "/"
    return folder if folder in allowed else None


def main():
    root = pathlib.Path(sys.argv[1])
    doc = root / "docs" / "architecture.md"
    allowed = read_map(doc)
    problems = []
    for folder, below in allowed.items():
        for f in below - set(allowed):
            problems.append(f"{doc}: {folder} may include {f}, which the map does not list")
    cycle = cycle_in(allowed)
    if cycle:
        problems.append(f"{doc}: the folder map has a cycle: {' -> '.join(cycle)}")

    sources = sorted(s for top in PRODUCT for s in (root / top).glob("**/*.[ch]pp"))
    for source in sources:
        name = source.relative_to(root).as_posix()
        here = folder_of(name, allowed)
        if here is None:
            problems.append(f"{name}: its folder is not in the folder map of {doc}")
            continue
        for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
            match = INCLUDE.match(line)
            if not match:
                continue
            there = folder_of(match.group(1), allowed)
            if there is None or there == here or there in allowed[here]:
                continue
            problems.append(f"{name}:{number}: includes {match.group(1)}, but {here} may not "
                            f"include {there} (the folder map in docs/architecture.md)")

    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    if len(sys.argv) > 2:
        pathlib.Path(sys.argv[2]).touch()
    return 0


if __name__ == "__main__":
    sys.exit(main())
