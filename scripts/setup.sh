#!/usr/bin/env bash
# Installs everything Beefine TUI needs on Debian/Ubuntu, idempotently: a second run changes nothing
# and takes seconds. Called by `make setup` (and so by `make run` and `make test`).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
venv="$repo/.venv"
say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root: sudo make setup (BPF, tracefs and Docker all need root)"

# --- Debian packages ---------------------------------------------------------------------------
# (package, command or file that proves it is there)
pkgs=(
  "python3-bpfcc:/usr/lib/python3/dist-packages/bcc/__init__.py"
  "bpfcc-tools:/usr/sbin/execsnoop-bpfcc"
  "bpftrace:/usr/bin/bpftrace"
  "bpftool:/usr/sbin/bpftool"
  "busybox-static:/bin/busybox"
  "docker-registry:/usr/bin/docker-registry"
  # the metrics test scrapes the agent with a real Prometheus (started by the test, on loopback)
  "prometheus:/usr/bin/prometheus"
  "python3-venv:/usr/lib/python3/dist-packages/../../python3.11/ensurepip/__init__.py"
  "iproute2:/usr/sbin/ip"
  "iptables:/usr/sbin/iptables"
  "tmux:/usr/bin/tmux"
  "openssh-server:/usr/sbin/sshd"
  "openssh-client:/usr/bin/ssh"
  "util-linux:/usr/bin/lsns"
  "procps:/usr/bin/pgrep"
  "strace:/usr/bin/strace"
  # the syscall numbers of the syscalls probe (asm/unistd_64.h), see probes/syscall_table.py
  "linux-libc-dev:/usr/include/linux/version.h"
)
# A Docker engine the user already has (Docker CE, a distro build...) is respected.
if command -v dockerd >/dev/null 2>&1; then
  say "Docker engine found: $(command -v dockerd) (not installing docker.io)"
else
  pkgs+=("docker.io:/usr/sbin/dockerd")
fi
if ! command -v docker >/dev/null 2>&1; then pkgs+=("docker-cli:/usr/bin/docker"); fi

missing=()
for entry in "${pkgs[@]}"; do
  pkg=${entry%%:*}; proof=${entry#*:}
  [ -e "$proof" ] || missing+=("$pkg")
done

kver=$(uname -r)
headers_ok=0
[ -e "/lib/modules/$kver/build/include/generated/autoconf.h" ] && headers_ok=1

if [ ${#missing[@]} -gt 0 ] || [ $headers_ok -eq 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    die "no apt-get on this machine. Install these yourself, then run again:
  ${missing[*]:-} kernel headers for $kver (linux-headers-$kver or your distro's equivalent),
  and a Python 3.11+ with venv and BCC's python bindings."
  fi
  export DEBIAN_FRONTEND=noninteractive
  say "apt-get update"
  apt-get update -qq
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing: ${missing[*]}"
    # daemons these packages bring (docker-registry, prometheus) must not start: the lab and the
    # tests start their own on loopback and stop them; a policy-rc.d of our own, unless one exists
    own_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && own_policy=1
    fi
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || {
      [ $own_policy -eq 1 ] && rm -f /usr/sbin/policy-rc.d; die "apt-get install failed"; }
    [ $own_policy -eq 1 ] && rm -f /usr/sbin/policy-rc.d
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
      for unit in prometheus docker-registry; do
        case " ${missing[*]} " in *" $unit "*) systemctl disable --now "$unit" >/dev/null 2>&1 || true ;; esac
      done
    fi
  fi
fi

# --- kernel headers for BCC --------------------------------------------------------------------
if [ $headers_ok -eq 0 ]; then
  if apt-get install -y -qq --no-install-recommends "linux-headers-$kver" >/dev/null 2>&1; then
    say "installed linux-headers-$kver"
  else
    # Fallback measured in ENVIRONMENT.md: Debian's current headers. Struct layouts may differ
    # from this kernel, which is why built-in BCC probes never walk kernel structs.
    apt-get install -y -qq --no-install-recommends linux-headers-amd64 >/dev/null
    hdr=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -n 1)
    common=$(ls -d /usr/src/linux-headers-*-common 2>/dev/null | sort -V | tail -n 1)
    [ -n "$hdr" ] && [ -n "$common" ] || die "no kernel headers could be installed for $kver"
    mkdir -p "/lib/modules/$kver"
    ln -sfn "$hdr" "/lib/modules/$kver/build"
    ln -sfn "$common" "/lib/modules/$kver/source"
    say "FALLBACK: no linux-headers-$kver in the archive; linked $(basename "$hdr") for BCC"
    echo "$(basename "$hdr")" > "/lib/modules/$kver/.beefine-fallback-headers"
  fi
fi

# --- tracefs / debugfs (BCC reads tracepoint formats there) -------------------------------------
if [ ! -e /sys/kernel/tracing/events ]; then
  mount -t tracefs nodev /sys/kernel/tracing && say "mounted tracefs at /sys/kernel/tracing"
fi
if [ ! -e /sys/kernel/debug/tracing ] && ! mountpoint -q /sys/kernel/debug; then
  mount -t debugfs nodev /sys/kernel/debug && say "mounted debugfs at /sys/kernel/debug"
fi

# --- Python venv on Debian's python (BCC's bindings live in its dist-packages) ------------------
bash "$repo/scripts/venv.sh"
"$venv/bin/python" -c 'import bcc' 2>/dev/null || die "BCC's python bindings do not import in $venv"

# --- `beefine-tui` on root's PATH --------------------------------------------------------------
if [ "$(readlink -f /usr/local/bin/beefine-tui 2>/dev/null)" != "$venv/bin/beefine-tui" ]; then
  ln -sfn "$venv/bin/beefine-tui" /usr/local/bin/beefine-tui
  say "linked /usr/local/bin/beefine-tui"
fi
say "ready"
