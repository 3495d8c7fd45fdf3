#!/usr/bin/env bash
# Mutation testing of the core with cargo-mutants (https://mutants.rs): each
# mutant is a small deliberate bug (an operator flipped, a function returning a
# default, a match arm deleted); a test suite that misses one has a hole.
#
#   scripts/mutants.sh                  every mutant of the core, then the report
#   scripts/mutants.sh -F '^src/props'  only mutants whose name matches a regex (any
#                                       cargo-mutants option passes through: --shard 1/4, -j 2, ...)
#   scripts/mutants.sh --report DIR...  rewrite mutants/RESULT.md from earlier runs' output
#                                       folders (e.g. all the shards of one run; where a
#                                       mutant appears twice, the later folder's outcome wins)
#
# The core and the tests that judge it are in .cargo/mutants.toml (the host tests
# of both crates; the VM suite cannot run there). cargo-mutants works on copies of
# the tree, so the worktree is never changed; its output goes to
# ${MUTANTS_OUT:-target/mutants/core}/mutants.out.
#
# The report, mutants/RESULT.md, gives the counts (caught, missed, unviable,
# timeout) and every missed or timed-out mutant with its justification from
# mutants/justified.txt: one line per mutant, `FILE: MUTATION ## why`, the
# mutant's name as cargo-mutants prints it without line and column (so it
# survives edits above it). A miss without a justification is listed as
# UNJUSTIFIED and the script exits 1: fix the test, or justify the miss.
# MUTANTS_NOTE, if set, is added to the report as a paragraph (how a partial or
# staged run was made).
#
# Needs cargo-mutants: `cargo install cargo-mutants --locked`. The whole core
# (about 700 mutants) takes hours on two cores; -F or --shard take a part.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"

report() {
    python3 - "$top/mutants/justified.txt" "$top/mutants/RESULT.md" "$@" <<'PY'
import json, os, re, subprocess, sys

justified_path, result_path, *dirs = sys.argv[1:]

def key(name):
    """The mutant's name without line and column: FILE: MUTATION."""
    return re.sub(r"^([^:]+):\d+:\d+: ", r"\1: ", name)

justified = {}
if os.path.exists(justified_path):
    for n, line in enumerate(open(justified_path, encoding="utf-8"), 1):
        line = line.rstrip("\n")
        if not line.strip() or line.startswith("#"):
            continue
        if " ## " not in line:
            sys.exit(f"{justified_path}:{n}: expected 'FILE: MUTATION ## why'")
        name, why = line.split(" ## ", 1)
        justified[name.strip()] = why.strip()

# The last outcome of each mutant wins: a later folder (a rerun of the misses
# with --iterate, whose earlier output cargo-mutants keeps as mutants.out.old)
# overrides an earlier one.
last = {}
meta = []
for d in dirs:
    path = os.path.join(d, "mutants.out", "outcomes.json")
    if not os.path.exists(path):
        path = os.path.join(d, "outcomes.json")
    data = json.load(open(path, encoding="utf-8"))
    meta.append((d, data.get("start_time", "?"), data.get("end_time", "?"),
                 data.get("cargo_mutants_version", "?")))
    for o in data["outcomes"]:
        scenario = o["scenario"]
        if scenario == "Baseline":
            continue
        last[scenario["Mutant"]["name"]] = (o["summary"], path)

counts = {"caught": 0, "missed": 0, "unviable": 0, "timeout": 0}
missed, timeouts = [], []
for name, (summary, path) in last.items():
    if summary == "CaughtMutant":
        counts["caught"] += 1
    elif summary == "MissedMutant":
        counts["missed"] += 1
        missed.append(name)
    elif summary == "Unviable":
        counts["unviable"] += 1
    elif summary == "Timeout":
        counts["timeout"] += 1
        timeouts.append(name)
    else:
        sys.exit(f"{path}: unknown outcome {summary} for {name}")

commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                        text=True).stdout.strip()
total = sum(counts.values())
unjustified = 0
out = ["# Mutation testing: the last result", "",
       "Written by `scripts/mutants.sh` (README, Testing) from cargo-mutants' output; the",
       "core and the tests that judge it are in `.cargo/mutants.toml`. Justifications",
       "of the misses that remain live in `mutants/justified.txt`.", "",
       f"Tree: `{commit}`."]
for d, start, end, version in meta:
    out.append(f"Run: `{os.path.relpath(d)}`, cargo-mutants {version}, {start} to {end}.")
note = os.environ.get("MUTANTS_NOTE", "").strip()
if note:
    out += ["", note]
out += ["", "| mutants | caught | missed | unviable | timeout |", "|---|---|---|---|---|",
        f"| {total} | {counts['caught']} | {counts['missed']} | {counts['unviable']} "
        f"| {counts['timeout']} |", ""]
for title, names in (("Missed", missed), ("Timed out", timeouts)):
    out.append(f"## {title} ({len(names)})")
    out.append("")
    if not names:
        out.append("None.")
    for name in sorted(names):
        why = justified.get(key(name))
        if why is None:
            unjustified += 1
            why = "**UNJUSTIFIED**: fix the test or justify it in mutants/justified.txt"
        out.append(f"- `{name}` — {why}")
    out.append("")
open(result_path, "w", encoding="utf-8").write("\n".join(out))
print(f"mutants: {total} mutants: {counts['caught']} caught, {counts['missed']} missed, "
      f"{counts['unviable']} unviable, {counts['timeout']} timeout; "
      f"{unjustified} unjustified; wrote {os.path.relpath(result_path)}")
sys.exit(1 if unjustified else 0)
PY
}

if [ "${1:-}" = --report ]; then
    shift
    [ "$#" -gt 0 ] || set -- "${MUTANTS_OUT:-target/mutants/core}"
    report "$@"
    exit
fi

command -v cargo-mutants >/dev/null 2>&1 \
    || { echo "mutants: cargo-mutants is missing: cargo install cargo-mutants --locked" >&2; exit 1; }
out=${MUTANTS_OUT:-target/mutants/core}
mkdir -p "$out"
rc=0
cargo mutants --workspace --no-shuffle --output "$out" "$@" || rc=$?
# 0: all caught; 2: some missed; 3: some timed out. Anything else is a failure
# to run (1: usage, 4: the tests fail without any mutation).
case "$rc" in
    0 | 2 | 3) report "$out" ;;
    *) echo "mutants: cargo mutants failed (exit $rc); see $out/mutants.out/debug.log" >&2; exit "$rc" ;;
esac
