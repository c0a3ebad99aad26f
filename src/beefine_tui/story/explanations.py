"""Plain explanations of what the kernel did in each phase and for each event kind of the story.

Each text says what happened and which OCI or Docker concept it implements. The comment next to
each one names the primary source it was checked against, so the next reader can verify it.
All texts are written in our own words.
"""

from __future__ import annotations

# --- phases ---------------------------------------------------------------------------------------

PHASE_TITLES: dict[str, str] = {
    "pull": "resolve + pull",
    "unpack": "unpack layers",
    "rootfs": "root filesystem (overlay)",
    "bundle": "OCI bundle (config.json)",
    "runtime": "runtime: shim and runc",
    "cgroup": "cgroup attach",
    "namespaces": "namespaces",
    "mounts": "mounts inside the container",
    "pivot_root": "pivot_root",
    "hostname": "hostname",
    "security": "capabilities / no_new_privs / seccomp",
    "exec": "exec of the entrypoint",
    "running": "running",
    "exit": "exit",
}

PHASE_EXPLANATIONS: dict[str, str] = {
    # OCI distribution spec (spec.md: "Pulling manifests", "Pulling blobs") and image-spec
    # (manifest.md, image-index.md): a tag is resolved to a manifest (possibly via an index that lists
    # one manifest per platform); the manifest names the config blob and one blob per layer, each
    # addressed by the sha256 digest of its compressed bytes.
    "pull": (
        "dockerd asks the registry over HTTP for the image's manifest (resolving the tag, and through "
        "an index the manifest for this platform), then downloads the config and one blob per layer. "
        "Every blob is named by its sha256 digest, so what arrives can be checked against what was asked."
    ),
    # moby pkg/chrootarchive (archive_unix.go, 20.10: re-exec as "docker-untar", chroot/pivot into the
    # layer's diff directory, then untar) and daemon/graphdriver/overlay2/overlay.go (ApplyDiff into
    # <root>/overlay2/<cache-id>/diff, WhiteoutFormat: OverlayWhiteoutFormat); image-spec layer.md
    # ("Whiteouts", "Opaque Whiteout"); moby pkg/archive/archive_linux.go overlayWhiteoutConverter
    # (.wh.<name> -> mknod(<name>, S_IFCHR, 0); .wh..wh..opq -> lsetxattr trusted.overlay.opaque=y);
    # kernel Documentation/filesystems/overlayfs.rst ("whiteouts and opaque directories").
    "unpack": (
        "Each downloaded layer is a tar archive. dockerd re-executes itself as `docker-untar`, moves "
        "into the layer's own directory (overlay2/<id>/diff) and writes the layer's files there, so a "
        "malicious archive cannot write outside it: directories, files, symlinks and hard links, with "
        "their modes and owners. One directory per layer, stored once, shared by every container made "
        "from it. A layer never edits the layers below it, so a file it deletes is stored as a "
        "whiteout (in the tar an empty .wh.<name> entry, on disk a character device numbered 0:0 with "
        "the deleted file's name), which overlayfs reads "
        'as "this file is gone" and hides the lower layers\' copy. A directory replaced as a whole is '
        'marked opaque instead (extended attribute trusted.overlay.opaque="y"): nothing of the lower '
        "layers' version of it shows through."
    ),
    # moby daemon/graphdriver/overlay2/overlay.go (Get: lowerdir from the `lower` file of l/ short
    # links, upperdir=<id>/diff, workdir=<id>/work, mount at <id>/merged); kernel
    # Documentation/filesystems/overlayfs.rst.
    "rootfs": (
        "dockerd mounts an overlay filesystem: the image layers as read-only lowerdirs (newest first, "
        "named by short links in overlay2/l/ to keep the mount options short), plus a per-container "
        "upperdir that receives every write and a workdir overlayfs needs for copy-up. The merged view "
        "becomes the container's root filesystem; the image layers are never modified."
    ),
    # opencontainers/runtime-spec bundle.md and config.md; containerd runtime/v2 bundle.go writes
    # config.json into <state>/io.containerd.runtime.v2.task/<namespace>/<id>/.
    "bundle": (
        "An OCI bundle is a directory with the root filesystem and a config.json describing the "
        "container: the process to run, its namespaces, mounts, capabilities, seccomp filter and cgroup. "
        "containerd writes it from the spec dockerd sent; runc only ever reads this file."
    ),
    # opencontainers/runtime-spec runtime.md (create / start / delete lifecycle); containerd
    # runtime/v2/shim; runc create.go/start.go.
    "runtime": (
        "containerd starts containerd-shim-runc-v2 for this container: the shim stays as the "
        "container's parent so containerd (and dockerd) can restart without killing it. The shim runs "
        "`runc create` (set everything up, stop just before the user's program) and then `runc start` "
        "(let it exec), the OCI runtime lifecycle."
    ),
    # runc libcontainer/cgroups/fs (v1: one directory per controller) and runtime-spec config-linux.md
    # (cgroupsPath); the attach happens before nsexec so every process of the container is counted.
    "cgroup": (
        "runc creates the container's cgroup (config.json linux.cgroupsPath, e.g. /docker/<id>) in every "
        "controller hierarchy and moves its init process in, before the namespaces are made, so limits "
        "and accounting (memory, cpu, pids) apply from the very first instruction."
    ),
    # runc libcontainer/nsenter/nsexec.c, STAGE_CHILD: unshare(config.cloneflags & ~CLONE_NEWCGROUP),
    # then clone_parent(STAGE_INIT) "because of PID namespace, setns(2) or unshare(2) don't change the
    # PID namespace of the calling process"; STAGE_INIT unshares CLONE_NEWCGROUP itself when asked.
    "namespaces": (
        "runc's C preamble (nsexec) splits into three processes: runc:[0:PARENT] talks to runc, "
        "runc:[1:CHILD] calls unshare() to create the new namespaces (mount, uts, ipc, net, pid; a cgroup "
        "namespace, when the config asks for one, is made later by [2:INIT]), then forks runc:[2:INIT]. "
        "unshare(CLONE_NEWPID) does not move the caller itself, only its future children, so that extra "
        "fork is what makes [2:INIT] pid 1 inside the container while it has another pid on the host."
    ),
    # runc libcontainer/rootfs_linux.go (prepareRootfs: make / private or slave, bind the rootfs onto
    # itself, mountToRootfs for every config.json mount in order; /proc, /dev, /sys, mqueue, binds).
    "mounts": (
        "Inside the new mount namespace runc:[2:INIT] first makes the propagation of / private or "
        "slave (so nothing leaks back to the host), bind-mounts the rootfs onto itself, then mounts each "
        "entry of config.json's mounts in order: proc, a tmpfs /dev, devpts, sysfs, the cgroup files, "
        "mqueue, shm and the bind mounts Docker adds (/etc/resolv.conf, /etc/hostname, /etc/hosts)."
    ),
    # runc libcontainer/rootfs_linux.go pivotRoot(): pivot_root(".", "."), then umount the old root
    # with MNT_DETACH; chroot is only used with no_pivot (ramfs) because it leaves the old root
    # reachable.
    "pivot_root": (
        'runc swaps the root of the mount namespace: pivot_root(".", ".") makes the prepared rootfs '
        "the new / and stacks the old root under it, and a lazy umount then drops the old root entirely. "
        "Unlike chroot, nothing of the host's filesystem stays reachable from inside."
    ),
    # runc libcontainer/standard_init_linux.go (Init: unix.Sethostname(config.Hostname)); moby
    # daemon/container.go sets Hostname to the first 12 characters of the id when none is given.
    "hostname": (
        "In its new UTS namespace the init process sets the hostname from config.json. Docker uses the "
        "container's short id (12 hex characters) unless --hostname is given; the host's name is "
        "untouched."
    ),
    # runc libcontainer/standard_init_linux.go (order: seccomp early when NoNewPrivileges is false,
    # finalizeNamespace drops capabilities, PR_SET_NO_NEW_PRIVS, seccomp late when it is true);
    # moby oci/caps/defaults.go (default capability set); runtime-spec config.md (process.capabilities,
    # noNewPrivileges) and config-linux.md (seccomp, maskedPaths, readonlyPaths).
    "security": (
        "Before handing over, runc:[2:INIT] locks the process down: it masks and read-only-mounts "
        "sensitive /proc and /sys paths, loads the seccomp filter (Docker's default profile blocks "
        "syscalls such as mount or kexec_load), and with capset keeps only Docker's default "
        "capabilities. With no_new_privs, setuid binaries can no longer gain privileges, which is also "
        "what lets an unprivileged process install a seccomp filter."
    ),
    # runc libcontainer/standard_init_linux.go (wait on exec.fifo until `runc start`, then
    # system.Exec of process.args); runtime-spec runtime.md ("start" runs the user-specified program).
    "exec": (
        "`runc start` opens the exec fifo, which releases runc:[2:INIT]; it then calls execve() on the "
        "command from config.json (process.args). The same process, still pid 1 in the container, now "
        "runs the image's program: no new process is created."
    ),
    "running": (
        "The container's program runs as pid 1 in its namespaces, confined by its cgroup, capabilities "
        "and seccomp filter, with containerd-shim as its parent on the host."
    ),
    # runtime-spec runtime.md (state "stopped"; delete removes what create made); moby waits on the
    # shim's exit event and reports the status as the container's exit code.
    "exit": (
        "pid 1 of the container exited; its exit status becomes the container's exit code (128+N when "
        "killed by signal N). When pid 1 exits the kernel kills every other process in the pid "
        "namespace; then `runc delete` removes the cgroup and the bundle."
    ),
}

