"""The lab's pure logic: names, subnets, mount parsing, refusals that need no root."""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path

import pytest

from beefine_tui.docker import lab
from beefine_tui.errors import BeefineError, NotRootError, UsageError

ROUTES = json.dumps(
    [
        {"dst": "default", "gateway": "192.0.2.1", "dev": "eth0"},
        {"dst": "172.31.251.0/24", "dev": "br-x"},
        {"dst": "10.0.0.0/8", "dev": "tun0"},
        {"dst": "fe80::/64", "dev": "eth0"},
        {"dst": "172.29.0.0/20", "dev": "other"},
    ]
)
ADDRS = json.dumps(
    [
        {"ifname": "lo", "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8}]},
        {"ifname": "br-y", "addr_info": [{"family": "inet", "local": "172.29.200.1", "prefixlen": 24}]},
        {"ifname": "eth0", "addr_info": [{"family": "inet6", "local": "fe80::1", "prefixlen": 64}]},
    ]
)


def test_used_networks_reads_routes_and_addresses() -> None:
    nets = lab.used_networks(ROUTES, ADDRS)
    assert ipaddress.IPv4Network("172.31.251.0/24") in nets
    assert ipaddress.IPv4Network("10.0.0.0/8") in nets
    assert ipaddress.IPv4Network("172.29.200.0/24") in nets
    assert ipaddress.IPv4Network("127.0.0.0/8") in nets
    assert all(n.version == 4 for n in nets)


def test_used_networks_tolerates_garbage() -> None:
    assert lab.used_networks("not json", "") == []
    assert lab.used_networks('[{"dst": "nonsense"}]', "[]") == []


def test_pick_subnet_avoids_everything_in_use() -> None:
    used = lab.used_networks(ROUTES, ADDRS)
    for name in ("default", "t1234", "app", "a", "b" * 24):
        net = lab.pick_subnet(name, used)
        assert net.prefixlen == 24 and net.subnet_of(lab.SUBNET_POOL)
        assert not any(net.overlaps(u) for u in used), (name, net)


def test_pick_subnet_is_stable_per_name_and_differs_between_names() -> None:
    assert lab.pick_subnet("alpha", []) == lab.pick_subnet("alpha", [])
    picks = {lab.pick_subnet(f"lab{i}", []) for i in range(20)}
    assert len(picks) > 10  # spread by the name hash, so parallel labs rarely even try the same one


def test_pick_subnet_moves_on_when_its_first_choice_is_taken() -> None:
    first = lab.pick_subnet("x", [])
    second = lab.pick_subnet("x", [first])
    assert second != first and not second.overlaps(first)


def test_pick_subnet_fails_clearly_when_pool_is_full() -> None:
    with pytest.raises(BeefineError, match="no free /24"):
        lab.pick_subnet("x", [ipaddress.IPv4Network("172.16.0.0/12")])


@pytest.mark.parametrize("name", ["default", "t12345", "a", "x" * 24, "my_lab-2"])
def test_bridge_names_fit_ifnamsiz(name: str) -> None:
    br = lab.bridge_for(name)
    assert 0 < len(br) <= 15 and br.startswith("bfl-")
    assert br != "docker0"


def test_long_names_get_distinct_bridges() -> None:
    assert lab.bridge_for("a" * 20) != lab.bridge_for("a" * 19 + "b")


@pytest.mark.parametrize("bad", ["", "-x", "a/b", "../etc", "a b", "x" * 25, "ä"])
def test_bad_names_are_refused(bad: str) -> None:
    with pytest.raises(UsageError, match="bad lab name"):
        lab.check_name(bad)


def test_state_dir_and_host_follow_the_name() -> None:
    assert lab.state_dir_for("foo") == Path("/run/beefine/lab-foo")


MOUNTINFO = r"""22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
100 22 0:50 / /run/beefine/lab-t1/root/overlay2/abc/merged rw - overlay overlay rw
101 22 0:4 net:[4026532] /run/beefine/lab-t1/exec/netns/f00 rw - nsfs nsfs rw
102 22 0:51 / /run/beefine/lab-t12/root/overlay2/def/merged rw - overlay overlay rw
103 22 0:52 / /run/beefine/lab-t1/with\040space rw - tmpfs tmpfs rw
104 22 0:53 / /run/beefine/lab-t1 rw - tmpfs tmpfs rw
"""


def test_mounts_in_finds_only_this_lab_deepest_first() -> None:
    got = lab.mounts_in(MOUNTINFO, Path("/run/beefine/lab-t1"))
    assert "/run/beefine/lab-t12/root/overlay2/def/merged" not in got  # another lab with a longer name
    assert set(got) == {
        "/run/beefine/lab-t1/root/overlay2/abc/merged",
        "/run/beefine/lab-t1/exec/netns/f00",
        "/run/beefine/lab-t1/with space",
        "/run/beefine/lab-t1",
    }
    assert got[-1] == "/run/beefine/lab-t1"  # the top last
    assert got[0] == "/run/beefine/lab-t1/root/overlay2/abc/merged"


def test_up_without_root_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lab.os, "geteuid", lambda: 1000)
    with pytest.raises(NotRootError, match="needs root") as e:
        lab.up("unit")
    assert "sudo" in e.value.hint


