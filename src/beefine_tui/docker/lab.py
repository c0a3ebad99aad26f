"""The lab: a private dockerd and a local registry, seeded offline with two small images.

Everything a lab makes lives under /run/beefine/lab-<name>/ (data root, exec root, socket, logs, registry
storage) plus one bridge named after the lab. `lab.json` in that directory records what was made, step by
step, so `down()` works from any process (the CLI's `lab down` after `lab up` returned) and after a crash
half way through `up()`. It never touches a system daemon, docker0, iptables or ip_forward.

Used by `beefine-tui lab`, by the TUI when no Docker daemon answers, and by the integration tests.
No Textual imports here.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from beefine_tui.docker.connection import unix_http_get
from beefine_tui.docker.hostnet import (
    SUBNET_POOL,
    bridge_exists,
    delete_bridge,
    pick_subnet,
    run_ip,
    used_networks,
)
from beefine_tui.docker.lab_images import BUSYBOX, WHITED_OUT, build_and_push
from beefine_tui.docker.mountinfo import mounts_in, mounts_under, umount_lazy
from beefine_tui.docker.ownership import boot_id, same_process, since_boot, start_time
from beefine_tui.errors import BeefineError, NotFoundError, NotRootError, UsageError

RUN_DIR = Path("/run/beefine")
LOCK_DIR = RUN_DIR / "locks"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,23}$")
LOG_TAIL_LINES = 15


@dataclass(frozen=True)
class LabInfo:
    name: str
    state_dir: Path
    docker_host: str
    registry: str
    bridge: str
    subnet: str
    dockerd_pid: int
    registry_pid: int
    images: dict[str, str]


@dataclass
class _State:
    """What one lab has made so far; written to lab.json after every step."""

    name: str
    bridge: str = ""
    bridge_created: bool = False
    subnet: str = ""
    registry: str = ""
    dockerd_pid: int = 0
    dockerd_ctime: float = 0.0  # epoch start times: read only in files of older versions
    dockerd_since_boot: float = 0.0  # start times since boot: see ownership.SAME_TICK_S
    registry_pid: int = 0
    registry_ctime: float = 0.0
    registry_since_boot: float = 0.0
    images: dict[str, str] = field(default_factory=dict)
    ready: bool = False
    owner_pid: int = 0  # the process whose lab this is (0: detached, `lab up` from the CLI)
    owner_ctime: float = 0.0
    owner_since_boot: float = 0.0
    owner_boot: str = ""  # the boot the owner ran in ("" in files written before it was recorded)

    def save(self, state_dir: Path) -> None:
        tmp = state_dir / "lab.json.tmp"
        write_private(tmp, json.dumps(asdict(self), indent=1))
        tmp.replace(state_dir / "lab.json")


# ------------------------------------------------------------------------------- private files, registry auth


def write_private(path: Path, text: str) -> None:
    """Write a root-only file (0600, no symlink followed): lab state, logs and secrets stay root's."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an older file made 0644 by a previous version
        os.write(fd, text.encode())
    finally:
        os.close(fd)


REGISTRY_USER = "beefine"


