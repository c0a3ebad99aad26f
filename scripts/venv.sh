#!/usr/bin/env bash
# The project's venv, idempotently, without root: Debian's python with system site packages (where BCC's
# bindings live) and the package with its dev tools. Used by setup.sh (root) and by `make unit` (any user).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
venv="$repo/.venv"
say() { printf '[venv] %s\n' "$*"; }
die() { printf '[venv] error: %s\n' "$*" >&2; exit 1; }

stamp="$venv/.beefine-setup-stamp"
want=$(sha256sum "$repo/pyproject.toml" | cut -c1-16)
if [ ! -x "$venv/bin/python" ]; then
  /usr/bin/python3 -c 'import ensurepip' 2>/dev/null \
    || die "python3-venv is missing: run \`sudo make setup\` once (it installs the Debian packages)"
  say "creating venv on /usr/bin/python3 with system site packages"
  /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  [ -w "$venv" ] || die "$venv needs updating but is not writable by $(id -un): run \`sudo make setup\`"
  say "installing Python dependencies"
  "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null
  "$venv/bin/python" -m pip install -q -e "$repo[dev]"
  echo "$want" > "$stamp"
fi
