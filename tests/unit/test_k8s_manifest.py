"""deploy/kubernetes/beefine-agent.yaml, checked by parsing (no cluster here): a DaemonSet on every
node with what the probes need, whose command our own CLI accepts, serving metrics where Prometheus
can scrape them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from beefine_tui.agent.metrics import parse_listen
from beefine_tui.cli import build_parser

MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes" / "beefine-agent.yaml"


def _docs() -> dict[str, Any]:
    return {d["kind"]: d for d in yaml.safe_load_all(MANIFEST.read_text()) if d}


def test_daemonset_runs_the_agent_on_every_node() -> None:
    ds = _docs()["DaemonSet"]
    assert ds["apiVersion"] == "apps/v1"
    spec = ds["spec"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    pod = spec["template"]["spec"]
    assert pod["hostPID"] is True
    assert {"operator": "Exists"} in pod["tolerations"]
    (c,) = pod["containers"]
    assert c["securityContext"]["privileged"] is True
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert {"/sys/kernel/tracing", "/sys/kernel/debug", "/sys/fs/bpf", "/lib/modules"} <= mounts
    volumes = {v["name"] for v in pod["volumes"]}
    assert {m["name"] for m in c["volumeMounts"]} <= volumes


def test_its_command_is_one_our_cli_accepts_and_metrics_are_scrapable() -> None:
    ds = _docs()["DaemonSet"]
    (c,) = ds["spec"]["template"]["spec"]["containers"]
    cmd = c["command"]
    assert cmd[0] == "beefine-tui"
    args = build_parser().parse_args(cmd[1:])
    assert args.command == "agent"
    addr, port = parse_listen(args.metrics)
    assert addr == "0.0.0.0", "in a pod, loopback cannot be scraped: the manifest must say where"
    assert {"name": "metrics", "containerPort": port} in c["ports"]
    ann = ds["spec"]["template"]["metadata"]["annotations"]
    assert ann["prometheus.io/port"] == str(port)


def test_kubectl_transport_reaches_the_daemonsets_agent(monkeypatch: Any) -> None:
    """`--remote kubectl://NAMESPACE/POD/CONTAINER` execs into the DaemonSet's namespace and
    container a command our CLI takes as the agent (what the manifest's comment documents)."""
    from beefine_tui.agent.client import parse_remote, transport_argv

    monkeypatch.delenv("BEEFINE_KUBECTL", raising=False)
    monkeypatch.delenv("BEEFINE_AGENT_COMMAND", raising=False)
    ds = _docs()["DaemonSet"]
    ns = ds["metadata"]["namespace"]
    (c,) = ds["spec"]["template"]["spec"]["containers"]
    argv = transport_argv(parse_remote(f"kubectl://{ns}/beefine-agent-x7k2p/{c['name']}"))
    assert argv[:7] == ["kubectl", "exec", "-i", "-n", ns, "beefine-agent-x7k2p", "-c"]
    assert argv[7] == c["name"] and argv[8] == "--"
    cmd = argv[9:]
    assert cmd[0] == c["command"][0]  # the same program the pod runs
    assert build_parser().parse_args(cmd[1:]).command == "agent"
    assert "kubectl://" in MANIFEST.read_text()  # documented where the DaemonSet is
