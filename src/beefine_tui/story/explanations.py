"""Plain explanations of what the kernel did in each phase and for each event kind of the story.

Each text says what happened and which OCI or Docker concept it implements. The comment next to
each one names the primary source it was checked against, so the next reader can verify it.
All texts are written in our own words. A built-in probe explains its own kinds (ProbeSpec.explains,
next to its decoder); the kinds tables here gather those with the few kinds no probe emits.
"""

from __future__ import annotations

from beefine_tui.probes.base import KindNote
from beefine_tui.probes.catalog import kind_notes

# --- phases ---------------------------------------------------------------------------------------

PHASE_TITLES: dict[str, str] = {
    "pull": "resolve + pull",
    "unpack": "unpack layers",
    "rootfs": "root filesystem (overlay)",
    "bundle": "OCI bundle (config.json)",
    "runtime": "runtime: shim and runc",
    "cgroup": "cgroup attach + limits",
    "namespaces": "namespaces",
    "mounts": "mounts inside the container",
    "hook": "network: prestart hook",
    "pivot_root": "pivot_root",
    "hostname": "hostname",
    "security": "masks, seccomp, capabilities",
    "exec": "exec of the entrypoint",
    "running": "running",
    "exit": "exit",
    "teardown": "teardown (runc delete)",
}

# The primary source of each phase's explanation: project, version, file and function, spec section or
# man page. Shown on demand in the Image monitor and printed by `trace --explain`.
PHASE_SOURCES: dict[str, str] = {
    "pull": "OCI distribution-spec spec.md (Pulling manifests, Pulling blobs); image-spec manifest.md, "
    "image-index.md; moby 20.10 distribution/pull_v2.go",
    "unpack": "moby 20.10 pkg/chrootarchive/archive_unix.go (untar re-exec), chroot_linux.go (chroot: "
    "unshare CLONE_NEWNS + pivot_root); pkg/archive/archive_linux.go overlayWhiteoutConverter; image-spec "
    "layer.md (Whiteouts); kernel Documentation/filesystems/overlayfs.rst",
    "rootfs": "moby 20.10 daemon/graphdriver/overlay2/overlay.go (Create, Get); layer/layer_store.go "
    "initMount; daemon/initlayer/setup_unix.go Setup; kernel overlayfs.rst",
    "bundle": "OCI runtime-spec bundle.md, config.md (root.path, mounts, process); containerd 1.6 "
    "runtime/v2/bundle.go NewBundle; moby 20.10 daemon/oci_linux.go (rootfs = the overlay's merged dir)",
    "runtime": "containerd 1.6 runtime/v2/shim (shim start: daemonize, PR_SET_CHILD_SUBREAPER); runc 1.1 "
    "libcontainer/process_linux.go initProcess.start; libcontainer/nsenter/nsenter.go (cgo constructor), "
    "cloned_binary.c ensure_cloned_binary; clone(2) CLONE_PARENT; prctl(2) PR_SET_CHILD_SUBREAPER",
    "cgroup": "runc 1.1 libcontainer/process_linux.go initProcess.start (manager.Apply before the "
    "bootstrap data; manager.Set at procHooks); libcontainer/cgroups/fs (v1), fs2 (v2); runtime-spec "
    "config-linux.md (cgroupsPath, resources)",
    "namespaces": "runc 1.1 libcontainer/nsenter/nsexec.c nsexec (STAGE_PARENT, STAGE_CHILD, STAGE_INIT, "
    "clone_parent); unshare(2); pid_namespaces(7); mount_namespaces(7)",
    "mounts": "runc 1.1 libcontainer/rootfs_linux.go prepareRootfs, prepareRoot, mountToRootfs, "
    "createDevices, setupDevSymlinks, setupPtmx, finalizeRootfs; runtime-spec config.md (mounts); moby "
    "20.10 oci/defaults.go DefaultLinuxSpec",
    "hook": "moby 20.10 daemon/oci_linux.go withLibnetwork (prestart hook libnetwork-setkey); libnetwork "
    "sandbox_externalkey_unix.go processSetKeyReexec; runc 1.1 process_linux.go (procHooks: Prestart hooks "
    "after the mounts); runtime-spec config.md (POSIX-platform Hooks)",
    "pivot_root": "runc 1.1 libcontainer/rootfs_linux.go pivotRoot; pivot_root(2) (new_root and put_old "
    "the same directory); mount_namespaces(7) (MS_SLAVE)",
    "hostname": "runc 1.1 libcontainer/standard_init_linux.go Init (Sethostname); moby 20.10 "
    "daemon/create.go (default hostname: the first 12 hex of the id); uts_namespaces(7)",
    "security": "runc 1.1 libcontainer/standard_init_linux.go Init (readonlyPath, maskPath, NoNewPrivileges, "
    "seccomp.InitSeccomp, finalizeNamespace); libcontainer/seccomp/patchbpf/enosys_linux.go "
    "sysSeccompSetFilter (prctl when no filter flags); "
    "libcontainer/capabilities; moby 20.10 oci/defaults.go (maskedPaths, readonlyPaths), oci/caps; "
    "prctl(2), seccomp(2), capabilities(7)",
    "exec": "runc 1.1 libcontainer/standard_init_linux.go Init (exec.fifo, system.Exec); runc start.go, "
    "libcontainer/container_linux.go exec; runtime-spec runtime.md (start)",
    "running": "runtime-spec runtime.md (state running); pid_namespaces(7)",
    "exit": "runtime-spec runtime.md (state stopped); containerd 1.6 runtime/v2/runc task exit event; "
    "moby 20.10 daemon/monitor.go",
    "teardown": "runc 1.1 delete.go, libcontainer/container_linux.go destroy (cgroup and state dir); "
    "containerd 1.6 runtime/v2/bundle.go Delete, shim `delete`; moby 20.10 daemon/graphdriver/overlay2 Put",
}

