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


def test_trace_options_after_image_are_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "busybox", "--events"]) == 2
    assert "--events needs --json" in capsys.readouterr().err


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
    from beefine_tui.cli import build_parser, parse

    args = parse(build_parser(),
        ["trace", "--lab", "--pull", "--json", "--events", "--explain", "--xdp", "--record", "f",
         "--probes", "files", "--timeout", "5", "small", "--", "echo", "hi"]
    )  # fmt: skip
    assert (args.lab, args.pull, args.json, args.events, args.explain, args.xdp) == (True,) * 6
    assert (args.record, args.probes, args.timeout, args.image) == ("f", "files", 5.0, "small")
    assert args.cmd[-2:] == ["echo", "hi"]


@pytest.mark.parametrize(
    ("argv", "image", "cmd", "pull"),
    [
        (["trace", "small", "--pull", "--", "ls", "-l"], "small", ["ls", "-l"], True),
        (["trace", "--pull", "small", "echo", "hi"], "small", ["echo", "hi"], True),
        (["trace", "small", "--pull", "echo", "hi"], "small", ["echo", "hi"], True),
        (["trace", "small", "--", "sh", "-c", "echo --pull"], "small", ["sh", "-c", "echo --pull"], False),
        (["trace", "small"], "small", [], False),
        (["trace", "small", "--"], "small", [], False),
    ],
)
def test_trace_options_go_before_or_after_the_image(
    argv: list[str], image: str, cmd: list[str], pull: bool
) -> None:
    from beefine_tui.cli import build_parser, parse

    args = parse(build_parser(), argv)
    assert (args.image, args.cmd, args.pull) == (image, cmd, pull)


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["trace", "small", "ls", "-l"], "options for the container's command go after --"),
        (["trace", "small", "echo", "--", "hi"], "the command is given twice"),
    ],
)
def test_trace_ambiguous_command_lines_are_refused_with_a_hint(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from beefine_tui.cli import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert said in capsys.readouterr().err


def test_trace_docker_run_options_reach_create() -> None:
    from beefine_tui.cli import build_parser, parse
    from beefine_tui.commands.trace import create_options

    args = parse(build_parser(),
        ["trace", "small", "--security-opt", "no-new-privileges", "--read-only", "--cap-drop", "ALL",
         "--cap-drop", "NET_RAW", "--", "true"]
    )  # fmt: skip
    assert create_options(args) == {
        "security_opt": ["no-new-privileges"],
        "read_only": True,
        "cap_drop": ["ALL", "NET_RAW"],
    }
    assert create_options(parse(build_parser(), ["trace", "small"])) == {}


def test_trace_privileged_and_network_reach_create() -> None:
    from beefine_tui.cli import build_parser, parse
    from beefine_tui.commands.trace import create_options

    args = parse(build_parser(), ["trace", "--privileged", "--network", "none", "small", "--", "true"])
    assert args.cmd == ["true"]
    assert create_options(args) == {"privileged": True, "network_mode": "none"}


def test_trace_empty_network_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    from beefine_tui.cli import main

    assert main(["trace", "--network", " ", "small"]) == 2
    assert "--network needs a mode" in capsys.readouterr().err
