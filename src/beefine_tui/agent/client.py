"""The client side of the agent protocol: `--remote [user@]host[:port]` runs `beefine-tui agent` on
the host with the system ssh client (so ~/.ssh/config, agents and jump hosts apply) and speaks to it
over the ssh process's pipes. This process never loads BPF.

$BEEFINE_SSH replaces the ssh command (e.g. `ssh -F my_config`), $BEEFINE_AGENT_COMMAND the remote
`beefine-tui agent` (e.g. a checkout's `python -m beefine_tui agent`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from beefine_tui.agent import protocol as P
from beefine_tui.errors import BeefineError, ProbeLoadError, UsageError

# ssh notices a dead connection (a cable pulled, a host gone) after this many seconds without an answer
SERVER_ALIVE = ("-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3")
STREAM_CAPACITY = 4_096  # messages of the streams held for a slow consumer; beyond, dropped and counted
STDERR_LINES = 20


class AgentConnectionError(BeefineError):
    """The connection to the agent could not be made, or ended."""

    exit_code = 75


class AgentVersionError(BeefineError):
    exit_code = 75


class AgentCommandError(BeefineError):
    """The agent understood the command and refused it (its message and hint)."""

    def __init__(self, message: str, hint: str = "", code: str = "") -> None:
        super().__init__(message, hint)
        self.code = code
        if code == P.BAD_ARGS:
            self.exit_code = 2


class AgentProgramError(ProbeLoadError):
    """The host's compiler or verifier refused a program the agent was asked to `load`: its log and
    the line of the user's source, as a local load's ProbeLoadError carries them (the TUI's error
    panel shows both)."""

    code = P.FAILED


@dataclass(frozen=True)
class Remote:
    host: str  # with kubectl: the pod
    user: str | None = None
    port: int | None = None
    namespace: str | None = None  # set: kubectl exec is the transport, not ssh
    container: str | None = None  # kubectl: the pod's container, when it has several

    @property
    def label(self) -> str:
        if self.namespace is not None:
            return f"{self.namespace}/{self.host}" + (f"/{self.container}" if self.container else "")
        return self.host + (f":{self.port}" if self.port else "")


KUBECTL_SCHEME = "kubectl://"
# a Kubernetes object name (RFC 1123 subdomain); a name starting with `-` would be an option to kubectl
_KUBE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def _parse_kubectl(spec: str) -> Remote:
    """`kubectl://NAMESPACE/POD[/CONTAINER]`: the agent in a pod, reached with `kubectl exec -i`."""
    how = "give --remote kubectl://NAMESPACE/POD[/CONTAINER], e.g. kubectl://beefine/beefine-agent-x7k2p"
    parts = spec[len(KUBECTL_SCHEME) :].split("/")
    if len(parts) not in (2, 3):
        raise UsageError(f"--remote {spec!r}: a namespace and a pod are needed", how)
    for part in parts:
        if not _KUBE_NAME.match(part):
            raise UsageError(f"--remote {spec!r}: {part!r} is not a Kubernetes name", how)
    return Remote(host=parts[1], namespace=parts[0], container=parts[2] if len(parts) == 3 else None)


_HOST = re.compile(r"^[A-Za-z0-9_.%-]+$")


def parse_remote(spec: str) -> Remote:
    """`[user@]host[:port]`, with `[v6addr]:port` for IPv6. UsageError on anything else (a host
    starting with `-` would be read by ssh as an option)."""
    s = spec.strip()
    if s.startswith(KUBECTL_SCHEME):
        return _parse_kubectl(s)
    how = "give --remote [user@]host[:port], e.g. --remote admin@db1:2222"
    if not s:
        raise UsageError("--remote needs a host", how)
    user = None
    if "@" in s:
        user, s = s.rsplit("@", 1)
        if not user or user.startswith("-") or any(c.isspace() for c in user):
            raise UsageError(f"--remote {spec!r}: {user!r} is not a user name", how)
    port_text = None
    if s.startswith("["):
        end = s.find("]")
        if end < 0:
            raise UsageError(f"--remote {spec!r}: an IPv6 address needs its closing ]", how)
        host, rest = s[1:end], s[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise UsageError(f"--remote {spec!r}: unexpected {rest!r} after the address", how)
            port_text = rest[1:]
        if not host or not re.fullmatch(r"[0-9A-Fa-f:.%a-z]+", host):
            raise UsageError(f"--remote {spec!r}: {host!r} is not an IPv6 address", how)
    else:
        host, _, port_text_ = s.partition(":")
        port_text = port_text_ if ":" in s else None
        if not host or host.startswith("-") or not _HOST.match(host):
            raise UsageError(f"--remote {spec!r}: {host!r} is not a host name", how)
    port = None
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise UsageError(f"--remote {spec!r}: the port must be a number from 1 to 65535", how)
        port = int(port_text)
    return Remote(host=host, user=user, port=port)


def agent_command(agent_args: Sequence[str] = ()) -> str:
    """The command the remote shell runs: the agent, through `sudo -n` unless the login is root
    (sudo would prompt for a password nobody can type into a pipe; -n makes it say so instead)."""
    agent = os.environ.get("BEEFINE_AGENT_COMMAND") or "beefine-tui agent"
    full = " ".join([agent, *(shlex.quote(a) for a in agent_args)])
    return f'if [ "$(id -u)" -eq 0 ]; then exec {full}; else exec sudo -n {full}; fi'


def ssh_argv(remote: Remote, agent_args: Sequence[str] = ()) -> list[str]:
    ssh = shlex.split(os.environ.get("BEEFINE_SSH") or "ssh")
    argv = [*ssh, "-T", *SERVER_ALIVE]
    if remote.port:
        argv += ["-p", str(remote.port)]
    target = f"{remote.user}@{remote.host}" if remote.user else remote.host
    return [*argv, target, agent_command(agent_args)]


def kubectl_argv(remote: Remote, agent_args: Sequence[str] = ()) -> list[str]:
    """`kubectl exec -i` into the agent's pod (deploy/kubernetes/beefine-agent.yaml): the agent is
    the exec's process, so it ends, and stops what it started, when the exec ends. No sudo: the
    DaemonSet's container is privileged. $BEEFINE_KUBECTL replaces `kubectl` (e.g. `kubectl
    --context prod`), $BEEFINE_AGENT_COMMAND the agent's command line."""
    kubectl = shlex.split(os.environ.get("BEEFINE_KUBECTL") or "kubectl")
    agent = shlex.split(os.environ.get("BEEFINE_AGENT_COMMAND") or "beefine-tui agent")
    argv = [*kubectl, "exec", "-i", "-n", str(remote.namespace), remote.host]
    if remote.container:
        argv += ["-c", remote.container]
    return [*argv, "--", *agent, *agent_args]


def transport_argv(remote: Remote, agent_args: Sequence[str] = ()) -> list[str]:
    """The command whose stdin/stdout reach the agent: ssh, or kubectl exec for kubectl://."""
    return kubectl_argv(remote, agent_args) if remote.namespace is not None else ssh_argv(remote, agent_args)


class _Pending:
    def __init__(self) -> None:
        self.id = 0
        self.done = threading.Event()
        self.msg: P.Reply | P.Error | None = None


class AgentClient:
    """One agent process (over ssh, or any argv speaking the protocol on its stdin/stdout).

    `request()` sends a command and waits for its reply; stream messages (events, lost, end) queue
    in a bounded deque read by `stream_messages()`: when the consumer falls behind, the surplus is
    dropped and counted in `dropped` (shown as loss), never held without bound.
    """

    def __init__(self, argv: Sequence[str], label: str, *, env: dict[str, str] | None = None) -> None:
        self.label = label
        self.argv = list(argv)
        try:
            # a session of its own: Ctrl-C in our terminal reaches us, and we end the agent in order
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                env=env,
            )
        except OSError as e:
            tool = "kubectl" if "kubectl" in self.argv[0] else "openssh-client"
            raise AgentConnectionError(
                f"cannot run {self.argv[0]!r}: {e.strerror}", f"install {tool}"
            ) from None
        self._lock = threading.Lock()
        self._next_id = 0
        self._pending: dict[int, _Pending] = {}
        self._stream: deque[P.Message] = deque()
        self._stream_cond = threading.Condition()
        self.dropped = 0
        self._stderr: deque[str] = deque(maxlen=STDERR_LINES)
        self.closed = False
        self.close_reason = ""
        self.garbage = ""  # the first line that was not the protocol
        self.bye: P.Bye | None = None
        self.hello: dict[str, Any] = {}
        self._reader = threading.Thread(target=self._read, name=f"agent-{label}", daemon=True)
        self._err_reader = threading.Thread(target=self._read_err, name=f"agent-err-{label}", daemon=True)
        self._err_reader.start()  # first: the reader joins it when the process ends
        self._reader.start()

    # ---- reading

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        try:
            while True:
                line = out.readline(P.MAX_LINE_BYTES * 64)
                if not line:
                    break
                try:
                    msg = P.decode(line)
                except (msgspec.DecodeError, msgspec.ValidationError):
                    if not self.garbage:
                        self.garbage = line[:200].decode(errors="replace").strip()
                    continue
                self._dispatch(msg)
        except (OSError, ValueError):
            pass
        finally:
            self._ended()

    def _dispatch(self, msg: P.Message) -> None:
        if isinstance(msg, P.Reply | P.Error) and msg.id is not None:
            with self._lock:
                pending = self._pending.pop(msg.id, None)
            if pending is not None:
                pending.msg = msg
                pending.done.set()
                return
        if isinstance(msg, P.Bye):
            self.bye = msg
            return
        with self._stream_cond:
            if len(self._stream) >= STREAM_CAPACITY and isinstance(msg, P.Events):
                self.dropped += len(msg.events)
                return
            self._stream.append(msg)
            self._stream_cond.notify()

    def _read_err(self) -> None:
        err = self.proc.stderr
        assert err is not None
        with contextlib.suppress(OSError, ValueError):
            for raw in iter(lambda: err.readline(4096), b""):
                line = raw.decode(errors="replace").rstrip()
                if line:
                    self._stderr.append(line)

    def _ended(self) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        self._err_reader.join(2)
        self.closed = True
        if not self.close_reason:
            self.close_reason = self._why_ended()
        with self._lock:
            pending, self._pending = list(self._pending.values()), {}
        for p in pending:
            p.done.set()
        with self._stream_cond:
            self._stream_cond.notify_all()

    def stderr_tail(self) -> str:
        return " / ".join(self._stderr)

    def _why_ended(self) -> str:
        if self.bye is not None:
            return f"the agent on {self.label} ended ({self.bye.reason or 'bye'})"
        rc = self.proc.returncode
        said = self.stderr_tail()
        if rc == 255:  # ssh's own failure: could not connect or authenticate, or the link dropped
            return f"the SSH connection to {self.label} failed or was lost: {said or 'ssh exited 255'}"
        if rc == 127 or "command not found" in said:
            return f"beefine-tui is not installed on {self.label} (or not on the PATH there): {said}"
        if "sudo" in said and ("password" in said or "not found" in said):
            return f"the agent on {self.label} needs root and sudo refused: {said}"
        if self.garbage:
            return f"{self.label} did not answer as a beefine-tui agent: it printed {self.garbage!r}"
        if rc is not None and rc < 0:
            return f"the connection to {self.label} ended: ssh was killed by signal {-rc}"
        return f"the connection to {self.label} ended (exit {rc})" + (f": {said}" if said else "")

    # ---- commands

    def request(self, cmd: str, timeout: float = 120.0, **args: Any) -> Any:
        """Send a command and wait for its reply's result. AgentCommandError when the agent refuses
        it, AgentConnectionError when the connection ends or nothing comes within `timeout`."""
        return self.result(self.submit(cmd, **args), cmd, timeout)

    def submit(self, cmd: str, **args: Any) -> _Pending:
        """Send a command without waiting for its reply: a long one (trace) streams before it replies.
        `result()` then reads the reply."""
        pending = _Pending()
        with self._lock:
            if self.closed:
                raise AgentConnectionError(self.close_reason)
            self._next_id += 1
            pending.id = self._next_id
            self._pending[pending.id] = pending
        try:
            stdin = self.proc.stdin
            assert stdin is not None
            stdin.write(P.encode_command(cmd, pending.id, **args))
            stdin.flush()
        except (OSError, ValueError):
            pass  # the reader sees the end and says why
        return pending

    def result(self, pending: _Pending, cmd: str, timeout: float) -> Any:
        """The result of a submitted command, as request() returns it."""
        if not pending.done.wait(timeout):
            with self._lock:
                self._pending.pop(pending.id, None)
            raise AgentConnectionError(
                f"the agent on {self.label} did not answer {cmd!r} within {timeout:g} s"
            )
        msg = pending.msg
        if msg is None:
            self._reader.join(5)
            raise AgentConnectionError(self.close_reason or f"the connection to {self.label} ended")
        if isinstance(msg, P.Error):
            if msg.code == P.VERSION:
                raise AgentVersionError(f"{self.label}: {msg.message}", msg.hint)
            if msg.log or msg.line is not None:
                raise AgentProgramError(f"{self.label}: {msg.message}", msg.hint, log=msg.log, line=msg.line)
            raise AgentCommandError(f"{self.label}: {msg.message}", msg.hint, msg.code)
        return msg.result

    def handshake(self, timeout: float = 60.0) -> dict[str, Any]:
        result = self.request("hello", timeout, protocol=P.PROTOCOL, min_protocol=P.MIN_PROTOCOL)
        if not isinstance(result, dict) or not isinstance(result.get("protocol"), int):
            raise AgentVersionError(f"{self.label}: the agent's hello is not one this client understands")
        self.hello = result
        return result

    def has(self, capability: str) -> bool:
        """Whether the agent's hello named `capability` (an older agent lacks later commands)."""
        return capability in (self.hello.get("capabilities") or ())

    def require(self, capability: str, what: str, hint: str = "") -> None:
        """Raise AgentVersionError when the agent lacks `capability`: "the agent on H is older and
        cannot WHAT"."""
        if not self.has(capability):
            raise AgentVersionError(
                f"the agent on {self.label} (beefine-tui {self.hello.get('agent', '?')}) is older and "
                f"cannot {what}",
                hint or "install the same beefine-tui version on both machines",
            )

    def stream_messages(self, timeout: float, max_messages: int = 256) -> list[P.Message]:
        """What the streams sent, waiting at most `timeout` for the first message."""
        with self._stream_cond:
            if not self._stream and not self.closed:
                self._stream_cond.wait(timeout)
            n = min(len(self._stream), max_messages)
            return [self._stream.popleft() for _ in range(n)]

    def close(self, timeout: float = 10.0) -> None:
        """bye, then close stdin (the agent stops everything on either), then wait. Idempotent."""
        if not self.closed:
            with contextlib.suppress(BeefineError):
                self.request("bye", timeout=timeout)
        with contextlib.suppress(OSError, ValueError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(5)


def open_client(argv: Sequence[str], label: str) -> AgentClient:
    """Run the agent with `argv` and agree on a protocol version; nothing left running if not."""
    client = AgentClient(argv, label)
    try:
        client.handshake()
    except BeefineError:
        client.close(timeout=5)
        raise
    return client


def connect(spec: str, agent_args: Sequence[str] = ()) -> AgentClient:
    """Run the agent on `spec` over SSH and agree on a protocol version; clear errors otherwise."""
    remote = parse_remote(spec)
    return open_client(transport_argv(remote, agent_args), remote.label)