def _bcrypt(password: str) -> str:
    """A bcrypt hash for the registry's htpasswd file (distribution accepts only bcrypt there), made by
    the C library's crypt(3) (libxcrypt's $2b$): no extra package needed."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # crypt leaves the stdlib in 3.13
        import crypt

    hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))
    if not hashed or not hashed.startswith("$2"):
        raise BeefineError(
            "this C library's crypt() cannot make bcrypt hashes, which the lab registry's login needs"
        )
    return hashed


def _registry_secrets(sd: Path) -> dict[str, str]:
    """A per-lab password: without it no one (another local user included) can push to, delete from or
    read the lab registry, so no one can swap an image that root later runs with `trace`."""
    import secrets

    password = secrets.token_urlsafe(24)
    write_private(sd / "registry.htpasswd", f"{REGISTRY_USER}:{_bcrypt(password)}\n")
    return {"username": REGISTRY_USER, "password": password}


def _save_registry_login(sd: Path, registry: str, creds: dict[str, str]) -> None:
    """The login, root-only: for our own clients (registry_auth) and, as the `docker login` of the lab's
    own config dir, for the docker CLI (DOCKER_CONFIG=<state dir>/docker-config)."""
    write_private(sd / "registry-auth.json", json.dumps({**creds, "serveraddress": registry}))
    conf = sd / "docker-config"
    conf.mkdir(mode=0o700, exist_ok=True)
    token = base64.b64encode(f"{creds['username']}:{creds['password']}".encode()).decode()
    write_private(conf / "config.json", json.dumps({"auths": {registry: {"auth": token}}}, indent=1))


def registry_auth(registry: str) -> dict[str, str] | None:
    """The login for `registry` (host:port) when it is a lab's, for push/pull auth_config and HTTP
    basic auth; None for any other registry, or when this user may not read it (not root)."""
    if not registry.startswith(("127.0.0.1:", "localhost:")):
        return None
    port = registry.rpartition(":")[2]
    try:
        dirs = list(RUN_DIR.glob("lab-*"))
    except OSError:
        return None
    for sd in dirs:
        try:
            state = json.loads((sd / "lab.json").read_text())
            if str(state.get("registry", "")).rpartition(":")[2] != port:
                continue
            raw = json.loads((sd / "registry-auth.json").read_text())
        except (OSError, ValueError):
            continue
        if isinstance(raw, dict) and raw.get("username") and raw.get("password"):
            return {"username": str(raw["username"]), "password": str(raw["password"])}
    return None


# ---------------------------------------------------------------------------------------------- names


def state_dir_for(name: str) -> Path:
    return RUN_DIR / f"lab-{name}"


def bridge_for(name: str) -> str:
    """A bridge name of at most 15 characters (IFNAMSIZ - 1), readable when the lab name is short."""
    readable = f"bfl-{name}"
    if len(readable) <= 15:
        return readable
    return "bfl-" + hashlib.sha256(name.encode()).hexdigest()[:11]


def check_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise UsageError(
            f"bad lab name {name!r}",
            "use 1-24 letters, digits, '-' or '_', starting with a letter or digit",
        )


def _docker_host(state_dir: Path) -> str:
    return f"unix://{state_dir / 'docker.sock'}"


def _info(state: _State) -> LabInfo:
    sd = state_dir_for(state.name)
    return LabInfo(
        name=state.name,
        state_dir=sd,
        docker_host=_docker_host(sd),
        registry=state.registry,
        bridge=state.bridge,
        subnet=state.subnet,
        dockerd_pid=state.dockerd_pid,
        registry_pid=state.registry_pid,
        images=dict(state.images),
    )


def _load_state(name: str) -> _State | None:
    path = state_dir_for(name) / "lab.json"
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    known = {f for f in _State.__dataclass_fields__}
    try:
        return _State(**{k: v for k, v in raw.items() if k in known})
    except TypeError:
        return None


# ---------------------------------------------------------------------------------------------- processes


def _started(pid: int) -> tuple[int, float, float]:
    """(pid, epoch start, start since boot): what the state records of a process it will look for."""
    return pid, start_time(pid), since_boot(pid)


def _healthy(state: _State) -> bool:
    return (
        state.ready
        and same_process(state.dockerd_pid, state.dockerd_since_boot, state.dockerd_ctime)
        and same_process(state.registry_pid, state.registry_since_boot, state.registry_ctime)
    )


def _lab_processes(name: str, state: _State | None) -> list[psutil.Process]:
    """Every process of this lab: dockerd, registry, containerd, shims, containers, docker-proxy.

    Found by pid (checked with start time) and by command lines naming the lab's state dir or its
    containerd namespace, plus all their descendants. Never this process or its ancestors."""
    sd = str(state_dir_for(name)) + "/"
    ns = f"beefine-{name}"
    found: dict[int, psutil.Process] = {}
    if state is not None:
        for pid, since, ct in (
            (state.dockerd_pid, state.dockerd_since_boot, state.dockerd_ctime),
            (state.registry_pid, state.registry_since_boot, state.registry_ctime),
        ):
            if same_process(pid, since, ct):
                with contextlib.suppress(psutil.Error):
                    found[pid] = psutil.Process(pid)
    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info.get("cmdline") or []
        if any(sd in a for a in cmd) or ns in cmd:
            found[p.pid] = p
    for p in list(found.values()):
        with contextlib.suppress(psutil.Error):
            for c in p.children(recursive=True):
                found[c.pid] = c
    me = {os.getpid()}
    with contextlib.suppress(psutil.Error):
        me |= {a.pid for a in psutil.Process().parents()}
    return [p for pid, p in found.items() if pid not in me]


def _terminate(procs: list[psutil.Process], grace: float) -> list[psutil.Process]:
    """SIGTERM, wait up to `grace`, SIGKILL what is left, wait again. Returns what still runs."""
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    _, alive = psutil.wait_procs(alive, timeout=5)
    return alive


def _tail(path: Path, n: int = LOG_TAIL_LINES) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join("    " + line[:300] for line in lines[-n:]) or "(empty log)"


# ---------------------------------------------------------------------------------------------- locks


@contextlib.contextmanager
def _flock(path: Path, what: str, wait: float, unlink_if: Callable[[], bool] | None = None) -> Iterator[None]:
    """An exclusive lock on `path`; the file may be unlinked by whoever holds it, so re-check the inode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if time.monotonic() >= deadline:
                raise BeefineError(
                    f"{what} is busy: another beefine-tui process is starting or stopping it",
                    "wait for it to finish, then try again",
                ) from None
            time.sleep(0.1)
            continue
        try:
            if os.fstat(fd).st_ino != os.stat(path).st_ino:
                raise FileNotFoundError
        except FileNotFoundError:
            os.close(fd)
            continue
        break
    try:
        yield
    finally:
        # unlink while still holding it: a waiter that opened the old file sees the inode change and retries
        if unlink_if is not None and unlink_if():
            with contextlib.suppress(OSError):
                path.unlink()
        os.close(fd)


