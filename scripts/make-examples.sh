#!/usr/bin/env bash
# The shipped examples: real recordings of the lab images' creation, made by the tool itself
# (`sudo make examples`), so a new user can `beefine-tui replay examples/...` with no root, BPF or Docker.
# Each is a `trace --lab --fresh` (the image removed first, so the story has its pull and unpacking),
# gzip-compressed by its name. Needs root: real probes and a private lab, removed by trace itself.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
bt="$repo/.venv/bin/beefine-tui"
out="$repo/examples"
mkdir -p "$out"
for image in small layered; do
  file="$out/$image.jsonl.gz"
  echo "[examples] tracing the lab's $image image -> ${file#"$repo"/}"
  # the recording's header keeps the command line: a relative path, not this checkout's location
  (cd "$repo" && "$bt" trace "$image" --lab --fresh --record "examples/$image.jsonl.gz" --force >/dev/null)
  chmod 0644 "$file"  # shipped: readable by everyone (recordings are made 0600)
done
du -b "$out"/*.jsonl.gz
