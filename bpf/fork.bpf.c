/* fork probe: every new task (process or thread) with its parent, from sched:sched_process_fork.
 *
 * The tracepoint gives thread ids only. Whether the child is a thread (same tgid as the parent) or a
 * process is decided from the clone flags of the syscall in flight in the parent: clone(2)'s flags
 * argument, or clone3(2)'s clone_args.flags read from user memory (the first u64 of struct
 * clone_args, include/uapi/linux/sched.h). fork(2)/vfork(2) and kernel threads have no flags here and
 * are processes. Tracepoints only; see common.h. */
#define BEEFINE_OWN_FORK_HANDLER 1
#include "common.h"

#define FORK_KIND 1

struct fork_rec {
    struct beefine_hdr h;    /* the parent: pid = tgid, tid = the thread that forked */
    u32 child_tid;           /* the tracepoint's child_pid (a tid) */
    u32 has_flags;
    u64 flags;               /* clone flags when has_flags */
};

_Static_assert(sizeof(struct fork_rec) == 56, "fork.py unpacks this layout: change both");

/* tid -> flags of its clone/clone3 in flight; LRU so a thread killed inside clone cannot fill it */
BPF_TABLE("lru_hash", u32, u64, clone_flags, 4096);

static __always_inline void save_flags(u64 flags)
{
    u32 tid = (u32)bpf_get_current_pid_tgid();
    if (clone_flags.update(&tid, &flags) != 0)
        beefine_count_lost(BEEFINE_LOST_MAPFULL);
}

static __always_inline void drop_flags(void)
{
    u32 tid = (u32)bpf_get_current_pid_tgid();
    clone_flags.delete(&tid);
}

TRACEPOINT_PROBE(syscalls, sys_enter_clone)
{
    if (beefine_should_trace())
        save_flags(args->clone_flags);
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_clone3)
{
    if (!beefine_should_trace())
        return 0;
    u64 flags = 0;
    if (bpf_probe_read_user(&flags, sizeof(flags), (void *)args->uargs) == 0)
        save_flags(flags);
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_exit_clone)
{
    drop_flags();
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_exit_clone3)
{
    drop_flags();
    return 0;
}

TRACEPOINT_PROBE(sched, sched_process_fork)
{
    /* runs in the parent: follow the child first when the parent is followed */
    beefine_lineage_fork(args->child_pid);
    if (!beefine_should_trace())
        return 0;
    struct fork_rec r = {};
    beefine_fill_hdr(&r.h, FORK_KIND);
    r.child_tid = args->child_pid;
    u32 tid = r.h.tid;
    u64 *flags = clone_flags.lookup(&tid);
    if (flags) {
        r.flags = *flags;
        r.has_flags = 1;
    }
    beefine_submit(args, &r, sizeof(r));
    return 0;
}