PHASE_EXPLANATIONS: dict[str, str] = {
    "pull": (
        "dockerd asks the registry over HTTP for the image's manifest (resolving the tag, and through "
        "an index the manifest for this platform), then downloads the config and one blob per layer. "
        "Every blob is named by its sha256 digest, so what arrives can be checked against what was asked."
    ),
    "unpack": (
        "Each downloaded layer is a tar archive. dockerd decompresses it and streams the tar into the "
        "stdin of a re-executed copy of itself, `docker-untar`, which unshares a mount namespace "
        "(CLONE_NEWNS), pivot_roots into the layer's own directory (overlay2/<id>/diff) and writes the "
        "files there, so a hostile archive cannot write outside it: directories, files, symlinks and "
        "hard links with their modes and owners. One directory per layer, stored once and shared by "
        "every container made from it. A layer never edits the layers below: a deleted file or "
        "directory is stored as a whiteout (in the tar an empty .wh.<name> entry, on disk a character "
        'device 0:0 with the deleted name) that overlayfs reads as "gone". A directory replaced as a '
        'whole is marked opaque instead (xattr trusted.overlay.opaque="y"): nothing of the lower '
        "layers' version shows through."
    ),
    "rootfs": (
        "dockerd (in the host's mount namespace) first makes the container's -init layer: it mounts "
        "<id>-init as an overlay, creates empty stubs for /etc/hosts, /etc/hostname, /etc/resolv.conf, "
        "/dev/console, /.dockerenv and the mount points /proc, /sys, /dev/pts, /dev/shm (plus /etc/mtab -> "
        "/proc/mounts), and unmounts it. Then it mounts the container's own overlay: the image layers and "
        "the -init layer as read-only lowerdirs (named by short links in overlay2/l/ to keep the mount "
        "options short), an upperdir that receives every write and a workdir overlayfs needs for "
        "copy-up. The merged view becomes the root filesystem; the image layers are never modified."
    ),
    "bundle": (
        "An OCI bundle is a directory with a config.json describing the container: the process, its "
        "namespaces, mounts, capabilities, seccomp filter and cgroup. containerd writes it from the spec "
        "dockerd sent; runc only reads it. With Docker, root.path in config.json points at the overlay's "
        "merged directory, which lives outside the bundle (the bundle's own rootfs/ stays empty)."
    ),
    "runtime": (
        "containerd runs `containerd-shim-runc-v2 ... start`, which starts a second shim (the server) and "
        "exits: the server is daemonized, so containerd and dockerd can restart without killing the "
        "container. The server makes itself a child subreaper (prctl PR_SET_CHILD_SUBREAPER) and runs "
        "`runc create`, then `runc start`. `runc init` is executed twice: runc create runs "
        "/proc/self/exe init, and the first thing nsexec does is re-execute it from a sealed copy of the "
        "binary (runc 1.1 tries a read-only bind mount first, then a sealed memfd; CVE-2019-5736: the "
        "container must never be able to rewrite the host's runc). "
        "That constructor, nsexec, is C because it runs before the Go runtime starts threads: a "
        "multithreaded process cannot unshare(CLONE_NEWUSER) nor setns into a mount namespace. "
        "runc:[0:PARENT] and runc:[1:CHILD] exit once their work is done; only runc:[2:INIT] returns "
        "into Go. Both are cloned with CLONE_PARENT, so runc itself is their kernel parent; when runc "
        "create exits, the orphaned [2:INIT] is re-parented to the shim, the subreaper."
    ),
    "cgroup": (
        "runc makes the container's cgroup (config.json linux.cgroupsPath, e.g. /docker/<id>) and moves "
        "the first `runc init` process into it before it sends nsexec its bootstrap data, so every "
        "process nsexec forks inherits the cgroup. On cgroup v1 that is one directory per controller "
        "hierarchy; on v2 one directory. The limit values (devices.allow/deny, memory, cpu, pids) are "
        "written later, when [2:INIT] reports its mounts done (the procHooks sync), just before the "
        "prestart hooks and pivot_root."
    ),
    "namespaces": (
        "runc:[1:CHILD] calls unshare() for the new namespaces. A new mount namespace starts as a copy "
        "of the parent's mount table and a new UTS namespace as a copy of the hostname; only the network "
        "namespace (just a loopback, down) and the IPC namespace start empty. CLONE_NEWPID does not move "
        "the caller: it applies to its next children, and the first of them becomes pid 1. So [1:CHILD] "
        "clones runc:[2:INIT], which is pid 1 inside while it has another pid on the host. A cgroup "
        "namespace, when asked for, is unshared last, by [2:INIT], once runc has placed it in its "
        "cgroup, so that the container sees its own cgroup as the root."
    ),
    "mounts": (
        "Inside the new mount namespace runc:[2:INIT] makes / a slave (MS_SLAVE|MS_REC, so nothing it "
        "mounts propagates back to the host), bind-mounts the rootfs onto itself (pivot_root needs a "
        "mount point), then mounts config.json's mounts in order: proc, a tmpfs /dev, devpts, sysfs "
        "(read-only), the cgroup files, mqueue, shm, and Docker's bind mounts of /etc/resolv.conf, "
        "/etc/hostname and /etc/hosts (and volumes), which keep those host files reachable. In the "
        "tmpfs /dev it mknods null, zero, full, random, urandom and tty, links /dev/fd, stdin, stdout and "
        "stderr to /proc/self/fd and /dev/ptmx to pts/ptmx. After pivot_root, finalizeRootfs remounts "
        "read-only what must be (a read-only tmpfs, / with --read-only)."
    ),
    "hook": (
        "Where eth0 comes from: at the procHooks sync, after the mounts and before pivot_root, runc runs "
        "config.json's prestart hooks. Docker's is dockerd's own binary as `libnetwork-setkey`, given "
        "the container's state (its pid) on stdin; it tells dockerd over a unix socket, and dockerd "
        "moves one end of a veth pair into the new network namespace (/proc/<pid>/ns/net), renames it "
        "eth0 and gives it its address and routes."
    ),
    "pivot_root": (
        'runc calls pivot_root(".", "."): the prepared rootfs becomes / and the old root is stacked on '
        'top of it at the same place, which is why a lazy umount2(".", MNT_DETACH) can drop it right '
        "after. Before that umount runc makes the old root MS_SLAVE|MS_REC, so the umount does not "
        "propagate to the host. Unlike chroot, nothing of the host's tree stays reachable, except what "
        "was bind-mounted in on purpose."
    ),
    "hostname": (
        "In its new UTS namespace the init process sets the hostname from config.json. Docker uses the "
        "container's short id (12 hex characters) unless --hostname is given; the host's name is "
        "untouched."
    ),
    "security": (
        "runc:[2:INIT] makes config.json's readonlyPaths read-only (bind each onto itself, then remount "
        "it MS_BIND|MS_REMOUNT|MS_RDONLY) and hides its maskedPaths (/dev/null bound over a file, a "
        "read-only tmpfs over a directory). Then the order depends on no_new_privs, which Docker sets "
        "only with --security-opt no-new-privileges. Without it, runc loads the seccomp filter while "
        "still privileged, before it drops capabilities (loading a filter without no_new_privs needs "
        "CAP_SYS_ADMIN). With it, runc sets PR_SET_NO_NEW_PRIVS, drops capabilities, and loads seccomp "
        "last, just before exec. runc 1.1 loads Docker's profile with prctl(PR_SET_SECCOMP, "
        "SECCOMP_MODE_FILTER) because it sets no filter flags; the seccomp() calls seen earlier are "
        "libseccomp probing what this kernel supports. Capabilities go in steps: PR_CAPBSET_DROP for "
        "each one leaving the bounding set, PR_SET_KEEPCAPS around the change of uid/gid, capset for "
        "effective, permitted and inheritable, and PR_CAP_AMBIENT for the ambient set."
    ),
    "exec": (
        "When it is ready, [2:INIT] opens the exec fifo (runc's state dir, exec.fifo) for writing and "
        "blocks there: `runc create` is done. `runc start` opens the fifo for reading, which releases "
        "it; [2:INIT] then calls execve() on process.args. The same process, pid 1 in the container, now "
        "runs the image's program: no new process is created."
    ),
    "running": (
        "The container's program runs as pid 1 of its pid namespace, confined by its cgroup, "
        "capabilities and seccomp filter, with the containerd shim as its parent on the host."
    ),
    "exit": (
        "pid 1 of the container exited; its exit status becomes the container's exit code (128+N when "
        "killed by signal N). When pid 1 of a pid namespace exits, the kernel kills every other process "
        "in it. What it printed went through the shim's fifos to dockerd's log."
    ),
    "teardown": (
        "The shim runs `runc delete`, which removes the container's cgroup directories and runc's state "
        "directory. The bundle belongs to containerd: `containerd-shim ... delete` and containerd unmount "
        "its rootfs and remove the bundle directory; dockerd then unmounts the overlay's merged dir."
    ),
}

