"""The facts the story teaches, held against two real recorded runs (fixtures/story/README.md): the
default `docker run` and one with --security-opt no-new-privileges. What runc 1.1 does is in the
events; the story must say the same, and its texts must not say otherwise."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from beefine_tui.events.record import read_recording
from beefine_tui.probes.security import SeccompArgs
from beefine_tui.story.engine import StoryEngine
from beefine_tui.story.explanations import (
    KIND_EXPLANATIONS,
    KIND_SOURCES,
    PHASE_EXPLANATIONS,
    PHASE_SOURCES,
    explain_kind,
)
from beefine_tui.story.phases import DONE, PHASES, Timeline
from beefine_tui.story.render import phase_detail_lines, timeline_bar, timeline_end, timeline_lines

FIXTURES = Path(__file__).parent / "fixtures" / "story"


def story(name: str, tmp_path: Path) -> Timeline:
    p = tmp_path / "rec.jsonl"
    p.write_bytes(gzip.decompress((FIXTURES / name).read_bytes()))
    _, it = read_recording(p)
    eng = StoryEngine()
    eng.feed(list(it))
    return eng.timeline()


@pytest.fixture
def default(tmp_path: Path) -> Timeline:
    return story("run_default.jsonl.gz", tmp_path)


@pytest.fixture
def nnp(tmp_path: Path) -> Timeline:
    return story("run_no_new_privs.jsonl.gz", tmp_path)


def test_no_new_privs_only_when_configured(default: Timeline, nnp: Timeline) -> None:
    d, n = default.phase("security").details, nnp.phase("security").details
    assert d["no_new_privs"] is False and d["no_new_privileges_in_config"] is False
    assert n["no_new_privs"] is True and n["no_new_privileges_in_config"] is True
    # without it, seccomp is loaded while still privileged, before the capability drop; with it, last
    assert d["seccomp_before_cap_drop"] is True and "before the capabilities were dropped" in d["path"]
    assert n["seccomp_before_cap_drop"] is False and "loaded last" in n["path"]
    text = PHASE_EXPLANATIONS["security"]
    assert "only with --security-opt no-new-privileges" in text
    assert "before it drops capabilities" in text


def test_seccomp_is_loaded_with_prctl_and_seccomp_calls_are_probes(default: Timeline) -> None:
    sec = default.phase("security")
    assert sec.details["seccomp_via"] == "prctl(PR_SET_SECCOMP)"
    probes = [e for e in sec.events if e.kind == "seccomp"]
    assert probes and all(isinstance(e.args, SeccompArgs) for e in probes)
    assert all(e.args["ret"] < 0 or e.args.shown()["op"].startswith("SECCOMP_GET_") for e in probes)
    assert not any(e.args.loads_filter for e in probes if isinstance(e.args, SeccompArgs))
    # libseccomp's probing at runc init's start does not stretch the phase back over the mounts
    assert sec.start_ns is not None and sec.start_ns > (default.phase("hostname").start_ns or 0)
    assert "libseccomp probing" in explain_kind("seccomp")


def test_phases_end_with_their_own_work_and_teardown_has_its_own(default: Timeline) -> None:
    exec_start = default.phase("exec").start_ns
    assert exec_start is not None
    for name in ("rootfs", "bundle", "cgroup", "namespaces", "mounts", "hook", "pivot_root", "security"):
        end = default.phase(name).end_ns
        assert end is not None and end < exec_start, name
    td = default.phase("teardown")
    assert td.state == DONE and td.start_ns is not None and td.start_ns > exec_start
    assert td.details["cgroups_removed"] == default.phase("cgroup").details["hierarchies"]
    assert (
        "runc delete" in td.details["commands"] and "containerd-shim-runc-v2 delete" in td.details["commands"]
    )
    assert any("/merged" in u for u in td.details["umounts"])


def test_cgroup_attach_before_bootstrap_limits_after_the_mounts(default: Timeline) -> None:
    cg = default.phase("cgroup").details
    ns, mounts, pivot = (default.phase(n) for n in ("namespaces", "mounts", "pivot_root"))
    t0 = default.t0 or 0
    attached_at = t0 + int(cg["attached"]["ms"] * 1e6)
    assert attached_at < (ns.start_ns or 0)  # before nsexec makes the namespaces
    limits_at = t0 + int(cg["limits_ms"] * 1e6)
    assert (mounts.start_ns or 0) < limits_at < (pivot.start_ns or 0)  # the procHooks sync
    assert cg["limits_written"]["devices.allow"] > 0


def test_network_hook_between_mounts_and_pivot_root(default: Timeline) -> None:
    hook = default.phase("hook")
    assert any(h.startswith("libnetwork-setkey") for h in hook.details["hooks"])
    assert hook.details["dockerd_netns"] == {"setns": 2, "netlink_sockets": 1}
    assert (
        (default.phase("mounts").start_ns or 0)
        < (hook.start_ns or 0)
        < (default.phase("pivot_root").start_ns or 0)
    )


def test_runtime_chain_runc_init_twice_and_subreapers(default: Timeline) -> None:
    rt = default.phase("runtime").details
    what = [c["what"] for c in rt["chain"]]
    assert what[0] == "containerd-shim-runc-v2 start" and what[1] == "containerd-shim-runc-v2 server"
    assert "runc create" in what and "runc start" in what
    assert len(rt["runc_init_execs"]) == 2 and rt["runc_init_execs"][0] == "/proc/self/exe"
    assert "bind mount" in rt["clone_method"]
    init = [c for c in rt["chain"] if c["what"] == "runc:[1:CHILD] clones"]
    assert init and init[0]["pid"] == default.init_pid == rt["init_pid_on_host"]
    assert len(rt["subreapers"]) >= 2


def test_dev_nodes_masks_and_exec_fifo(default: Timeline) -> None:
    dev = default.phase("mounts").details["dev"]
    names = {n.split()[0] for n in dev["nodes"]}
    assert names == {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"}
    assert "/dev/ptmx -> pts/ptmx" in dev["symlinks"]
    masks = default.phase("security").details["readonly_or_masked"]
    assert "/proc/keys: masked: /dev/null bound over the file" in masks
    assert "/sys/firmware: masked: read-only tmpfs over the directory" in masks
    assert "/proc/sys: read-only path: remounted MS_BIND|MS_REMOUNT|MS_RDONLY" in masks
    fifo = default.phase("exec").details["exec_fifo"]
    assert fifo["ready_ms"] < fifo["released_ms"]


def test_init_layer_and_what_the_container_printed(default: Timeline, nnp: Timeline) -> None:
    made = default.phase("rootfs").details["init_layer"]
    for path in ("/.dockerenv", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/dev/console"):
        assert path in made
    assert nnp.phase("exit").details["output"] == "hi"
    assert any("it printed: 'hi'" in line for line in timeline_lines(nnp))


def test_timeline_lists_phases_by_start_with_bars(default: Timeline) -> None:
    ordered = default.by_start()
    starts = [p.start_ns for p in ordered if p.start_ns is not None]
    assert starts == sorted(starts)
    assert [p.name for p in ordered] != list(PHASES)  # not the fixed order: the pull never happened
    rows = [line for line in timeline_lines(default) if "|" in line and not line.startswith(" ")]
    assert [r.split("  ")[0].strip() for r in rows][: len(starts)] == [p.title for p in ordered][
        : len(starts)
    ]
    end = timeline_end(default)
    bars = {p.name: timeline_bar(p, default.t0, end, 40) for p in ordered}
    # overlaps are visible: runtime's bar covers the namespaces' and the hook's
    assert bars["runtime"].index("█") <= bars["namespaces"].index("█")
    assert bars["runtime"].rindex("█") >= bars["hook"].rindex("█")


def test_every_phase_names_its_primary_source() -> None:
    assert set(PHASE_SOURCES) == set(PHASES) == set(PHASE_EXPLANATIONS)
    assert all(PHASE_SOURCES[p] for p in PHASES)
    assert "bundle.go" in PHASE_SOURCES["teardown"] and "runc delete" in PHASE_EXPLANATIONS["teardown"]
    assert "containerd" in PHASE_EXPLANATIONS["teardown"]
    assert "only net" not in PHASE_EXPLANATIONS["namespaces"]
    assert "copy of the parent's mount table" in PHASE_EXPLANATIONS["namespaces"]


def test_every_kind_explanation_names_its_primary_source() -> None:
    assert set(KIND_SOURCES) == set(KIND_EXPLANATIONS)
    assert all(KIND_SOURCES[k] for k in KIND_EXPLANATIONS)
    # the facts issue 12 corrected are sourced where they were checked
    assert "sysSeccompSetFilter" in KIND_SOURCES["seccomp"]
    assert "clone_parent" in KIND_SOURCES["clone"]
    assert "createDevices" in KIND_SOURCES["mknod"]


def test_docker_untar_unshares_and_pivots_into_the_layer(tmp_path: Path) -> None:
    tl = story("real_probes_pull_run.jsonl.gz", tmp_path)
    layers = tl.phase("unpack").details["layers"]
    assert len(layers) == 2
    for cache_id, rec in layers.items():
        assert rec["unshare"] == "CLONE_NEWNS"
        assert rec["pivot_root"].endswith(f"{cache_id}/diff")


def test_bundle_root_is_the_merged_dir_outside_the_bundle(default: Timeline) -> None:
    cfg = default.phase("bundle").details["config"]
    assert cfg["root"].endswith("/merged") and cfg["path"].endswith("/config.json")
    line = next(x for x in default.phase("bundle").details["summary"] if x.startswith("root.path"))
    assert "outside the bundle" in line


def test_dockerd_netns_work_is_not_claimed_while_another_hook_runs(tmp_path: Path) -> None:
    """dockerd's setns events do not say which namespace: with two containers' hooks running at once
    (as two concurrent `docker run`s do), neither story may claim them."""
    from msgspec.structs import replace

    p = tmp_path / "rec.jsonl"
    p.write_bytes(gzip.decompress((FIXTURES / "run_default.jsonl.gz").read_bytes()))
    _, it = read_recording(p)
    events = list(it)
    hook = next(e for e in events if e.kind == "exec" and "libnetwork-setkey" in (e.args.get("argv") or []))
    other_argv = ["libnetwork-setkey", "-exec-root=/x", "f" * 64, "abc"]
    other = [
        replace(hook, pid=999_999, tid=999_999, args={**hook.args.as_dict(), "argv": other_argv}),
        replace(hook, ts=hook.ts + 10**10, pid=999_999, tid=999_999, kind="exit", args={"code": 0}),
    ]
    eng = StoryEngine()
    eng.feed([*events, *other])
    d = eng.timeline().phase("hook").details
    assert "dockerd_netns" not in d and d["dockerd_netns_unattributed"] == 4  # 2 setns, socket, bind


@pytest.fixture
def netlink_run(tmp_path: Path) -> Timeline:
    return story("run_netlink.jsonl.gz", tmp_path)


def test_hook_lists_the_veth_made_moved_and_named_eth0(netlink_run: Timeline) -> None:
    """A real trace with the netlink probe: dockerd's rtnetlink requests say where eth0 comes from."""
    tl = netlink_run
    hook = tl.phase("hook")
    assert hook.details["network_setup"] == [
        "RTM_NEWLINK vethc7b3dfb type veth peer vethd55778b: veth pair made in the host: vethc7b3dfb stays, "
        "vethd55778b is the container's end",
        "RTM_SETLINK ifindex 2240 master ifindex 2236: the host end put on the bridge",
        "RTM_NEWLINK ifindex 2240 up: link up",
        "RTM_NEWLINK ifindex 1 up: lo up (ifindex 1: the loopback a new network namespace starts with, down)",
        "RTM_SETLINK ifindex 2239 -> netns fd 35 (move): the container's end moved into its network "
        "namespace",
        "RTM_NEWLINK ifindex 2239 down: link down",
        "RTM_SETLINK ifindex 2239 name eth0: renamed eth0 inside the container",
        "RTM_SETLINK ifindex 2239 address 02:42:ac:1d:10:02: its MAC address",
        "RTM_NEWADDR ifindex 2239 172.29.16.2/24: the container's address",
        "RTM_NEWLINK ifindex 2239 up: link up",
        "RTM_NEWROUTE default via 172.29.16.1 dev ifindex 2239: the container's default route",
    ]
    # the pair was made before runc ran: the hook's material, not its time, so the phase still starts
    # at the hook's exec, between the mounts and pivot_root
    first_exec = min(e.ts for e in hook.events if e.kind == "exec")
    made = min(e.ts for e in hook.events if e.kind == "rtm_newlink")
    assert made < first_exec == hook.start_ns
    assert (tl.phase("mounts").start_ns or 0) < first_exec < (tl.phase("pivot_root").start_ns or 0)
    assert any("(move): the container's end moved" in line for line in phase_detail_lines(hook))
    for kind in ("rtm_newlink", "rtm_setlink", "rtm_newaddr", "rtm_newroute", "rtm_dellink"):
        assert KIND_EXPLANATIONS[kind] and KIND_SOURCES[kind].startswith("rtnetlink(7)")
    # after the exit, the same link (by its index) goes back to the host and is deleted
    assert tl.phase("teardown").details["network_teardown"] == [
        "RTM_NEWLINK ifindex 2239 down: link down",
        "RTM_SETLINK ifindex 2239 name vethd55778b: renamed back to its name in the host",
        "RTM_SETLINK ifindex 2239 -> netns fd 14 (move): moved back to the host's network namespace",
        "RTM_DELLINK ifindex 2239: deleted: its veth peer in the host goes with it",
    ]


