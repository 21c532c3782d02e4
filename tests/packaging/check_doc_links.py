#!/usr/bin/env python3
"""Every relative link of the Markdown files under a folder leads somewhere.

Usage: check_doc_links.py FOLDER

For each `[text](target)` in FOLDER's *.md files (recursively), outside code
blocks and code spans: a target that is not a URL (no scheme) must name a file
under FOLDER, and its `#anchor`, if any, a heading of that file as GitHub
slugs it (lower case, punctuation but `-` and `_` dropped, spaces to `-`, a
`-N` suffix for repeats). Prints one line per broken link; exits 1 if any.
Run on the installed documentation (share/doc/actoken), it shows that the
README's and the docs' links work where a user reads them.
"""
import re
import sys
from pathlib import Path

LINK = re.compile(r"\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def slug(heading: str) -> str:
    text = re.sub(r"`([^`]*)`", r"\1", heading.strip())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading: its text
    text = text.lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def prose_lines(path: Path, keep_code_spans=False):
    """The lines of `path` outside fenced code blocks (code spans removed unless kept)."""
    fence = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        marker = re.match(r"^\s*(```+|~~~+)", line)
        if marker:
            if fence is None:
                fence = marker.group(1)[0] * 3
            elif line.strip().startswith(fence):
                fence = None
            continue
        if fence is None:
            yield number, line if keep_code_spans else re.sub(r"`[^`]*`", "", line)


def anchors(path: Path) -> set:
    found, seen = set(), {}
    for _, line in prose_lines(path, keep_code_spans=True):
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not heading:
            continue
        base = slug(heading.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    # Explicit anchors: <a id="..."> or <a name="...">.
    text = path.read_text(encoding="utf-8")
    found.update(re.findall(r"<a\s+(?:id|name)=\"([^\"]+)\"", text))
    return found


def main() -> int:
    root = Path(sys.argv[1]).resolve()
    files = sorted(root.rglob("*.md"))
    if not files:
        print(f"no Markdown files under {root}")
        return 1
    broken, checked = [], 0
    for page in files:
        for number, line in prose_lines(page):
            for target in LINK.findall(line):
                if SCHEME.match(target) or target.startswith("//"):
                    continue
                checked += 1
                file_part, _, anchor = target.partition("#")
                where = f"{page.relative_to(root)}:{number}: {target}"
                dest = (page.parent / file_part).resolve() if file_part else page
                if root not in dest.parents and dest != root:
                    broken.append(f"{where}: leads outside {root}")
                elif not dest.exists():
                    broken.append(f"{where}: no such file")
                elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                    broken.append(f"{where}: no heading #{anchor} in {dest.name}")
    for line in broken:
        print(line)
    print(f"check_doc_links: {checked} links in {len(files)} files, {len(broken)} broken")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