def test_down_without_root_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lab.os, "geteuid", lambda: 1000)
    with pytest.raises(NotRootError):
        lab.down("unit")


def test_missing_dockerd_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(lab.os, "geteuid", lambda: 0)
    monkeypatch.delenv("BEEFINE_DOCKERD", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    with pytest.raises(BeefineError, match="dockerd") as e:
        lab.up("unit")
    assert "docker.io" in e.value.hint
    assert not lab.state_dir_for("unit").exists()


def test_explicit_binary_that_is_not_executable_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "dockerd"
    f.write_text("not a program")
    with pytest.raises(BeefineError, match=f"not found at {f}"):
        lab._find_binary("dockerd", str(f), "BEEFINE_DOCKERD", "docker.io")


def test_bad_registry_port_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lab.os, "geteuid", lambda: 0)
    monkeypatch.setattr(lab, "_find_binary", lambda *a: "/bin/true")
    with pytest.raises(UsageError, match="bad registry port"):
        lab.up("unit", registry_port=70000)


def test_status_of_unknown_lab_is_none() -> None:
    assert lab.status("surely-not-a-lab-xyz") is None


def test_cli_refuses_up_options_on_down(capsys: pytest.CaptureFixture[str]) -> None:
    from beefine_tui.cli import main

    assert main(["lab", "down", "--registry-port", "5000"]) == 2
    assert "go with `lab up` only" in capsys.readouterr().err


def test_cli_status_of_unknown_lab(capsys: pytest.CaptureFixture[str]) -> None:
    from beefine_tui.cli import main

    assert main(["lab", "status", "--name", "surely-not-a-lab-xyz"]) == 2
    err = capsys.readouterr().err
    assert "no lab named 'surely-not-a-lab-xyz' is running" in err and "Traceback" not in err


def test_cli_bad_name(capsys: pytest.CaptureFixture[str]) -> None:
    from beefine_tui.cli import main

    assert main(["lab", "up", "--name", "../x"]) == 2
    assert "bad lab name" in capsys.readouterr().err


def test_cli_unknown_action_is_an_argparse_error() -> None:
    from beefine_tui.cli import main

    with pytest.raises(SystemExit) as e:
        main(["lab", "frob"])
    assert e.value.code == 2


def test_busy_while_another_holds_the_lab_lock(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(lab, "LOCK_DIR", tmp_path / "locks")
    monkeypatch.setattr(lab, "RUN_DIR", tmp_path)
    assert not lab.is_busy("u1")
    with lab._lab_lock("u1"):
        assert lab.is_busy("u1")
        assert not lab.is_busy("u2")
        with pytest.raises(BeefineError, match="busy"), lab._lab_lock("u1", wait=0.2):
            pass
    assert not lab.is_busy("u1")
    assert not (tmp_path / "locks" / "lab-u1.lock").exists()  # no lab, so no lock file left


def test_a_stepped_clock_leaves_a_live_lab_its_owner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A lab owned by a live process is not an orphan after /proc/stat's btime moves by a second (a
    stepped or slewed clock): with epoch start times it was, and a concurrent `beefine-tui trace`
    removed a running test session's labs."""
    import psutil._pslinux as pslinux

    monkeypatch.setattr(lab, "RUN_DIR", tmp_path)
    sd = lab.state_dir_for("u1")
    sd.mkdir()
    state = lab._State(name="u1")
    state.owner_pid, state.owner_ctime, state.owner_since_boot = lab._started(os.getpid())
    state.owner_boot = lab.boot_id()
    state.save(sd)
    assert not lab.is_orphan("u1")
    real = pslinux.boot_time
    monkeypatch.setattr(pslinux, "boot_time", lambda: real() + 1.0)
    assert not lab.is_orphan("u1")
    state.owner_since_boot -= 60  # a process that reused the pid started at another time
    state.save(sd)
    assert lab.is_orphan("u1")
