/* exec probe: execve/execveat (filename + argv, reported at syscall exit with ret) and process exit
 * (exit code from exit_group/exit, or the fatal signal as sent: see signal_generate below). Tracepoints
 * only; see common.h. */
#define BEEFINE_OWN_EXIT_HANDLER 1
#define BEEFINE_OWN_FORK_HANDLER 1
#include "common.h"

#define EXEC_KIND 1
#define EXIT_KIND 2

#ifndef MAX_ARGS
#define MAX_ARGS 20
#endif
#define ARG_LEN 128
#define ARGS_BUF (MAX_ARGS * ARG_LEN)
/* allocated as the next power of two so the record's used length can be bounded with a mask,
 * which the verifier follows (a compare-and-clamp was lost in clang's output) */
#define ARGS_ALLOC 4096
#define FILENAME_LEN 256

struct exec_rec {
    struct beefine_hdr h;
    s64 ret;
    u32 argc;       /* args copied */
    u32 args_size;  /* bytes used in args: NUL-terminated strings back to back */
    u32 truncated;  /* 1: argv incomplete (more than MAX_ARGS, or unreadable); 2: an arg was cut;
                     * 4: filename was cut at FILENAME_LEN - 1 bytes */
    u32 at;         /* 1 for execveat */
    char filename[FILENAME_LEN];
    char args[ARGS_ALLOC];
};

struct exit_rec {
    struct beefine_hdr h;
    s32 code;       /* exit status from exit_group/exit; valid when has_code */
    s32 signal;     /* fatal signal; valid when has_signal */
    u32 has_code;
    u32 has_signal;
    u64 exec_ts;    /* when this process last exec'd (0 when not seen) */
};

_Static_assert(sizeof(struct beefine_hdr) == 40, "every decoder unpacks this header: change them all");
_Static_assert(sizeof(struct exec_rec) == 320 + ARGS_ALLOC, "exec.py unpacks this layout: change both");
_Static_assert(ARGS_BUF <= ARGS_ALLOC, "argv must fit its allocation");
_Static_assert(sizeof(struct exit_rec) == 64, "exec.py unpacks this layout: change both");


BPF_PERCPU_ARRAY(scratch, struct exec_rec, 1);
/* LRU maps: an entry whose owner died without passing the hook that deletes it (a thread killed
 * inside execve) is evicted instead of filling the map; in-flight entries are one per thread inside
 * the syscall, far below the sizes, so eviction never takes a live one in practice. */
BPF_TABLE("lru_hash", u32, struct exec_rec, pending, 512);   /* tid -> execve in flight */
BPF_TABLE("lru_hash", u32, s32, exit_codes, 8192);           /* tgid -> code passed to exit_group */
BPF_TABLE("lru_hash", u32, s32, fatal_sig, 8192);            /* tgid -> fatal signal being delivered */
/* target tid -> the last fatal-by-default signal generated for it (signal_generate, any sender) */
BPF_TABLE("lru_hash", u32, s32, generated_sig, 8192);
BPF_TABLE("lru_hash", u32, u64, exec_ts, 32768);             /* tgid -> ts of its last successful exec */
/* child tgid -> parent tgid, from sched_process_fork (which runs in the parent), so exec and exit
 * records carry the parent even when the process is gone before user space could read /proc.
 * LRU: processes that were running before we started are never inserted, never deleted. */
BPF_TABLE("lru_hash", u32, u32, parents, 32768);

static __always_inline u32 parent_of(u32 tgid)
{
    u32 *p = parents.lookup(&tgid);
    return p ? *p : 0;
}

