"""A process's security context from /proc: capabilities, seccomp, no_new_privs, LSM label, user mapping.

Sources: capabilities(7) and include/uapi/linux/capability.h (bit numbers); proc(5) for the
CapEff/CapBnd/Seccomp/NoNewPrivs lines of /proc/<pid>/status; user_namespaces(7) for uid_map.
Docker's default capability set is moby's oci/caps/defaults.go (14 capabilities).
"""

from __future__ import annotations

import msgspec

from beefine_tui.docker.namespaces import host_reference
from beefine_tui.docker.procfs import read_text
from beefine_tui.probes.flags import cap_name

# proc(5): Seccomp field
SECCOMP_MODES = {0: "disabled", 1: "strict", 2: "filter"}


class IdMapLine(msgspec.Struct, kw_only=True):
    inside: int
    outside: int
    count: int


class SecurityInfo(msgspec.Struct, kw_only=True):
    cap_effective: list[str] = msgspec.field(default_factory=list)
    cap_bounding: list[str] = msgspec.field(default_factory=list)
    cap_permitted: list[str] = msgspec.field(default_factory=list)
    cap_effective_hex: str = ""
    cap_bounding_hex: str = ""
    dropped_from_host: list[str] = msgspec.field(default_factory=list)  # in host's bounding set, not here
    seccomp: str = ""  # disabled / strict / filter
    seccomp_filters: int | None = None
    no_new_privs: bool | None = None
    lsm_label: str = ""  # AppArmor profile or SELinux context, "" when none
    uid_map: list[IdMapLine] = msgspec.field(default_factory=list)
    gid_map: list[IdMapLine] = msgspec.field(default_factory=list)
    user_namespace: str = ""  # "host's (no remapping)" or "remapped"


def decode_caps(hexmask: str) -> list[str]:
    try:
        mask = int(hexmask, 16)
    except ValueError:
        return []
    out = []
    bit = 0
    while mask >> bit:
        if mask >> bit & 1:
            out.append(cap_name(bit))
        bit += 1
    return out


def parse_id_map(text: str) -> list[IdMapLine]:
    out = []
    for line in text.splitlines():
        f = line.split()
        if len(f) == 3 and all(x.isdigit() for x in f):
            out.append(IdMapLine(inside=int(f[0]), outside=int(f[1]), count=int(f[2])))
    return out


def _status(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


def lsm_label(pid: int, proc: str = "/proc") -> str:
    # AppArmor's own file first (kernel 5.x+ stacking), then the shared attr (EINVAL without an LSM)
    for path in (f"{proc}/{pid}/attr/apparmor/current", f"{proc}/{pid}/attr/current"):
        s = read_text(path)
        if s:
            s = s.strip("\0\n ")
            if s and s != "unconfined":
                return s
            if s == "unconfined":
                return "unconfined"
    return ""


def read_security(pid: int, proc: str = "/proc", host_pid: int | str | None = None) -> SecurityInfo:
    if host_pid is None:
        host_pid = host_reference(proc)
    text = read_text(f"{proc}/{pid}/status")
    if text is None:
        raise FileNotFoundError(f"{proc}/{pid}/status")
    st = _status(text)
    host = _status(read_text(f"{proc}/{host_pid}/status") or "")
    eff, bnd = st.get("CapEff", ""), st.get("CapBnd", "")
    seccomp = st.get("Seccomp", "")
    filters = st.get("Seccomp_filters", "")
    uid_map = parse_id_map(read_text(f"{proc}/{pid}/uid_map") or "")
    gid_map = parse_id_map(read_text(f"{proc}/{pid}/gid_map") or "")
    identity = len(uid_map) == 1 and uid_map[0].inside == 0 and uid_map[0].outside == 0
    bnd_names = decode_caps(bnd)
    return SecurityInfo(
        cap_effective=decode_caps(eff),
        cap_bounding=bnd_names,
        cap_permitted=decode_caps(st.get("CapPrm", "")),
        cap_effective_hex=eff,
        cap_bounding_hex=bnd,
        dropped_from_host=[c for c in decode_caps(host.get("CapBnd", "")) if c not in bnd_names],
        seccomp=SECCOMP_MODES.get(int(seccomp), seccomp) if seccomp.isdigit() else seccomp,
        seccomp_filters=int(filters) if filters.isdigit() else None,
        no_new_privs=(st["NoNewPrivs"] == "1") if "NoNewPrivs" in st else None,
        lsm_label=lsm_label(pid, proc),
        uid_map=uid_map,
        gid_map=gid_map,
        user_namespace="host's (uid 0 inside is uid 0 outside)" if identity else "remapped",
    )
