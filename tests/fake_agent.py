"""A stand-in agent for unit and TUI tests (no root, no BPF, no Docker): it speaks the real protocol
(agent/protocol.py encodes every line) and answers hello, stats (two containers named after
$FAKE_AGENT_HOST), start (one exec event per second per stream), stop, helpers (fake_helpers()),
progs and progs_stats (fake_progs()), interfaces (fake_interfaces(); a stream of the xdp probe
counts 10 packets more every half second),
doctor (FAKE_CHECKS), load (a program whose text holds REJECT is refused as a verifier would, with
a log and line 3; any other gets one output row per second), unload and bye. Run as
`python tests/fake_agent.py`; $FAKE_AGENT_PROTOCOL makes it speak only that version."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from beefine_tui.agent import protocol as P
from beefine_tui.docker.stats import ContainerRow, DaemonFacts, Snapshot, Totals
from beefine_tui.events.model import Event, FreeArgs, RecordHeader, status_event
from beefine_tui.probes.exec import ExecArgs
from beefine_tui.probes.helpers_catalog import HelperDoc, KernelHelpers, kernel_report
from beefine_tui.probes.xdp_runner import XdpCount, XdpCountsArgs

HOST = os.environ.get("FAKE_AGENT_HOST", "far")
VERSION = int(os.environ.get("FAKE_AGENT_PROTOCOL", str(P.PROTOCOL)))
out = sys.stdout.buffer
lock = threading.Lock()
streams: dict[int, threading.Event] = {}


def send(msg: P.Message) -> None:
    with lock:
        out.write(P.encode(msg))
        out.flush()


def snapshot() -> Snapshot:
    rows = [
        ContainerRow(id=f"{HOST}{i}".ljust(64, "0"), name=f"{HOST}-web{i}", image="busybox", state="running")
        for i in (1, 2)
    ]
    for i, r in enumerate(rows):
        r.cpu_percent, r.mem_bytes, r.mem_limit, r.pids = 1.5 * (i + 1), (i + 1) << 20, 1 << 30, i + 1
    daemon = DaemonFacts(host=HOST, version="20.10-fake", containers_running=2, cpus=2, mem_total=1 << 33)
    return Snapshot(ts=time.time(), daemon=daemon, rows=rows, totals=Totals(running=2))


def fake_helpers() -> tuple[KernelHelpers, dict[str, HelperDoc]]:
    """The kernel and docs this agent's `helpers` reports."""
    kh = KernelHelpers(
        by_type={
            "xdp": ("bpf_map_lookup_elem", "bpf_xdp_adjust_head"),
            "socket_filter": ("bpf_ktime_get_ns",),
        },
        prog_types={"xdp": True, "socket_filter": True},
        attach_notes={"xdp": "generic mode only"},
        types_source="kernel BTF",
        bpftool_by_type={"xdp": ("bpf_map_lookup_elem",)},
        verified=frozenset({"xdp"}),
        probe_seconds=0.5,
        verify_seconds=1.25,
    )
    doc = HelperDoc(
        "bpf_xdp_adjust_head",
        "long bpf_xdp_adjust_head(struct xdp_buff *xdp_md, int delta)",
        "Adjust the packet's head by delta bytes.",
        "Adjust the packet's head by delta bytes.",
        "0 on success, or a negative error.",
    )
    return kh, {doc.name: doc}


# this host's interfaces (`interfaces`): named after it, so a view shows whose they are
def fake_interfaces() -> list[dict[str, object]]:
    tag = HOST.split(":")[0]
    return [
        {"name": "lo", "index": 1, "kind": "loopback", "operstate": "UNKNOWN", "has_xdp": False},
        {"name": f"eth-{tag}", "index": 2, "kind": "physical", "operstate": "UP", "has_xdp": False},
    ]


def feed_xdp(sid: int, ifname: str, stop: threading.Event) -> None:
    """The xdp probe on `ifname`: cumulative counts, 10 packets (1000 bytes) more each time."""
    n = 0
    send(P.Events(stream=sid, events=[status_event("xdp", "running")]))
    while not stop.wait(0.3 if n == 0 else 0.5):
        n += 1
        counts = {
            "total": XdpCount(packets=10 * n, bytes=1000 * n),
            "ipv4": XdpCount(packets=10 * n, bytes=1000 * n),
        }
        ev = Event(
            ts=time.monotonic_ns(),
            probe="xdp",
            kind="xdp_counts",
            args=XdpCountsArgs(ifname=ifname, protocols=counts),
        )
        send(P.Events(stream=sid, events=[ev]))