# --- event kinds ----------------------------------------------------------------------------------

# Kinds no probe emits: Docker's own reports (docker/runner.py) and the story's names for how an exec
# failed. The primary source follows each text.
OTHER_KINDS: tuple[KindNote, ...] = (
    KindNote(
        "pull_status",
        "Progress dockerd reports for one layer of the pull (the id starts the layer's digest).",
        source="moby 20.10 distribution/xfer/download.go (progress per layer); Docker Engine API "
        "ImageCreate (JSON progress stream)",
    ),
    KindNote(
        "exec_failed",
        "execve() failed: the kernel did not start the program (ENOENT: no such file in the container's "
        "root filesystem, EACCES: not executable). The container never reaches its entrypoint.",
        source="execve(2) ERRORS; runc 1.1 libcontainer/standard_init_linux.go Init",
    ),
    # runc standard_init_linux.go: exec.LookPath(args[0]) runs before waiting on the exec fifo "to make
    # sure it exists and it is returned as a create time error".
    KindNote(
        "lookup_failed",
        "runc:[2:INIT] looks the command up inside the container (PATH lookup and stat) before it waits "
        "for `runc start`, so a command missing from the image fails `runc create` and no execve happens: "
        "the init process exits with an error and Docker reports runc's message.",
        source="runc 1.1 libcontainer/standard_init_linux.go Init (exec.LookPath before the exec fifo wait)",
    ),
    KindNote(
        "container_create",
        "dockerd created the container object (config, layer for writes); nothing runs yet.",
        source="Docker Engine API ContainerCreate; moby 20.10 daemon/create.go",
    ),
    KindNote(
        "container_start",
        "The start request: containerd is asked to create and start the task.",
        source="Docker Engine API ContainerStart; moby 20.10 daemon/start.go",
    ),
    KindNote(
        "container_exit",
        "Docker reports the container's exit status.",
        source="Docker Engine API events (die); moby 20.10 daemon/monitor.go",
    ),
    KindNote(
        "error",
        "Docker reported an error for this container.",
        source="Docker Engine API (error responses)",
    ),
)

_KIND_NOTES = {**kind_notes(), **{n.kind: n for n in OTHER_KINDS}}
KIND_EXPLANATIONS: dict[str, str] = {k: n.text for k, n in _KIND_NOTES.items()}
# The primary source of each kind's explanation, shown beside it on demand (the Image monitor's `s`, the
# event detail). Man pages are named by section; project files by version, file and function.
KIND_SOURCES: dict[str, str] = {k: n.source for k, n in _KIND_NOTES.items()}


def kind_source(kind: str) -> str:
    return KIND_SOURCES.get(kind, "")


def phase_title(phase: str) -> str:
    return PHASE_TITLES.get(phase, phase)


def explain_phase(phase: str) -> str:
    return PHASE_EXPLANATIONS.get(phase, "")


def phase_source(phase: str) -> str:
    return PHASE_SOURCES.get(phase, "")


def explain_kind(kind: str) -> str:
    return KIND_EXPLANATIONS.get(kind, "")