def _lab_lock(name: str, wait: float = 2.0) -> contextlib.AbstractContextManager[None]:
    sd = state_dir_for(name)
    return _flock(LOCK_DIR / f"lab-{name}.lock", f"the lab {name!r}", wait, unlink_if=lambda: not sd.exists())


# ---------------------------------------------------------------------------------------------- binaries


def _find_binary(cmd: str, explicit: str | None, env: str, package: str) -> str:
    """explicit path > $env > PATH. A clear error naming the Debian package when missing."""
    path = explicit or os.environ.get(env) or shutil.which(cmd)
    if not path or not os.access(path, os.X_OK) or os.path.isdir(path):
        where = f"at {path}" if path else "on PATH"
        raise BeefineError(
            f"`{cmd}` was not found {where}; the lab needs it",
            f"install it: sudo apt-get install {package}  (or run `sudo make setup`)",
        )
    return path


def _require_root() -> None:
    if os.geteuid() != 0:
        raise NotRootError(
            "the lab runs its own dockerd, bridge and mounts, which needs root",
            "run it as: sudo beefine-tui lab ...",
        )


# ---------------------------------------------------------------------------------------------- http probes


def _tcp_http_get(port: int, url: str, timeout: float, headers: dict[str, str] | None = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", url, headers=headers or {})
        return conn.getresponse().status
    except http.client.HTTPException as e:
        raise OSError(str(e)) from e
    finally:
        conn.close()


def _port_free(port: int) -> bool:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _free_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
    finally:
        s.close()


def _listens_on(pid: int, port: int) -> bool:
    try:
        conns = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.Error:
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port for c in conns)


# ---------------------------------------------------------------------------------------------- up


def _daemon_env(binary: str) -> dict[str, str]:
    """dockerd finds containerd, runc, docker-init and docker-proxy on PATH (some live in sbin), and must
    reach the lab registry on 127.0.0.1 directly even when the user has an HTTP proxy set."""
    env = dict(os.environ)
    dirs = [os.path.dirname(binary), *env.get("PATH", "").split(os.pathsep)]
    dirs += ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
    env["PATH"] = os.pathsep.join(dict.fromkeys(d for d in dirs if d))
    for key in ("NO_PROXY", "no_proxy"):
        env[key] = ",".join(x for x in (env.get(key, ""), "127.0.0.1", "localhost") if x)
    return env


def _spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "ab") as f:  # 0600: daemons' logs name images, containers and paths
        # a new session: the daemons outlive `lab up` and ignore the terminal's Ctrl-C and hangup
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=f,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=_daemon_env(argv[0]),
            cwd="/",
        )