# --- event kinds ----------------------------------------------------------------------------------

KIND_EXPLANATIONS: dict[str, str] = {
    # moby distribution/pull_v2.go: one HTTP connection per blob fetch (plus the manifest requests).
    "connect": "dockerd opens a TCP connection to the registry to fetch a manifest or a blob.",
    "pull_status": "Progress dockerd reports for one layer of the pull (the id starts the layer's digest).",
    # kernel Documentation/networking (XDP runs in the driver's receive path, before the network stack)
    "xdp_counts": (
        "Packets counted by an XDP program on the interface the registry traffic crosses (lo for a "
        "registry on this machine): the pull's bytes as the network driver saw them."
    ),
    "xdp_packet": "One sampled packet header seen by XDP on that interface.",
    "exec": (
        "execve(): the process replaces its program. For runc this is how the shim starts it, how runc "
        "re-executes itself as `runc init`, and finally how the container's entrypoint is started."
    ),
    # runc standard_init_linux.go: exec.LookPath(args[0]) runs before waiting on the exec fifo "to make
    # sure it exists and it is returned as a create time error".
    "exec_failed": (
        "execve() failed: the kernel did not start the program (ENOENT: no such file in the container's "
        "root filesystem, EACCES: not executable). The container never reaches its entrypoint."
    ),
    "lookup_failed": (
        "runc:[2:INIT] looks the command up inside the container (PATH lookup and stat) before it waits "
        "for `runc start`, so a command missing from the image fails `runc create` and no execve happens: "
        "the init process exits with an error and Docker reports runc's message."
    ),
    "fork": "A process created a child (fork/clone); the tree of these is how the story follows a container.",
    # runc nsexec.c: clone_parent() uses CLONE_PARENT so runc (not [0:PARENT]) is the parent of both.
    "clone": (
        "clone(): a new process. runc's stages clone with CLONE_PARENT so runc itself, not the stage "
        "that called clone, becomes the parent and can wait for it."
    ),
    # runc nsexec.c (STAGE_CHILD: unshare(config.cloneflags & ~CLONE_NEWCGROUP) then cgroupns later).
    "unshare": (
        "unshare(): the caller leaves its namespaces for new, empty ones. CLONE_NEWNS gives a private "
        "mount table, CLONE_NEWUTS its own hostname, CLONE_NEWIPC its own SysV IPC, CLONE_NEWNET an empty "
        "network stack, CLONE_NEWPID a new pid numbering for its next child, CLONE_NEWCGROUP its own view "
        "of the cgroup tree."
    ),
    "setns": "setns(): join an existing namespace (by an fd from /proc/<pid>/ns/...), as `docker exec` does.",
    # runc libcontainer/rootfs_linux.go mountToRootfs and the MS_* flags in mount(2).
    "mount": (
        "mount(): attach a filesystem. runc mounts through /proc/self/fd/N (a handle on the target opened "
        "safely inside the rootfs) so a symlink in the image cannot redirect it onto the host."
    ),
    "umount": "umount(): detach a filesystem; MNT_DETACH makes it lazy (gone once nothing uses it).",
    "pivot_root": "pivot_root(): change the root mount of this mount namespace (see the phase).",
    "sethostname": "sethostname(): set the name in this UTS namespace only.",
    # runc libcontainer/cgroups/fs/*.go: Apply writes the pid into cgroup.procs of each controller.
    "cgroup_mkdir": "A cgroup directory was created for the container in one controller hierarchy.",
    "cgroup_attach": "A process was moved into the container's cgroup (its pid written to cgroup.procs).",
    # man 2 capset; moby oci/caps/defaults.go for the default set.
    "capset": "capset(): set the process's capability sets; runc keeps only those listed in config.json.",
    # man 2 prctl (PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP); runc standard_init_linux.go.
    "prctl": (
        "prctl(): PR_SET_NO_NEW_PRIVS forbids gaining privileges through exec (setuid, file caps); "
        "PR_SET_SECCOMP installs a syscall filter."
    ),
    # man 2 seccomp; runc libcontainer/seccomp (libseccomp probes the kernel's support first).
    "seccomp": (
        "seccomp(): install or probe a syscall filter. Calls that fail with EFAULT/EINVAL are libseccomp "
        "checking which features this kernel supports; the one that succeeds with SECCOMP_SET_MODE_FILTER "
        "loads the container's filter."
    ),
    "open": "open(): a file opened (for writing when creating files of a layer or of the bundle).",
    "read": (
        "read(): bytes read from a file (folded per file descriptor; pread, readv and preadv count too): "
        "for example dockerd reading a downloaded layer back to unpack it."
    ),
    "write": (
        "write(): bytes written to a file (folded per file descriptor; pwrite, writev and pwritev count too)."
    ),
    # man 2 mkdir/symlink/link/unlink/rmdir/rename/chmod/chown; moby pkg/archive/archive.go
    # createTarFile (one call per tar entry type, then Lchown, Chmod, times).
    "mkdir": "mkdir(): a directory created; unpacking a layer makes one for each directory of its tar.",
    "symlink": (
        "symlink(): a symbolic link created: a tiny file whose content is a path (most of a busybox "
        "image's commands are links to /bin/busybox)."
    ),
    "link": (
        "link(): a second name for an existing file (a hard link): both names share the same data. A "
        "tar stores the second name only as a reference to the first."
    ),
    # moby pkg/archive/archive_linux.go overlayWhiteoutConverter; overlayfs.rst "whiteouts".
    "mknod": (
        "mknod(): a special file (a device, a fifo). While a layer is unpacked, a character device "
        "numbered 0:0 is a whiteout: overlayfs's marker that this layer deletes the file of that name "
        "from the layers below, so the container will not see it."
    ),
    "unlink": "unlink(): a name removed from its directory; unpacking removes what a tar entry replaces.",
    "rmdir": "rmdir(): an empty directory removed (unlinkat with AT_REMOVEDIR does the same).",
    # man 2 rename (RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT).
    "rename": (
        "rename(): a file moved to a new name in one atomic step. RENAME_NOREPLACE refuses to overwrite "
        "an existing name, RENAME_EXCHANGE swaps two names, RENAME_WHITEOUT leaves an overlayfs whiteout "
        "where the file was."
    ),
    # man 7 xattr; overlayfs.rst "opaque directories"; moby overlayWhiteoutConverter (.wh..wh..opq).
    "setxattr": (
        "setxattr(): an extended attribute (name=value metadata) set on a file. trusted.overlay.opaque="
        '"y" makes a directory opaque: overlayfs then shows only this layer\'s content of it and hides '
        "everything the lower layers had there."
    ),
    "chmod": "chmod(): permission bits set; unpacking gives each file the mode its tar header records.",
    "chown": (
        "chown(): owner and group set; unpacking gives each file the owner its tar header records "
        "(-1 leaves one of them unchanged)."
    ),
    "exit": "The process ended; its exit code is what its parent (and Docker) sees.",
    "container_create": "dockerd created the container object (config, layer for writes); nothing runs yet.",
    "container_start": "The start request: containerd is asked to create and start the task.",
    "container_exit": "Docker reports the container's exit status.",
    "error": "Docker reported an error for this container.",
}


def phase_title(phase: str) -> str:
    return PHASE_TITLES.get(phase, phase)


def explain_phase(phase: str) -> str:
    return PHASE_EXPLANATIONS.get(phase, "")


def explain_kind(kind: str) -> str:
    return KIND_EXPLANATIONS.get(kind, "")
