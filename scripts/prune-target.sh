#!/usr/bin/env bash
# Keeps a shared CARGO_TARGET_DIR from filling the disk across CI runs:
# keeps the two newest executables of each name in deps/ (two packages may
# have a test file of the same name) and removes older ones, and removes
# incremental caches untouched for a day. What a build needs (libraries,
# build scripts, current executables) stays; anything removed is rebuilt.
set -euo pipefail
target="${CARGO_TARGET_DIR:-target}"
for profile in debug release; do
    deps="$target/$profile/deps"
    [ -d "$deps" ] || continue
    find "$deps" -maxdepth 1 -type f -perm -u+x -regex '.*-[0-9a-f]\{16\}$' -printf '%f\n' \
        | sed 's/-[0-9a-f]\{16\}$//' | sort -u | while read -r name; do
            ls -t "$deps/$name"-???????????????? 2>/dev/null | tail -n +3 | xargs -r rm -f
        done
    if [ -d "$target/$profile/incremental" ]; then
        find "$target/$profile/incremental" -mindepth 1 -maxdepth 1 -type d -mtime +0 -exec rm -rf {} +
    fi
done