def _start_registry(
    state: _State, sd: Path, binary: str, port: int | None, deadline: float
) -> subprocess.Popen[bytes]:
    if port is not None and not _port_free(port):
        raise BeefineError(
            f"registry port {port} on 127.0.0.1 is already in use",
            "pick another --registry-port, or leave it out to use a free one",
        )
    storage = sd / "registry"
    storage.mkdir(exist_ok=True, mode=0o700)
    log = sd / "registry.log"
    creds = _registry_secrets(sd)
    basic = "Basic " + base64.b64encode(f"{creds['username']}:{creds['password']}".encode()).decode()
    for _attempt in range(5):
        chosen = port if port is not None else _free_port()
        cfg = sd / "registry.yml"
        # distribution 2.8 configuration: https://distribution.github.io/distribution/about/configuration/
        # auth.htpasswd: every request needs the lab's login (a 127.0.0.1 port is open to every local
        # user; dockerd cannot pull from a unix socket, so the port stays and the login guards it)
        write_private(
            cfg,
            "version: 0.1\n"
            "log:\n  level: info\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
            f"auth:\n  htpasswd:\n    realm: beefine-lab-{state.name}\n    path: {sd / 'registry.htpasswd'}\n"
            f"http:\n  addr: 127.0.0.1:{chosen}\n",
        )
        start = log.stat().st_size if log.exists() else 0
        proc = _spawn([binary, "serve", str(cfg)], log)
        state.registry_pid, state.registry_ctime, state.registry_since_boot = _started(proc.pid)
        state.registry = f"127.0.0.1:{chosen}"
        _save_registry_login(sd, state.registry, creds)
        state.save(sd)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if _listens_on(proc.pid, chosen):
                with contextlib.suppress(OSError):
                    if _tcp_http_get(chosen, "/v2/", 1.0, {"Authorization": basic}) == 200:
                        return proc
            time.sleep(0.05)
        else:
            raise BeefineError(
                f"the lab registry did not answer on 127.0.0.1:{chosen} in time", f"its log:\n{_tail(log)}"
            )
        with open(log, "rb") as f:  # only this attempt's lines
            f.seek(start)
            taken = b"address already in use" in f.read()
        if taken and port is None:
            continue  # someone took the port between choosing and binding: choose again
        if taken:
            raise BeefineError(
                f"registry port {chosen} on 127.0.0.1 is already in use",
                "pick another --registry-port, or leave it out to use a free one",
            )
        raise BeefineError(
            f"the lab registry exited at start (code {proc.returncode})", f"its log:\n{_tail(log)}"
        )
    raise BeefineError("could not find a free port for the lab registry after 5 tries")


def _start_dockerd(state: _State, sd: Path, binary: str, deadline: float) -> subprocess.Popen[bytes]:
    write_private(sd / "daemon.json", "{}\n")  # keep /etc/docker/daemon.json (hosts, bridge...) out of it
    sock = sd / "docker.sock"
    log = sd / "dockerd.log"
    argv = [
        binary,
        "--config-file", str(sd / "daemon.json"),
        "--data-root", str(sd / "root"),
        "--exec-root", str(sd / "exec"),
        "-H", f"unix://{sock}",
        "--pidfile", str(sd / "docker.pid"),
        "--bridge", state.bridge,
        "--iptables=false",
        "--ip-masq=false",
        "--ip-forward=false",
        "--storage-driver", "overlay2",
        "--exec-opt", "native.cgroupdriver=cgroupfs",
        # if a system containerd runs, dockerd uses it: keep our objects in our own namespaces
        "--containerd-namespace", f"beefine-{state.name}",
        "--containerd-plugins-namespace", f"beefine-{state.name}-plugins",
    ]  # fmt: skip
    proc = _spawn(argv, log)
    state.dockerd_pid, state.dockerd_ctime, state.dockerd_since_boot = _started(proc.pid)
    state.save(sd)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BeefineError(
                f"the lab's dockerd exited at start (code {proc.returncode})", f"its log:\n{_tail(log)}"
            )
        with contextlib.suppress(OSError):
            status, _ = unix_http_get(str(sock), "/_ping", 1.0)
            if status == 200:
                return proc
        time.sleep(0.05)
    raise BeefineError("the lab's dockerd did not answer in time", f"its log:\n{_tail(log)}")


