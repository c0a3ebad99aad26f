"""Bad input to `trace` and `image` is refused with a clear message and a non-zero exit, before any
root, Docker or BPF work (so these run anywhere)."""

from __future__ import annotations

import pytest

from beefine_tui.cli import main
from beefine_tui.docker.runner import check_reference, registry_of, split_tag
from beefine_tui.errors import UsageError


@pytest.mark.parametrize(
    "ref", ["Bad::name", "UPPER/case", "a//b", "", "x:tag with space", "x@sha256:zz", " lead"]
)
def test_bad_references(ref: str) -> None:
    with pytest.raises(UsageError):
        check_reference(ref)


@pytest.mark.parametrize(
    "ref",
    [
        "busybox",
        "busybox:1.36",
        "127.0.0.1:5000/beefine/small:1",
        "localhost/a_b/c-d:v1.2",
        "a@sha256:" + "0" * 64,
    ],
)
def test_good_references(ref: str) -> None:
    check_reference(ref)


def test_split_and_registry() -> None:
    assert split_tag("127.0.0.1:5000/a/b:1") == ("127.0.0.1:5000/a/b", "1")
    assert split_tag("127.0.0.1:5000/a/b") == ("127.0.0.1:5000/a/b", "latest")
    assert split_tag("busybox") == ("busybox", "latest")
    assert registry_of("127.0.0.1:5000/a:1") == "127.0.0.1:5000"
    assert registry_of("busybox") == "registry-1.docker.io:443"
    assert registry_of("example.com/a") == "example.com:443"


def test_trace_bad_name_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "Bad::name"]) == 2
    err = capsys.readouterr().err
    assert "not a valid image name" in err and "Traceback" not in err


def test_trace_options_after_image_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "busybox", "--json"]) == 2
    assert "put options before IMAGE" in capsys.readouterr().err


def test_trace_events_needs_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "--events", "busybox"]) == 2
    assert "--events needs --json" in capsys.readouterr().err


def test_trace_unknown_group(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "--probes", "process,bogus", "busybox"]) == 2
    assert "unknown probe group 'bogus'" in capsys.readouterr().err


def test_image_bad_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["image", "No Spaces"]) == 2
    assert "beefine-tui:" in capsys.readouterr().err


def test_trace_parser_has_every_option() -> None:
    from beefine_tui.cli import build_parser

    args = build_parser().parse_args(
        ["trace", "--lab", "--pull", "--json", "--events", "--explain", "--xdp", "--record", "f",
         "--probes", "files", "--timeout", "5", "small", "--", "echo", "hi"]
    )  # fmt: skip
    assert (args.lab, args.pull, args.json, args.events, args.explain, args.xdp) == (True,) * 6
    assert (args.record, args.probes, args.timeout, args.image) == ("f", "files", 5.0, "small")
    assert args.cmd[-2:] == ["echo", "hi"]
