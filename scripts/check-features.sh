#!/usr/bin/env bash
# README's first command (`cargo run -p datalab`) and its second (`cargo test --workspace`)
# must resolve the same features for every dependency they share, or the test build
# compiles DataFusion and much else a second time. Compares `cargo tree` of the two (no
# build) and prints, for each crate that differs, the features to add to
# crates/datalab/Cargo.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
run=$(mktemp) test=$(mktemp)
trap 'rm -f "$run" "$test"' EXIT
cargo tree --locked -p datalab -e normal,build --prefix none -f '{p}|{f}' >"$run"
cargo tree --locked --workspace -e normal,build,dev --prefix none -f '{p}|{f}' >"$test"
python3 - "$run" "$test" <<'PY'
import sys

def load(path):
    features = {}
    for line in open(path):
        line = line.strip().replace(" (*)", "").replace(" (proc-macro)", "")
        if "|" in line:
            package, listed = line.split("|", 1)
            features.setdefault(package, set()).update(f for f in listed.split(",") if f)
    return features

run, test = load(sys.argv[1]), load(sys.argv[2])
drift = [(p, sorted(test[p] - run[p])) for p in sorted(run) if p in test and test[p] != run[p]]
for package, missing in drift:
    print(f"{package}: the test build adds features {missing}")
if drift:
    print("add them to crates/datalab/Cargo.toml so that both commands share one build")
    sys.exit(1)
PY
