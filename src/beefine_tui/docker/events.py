"""What the trace runner says from the Docker API, as events of probe "docker" (the story's own
record of the pull stream, the container's create/start/exit, the bundle and the image's layers: a
recording replays into the same story without the host's disk or daemon)."""

from __future__ import annotations

from typing import Any

from beefine_tui.events.model import Args, Event

DOCKER_PROBE = "docker"


class DockerArgs(Args, frozen=True, kw_only=True, gc=False):
    """`run` tags one trace's events, so two traces on one bus never mix their stories."""

    run: str = ""


class PullStartArgs(DockerArgs, frozen=True, kw_only=True, gc=False, tag="pull_start"):
    kinds = ("pull_start",)
    image: str

    def describe(self, ev: Event) -> str:
        return f"pull {self.image}"


class PullStatusArgs(DockerArgs, frozen=True, kw_only=True, gc=False, tag="pull_status"):
    """One line of dockerd's pull progress stream: a layer `id` and its stage ("Downloading")."""

    kinds = ("pull_status",)
    id: str = ""
    status: str = ""
    current: int | None = None
    total: int | None = None

    def describe(self, ev: Event) -> str:
        return f"{self.id} {self.status}".strip()


class PullDoneArgs(DockerArgs, frozen=True, kw_only=True, gc=False, tag="pull_done"):
    kinds = ("pull_done",)
    image: str
    error: str = ""  # why the pull failed; "" when it succeeded

    def describe(self, ev: Event) -> str:
        return f"pulled {self.image}" if not self.error else f"pull of {self.image} failed: {self.error}"


class ContainerArgs(DockerArgs, frozen=True, kw_only=True, gc=False, tag="container"):
    kinds = ("container_create", "container_start")
    id: str
    name: str = ""

    def describe(self, ev: Event) -> str:
        return f"{ev.kind.removeprefix('container_')} {self.id[:12]}"


class ContainerExitArgs(DockerArgs, frozen=True, kw_only=True, gc=False, tag="container_exit"):
    kinds = ("container_exit",)
    id: str
    code: int

    def describe(self, ev: Event) -> str:
        return f"exit {self.code}"


class ContainerOutputArgs(DockerArgs, frozen=True, kw_only=True, gc=False, tag="container_output"):
    """The end of what the container printed (its log's last lines)."""

    kinds = ("container_output",)
    output: str

    def describe(self, ev: Event) -> str:
        return f"printed {self.output!r}"


class DockerErrorArgs(DockerArgs, frozen=True, kw_only=True, gc=False, tag="docker_error"):
    kinds = ("error",)
    message: str
    step: str = ""

    def describe(self, ev: Event) -> str:
        return self.message


class BundleArgs(DockerArgs, frozen=True, kw_only=True, gc=False, tag="bundle"):
    """The OCI bundle containerd wrote (story.bundle.BundleSummary.to_dict())."""

    kinds = ("bundle",)
    path: str
    summary: dict[str, Any] = {}

    def describe(self, ev: Event) -> str:
        return f"bundle {self.path}"


class ImageLayersArgs(DockerArgs, frozen=True, kw_only=True, gc=False, tag="image_layers"):
    """The image's layer directories and their digests, and overlay2's short links to them."""

    kinds = ("image_layers",)
    image_layer_dirs: list[str] = []
    manifest_digests: list[str] = []
    layers: dict[str, dict[str, Any]] = {}  # cache id -> {diff_id, digests}
    links: dict[str, str] = {}
    mount_id: str = ""

    def describe(self, ev: Event) -> str:
        return f"{len(self.image_layer_dirs)} image layer dirs, {len(self.links)} links"