def _seed(state: _State, sd: Path, timeout: float) -> None:
    """Build both images offline from busybox-static, push them to the lab registry, keep them local.

    The two images are built and pushed at the same time (each with its own client): a fresh daemon's
    first builds are its slowest part of `up`."""
    if not BUSYBOX.exists():
        raise BeefineError(
            f"{BUSYBOX} is missing; the lab builds its images from it",
            "install it: sudo apt-get install busybox-static",
        )
    tags = {
        "small": f"{state.registry}/beefine/busybox:latest",
        "layered": f"{state.registry}/beefine/layered:latest",
    }
    build = sd / "build"
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="lab-seed")
    try:
        login = registry_auth(state.registry)
        futures = {
            key: pool.submit(build_and_push, _docker_host(sd), key, tag, build / key, timeout, login)
            for key, tag in tags.items()
        }
        deadline = time.monotonic() + timeout
        for key, fut in futures.items():
            fut.result(timeout=max(0.1, deadline - time.monotonic()))
            state.images[key] = tags[key]
            state.save(sd)
    except FuturesTimeout:
        raise BeefineError(
            "building the lab images did not finish in time", "try again with a longer --timeout"
        ) from None
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        shutil.rmtree(build, ignore_errors=True)


def up(
    name: str = "default",
    *,
    seed: bool = True,
    timeout: float = 60,
    registry_port: int | None = None,
    dockerd_bin: str | None = None,
    registry_bin: str | None = None,
    detach: bool = False,
) -> LabInfo:
    """Start the lab `name`; on any failure (or Ctrl-C) tear down what was made, then raise.

    The lab belongs to the calling process: if that process dies without `down` (SIGKILL), the lab is an
    orphan and `down_orphans()` removes it. `detach=True` (the CLI's `lab up`) makes a lab that is meant to
    outlive its starter. `registry_port` None picks a free port; the binaries default to $BEEFINE_DOCKERD /
    $BEEFINE_REGISTRY, then PATH."""
    check_name(name)
    _require_root()
    dockerd = _find_binary("dockerd", dockerd_bin, "BEEFINE_DOCKERD", "docker.io")
    registry = _find_binary("docker-registry", registry_bin, "BEEFINE_REGISTRY", "docker-registry")
    if registry_port is not None and not 0 < registry_port < 65536:
        raise UsageError(f"bad registry port {registry_port}", "use 1-65535, or leave it out")
    deadline = time.monotonic() + timeout
    sd = state_dir_for(name)
    with _lab_lock(name):
        old = _load_state(name)
        if old is not None and _healthy(old):
            raise BeefineError(
                f"a lab named {name!r} is already running (DOCKER_HOST={_docker_host(sd)})",
                f"use it, stop it with `sudo beefine-tui lab down --name {name}`, or pick another --name",
            )
        if old is not None or sd.exists() or bridge_exists(bridge_for(name)):
            _teardown(name, old)  # leftovers of a lab that died: clear them first
        state = _State(name=name, bridge=bridge_for(name))
        if not detach:
            state.owner_pid, state.owner_ctime, state.owner_since_boot = _started(os.getpid())
            state.owner_boot = boot_id()
        try:
            sd.mkdir(parents=True, mode=0o711)
            state.save(sd)
            _make_bridge(state, sd)
            _start_registry(state, sd, registry, registry_port, deadline)
            _start_dockerd(state, sd, dockerd, deadline)
            if seed:
                _seed(state, sd, max(1.0, deadline - time.monotonic()))
            state.ready = True
            state.save(sd)
        except BaseException as e:
            with _ignore_signals():
                try:
                    _teardown(name, state)
                except BeefineError as te:  # keep the first failure; say what could not be undone
                    if isinstance(e, BeefineError):
                        e.hint = f"{e.hint}\n  and: {te.message}".lstrip()
                    else:
                        e.add_note(te.message)
            raise
        return _info(state)


def _make_bridge(state: _State, sd: Path) -> None:
    with _flock(LOCK_DIR / "net.lock", "the lab network allocator", 30):
        used = used_networks(
            run_ip("-j", "route", "show", "table", "all"), run_ip("-j", "-4", "addr", "show")
        )
        net = pick_subnet(state.name, used)
        run_ip("link", "add", "name", state.bridge, "type", "bridge")
        state.bridge_created = True
        state.subnet = str(net)
        state.save(sd)
        gw = next(net.hosts())
        run_ip("addr", "add", f"{gw}/{net.prefixlen}", "dev", state.bridge)
        run_ip("link", "set", state.bridge, "up")