def feed(sid: int, container: str, stop: threading.Event) -> None:
    n = 0
    send(P.Events(stream=sid, events=[status_event("exec", "running")]))
    while not stop.wait(0.5 if n == 0 else 1.0):
        n += 1
        ev = Event(
            ts=time.monotonic_ns(),
            probe="exec",
            kind="exec",
            pid=1000 + n,
            comm="sh",
            container=container or None,
            args=ExecArgs(filename="/bin/echo", argv=["echo", f"{HOST}-event-{n}"]),
        )
        send(P.Events(stream=sid, events=[ev]))


# what this agent's `doctor` says: one check that fails, one that warns
FAKE_CHECKS = [
    {"name": "privileges", "status": "ok", "detail": "root", "fix": ""},
    {"name": "headers", "status": "warn", "detail": "fallback headers 6.1", "fix": "install linux-headers"},
    {"name": "bpftrace", "status": "fail", "detail": "not installed", "fix": "apt-get install bpftrace"},
]


def feed_program(sid: int, probe: str, stop: threading.Event) -> None:
    n = 0
    while not stop.wait(0.3 if n == 0 else 1.0):
        n += 1
        ev = Event(
            ts=time.monotonic_ns(),
            probe=probe,
            kind="events",
            pid=2000 + n,
            args=FreeArgs(fields={"pid": 2000 + n, "filename": f"/bin/{HOST}-prog-{n}"}),
        )
        send(P.Events(stream=sid, events=[ev]))


def load(mid: int, msg: dict[str, object], sid: int, prog: int) -> bool:
    source = str(msg.get("source", ""))
    if "REJECT" in source:
        log = "R0 invalid mem access 'map_value_or_null'\n; *val += 1; @ user.c:3"
        send(
            P.Error(
                id=mid,
                code=P.FAILED,
                message="the verifier rejected tracepoint__syscalls__sys_enter_execve: invalid mem access",
                hint="check the lookup's result for NULL",
                log=log,
                line=3,
            )
        )
        return False
    name = next((ln.split(":", 1)[1].strip() for ln in source.splitlines() if "// name:" in ln), "pasted")
    probe = f"user:{name}"
    stop = streams[sid] = threading.Event()
    result = {
        "program": prog,
        "stream": sid,
        "name": name,
        "engine": "bcc",
        "origin": msg.get("origin", "pasted"),
        "probes": [probe],
        "columns": ["pid", "filename"],
        "prog_ids": [900 + prog],
        "warnings": [],
        "header": RecordHeader(probes=[probe], host=HOST),
    }
    send(P.Reply(id=mid, result=result))
    threading.Thread(target=feed_program, args=(sid, probe, stop), daemon=True).start()
    return True


def fake_progs(programs: dict[int, int]) -> list[dict[str, object]]:
    """What this host's `progs` lists: one program of someone else's, and one per program loaded
    through this agent (its prog_ids, 900 + program), held by the agent (`ours` there)."""
    rows: list[dict[str, object]] = [
        {"id": 7, "type": "cgroup_skb", "name": f"{HOST}_sd_fw", "attach": ["cgroup:/"],
         "pids": [1], "comms": ["systemd"], "ours": False},
    ]  # fmt: skip
    for prog in sorted(programs):
        rows.append(
            {"id": 900 + prog, "type": "tracepoint", "name": f"{HOST}_user_{prog}",
             "attach": ["tracepoint:syscalls:sys_enter_execve"], "pids": [os.getpid()],
             "comms": ["beefine-tui"], "ours": True}
        )  # fmt: skip
    return rows