static __always_inline int exec_enter(const char *filename, const char *const *argv, u32 at)
{
    if (!beefine_should_trace())
        return 0;
    int zero = 0;
    struct exec_rec *r = scratch.lookup(&zero);
    if (!r)
        return 0;
    beefine_fill_hdr(&r->h, EXEC_KIND);
    r->ret = 0;
    r->argc = 0;
    r->args_size = 0;
    r->truncated = 0;
    r->at = at;
    int fn = bpf_probe_read_user_str(r->filename, sizeof(r->filename), filename);
    if (beefine_user_str_cut(fn, FILENAME_LEN, filename))
        r->truncated |= 4;

    u32 off = 0;
#pragma unroll
    for (int i = 0; i < MAX_ARGS; i++) {
        const char *argp = NULL;
        if (bpf_probe_read_user(&argp, sizeof(argp), &argv[i]) != 0) {
            /* the argv array is in a page not faulted in yet: BPF cannot wait for it */
            r->truncated |= 1;
            goto done;
        }
        if (!argp)
            goto done;
        if (off > ARGS_BUF - ARG_LEN)
            goto done;
        int n = bpf_probe_read_user_str(&r->args[off], ARG_LEN, argp);
        if (n <= 0) {
            r->truncated |= 1;  /* unreadable string (not faulted in): say argv is incomplete */
            goto done;
        }
        if (beefine_user_str_cut(n, ARG_LEN, argp))
            r->truncated |= 2;
        off += n;
        r->argc++;
    }
    /* MAX_ARGS copied: is there more? */
    {
        const char *argp = NULL;
        bpf_probe_read_user(&argp, sizeof(argp), &argv[MAX_ARGS]);
        if (argp)
            r->truncated |= 1;
    }
done:
    r->args_size = off;
    u32 tid = r->h.tid;
    if (pending.update(&tid, r) != 0)
        beefine_count_lost(BEEFINE_LOST_MAPFULL);
    return 0;
}

static __always_inline int exec_exit(void *ctx, long ret)
{
    u32 tid = (u32)bpf_get_current_pid_tgid();
    struct exec_rec *r = pending.lookup(&tid);
    if (!r)
        return 0;
    r->ret = ret;
    /* after a successful exec the pid is the tgid (a non-leader thread that execs takes over the
     * leader's pid) and comm is the new program's */
    u64 id = bpf_get_current_pid_tgid();
    r->h.pid = id >> 32;
    r->h.tid = (u32)id;
    r->h.pad = parent_of(id >> 32);  /* the header's spare word carries the parent tgid (0: unknown) */
    r->h.ts = bpf_ktime_get_ns();
    bpf_get_current_comm(&r->h.comm, sizeof(r->h.comm));
    if (ret == 0) {
        u32 tgid = id >> 32;
        u64 ts = r->h.ts;
        exec_ts.update(&tgid, &ts);
        fatal_sig.delete(&tgid);
    }
    /* only the used part of argv goes out: ~400 bytes for a typical exec instead of 4.4 KB */
    u32 size = offsetof(struct exec_rec, args) + (r->args_size & (ARGS_ALLOC - 1));
    beefine_submit(ctx, r, size);
    pending.delete(&tid);
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_execve)
{
    return exec_enter(args->filename, args->argv, 0);
}

TRACEPOINT_PROBE(syscalls, sys_enter_execveat)
{
    return exec_enter(args->filename, args->argv, 1);
}

TRACEPOINT_PROBE(syscalls, sys_exit_execve)
{
    return exec_exit(args, args->ret);
}

TRACEPOINT_PROBE(syscalls, sys_exit_execveat)
{
    return exec_exit(args, args->ret);
}

TRACEPOINT_PROBE(syscalls, sys_enter_exit_group)
{
    if (!beefine_should_trace())
        return 0;
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    s32 code = args->error_code & 0xff;
    exit_codes.update(&tgid, &code);
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_exit)
{
    /* exit() of a single thread; it is the process's status only when this is the last thread */
    if (!beefine_should_trace())
        return 0;
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    s32 code = args->error_code & 0xff;
    exit_codes.update(&tgid, &code);
    return 0;
}

/* A signal whose default action kills the process, delivered with no handler installed (SIG_DFL).
 * Fatal-by-default signals: HUP INT QUIT ILL TRAP ABRT BUS FPE KILL USR1 SEGV USR2 PIPE ALRM TERM
 * STKFLT XCPU XFSZ VTALRM PROF IO PWR SYS (signal(7)). get_signal() emits signal_deliver before
 * acting on the default action, including for the SIGKILL that tears down a dying thread group. */
#define FATAL_DEFAULT_MASK ((1ULL << 1) | (1ULL << 2) | (1ULL << 3) | (1ULL << 4) | (1ULL << 5) | \
    (1ULL << 6) | (1ULL << 7) | (1ULL << 8) | (1ULL << 9) | (1ULL << 10) | (1ULL << 11) | \
    (1ULL << 12) | (1ULL << 13) | (1ULL << 14) | (1ULL << 15) | (1ULL << 16) | (1ULL << 24) | \
    (1ULL << 25) | (1ULL << 26) | (1ULL << 27) | (1ULL << 29) | (1ULL << 30) | (1ULL << 31))

#define SIGKILL 9
#define TRACE_SIGNAL_DELIVERED 0