# ---------------------------------------------------------------------------------------------- down


@contextlib.contextmanager
def _ignore_signals() -> Iterator[None]:
    """While tearing down, a second Ctrl-C or SIGTERM must not leave things half-removed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    old = {s: signal.getsignal(s) for s in sigs}
    for s in sigs:
        signal.signal(s, signal.SIG_IGN)
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _teardown(name: str, state: _State | None) -> None:
    """Remove everything of lab `name`: processes, mounts, bridge, state dir. Raises if something stays."""
    sd = state_dir_for(name)
    problems: list[str] = []
    container_ids = _container_ids(sd)
    dockerd = [p for p in _lab_processes(name, state) if state and p.pid == state.dockerd_pid]
    # containers first (children of the shims), then dockerd (gracefully: it cleans its netns and
    # mounts), then whatever is left of containerd, shims, registry
    _thaw(container_ids)  # a paused container's processes cannot die until thawed
    procs = _lab_processes(name, state)
    containers = [p for p in procs if _is_container_process(p, name)]
    _terminate(containers, grace=0.5)
    _terminate(dockerd, grace=10)
    rest = _terminate(_lab_processes(name, state), grace=3)
    rest += _terminate(_lab_processes(name, state), grace=3)  # a straggler forked during the first pass
    if rest:
        problems.append("processes still running: " + ", ".join(str(p.pid) for p in rest))
    problems += _remove_cgroups(container_ids)
    for mp in mounts_under(sd):
        try:
            umount_lazy(mp)
        except OSError as e:
            problems.append(f"cannot unmount {mp}: {e.strerror}")
    bridge = state.bridge if state and state.bridge else bridge_for(name)
    try:
        delete_bridge(bridge)
    except BeefineError as e:
        problems.append(e.message)
    left = mounts_under(sd)
    if left:
        problems.append("still mounted: " + ", ".join(left))
    elif sd.exists():
        shutil.rmtree(sd, ignore_errors=True)
        if sd.exists():
            problems.append(f"could not delete {sd}")
    remove_shared_daemon_dirs()
    if problems:
        raise BeefineError(f"the lab {name!r} was not fully removed: " + "; ".join(problems))


# made by any dockerd or containerd whatever its --exec-root/--state says (plugin sockets, shim
# sockets), so a lab's daemons leave them outside /run/beefine; children before parents
SHARED_DAEMON_DIRS = (
    Path("/run/docker/plugins"),
    Path("/run/docker"),
    Path("/run/containerd/s"),
    Path("/run/containerd"),
)
_DAEMON_NAMES = ("dockerd", "containerd")


def remove_shared_daemon_dirs(
    dirs: Iterable[Path] = SHARED_DAEMON_DIRS, process_names: Iterable[str] | None = None
) -> list[str]:
    """Remove those directories when no dockerd or containerd runs any more on this machine (another
    daemon, the system's or another lab's, would still use them), and only when empty (rmdir): what
    someone else put there stays. Returns what was removed."""
    names = (
        list(process_names)
        if process_names is not None
        else [str(p.info.get("name") or "") for p in psutil.process_iter(["name"])]
    )
    if any(n in _DAEMON_NAMES or n.startswith("containerd-shim") for n in names):
        return []
    removed = []
    for d in dirs:
        try:
            d.rmdir()
            removed.append(str(d))
        except OSError:
            pass  # absent, or not empty: not ours to empty
    return removed


def _container_ids(sd: Path) -> list[str]:
    try:
        return [
            p.name for p in (sd / "root" / "containers").iterdir() if re.fullmatch(r"[0-9a-f]{64}", p.name)
        ]
    except OSError:
        return []


def container_cgroups(container_id: str, root: Path = Path("/sys/fs/cgroup")) -> list[Path]:
    """The cgroup dirs dockerd's cgroupfs driver makes for a container (v1: one per hierarchy; v2: one)."""
    return [p for p in (*root.glob(f"*/docker/{container_id}"), root / "docker" / container_id) if p.is_dir()]


def _thaw(container_ids: list[str]) -> None:
    """Undo `docker pause` (the freezer cgroup: v1 freezer.state, v2 cgroup.freeze) so SIGKILL lands."""
    for cid in container_ids:
        for cg in container_cgroups(cid):
            for knob, value in (("freezer.state", "THAWED"), ("cgroup.freeze", "0")):
                if (cg / knob).exists():
                    with contextlib.suppress(OSError):
                        (cg / knob).write_text(value)