def test_dockerd_netlink_is_not_claimed_while_another_hook_runs(tmp_path: Path) -> None:
    """Another container's hook running at the same time: the requests in ours do not say whose
    namespace they work in, so neither they nor the pair made before are claimed."""
    from msgspec.structs import replace

    p = tmp_path / "rec.jsonl"
    p.write_bytes(gzip.decompress((FIXTURES / "run_netlink.jsonl.gz").read_bytes()))
    _, it = read_recording(p)
    events = list(it)
    hook = next(e for e in events if e.kind == "exec" and "libnetwork-setkey" in (e.args.get("argv") or []))
    other_argv = ["libnetwork-setkey", "-exec-root=/x", "f" * 64, "abc"]
    other = [
        replace(
            hook, ts=hook.ts - 1, pid=999_999, tid=999_999, args={**hook.args.as_dict(), "argv": other_argv}
        ),
        replace(hook, ts=hook.ts + 10**10, pid=999_999, tid=999_999, kind="exit", args={"code": 0}),
    ]
    eng = StoryEngine()
    eng.feed([*events, *other])
    tl = eng.timeline()
    d = tl.phase("hook").details
    assert "network_setup" not in d and not [e for e in tl.phase("hook").events if e.kind.startswith("rtm_")]
    assert d["dockerd_netns_unattributed"] >= 7  # 2 setns, netlink socket and bind, the requests in the hook
    assert "network_teardown" not in tl.phase("teardown").details