def main() -> None:
    programs: dict[int, int] = {}  # program id -> its stream
    next_program = 1
    next_stream = 1
    for line in sys.stdin.buffer:
        msg = json.loads(line)
        mid, cmd = msg["id"], msg["cmd"]
        if cmd == "hello":
            if msg.get("protocol", 0) < VERSION:
                send(
                    P.Error(
                        id=mid, code=P.VERSION, message=f"speaks {VERSION}..{VERSION}", hint="same version"
                    )
                )
                continue
            result = {
                "protocol": VERSION,
                "host": HOST,
                "pid": os.getpid(),
                "monotonic_ns": time.monotonic_ns(),
                "capabilities": [
                    "helpers",
                    "load",
                    "unload",
                    "doctor",
                    "progs_stats",
                    "interfaces",
                    *TRACE_CAPABILITIES,
                ],
            }
            send(P.Reply(id=mid, result=result))
        elif cmd in ("trace", "images", "image") or (cmd == "stop" and msg.get("stream") in traces):
            trace_command(cmd, mid, msg, next_stream)
            if cmd == "trace":
                next_stream += 1
        elif cmd == "load":
            if load(mid, msg, next_stream, next_program):
                programs[next_program] = next_stream
                next_stream, next_program = next_stream + 1, next_program + 1
        elif cmd == "unload":
            sid = programs.pop(msg.get("program", 0), 0)
            if not sid:
                send(P.Error(id=mid, code=P.BAD_ARGS, message="no program loaded by this agent"))
                continue
            streams.pop(sid).set()
            send(P.End(stream=sid, reason="unloaded"))
            send(P.Reply(id=mid, result={"program": msg["program"], "stream": sid}))
        elif cmd == "interfaces":
            send(P.Reply(id=mid, result=fake_interfaces()))
        elif cmd == "progs":
            send(P.Reply(id=mid, result=fake_progs(programs)))
        elif cmd == "progs_stats":
            rows = fake_progs(programs)
            ids = [int(str(r["id"])) for r in rows]
            rates = [
                {"prog_id": i, "runs_per_s": 10.0 * i, "run_ns_per_s": 500.0 * i, "avg_ns": 50.0,
                 "cpu_percent": 0.05 * i}
                for i in ids
            ]  # fmt: skip
            send(P.Reply(id=mid, result={"method": "BPF_ENABLE_STATS fd", "rows": rows, "rates": rates}))
        elif cmd == "doctor":
            send(P.Reply(id=mid, result=FAKE_CHECKS))
        elif cmd == "helpers":
            send(P.Reply(id=mid, result=kernel_report(*fake_helpers())))
        elif cmd == "stats":
            send(P.Reply(id=mid, result=snapshot()))
        elif cmd == "start":
            names = {str(i["name"]) for i in fake_interfaces()}
            if "interface" in msg and msg["interface"] not in names:
                send(
                    P.Error(
                        id=mid, code=P.BAD_ARGS, message=f"no network interface named {msg['interface']!r}"
                    )
                )
                continue
            sid, next_stream = next_stream, next_stream + 1
            stop = streams[sid] = threading.Event()
            header = RecordHeader(probes=msg["probes"], host=HOST)
            send(
                P.Reply(
                    id=mid, result={"stream": sid, "probes": msg["probes"], "states": {}, "header": header}
                )
            )
            if msg["probes"] == ["xdp"]:
                threading.Thread(
                    target=feed_xdp, args=(sid, msg.get("interface", ""), stop), daemon=True
                ).start()
            else:
                threading.Thread(target=feed, args=(sid, msg.get("container", ""), stop), daemon=True).start()
        elif cmd == "stop":
            streams.pop(msg["stream"]).set()
            send(P.End(stream=msg["stream"]))
            send(P.Reply(id=mid, result={"stream": msg["stream"], "received": {}, "lost": {}}))
        elif cmd == "bye":
            for stop in list(traces.values()):
                stop.set()  # as the real agent: a running trace's container removed before bye
            send(P.Reply(id=mid, result={}))
            send(P.Bye(reason="bye"))
            return
        else:
            send(P.Error(id=mid, code=P.UNKNOWN, message=f"unknown command {cmd!r}"))


# --- trace, images, image: the Image monitor over --remote