def _remove_cgroups(container_ids: list[str]) -> list[str]:
    """A dockerd that had to be killed leaves its containers' (now empty) cgroups: remove them."""
    left = []
    for cid in container_ids:
        for cg in container_cgroups(cid):
            try:
                cg.rmdir()
            except OSError as e:
                if e.errno != errno.ENOENT:
                    left.append(f"cgroup {cg}: {e.strerror}")
    return left


def _is_container_process(p: psutil.Process, name: str) -> bool:
    """A process whose parent is one of this lab's containerd shims."""
    try:
        parent = p.parent()
        if parent is None:
            return False
        cmd = parent.cmdline()
    except psutil.Error:
        return False
    return bool(cmd) and "containerd-shim" in os.path.basename(cmd[0]) and p.name() != "containerd-shim"


def down(name: str = "default") -> None:
    """Stop and remove the lab `name`, whoever started it. NotFoundError when there is none."""
    check_name(name)
    _require_root()
    sd = state_dir_for(name)
    with _lab_lock(name, wait=30):
        state = _load_state(name)
        if state is None and not sd.exists() and not bridge_exists(bridge_for(name)):
            running = lab_names()
            raise NotFoundError(
                f"there is no lab named {name!r}",
                f"running labs: {', '.join(running)}"
                if running
                else "start one with `sudo beefine-tui lab up`",
            )
        with _ignore_signals():
            _teardown(name, state)


def status(name: str = "default") -> LabInfo | None:
    """The lab `name` when it is up and healthy, else None."""
    check_name(name)
    state = _load_state(name)
    if state is None or not _healthy(state):
        return None
    return _info(state)


def lab_names() -> list[str]:
    """Names of labs that have a state dir (running or left over)."""
    try:
        return sorted(
            p.name[len("lab-") :] for p in RUN_DIR.iterdir() if p.name.startswith("lab-") and p.is_dir()
        )
    except OSError:
        return []


def is_busy(name: str) -> bool:
    """Another process is starting or stopping the lab `name` right now (it holds the lab's lock)."""
    try:
        fd = os.open(LOCK_DIR / f"lab-{name}.lock", os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
    return False


def is_orphan(name: str) -> bool:
    """A lab whose owning process is gone (killed before it could call down): checked by pid AND
    start time (a reused pid is not the owner) and boot id."""
    state = _load_state(name)
    if state is None or state.owner_pid <= 0:
        return False
    if state.owner_boot and state.owner_boot != boot_id():
        return True
    return not same_process(state.owner_pid, state.owner_since_boot, state.owner_ctime)


def down_orphans(names: Iterable[str] | None = None) -> list[str]:
    """Remove the labs (of `names`, default all) whose owner died or that are stale and not being
    started. Returns the names removed."""
    removed = []
    for name in lab_names() if names is None else names:
        if not NAME_RE.match(name) or is_busy(name):
            continue
        if is_orphan(name) or is_stale(name):
            with contextlib.suppress(BeefineError):
                down(name)
                removed.append(name)
    return removed


def is_stale(name: str) -> bool:
    """Left-overs of a lab whose daemons are gone (`lab down` clears them); not one being started."""
    return state_dir_for(name).exists() and status(name) is None and not is_busy(name)


@contextlib.contextmanager
def running_lab(name: str, *, seed: bool = True, timeout: float = 60) -> Iterator[LabInfo]:
    """up ... down, always down (exceptions, Ctrl-C, and SIGTERM/SIGHUP when the caller turns them into
    SystemExit, see beefine_tui.docker.client.exit_on_signals)."""
    info = up(name, seed=seed, timeout=timeout)
    try:
        yield info
    finally:
        down(name)


def log_paths(name: str) -> dict[str, Path]:
    sd = state_dir_for(name)
    return {"dockerd": sd / "dockerd.log", "registry": sd / "registry.log"}


__all__ = [
    "SUBNET_POOL",
    "WHITED_OUT",
    "LabInfo",
    "down",
    "down_orphans",
    "is_busy",
    "is_orphan",
    "is_stale",
    "lab_names",
    "mounts_in",
    "mounts_under",
    "pick_subnet",
    "running_lab",
    "status",
    "up",
    "used_networks",
]
