#!/usr/bin/env python3
"""Finds trapping accumulation over possibly untrusted integers in Sources/ (issue 15 item 4).

    scripts/check-arithmetic.py [--list]

Swift traps on integer overflow, so a sum of numbers that came from the wire or a file must use
checked arithmetic (LienThongCore `Checked`, `addingReportingOverflow`, `&+` where wrapping is
provably unreachable) — see docs/robustness.md §Untrusted numbers. This checker is a grep, not a
type checker: it flags every ACCUMULATION, the shape in which untrusted numbers grow without bound:

  - `reduce(0, +)`, `reduce(0) { $0 + ... }` and `reduce(into: 0)`;
  - compound `+=`, `-=`, `*=` whose right-hand side is not the literal 1 and not a string or array
    literal (`x += 1` counts things held in memory, which cannot reach 2^63; `s += "..."` and
    `a += [...]` are concatenation).

Each flagged line must be listed in scripts/arithmetic-allowlist.txt (file, the line's code with
spaces collapsed, and why it cannot overflow: the operands' bounds) or the script fails. Lines are
matched by their text, not their number, so unrelated edits do not invalidate the review; a changed
line must be reviewed again. Comments and string literals are ignored. `--list` prints every
flagged line with its status. Binary `a + b` in expressions is not flagged (too many, mostly
indices and times): docs/robustness.md names the files reviewed by hand for those.
"""
import os, re, sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
allow_path = os.path.join(root, "scripts", "arithmetic-allowlist.txt")

REDUCE = re.compile(r"reduce\(\s*0\s*,\s*[+*]\s*\)|reduce\(\s*0\s*\)\s*\{[^}]*[^&]\+|reduce\(\s*into:\s*0\s*\)")
COMPOUND = re.compile(r"(?<![&<>=!])(\+|-|\*)=(?!=)\s*(.*)$")


def strip(line, state):
    """The line without comments and string-literal contents; `state` tracks multi-line strings."""
    out = []
    i = 0
    while i < len(line):
        if state["triple"]:
            end = line.find('"""', i)
            if end < 0:
                return "".join(out)
            state["triple"] = False
            out.append('""')
            i = end + 3
            continue
        if line.startswith('"""', i):
            state["triple"] = True
            i += 3
            continue
        c = line[i]
        if line.startswith("//", i):
            break
        if c == '"':
            j = i + 1
            while j < len(line) and line[j] != '"':
                j += 2 if line[j] == "\\" else 1
            out.append('""')
            i = j + 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def flagged():
    hits = []
    for folder, _, files in os.walk(os.path.join(root, "Sources")):
        for name in sorted(files):
            if not name.endswith(".swift"):
                continue
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, root)
            state = {"triple": False}
            with open(path, encoding="utf-8") as f:
                for number, raw in enumerate(f, 1):
                    code = strip(raw.rstrip("\n"), state)
                    if not code.strip():
                        continue
                    hit = bool(REDUCE.search(code))
                    for match in COMPOUND.finditer(code):
                        rhs = match.group(2).strip()
                        if re.match(r"^1\b(?!\.)", rhs) or rhs.startswith('"') or rhs.startswith("["):
                            continue
                        hit = True
                    if hit:
                        hits.append((relative, number, " ".join(raw.strip().split())))
    return hits


def allowlist():
    entries = {}
    with open(allow_path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3 or not parts[2].strip():
                sys.exit(f"{allow_path}:{number}: want FILE<TAB>CODE<TAB>REASON")
            entries[(parts[0], parts[1])] = parts[2]
    return entries


def main():
    hits = flagged()
    allowed = allowlist()
    unreviewed = [h for h in hits if (h[0], h[2]) not in allowed]
    used = {(h[0], h[2]) for h in hits}
    stale = [k for k in allowed if k not in used]
    if "--list" in sys.argv:
        for relative, number, code in hits:
            print(f"{'ok ' if (relative, code) in allowed else 'NEW'} {relative}:{number}: {code}")
    for relative, number, code in unreviewed:
        print(f"{relative}:{number}: unreviewed accumulation (use Checked, or add a reason to scripts/arithmetic-allowlist.txt): {code}")
    for relative, code in stale:
        print(f"scripts/arithmetic-allowlist.txt: stale entry (no such line any more): {relative}: {code}")
    print(f"check-arithmetic: {len(hits)} accumulations in Sources/, {len(hits) - len(unreviewed)} reviewed, "
          f"{len(unreviewed)} unreviewed, {len(stale)} stale allow-list entries")
    return 1 if unreviewed or stale else 0


if __name__ == "__main__":
    sys.exit(main())
