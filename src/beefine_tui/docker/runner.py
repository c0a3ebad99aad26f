"""Run one labelled container for a trace: pull (with the real per-layer progress stream), create,
start, wait, and remove it however the run ends. Every step is also published as an Event of probe
"docker" (SCHEMA.md extension, see story/engine.py) so the story can place it on the same clock as
the kernel's events. No Textual here.

Docker events emitted (args always carry `run`, the run's tag, so two traces can share one bus):
  pull_start {image}, pull_status {id, status, current?, total?}, pull_done {image, error?},
  container_create {id, name}, container_start {id}, container_exit {id, code}, error {message, step},
  bundle {path, summary} (the OCI config.json containerd wrote, read while it existed)
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import psutil

from beefine_tui.docker.events import (
    DOCKER_PROBE,
    BundleArgs,
    ContainerArgs,
    ContainerExitArgs,
    DockerArgs,
    DockerErrorArgs,
    PullDoneArgs,
    PullStartArgs,
    PullStatusArgs,
)
from beefine_tui.docker.lab import registry_auth
from beefine_tui.docker.ownership import owner_labels
from beefine_tui.errors import BeefineError, DockerUnavailableError, NotFoundError, UsageError
from beefine_tui.events.model import Event, now_ns
from beefine_tui.story.bundle import BundleSummary, BundleWatcher

Sink = Callable[[Sequence[Event]], None]
LABEL = "beefine"
REMOVE_RETRY_S = 10.0  # how long stop() keeps trying to remove a run's container
WAIT_POLL = 0.2


@dataclass(frozen=True)
class DaemonProcs:
    """The processes that do the work of a `docker run` on this daemon."""

    dockerd_pid: int | None
    containerd_pid: int | None
    exec_roots: tuple[str, ...]
    data_root: str
    containerd_is_child: bool  # dockerd's managed containerd (so dockerd's lineage covers both)


def _opt(cmd: list[str], name: str) -> str | None:
    for i, a in enumerate(cmd):
        if a == name and i + 1 < len(cmd):
            return cmd[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


def find_daemon(docker_host: str, data_root: str) -> DaemonProcs:
    """Find dockerd (by its -H socket or pidfile-less default) and the containerd it uses."""
    sock = docker_host.removeprefix("unix://") if docker_host.startswith(("unix://", "/")) else None
    dockerd: psutil.Process | None = None
    for p in psutil.process_iter(["name", "cmdline"]):
        cmd = p.info.get("cmdline") or []
        if p.info.get("name") != "dockerd" and not (cmd and os.path.basename(cmd[0]) == "dockerd"):
            continue
        hosts = [cmd[i + 1] for i, a in enumerate(cmd[:-1]) if a in ("-H", "--host")]
        hosts += [a.split("=", 1)[1] for a in cmd if a.startswith("--host=")]
        dr = _opt(cmd, "--data-root")
        if (sock and any(sock in h for h in hosts)) or (
            dr and os.path.realpath(dr) == os.path.realpath(data_root)
        ):
            dockerd = p
            break
        if not hosts and sock in ("/var/run/docker.sock", "/run/docker.sock"):
            dockerd = p
    exec_roots: list[str] = []
    containerd: psutil.Process | None = None
    is_child = False
    if dockerd is not None:
        cmd = dockerd.cmdline()
        exec_roots.append(_opt(cmd, "--exec-root") or "/var/run/docker")
        with contextlib.suppress(psutil.Error):
            for c in dockerd.children():
                if c.name() == "containerd":
                    containerd, is_child = c, True
    if containerd is None:
        for p in psutil.process_iter(["name", "ppid"]):
            if p.info.get("name") == "containerd":
                containerd = p
                break
    return DaemonProcs(
        dockerd_pid=dockerd.pid if dockerd else None,
        containerd_pid=containerd.pid if containerd else None,
        exec_roots=tuple(exec_roots),
        data_root=data_root,
        containerd_is_child=is_child,
    )


@dataclass
class RunResult:
    container_id: str | None = None
    exit_code: int | None = None
    pulled: bool = False
    error: str = ""
    bundle: BundleSummary | None = None
    mount_id: str | None = None
    interrupted: bool = False


@dataclass
class ContainerRun:
    """One traced run. `stop()` is idempotent and removes the container whatever happened."""

    client: Any  # docker.DockerClient
    image: str
    command: list[str] | None = None
    sink: Sink | None = None
    labels: dict[str, str] = field(default_factory=dict)
    exec_roots: tuple[str, ...] = ()
    run_tag: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    on_progress: Callable[[dict[str, Any]], None] | None = None
    create_options: dict[str, Any] = field(default_factory=dict)  # e.g. security_opt, read_only, cap_drop
    result: RunResult = field(default_factory=RunResult)
    _container: Any = None
    _watcher: BundleWatcher | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _removed: bool = False
    _create_attempted: bool = False

    def emit(self, kind: str, args: DockerArgs, container: str | None = None) -> None:
        if self.sink is None:
            return
        tagged = msgspec.structs.replace(args, run=self.run_tag)
        self.sink([Event(ts=now_ns(), probe=DOCKER_PROBE, kind=kind, container=container, args=tagged)])

    # --- image ----------------------------------------------------------------------------------

    def image_present(self) -> bool:
        import docker.errors

        try:
            self.client.images.get(self.image)
            return True
        except docker.errors.ImageNotFound:
            return False
        except docker.errors.APIError as e:
            raise DockerUnavailableError(
                f"the daemon could not look up {self.image}: {_explain(e)}"
            ) from None

    def check_image(self, pull: bool | None) -> bool:
        """Whether the run can get its image, asked before any probe is attached (attaching all of a
        trace's programs takes seconds; a typo must not cost them). `pull` as TraceRun's: True always,
        None when missing, False never. A pull is checked through the daemon's distribution endpoint
        (the registry's manifest, with the daemon's own mirrors, proxies and insecure registries), so
        what it refuses is what the pull would refuse. Returns whether the image is present already;
        NotFoundError / DockerUnavailableError say why it cannot be had."""
        import docker.errors
        import requests

        present = self.image_present()
        if present and not pull:
            return True
        if not present and pull is False:
            raise NotFoundError(f"no image {self.image} on the daemon", "use --pull")
        registry = registry_of(self.image)
        login = registry_auth(registry)
        try:
            self.client.api.inspect_distribution(self.image, auth_config=login or None)
        except docker.errors.NotFound as e:
            raise NotFoundError(
                f"no image {self.image}: not on the daemon, and its registry {registry} does not have it "
                f"({_explain(e)})",
                "check the name and tag (`beefine-tui image NAME` shows what a registry has)",
            ) from None
        except docker.errors.APIError as e:
            where = "present, but --pull asked" if present else "not on the daemon"
            raise NotFoundError(
                f"cannot pull {self.image} ({where}): the daemon could not ask {registry}: {_explain(e)}",
                "check the registry answers from this machine, or run without --pull an image already here",
            ) from None
        except requests.RequestException as e:
            raise DockerUnavailableError(f"the daemon did not answer about {self.image}: {e}") from None
        return present

    def pull(self) -> None:
        """Pull with the real stream: one pull_status event per message (per layer)."""
        import docker.errors
        import requests

        repo, tag = split_tag(self.image)
        self.emit("pull_start", PullStartArgs(image=self.image))
        stream = None
        try:
            login = registry_auth(registry_of(self.image))  # a lab registry needs its login
            auth: dict[str, Any] = {"auth_config": login} if login else {}
            stream = self.client.api.pull(repo, tag=tag, stream=True, decode=True, **auth)
            for msg in stream:
                if self._stop.is_set():
                    raise KeyboardInterrupt
                if "error" in msg:
                    failed = PullDoneArgs(image=self.image, error=str(msg["error"]))
                    self.emit("pull_done", failed)  # the story says why
                    raise NotFoundError(
                        f"pull of {self.image} failed: {msg['error']}",
                        "check the name and tag exist in the registry (`beefine-tui image NAME`)",
                    )
                detail = msg.get("progressDetail") or {}
                args: dict[str, Any] = {"id": msg.get("id", ""), "status": msg.get("status", "")}
                if detail.get("total"):
                    args["current"] = detail.get("current", 0)
                    args["total"] = detail["total"]
                if self.on_progress is not None:
                    self.on_progress(args)
                self.emit("pull_status", PullStatusArgs(**args))
        except docker.errors.NotFound as e:
            self.emit("pull_done", PullDoneArgs(image=self.image, error=_explain(e)))
            raise NotFoundError(
                f"the registry has no image {self.image}: {_explain(e)}",
                "check the repository and tag (e.g. `beefine-tui image --lab` lists the lab's images)",
            ) from None
        except docker.errors.APIError as e:
            self.emit("pull_done", PullDoneArgs(image=self.image, error=_explain(e)))
            raise BeefineError(
                f"pull of {self.image} failed: {_explain(e)}",
                "is the registry up and reachable from the daemon? (plain HTTP works only for localhost)",
            ) from None
        except requests.exceptions.ConnectionError as e:
            self.emit("pull_done", PullDoneArgs(image=self.image, error=f"lost the Docker daemon: {e}"))
            raise DockerUnavailableError(f"lost the Docker daemon during the pull: {e}") from None
        finally:
            if stream is not None:
                with contextlib.suppress(Exception):
                    stream.close()  # stops the daemon's pull when we leave early (Ctrl-C)
        self.result.pulled = True
        self.emit("pull_done", PullDoneArgs(image=self.image))

    # --- container ------------------------------------------------------------------------------

    def create(self) -> str:
        import docker.errors

        # the owner's pid, start time and boot id: a later start removes it if we die by SIGKILL
        labels = {LABEL: "1", "beefine.run": self.run_tag, **owner_labels(), **self.labels}
        # from here the daemon may make a container we never hear of (a signal or Ctrl-C during the
        # request or the inspect that follows it): stop() then finds it by its run label
        self._create_attempted = True
        try:
            c = self.client.containers.create(
                self.image, self.command or None, labels=labels, detach=True, **self.create_options
            )
        except docker.errors.ImageNotFound:
            raise NotFoundError(
                f"no image {self.image} on the daemon", "pull it first or use --pull"
            ) from None
        except docker.errors.APIError as e:
            raise BeefineError(f"could not create a container of {self.image}: {_explain(e)}") from None
        with self._lock:
            self._container = c
        self.result.container_id = c.id
        self.emit("container_create", ContainerArgs(id=c.id, name=c.name), container=c.id)
        with contextlib.suppress(Exception):
            merged = c.attrs["GraphDriver"]["Data"]["MergedDir"]
            self.result.mount_id = Path(merged).parent.name
        return str(c.id)

    def start(self) -> None:
        import docker.errors

        c = self._container
        assert c is not None, "create() first"
        self._watcher = BundleWatcher(c.id, self.exec_roots, timeout=30).start()
        self.emit("container_start", ContainerArgs(id=c.id), container=c.id)
        try:
            c.start()
        except docker.errors.APIError as e:
            self.result.error = _explain(e)
            self.emit("error", DockerErrorArgs(message=self.result.error, step="start"), container=c.id)
            self._take_bundle(wait=0.2)
            raise ContainerStartError(self.result.error, c.id) from None
        self._take_bundle(wait=2.0)

    def _take_bundle(self, wait: float) -> None:
        w = self._watcher
        if w is None or self.result.bundle is not None:
            return
        w.found.wait(wait)
        if w.summary is not None:
            self.result.bundle = w.summary
            cid = self.result.container_id
            self.emit("bundle", BundleArgs(path=w.summary.path, summary=w.summary.to_dict()), container=cid)

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the container to exit (or stop()/timeout). Polls, so Ctrl-C is seen promptly."""
        import docker.errors
        import requests

        c = self._container
        if c is None:
            return None
        deadline = None if timeout is None else now_ns() + int(timeout * 1e9)
        while not self._stop.is_set():
            try:
                res = c.wait(timeout=WAIT_POLL)
                code = int(res.get("StatusCode", -1))
                self.result.exit_code = code
                self.emit("container_exit", ContainerExitArgs(id=c.id, code=code), container=c.id)
                return code
            except requests.exceptions.ReadTimeout:
                pass  # still running: poll again (so Ctrl-C and stop() are seen within WAIT_POLL)
            except requests.exceptions.ConnectionError as e:
                if "timed out" in str(e).lower():
                    continue
                raise DockerUnavailableError(
                    f"lost the Docker daemon while waiting for the container: {e}",
                    "is dockerd still running? The container may be left behind if it cannot be reached",
                ) from None
            except docker.errors.NotFound:
                return self.result.exit_code
            if deadline is not None and now_ns() > deadline:
                return None
        return None

    def run(self, pull: bool | None = None, timeout: float | None = None) -> RunResult:
        """pull (True: always, None: when missing, False: never), create, start, wait."""
        present = self.image_present()
        if pull or (pull is None and not present):
            self.pull()
        elif not present:
            raise NotFoundError(f"no image {self.image} on the daemon", "use --pull")
        self.create()
        try:
            self.start()
        except ContainerStartError:
            return self.result
        self.wait(timeout)
        return self.result

    def stop(self) -> None:
        """Remove the container (force) and stop watching; safe to call many times, from any thread."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.stop()
        with self._lock:
            c, self._container = self._container, None
            if self._removed or (c is None and not self._create_attempted):
                return
            self._removed = True
        import docker.errors

        if c is not None:
            try:
                c.remove(force=True)
            except docker.errors.NotFound:
                pass
            except Exception:
                # a second try with a fresh lookup: the container must not outlive us
                with contextlib.suppress(Exception):
                    self.client.containers.get(c.id).remove(force=True)
        if self._create_attempted:
            self._remove_by_run_label(interrupted=c is None)

    def _remove_by_run_label(self, interrupted: bool) -> None:
        """Whatever of this run is still on the daemon: a container create() made but never returned
        (a signal mid-request: the daemon may finish the create after we first look, so look twice),
        or one whose removal was refused while it was starting. Bounded by REMOVE_RETRY_S."""
        deadline = time.monotonic() + REMOVE_RETRY_S
        looks = 0
        while True:
            looks += 1
            try:
                found = self.client.containers.list(  # sparse: see reaper.reap_containers
                    all=True, sparse=True, filters={"label": f"beefine.run={self.run_tag}"}
                )
            except Exception:
                return  # no answer (the daemon went with its lab?): the next start reaps it
            for c in found:
                with contextlib.suppress(Exception):
                    c.remove(force=True)
            done = found == [] and (looks >= 2 or not interrupted)
            if done or time.monotonic() >= deadline:
                return
            time.sleep(0.3)


def remove_image(client: Any, image: str) -> str:
    """Remove only the reference `image` (never force), so the next pull fetches and unpacks every
    layer no other image holds. Refuses, with the reason, when a container uses it. -> what was done."""
    import docker.errors
    import requests

    try:
        out = client.api.remove_image(image, force=False) or []
    except docker.errors.ImageNotFound:
        return f"{image} was not on the daemon: nothing to remove"
    except docker.errors.APIError as e:
        if getattr(e, "status_code", None) == 409:
            raise UsageError(
                f"{image} is used by a container, so it was not removed and nothing ran: {_explain(e)}",
                "remove that container first (docker ps -a), or untick the fresh pull",
            ) from None
        raise BeefineError(f"could not remove {image}: {_explain(e)}") from None
    except requests.exceptions.ConnectionError as e:
        raise DockerUnavailableError(f"lost the Docker daemon while removing {image}: {e}") from None
    deleted = sum(1 for d in out if isinstance(d, dict) and d.get("Deleted"))
    if not deleted:
        # another tag still names the same image: only the tag went, its layers stay on the daemon
        return f"untagged {image}; another tag keeps its layers, so the pull will find them present"
    return f"removed {image} ({deleted} image/layer records deleted)"


class ContainerStartError(BeefineError):
    def __init__(self, message: str, container_id: str) -> None:
        super().__init__(
            f"the container did not start: {message}",
            "the story shows where runc stopped (the exec phase)",
        )
        self.container_id = container_id


def _explain(e: Exception) -> str:
    expl = getattr(e, "explanation", None)
    return str(expl or e)


# --- image references (distribution/reference grammar, simplified) ---------------------------------

_REF_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"


def split_tag(image: str) -> tuple[str, str | None]:
    """'host:5000/a/b:tag' -> ('host:5000/a/b', 'tag'); digests are kept on the repo (@sha256:...)."""
    if "@" in image:
        return image, None
    name, sep, tag = image.rpartition(":")
    if sep and "/" not in tag:
        return name, tag
    return image, "latest"


def check_reference(image: str) -> None:
    """Raise UsageError when `image` is not a valid reference (docker/distribution reference.go)."""
    if not image or len(image) > 255 or image != image.strip():
        raise UsageError(f"{image!r} is not an image name", "e.g. busybox:latest or 127.0.0.1:5000/app:1")
    name, digest_sep, digest = image.partition("@")
    if digest_sep and not re.fullmatch(r"sha256:[a-f0-9]{64}", digest):
        raise UsageError(f"bad digest in {image!r}", "a digest is sha256: and 64 hex digits")
    repo, tag = split_tag(name)
    if tag is not None and not re.fullmatch(r"[\w][\w.-]{0,127}", tag):
        raise UsageError(f"bad tag in {image!r}", "tags are letters, digits, _ . - (max 128)")
    parts = repo.split("/")
    first = parts[0]
    if len(parts) > 1 and ("." in first or ":" in first or first == "localhost"):
        if not re.fullmatch(r"[A-Za-z0-9.-]+(:[0-9]+)?|\[[0-9a-fA-F:]+\](:[0-9]+)?", first):
            raise UsageError(f"bad registry host in {image!r}", "e.g. 127.0.0.1:5000/name:tag")
        parts = parts[1:]
    for p in parts:
        if not re.fullmatch(_REF_COMPONENT, p):
            where = "" if p == image else f" (the part {p!r})"
            raise UsageError(
                f"{image!r} is not a valid image name{where}",
                "names are lowercase letters, digits and separators (. _ -), e.g. busybox:latest",
            )


def registry_of(image: str) -> str:
    """'127.0.0.1:5000/a:1' -> '127.0.0.1:5000'; Docker Hub names -> 'registry-1.docker.io:443'."""
    first = image.split("/")[0]
    if "/" in image and ("." in first or ":" in first or first == "localhost"):
        return first if ":" in first else f"{first}:443"
    return "registry-1.docker.io:443"
