/* namespaces probe: clone(2) flags, clone3(2) flags read from the caller's struct clone_args,
 * unshare(2), setns(2) and sethostname(2) with the new name. Reported once at syscall exit with the
 * return value (for clone/clone3 the parent's return, the child's pid; the child's own return of 0
 * is not reported). Tracepoints only; see common.h. */
#include "common.h"

#define K_CLONE 1
#define K_CLONE3 2
#define K_UNSHARE 3
#define K_SETNS 4
#define K_SETHOSTNAME 5

#define NAME_LEN 72 /* __NEW_UTS_LEN is 64; sethostname rejects longer names with EINVAL */

/* The layout namespaces.py unpacks: keep both in step. */
struct ns_rec {
    struct beefine_hdr h;
    s64 ret;
    u64 flags;        /* clone/clone3/unshare flags, setns nstype */
    u64 exit_signal;  /* clone3: clone_args.exit_signal */
    u64 cgroup;       /* clone3 with CLONE_INTO_CGROUP: clone_args.cgroup (an fd) */
    s32 fd;           /* setns: the namespace (or pidfd) fd */
    s32 len;          /* sethostname: len argument */
    u32 args_size;    /* clone3: size argument */
    u32 pad;
    char name[NAME_LEN];
};

_Static_assert(sizeof(struct ns_rec) == 160, "namespaces.py unpacks this layout: change both");

#define PAIRED_REC struct ns_rec
#define PAIRED_MAX 1024
#include "paired.h"

TRACEPOINT_PROBE(syscalls, sys_enter_clone)
{
    if (!beefine_should_trace())
        return 0;
    struct ns_rec r = {};
    beefine_fill_hdr(&r.h, K_CLONE);
    r.flags = args->clone_flags;
    return paired_park(&r);
}

TRACEPOINT_PROBE(syscalls, sys_exit_clone)
{
    return paired_finish(args, args->ret);
}

TRACEPOINT_PROBE(syscalls, sys_enter_clone3)
{
    if (!beefine_should_trace())
        return 0;
    struct ns_rec r = {};
    beefine_fill_hdr(&r.h, K_CLONE3);
    r.args_size = (u32)args->size;
    /* struct clone_args (include/uapi/linux/sched.h): flags at 0, exit_signal at 32, cgroup at 80
     * (present from CLONE_ARGS_SIZE_VER2 = 88 bytes) */
    const u64 *ua = (const u64 *)args->uargs;
    if (ua) {
        bpf_probe_read_user(&r.flags, sizeof(r.flags), &ua[0]);
        if (r.args_size >= 40)
            bpf_probe_read_user(&r.exit_signal, sizeof(r.exit_signal), &ua[4]);
        if (r.args_size >= 88)
            bpf_probe_read_user(&r.cgroup, sizeof(r.cgroup), &ua[10]);
    }
    return paired_park(&r);
}

TRACEPOINT_PROBE(syscalls, sys_exit_clone3)
{
    return paired_finish(args, args->ret);
}

TRACEPOINT_PROBE(syscalls, sys_enter_unshare)
{
    if (!beefine_should_trace())
        return 0;
    struct ns_rec r = {};
    beefine_fill_hdr(&r.h, K_UNSHARE);
    r.flags = args->unshare_flags;
    return paired_park(&r);
}

TRACEPOINT_PROBE(syscalls, sys_exit_unshare)
{
    return paired_finish(args, args->ret);
}

TRACEPOINT_PROBE(syscalls, sys_enter_setns)
{
    if (!beefine_should_trace())
        return 0;
    struct ns_rec r = {};
    beefine_fill_hdr(&r.h, K_SETNS);
    r.fd = (s32)args->fd;
    r.flags = (u32)args->flags;
    return paired_park(&r);
}

TRACEPOINT_PROBE(syscalls, sys_exit_setns)
{
    return paired_finish(args, args->ret);
}

TRACEPOINT_PROBE(syscalls, sys_enter_sethostname)
{
    if (!beefine_should_trace())
        return 0;
    struct ns_rec r = {};
    beefine_fill_hdr(&r.h, K_SETHOSTNAME);
    int len = (int)args->len;
    r.len = len;
    /* the name is not NUL-terminated: copy `len` bytes, at most 64 (what the kernel accepts; a longer
     * one fails with EINVAL and is shown cut, marked so by namespaces.py from `len`) */
    if (len > 0 && args->name) {
        u32 n = len > 64 ? 64 : (u32)len;
        /* 1..64 in a form the verifier can bound: ((n - 1) & 63) + 1 */
        n = ((n - 1) & 63) + 1;
        bpf_probe_read_user(r.name, n, args->name);
    }
    return paired_park(&r);
}

TRACEPOINT_PROBE(syscalls, sys_exit_sethostname)
{
    return paired_finish(args, args->ret);
}
