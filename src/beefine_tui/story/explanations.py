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

KIND_EXPLANATIONS: dict[str, str] = {
    # moby distribution/pull_v2.go: one HTTP connection per blob fetch (plus the manifest requests).
    "connect": "dockerd opens a TCP connection to the registry to fetch a manifest or a blob.",
    "pull_status": "Progress dockerd reports for one layer of the pull (the id starts the layer's digest).",
    # kernel net/core/dev.c do_xdp_generic (generic XDP runs in the core receive path, after the driver)
    "xdp_counts": (
        "Packets counted by an XDP program on the interface the registry traffic crosses (lo for a "
        "registry on this machine). In generic (SKB) mode XDP runs in the core receive path after the "
        "driver, and sees incoming packets only; on lo every packet sent is also received once."
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
        "that called clone, is the kernel parent of runc:[1:CHILD] and runc:[2:INIT] and can wait for "
        "them; once runc create exits, [2:INIT] is adopted by the shim, a child subreaper."
    ),
    # runc nsexec.c (STAGE_CHILD: unshare(config.cloneflags & ~CLONE_NEWCGROUP) then cgroupns later);
    # unshare(2), mount_namespaces(7), pid_namespaces(7).
    "unshare": (
        "unshare(): the caller moves into new namespaces. CLONE_NEWNS starts as a copy of the current "
        "mount table, CLONE_NEWUTS as a copy of the hostname; CLONE_NEWIPC and CLONE_NEWNET start empty "
        "(only a loopback, down); CLONE_NEWPID applies to the caller's later children, the first of "
        "which becomes pid 1; CLONE_NEWCGROUP makes the current cgroup the namespace's root."
    ),
    "setns": "setns(): join an existing namespace (by an fd from /proc/<pid>/ns/...), as `docker exec` does.",
    # libnetwork drivers/bridge/bridge.go createEndpoint; osl/interface_linux.go AddInterface
    "rtm_newlink": (
        "An rtnetlink request to make or change a network device. dockerd's bridge driver makes the "
        "container's veth pair with it (two linked devices: what enters one leaves the other) and later "
        "sets links up or down; runc's init brings up the new namespace's lo the same way."
    ),
    "rtm_setlink": (
        "An rtnetlink request to change an existing device: with IFLA_NET_NS_FD it moves the device into "
        "the network namespace that fd names (the container's end of the veth, moved in while runc's "
        "prestart hook waits); with IFLA_IFNAME it renames it (to eth0); with IFLA_MASTER it puts the "
        "host end on the bridge (docker0)."
    ),
    "rtm_dellink": (
        "An rtnetlink request to delete a device. Deleting one end of a veth pair deletes the other: "
        "removing a container's network removes its eth0 with it."
    ),
    "rtm_newaddr": (
        "An rtnetlink request to add an IP address to a device: dockerd gives the container's eth0 the "
        "address IPAM chose on the bridge network's subnet, with its prefix length."
    ),
    "rtm_deladdr": "An rtnetlink request to remove an IP address from a device.",
    "rtm_newroute": (
        "An rtnetlink request to add a route: dockerd sets the container's default route via the "
        "bridge's address (the gateway), out of eth0, in the container's network namespace."
    ),
    "rtm_delroute": "An rtnetlink request to remove a route.",
    # runc libcontainer/rootfs_linux.go mountToRootfs and the MS_* flags in mount(2).
    "mount": (
        "mount(): attach a filesystem. runc mounts through /proc/self/fd/N (a handle on the target opened "
        "safely inside the rootfs) so a symlink in the image cannot redirect it onto the host."
    ),
    "umount": "umount(): detach a filesystem; MNT_DETACH makes it lazy (gone once nothing uses it).",
    "pivot_root": "pivot_root(): change the root mount of this mount namespace (see the phase).",
    "sethostname": "sethostname(): set the name in this UTS namespace only.",
    # runc libcontainer/cgroups/fs/*.go: Apply writes the pid into cgroup.procs of each controller.
    "cgroup_mkdir": (
        "A cgroup directory was created for the container (on cgroup v1, one per controller hierarchy)."
    ),
    "cgroup_rmdir": "A cgroup directory of the container was removed (runc delete, after pid 1 exited).",
    "cgroup_attach": "A process was moved into the container's cgroup (its pid written to cgroup.procs).",
    # capset(2), capabilities(7); runc libcontainer/capabilities (ApplyCaps); moby oci/caps/defaults.go.
    "capset": (
        "capset(): set the effective, permitted and inheritable capability sets; runc keeps only those "
        "config.json lists (the bounding set is trimmed separately, with prctl PR_CAPBSET_DROP)."
    ),
    # prctl(2) (PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, PR_CAPBSET_DROP, PR_SET_KEEPCAPS, PR_CAP_AMBIENT,
    # PR_SET_CHILD_SUBREAPER); runc 1.1 standard_init_linux.go, libcontainer/capabilities.
    "prctl": (
        "prctl(): PR_SET_NO_NEW_PRIVS (only when configured) forbids gaining privileges through exec; "
        "PR_SET_SECCOMP installs a syscall filter (how runc 1.1 loads Docker's profile); PR_CAPBSET_DROP "
        "removes one capability from the bounding set; PR_SET_KEEPCAPS keeps capabilities across the "
        "change of uid; PR_CAP_AMBIENT sets the ambient set; PR_SET_CHILD_SUBREAPER makes the shim (and "
        "runc) adopt orphaned descendants."
    ),
    # seccomp(2); runc 1.1 libcontainer/seccomp/patchbpf/enosys_linux.go sysSeccompSetFilter (prctl
    # when no filter flags, the seccomp syscall otherwise).
    "seccomp": (
        "seccomp(): calls that fail (EFAULT, EINVAL) and SECCOMP_GET_* queries are libseccomp probing "
        "which features this kernel supports, when runc starts. runc 1.1 loads a filter that needs no "
        "flags, Docker's included, with prctl(PR_SET_SECCOMP) instead; seccomp(SET_MODE_FILTER) "
        "succeeding means filter flags (such as a notify listener) were asked for."
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
    # The lab's Dockerfile runs `busybox --install -s` (symlinks); Docker Hub's busybox image stores
    # its commands as hard links (issue 12; not checkable offline here: no Docker Hub access).
    "symlink": (
        "symlink(): a symbolic link created: a tiny file whose content is a path. This project's lab "
        "images make their commands symlinks to /bin/busybox; Docker Hub's busybox uses hard links "
        "(link()) instead. runc also makes /dev/fd, /dev/std* and /dev/ptmx as symlinks."
    ),
    "link": (
        "link(): a second name for an existing file (a hard link): both names share the same data. A "
        "tar stores the second name only as a reference to the first."
    ),
    # moby pkg/archive/archive_linux.go overlayWhiteoutConverter; overlayfs.rst "whiteouts"; runc 1.1
    # rootfs_linux.go createDevices (default devices: null 1:3, zero 1:5, full 1:7, random 1:8,
    # urandom 1:9, tty 5:0); runc create's mknod of exec.fifo.
    "mknod": (
        "mknod(): a special file. runc:[2:INIT] makes the container's devices in its tmpfs /dev (null, "
        "zero, full, random, urandom, tty, with their major:minor); runc create makes exec.fifo; "
        "containerd makes the fifos for the container's stdout/stderr. While a layer is unpacked, a "
        "character device 0:0 is a whiteout: this layer deletes that name (a file or a directory) from "
        "the layers below."
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
    # Kinds outside the creation story's usual path, explained for the probe views and event details.
    "clone3": (
        "clone3(): the newer clone, taking a struct: flags, the exit signal, a pidfd, a cgroup to start "
        "the child in, a stack. glibc makes threads with it; runc's nsexec still uses clone()."
    ),
    "socket": (
        "socket(): a communication endpoint of one family (AF_INET, AF_UNIX, AF_NETLINK...), returned as "
        "an fd. dockerd talks to the kernel through AF_NETLINK sockets when it wires a container's network."
    ),
    "bind": "bind(): a socket gets its local address: an IP and port, a unix socket path, a netlink port.",
    "listen": "listen(): a stream socket starts accepting connections, queueing up to `backlog` of them.",
    "accept": "accept(): the next connection waiting on a listening socket, as a new socket fd.",
    "epoll_create": (
        "epoll_create(): an epoll instance, the kernel's list of fds to wait on together. Go programs "
        "(dockerd, containerd, runc) make one at start for their network poller."
    ),
    "tcp_state": (
        "A TCP connection changed state: SYN_SENT -> ESTABLISHED is a connection made, FIN_WAIT and "
        "CLOSE its end. The change runs where the packet was handled (often softirq), so the pid shown "
        "may not be the socket's owner."
    ),
    "fsopen": (
        'fsopen(): the new mount API\'s first step, a filesystem context of one type ("overlay", '
        '"proc") that fsconfig() then fills in.'
    ),
    "fsconfig": (
        "fsconfig(): one parameter of a filesystem context (a key such as lowerdir and its value), or the "
        "command to create the superblock."
    ),
    "fsmount": (
        "fsmount(): a configured filesystem context becomes a mount, detached: an fd, not yet in the tree."
    ),
    "move_mount": "move_mount(): a detached mount is attached to a place in the tree (or a mount is moved).",
    "open_tree": (
        "open_tree(): an fd for an existing mount; with OPEN_TREE_CLONE a detached copy of it, which "
        "move_mount() attaches elsewhere: a bind mount in the new API."
    ),
    "syscall": (
        "One system call of the container, named from this kernel's table, with its raw arguments, its "
        "result and how long it took, as strace shows it."
    ),
}


# The primary source of each kind's explanation, shown beside it on demand (the Image monitor's `s`, the
# event detail). Man pages are named by section; project files by version, file and function.
KIND_SOURCES: dict[str, str] = {
    "connect": "moby 20.10 distribution/pull_v2.go (one HTTP connection per blob fetch); connect(2)",
    "pull_status": "moby 20.10 distribution/xfer/download.go (progress per layer); Docker Engine API "
    "ImageCreate (JSON progress stream)",
    "xdp_counts": "kernel net/core/dev.c do_xdp_generic, netif_receive_generic_xdp; bpf-helpers(7)",
    "xdp_packet": "kernel net/core/dev.c do_xdp_generic; bpf-helpers(7) (BPF_MAP_TYPE_RINGBUF output)",
    "exec": "execve(2); runc 1.1 libcontainer/process_linux.go (runc init), standard_init_linux.go Init "
    "(system.Exec of the entrypoint); containerd 1.6 runtime/v2/runc (shim starts runc)",
    "exec_failed": "execve(2) ERRORS; runc 1.1 libcontainer/standard_init_linux.go Init",
    "lookup_failed": "runc 1.1 libcontainer/standard_init_linux.go Init (exec.LookPath before the exec "
    "fifo wait)",
    "fork": "fork(2), clone(2); kernel tracepoint sched:sched_process_fork",
    "clone": "clone(2) CLONE_PARENT; runc 1.1 libcontainer/nsenter/nsexec.c clone_parent; prctl(2) "
    "PR_SET_CHILD_SUBREAPER",
    "unshare": "unshare(2); mount_namespaces(7); pid_namespaces(7); uts_namespaces(7); runc 1.1 "
    "libcontainer/nsenter/nsexec.c (STAGE_CHILD unshare, cgroupns last)",
    "setns": "setns(2); namespaces(7)",
    "rtm_newlink": "rtnetlink(7) RTM_NEWLINK; netlink(7); libnetwork drivers/bridge/bridge.go "
    "createEndpoint (veth pair, netlink.LinkAdd); runc 1.1 libcontainer/network_linux.go (loopback up)",
    "rtm_setlink": "rtnetlink(7) RTM_SETLINK (IFLA_NET_NS_FD, IFLA_IFNAME, IFLA_MASTER); libnetwork "
    "osl/interface_linux.go AddInterface, configureInterface",
    "rtm_dellink": "rtnetlink(7) RTM_DELLINK; veth(4); libnetwork drivers/bridge/bridge.go deleteEndpoint",
    "rtm_newaddr": "rtnetlink(7) RTM_NEWADDR; libnetwork osl/interface_linux.go setInterfaceIP",
    "rtm_deladdr": "rtnetlink(7) RTM_DELADDR",
    "rtm_newroute": "rtnetlink(7) RTM_NEWROUTE; libnetwork osl/route_linux.go SetGateway",
    "rtm_delroute": "rtnetlink(7) RTM_DELROUTE; libnetwork osl/route_linux.go UnsetGateway",
    "mount": "mount(2); runc 1.1 libcontainer/rootfs_linux.go mountToRootfs (mounts through "
    "/proc/self/fd), utils.WithProcfd",
    "umount": "umount(2) (MNT_DETACH)",
    "pivot_root": "pivot_root(2); runc 1.1 libcontainer/rootfs_linux.go pivotRoot",
    "sethostname": "sethostname(2); uts_namespaces(7)",
    "cgroup_mkdir": "runc 1.1 libcontainer/cgroups/fs (v1: one directory per hierarchy), fs2 (v2); "
    "cgroups(7)",
    "cgroup_rmdir": "runc 1.1 delete.go, libcontainer/cgroups/fs Manager.Destroy; cgroups(7)",
    "cgroup_attach": "runc 1.1 libcontainer/cgroups/fs Manager.Apply (cgroup.procs); cgroups(7); kernel "
    "tracepoint cgroup:cgroup_attach_task",
    "capset": "capset(2); capabilities(7); runc 1.1 libcontainer/capabilities ApplyCaps; moby 20.10 "
    "oci/caps/defaults.go",
    "prctl": "prctl(2); runc 1.1 libcontainer/standard_init_linux.go Init, libcontainer/capabilities; "
    "containerd 1.6 sys/subreaper",
    "seccomp": "seccomp(2); runc 1.1 libcontainer/seccomp/patchbpf/enosys_linux.go sysSeccompSetFilter; "
    "libseccomp src/system.c (feature probes)",
    "open": "open(2) (O_* flags)",
    "read": "read(2), pread(2), readv(2)",
    "write": "write(2), pwrite(2), writev(2)",
    "mkdir": "mkdir(2); moby 20.10 pkg/archive/archive.go createTarFile",
    "symlink": "symlink(2); moby 20.10 pkg/archive/archive.go createTarFile; runc 1.1 "
    "libcontainer/rootfs_linux.go setupDevSymlinks",
    "link": "link(2); moby 20.10 pkg/archive/archive.go createTarFile (tar.TypeLink)",
    "mknod": "mknod(2); runc 1.1 libcontainer/rootfs_linux.go createDevices; moby 20.10 "
    "pkg/archive/archive_linux.go overlayWhiteoutConverter; kernel overlayfs.rst (whiteouts)",
    "unlink": "unlink(2); moby 20.10 pkg/archive/archive.go createTarFile",
    "rmdir": "rmdir(2), unlinkat(2) AT_REMOVEDIR",
    "rename": "rename(2) (RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT)",
    "setxattr": "setxattr(2); xattr(7); kernel overlayfs.rst (opaque directories); moby 20.10 "
    "pkg/archive/archive_linux.go overlayWhiteoutConverter",
    "chmod": "chmod(2); moby 20.10 pkg/archive/archive.go createTarFile",
    "chown": "chown(2); moby 20.10 pkg/archive/archive.go createTarFile (Lchown)",
    "exit": "exit(2), wait(2); kernel tracepoint sched:sched_process_exit",
    "container_create": "Docker Engine API ContainerCreate; moby 20.10 daemon/create.go",
    "container_start": "Docker Engine API ContainerStart; moby 20.10 daemon/start.go",
    "container_exit": "Docker Engine API events (die); moby 20.10 daemon/monitor.go",
    "error": "Docker Engine API (error responses)",
    "clone3": "clone(2) (clone3); include/uapi/linux/sched.h struct clone_args",
    "socket": "socket(2); socket(7); netlink(7)",
    "bind": "bind(2); ip(7), unix(7), netlink(7) addresses",
    "listen": "listen(2)",
    "accept": "accept(2), accept4(2)",
    "epoll_create": "epoll_create(2); epoll(7)",
    "tcp_state": "tcp(7); kernel tracepoint sock:inet_sock_set_state (include/trace/events/sock.h)",
    "fsopen": "fsopen(2); kernel Documentation/filesystems/mount_api.rst",
    "fsconfig": "fsconfig(2); kernel Documentation/filesystems/mount_api.rst",
    "fsmount": "fsmount(2); kernel Documentation/filesystems/mount_api.rst",
    "move_mount": "move_mount(2); kernel Documentation/filesystems/mount_api.rst",
    "open_tree": "open_tree(2) (OPEN_TREE_CLONE); kernel Documentation/filesystems/mount_api.rst",
    "syscall": "syscall(2), syscalls(2); kernel tracepoints raw_syscalls:sys_enter/sys_exit; strace(1)",
}


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