/* Why signal_generate: a fatal signal with the default action and no core dump (TERM, HUP, INT, USR1,
 * PIPE, ALRM...) takes the kernel's group-exit fast path: complete_signal() (kernel/signal.c) records
 * the real signal in signal->group_exit_code and queues SIGKILL to every thread, so signal_deliver
 * then reports SIGKILL. The real signal is visible only where it is sent: signal_generate runs in the
 * sender's context (often an untraced process: docker stop, a shell's kill) and names the target's
 * tid, so it is remembered per target here and consulted when a traced task takes the SIGKILL. Core
 * dumping signals (SEGV, ABRT, QUIT...) skip the fast path and are delivered as themselves. */
TRACEPOINT_PROBE(signal, signal_generate)
{
    int sig = args->sig;
    if (sig <= 0 || sig >= 32 || !((FATAL_DEFAULT_MASK >> sig) & 1))
        return 0;
    if (args->result != TRACE_SIGNAL_DELIVERED)  /* ignored, or already pending: changes nothing */
        return 0;
    u32 target = args->pid;
    s32 s = sig;
    generated_sig.update(&target, &s);
    return 0;
}

TRACEPOINT_PROBE(signal, signal_deliver)
{
    int sig = args->sig;
    if (sig <= 0 || sig >= 32)
        return 0;
    u64 id = bpf_get_current_pid_tgid();
    u32 tgid = id >> 32, tid = (u32)id;
    if (args->sa_handler != 0) {  /* 0 == SIG_DFL: a handled signal kills nobody, forget it */
        generated_sig.delete(&tid);
        generated_sig.delete(&tgid);
        return 0;
    }
    if (!((FATAL_DEFAULT_MASK >> sig) & 1))
        return 0;
    if (!beefine_should_trace())
        return 0;
    if (sig == SIGKILL) {
        /* SIGKILL here may be the fast path's stand-in: the signal sent to this thread, or to the
         * process (addressed to its leader, whose tid is the tgid), is the real cause */
        s32 *g = generated_sig.lookup(&tid);
        if (!g)
            g = generated_sig.lookup(&tgid);
        if (g)
            sig = *g;
    }
    s32 s = sig;
    /* keep the first fatal signal: the SIGKILLs sent to sibling threads come after it */
    fatal_sig.insert(&tgid, &s);
    return 0;
}

TRACEPOINT_PROBE(sched, sched_process_fork)
{
    beefine_lineage_fork(args->child_pid);
    if (!beefine_should_trace())
        return 0;
    /* child_pid is a tid: for a new thread it is not a tgid and is never looked up; LRU evicts it */
    u32 child = args->child_pid;
    u32 parent = bpf_get_current_pid_tgid() >> 32;
    if (child != parent)
        parents.update(&child, &parent);
    return 0;
}

TRACEPOINT_PROBE(sched, sched_process_exit)
{
    int in_filter = beefine_should_trace();
#ifdef FILTER_FOLLOW
    beefine_lineage_exit();
#endif
    u64 id = bpf_get_current_pid_tgid();
    u32 tgid = id >> 32;
    u32 tid = (u32)id;
    generated_sig.delete(&tid);  /* every thread's own entry goes with it */
#ifdef HAVE_GROUP_DEAD
    /* group_dead: the last thread of the process is exiting */
    if (!args->group_dead)
        return 0;
#else
    if ((u32)id != tgid)
        return 0;
#endif
    u64 *ets = exec_ts.lookup(&tgid);
    s32 *code = exit_codes.lookup(&tgid);
    s32 *sig = fatal_sig.lookup(&tgid);
    /* the last thread may not be in `tracked` (its leader's entry can be gone already), but these
     * maps are only written for tasks that passed the filter */
    int trace = in_filter || ets || code || sig;
    if (trace) {
        struct exit_rec r = {};
        beefine_fill_hdr(&r.h, EXIT_KIND);
        r.h.pad = parent_of(tgid);
        if (code) {
            r.code = *code;
            r.has_code = 1;
        } else if (sig) {
            r.signal = *sig;
            r.has_signal = 1;
        }
        if (ets)
            r.exec_ts = *ets;
        beefine_submit(args, &r, sizeof(r));
    }
    exit_codes.delete(&tgid);
    fatal_sig.delete(&tgid);
    generated_sig.delete(&tgid);
    exec_ts.delete(&tgid);
    parents.delete(&tgid);
    return 0;
}