# a real `beefine-tui trace --record` of a pull and run (tests/unit/fixtures/story/README.md): the
# events a host's agent streams for a trace, with the runner's own docker events
TRACE_RECORDING = Path(__file__).parent / "unit" / "fixtures" / "story" / "real_probes_pull_run.jsonl.gz"
TRACE_IMAGE = "127.0.0.1:5077/e-bb:1"
TRACE_BATCHES = 12  # the recording is sent in this many batches, TRACE_PACE_S apart: a live story
TRACE_PACE_S = float(os.environ.get("FAKE_AGENT_TRACE_PACE", "0.15"))
TRACE_CAPABILITIES = ["trace", "images", "image"]
traces: dict[int, threading.Event] = {}  # running traces by stream: set to stop one
LOG = os.environ.get("FAKE_AGENT_LOG", "")  # where `trace` notes what it started and removed


def log(line: str) -> None:
    if LOG:
        with open(LOG, "a") as f:
            f.write(line + "\n")


def trace_command(cmd: str, mid: int, msg: dict[str, object], sid: int) -> None:
    if cmd == "images":
        send(P.Reply(id=mid, result={"images": [TRACE_IMAGE, f"{HOST}-only:1"]}))
    elif cmd == "image":
        send(P.Reply(id=mid, result={"structures": [], "notes": [f"no registry on {HOST}"]}))
    elif cmd == "stop":
        traces[int(str(msg["stream"]))].set()
        send(P.Reply(id=mid, result={"stream": msg["stream"], "received": {}, "lost": {}}))
    elif msg.get("image") not in (TRACE_IMAGE, "hold"):
        send(P.Error(id=mid, code=P.BAD_ARGS, message=f"no image {msg.get('image')} on {HOST}"))
    else:
        stop = traces[sid] = threading.Event()
        threading.Thread(target=replay_trace, args=(mid, sid, str(msg["image"]), stop), daemon=True).start()


def replay_trace(mid: int, sid: int, image: str, stop: threading.Event) -> None:
    """The recording's events as a host's trace stream, then the reply with the phases of the story
    they tell (StoryEngine, as the real agent computes it). Image `hold`: the run never ends by
    itself, as a container that sleeps, until `stop` (or bye, or stdin closing)."""
    from beefine_tui.agent.tracing import phase_rows
    from beefine_tui.replay import open_recording
    from beefine_tui.story.engine import StoryEngine

    header, recording = open_recording(TRACE_RECORDING)
    events = list(recording)
    log(f"{HOST}: started {sid}")
    send(
        P.StreamStarted(
            id=mid, stream=sid, probes=list(header.probes), header=header, notes=[f"note: traced on {HOST}"]
        )
    )
    engine = StoryEngine()
    step = -(-len(events) // TRACE_BATCHES)
    for i in range(0, len(events), step):
        if stop.wait(TRACE_PACE_S):
            break
        batch = events[i : i + step]
        engine.feed(batch)
        send(P.Events(stream=sid, events=batch))
    if image == "hold":
        stop.wait(60)
    reason = "stopped" if stop.is_set() else "finished"
    log(f"{HOST}: removed {sid} ({reason})")
    traces.pop(sid, None)
    send(P.End(stream=sid, reason=reason))
    tl = engine.timeline()
    result = {
        "stream": sid,
        "phases": phase_rows(tl),
        "summary": tl.summary(),
        "hints": {"image": image, "pulling": True},
        "error": "",
        "interrupted": reason if reason == "stopped" else "",
    }
    send(P.Reply(id=mid, result=result))


if __name__ == "__main__":
    main()


def install_fake_ssh(directory: Path) -> Path:
    """A stand-in `ssh` for $BEEFINE_SSH: it runs this fake agent, named after the target host
    (`user@h1` -> h1); a host named `v99...` speaks only protocol 99 (a newer agent)."""
    ssh = directory / "fake-ssh"
    ssh.write_text(
        f"#!{sys.executable}\n"
        "import os, sys\n"
        "host = sys.argv[-2].rsplit('@', 1)[-1]\n"
        "env = dict(os.environ, FAKE_AGENT_HOST=host)\n"
        "if host.startswith('v99'):\n"
        "    env['FAKE_AGENT_PROTOCOL'] = '99'\n"
        f"os.execve(sys.executable, [sys.executable, {str(Path(__file__).resolve())!r}], env)\n"
    )
    ssh.chmod(0o755)
    return ssh
