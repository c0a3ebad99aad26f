/* syscalls probe: every syscall of the traced tasks, strace-like: number, the six raw arguments,
 * result, duration, and the pid/tid inside the container's pid namespace.
 *
 * raw_syscalls:sys_enter keeps the call in a per-thread `pending` entry (only for tasks that pass
 * beefine_should_trace(): the container's pid namespace is checked before anything is stored, so an
 * unwatched task costs one helper call and nothing in the ring); raw_syscalls:sys_exit pairs it and
 * writes one record. exit(2) and exit_group(2) never return: they are written at entry (SC_NORETURN),
 * their numbers given by the Python side as NR_EXIT / NR_EXIT_GROUP from this machine's table.
 *
 * Paths (SC_PATH_CASES, given by syscalls.py from this kernel's tracefs formats): for the calls that
 * take one (openat's filename, mount's dir_name...), the string is read from the caller's memory at
 * exit, where the kernel has just read it too (its pages are in), and written after the record: a
 * record of sizeof(struct sc_flight) instead of sizeof(struct sc_rec). The flight recorder keeps both.
 *
 * Flight recorder (FLIGHT_SLOTS): every record is also kept in `flight`, an array used as a ring of
 * the last FLIGHT_SLOTS calls, indexed by a counter of this program (one program per watched
 * container). User space dumps it on demand, and by itself once `flight_state` says the container's
 * pid 1 exited (set here at sched_process_exit). Tracepoints only; see common.h. */
#define BEEFINE_OWN_EXIT_HANDLER 1
#include "common.h"

#define SC_KIND 1
#define SC_NORETURN 1
#define SC_PATH 2       /* the record is followed by the path read (a flight slot has room for one anyway) */

#ifndef PENDING_MAX
#define PENDING_MAX 16384
#endif

struct sc_rec {
    struct beefine_hdr h;
    u64 nr;
    u64 args[6];
    s64 ret;
    u64 dur_ns;
    u32 ns_pid;     /* tgid / tid in the filtered pid namespace; 0 when not filtering by one */
    u32 ns_tid;
    u32 flags;      /* SC_NORETURN, SC_PATH */
    u32 seq;        /* low 32 bits of the flight recorder's counter when kept there, else 0 */
};

struct sc_pending {
    u64 ts;
    u64 nr;
    u64 args[6];
};

_Static_assert(sizeof(struct sc_rec) == 128, "syscalls.py unpacks this layout: change both");

/* tid -> call in flight. A plain hash, not LRU: a full table must count as loss, not evict silently.
 * Entries of a task that dies inside a call are removed at sched_process_exit. */
BPF_HASH(pending, u32, struct sc_pending, PENDING_MAX);

#define SC_PATH_LEN 128

/* a record as written: the call, then its path when it has one (SC_PATH_CASES); the flight recorder
 * keeps it whole */
struct sc_flight {
    struct sc_rec r;
#ifdef SC_PATH_CASES
    char path[SC_PATH_LEN];  /* NUL-terminated; a longer path is cut */
#endif
};

#ifdef SC_PATH_CASES
/* 1 + the index of the argument holding a path, 0 for a call without one */
static __always_inline int sc_path_arg(long nr)
{
    switch (nr) {
    SC_PATH_CASES
    default:
        return 0;
    }
}

static __always_inline u64 sc_arg(struct sc_rec *r, int which)
{
    switch (which) {
    case 1: return r->args[0];
    case 2: return r->args[1];
    case 3: return r->args[2];
    case 4: return r->args[3];
    case 5: return r->args[4];
    case 6: return r->args[5];
    default: return 0;
    }
}
#endif

#ifdef FLIGHT_SLOTS
BPF_ARRAY(flight, struct sc_flight, FLIGHT_SLOTS);
BPF_ARRAY(flight_head, u64, 1);   /* records ever kept: the next slot is head % FLIGHT_SLOTS */
BPF_ARRAY(flight_state, u64, 1);  /* 1 once the container's pid 1 has exited */

static __always_inline void flight_keep(struct sc_flight *f)
{
    int zero = 0;
    u64 *head = flight_head.lookup(&zero);
    if (!head)
        return;
    u64 seq = __sync_fetch_and_add(head, 1);
    u32 idx = seq % FLIGHT_SLOTS;
    f->r.seq = (u32)seq;
    flight.update(&idx, f);
}
#endif

/* `size`: the record alone, or with its path */
static __always_inline void emit(void *ctx, struct sc_flight *f, u32 size)
{
#ifdef FLIGHT_SLOTS
    flight_keep(f);
#endif
    beefine_submit(ctx, f, size);
}

static __always_inline void fill_ns(struct sc_rec *r)
{
#if defined(FILTER_PIDNS_DEV) && defined(FILTER_PIDNS_INO)
    struct bpf_pidns_info ns = {};
    if (bpf_get_ns_current_pid_tgid(FILTER_PIDNS_DEV, FILTER_PIDNS_INO, &ns, sizeof(ns)) == 0) {
        r->ns_pid = ns.tgid;
        r->ns_tid = ns.pid;
    }
#endif
}

/* On x86-64 (REGS_X86_64, set by syscalls.py), raw tracepoints: the same raw_syscalls sys_enter and
 * sys_exit events, without the perf record the classic tracepoint builds for every call on the machine,
 * watched or not (bench/syscalls_overhead.py measures what an unwatched task pays). ctx->args are the
 * tracepoint's own arguments: (struct pt_regs *regs, long id) at enter, (regs, long ret) at exit; the
 * syscall's arguments are read from the register frame (the syscall ABI: di si dx r10 r8 r9), the
 * values the classic tracepoint copies. */
#ifdef REGS_X86_64
/* byte offsets in x86-64's register frame, the order of the ABI's struct pt_regs (uapi asm/ptrace.h:
 * r15 r14 r13 r12 bp bx r11 r10 r9 r8 ax cx dx si di ...): read by offset, as no kernel header is
 * included here (see common.h) */
#define REG_DI 112
#define REG_SI 104
#define REG_DX 96
#define REG_R10 56
#define REG_R8 72
#define REG_R9 64

static __always_inline u64 reg_at(void *regs, int off)
{
    u64 v = 0;
    bpf_probe_read_kernel(&v, sizeof(v), (char *)regs + off);
    return v;
}

#define SC_ENTER RAW_TRACEPOINT_PROBE(sys_enter)
#define SC_EXIT RAW_TRACEPOINT_PROBE(sys_exit)
#define SC_CTX ctx
#define SC_NR ((long)ctx->args[1])
#define SC_RET ((s64)ctx->args[1])
#define SC_ARG(i, off) reg_at((void *)ctx->args[0], off)
#else
/* other machines: the classic tracepoints, which copy the arguments themselves */
#define SC_ENTER TRACEPOINT_PROBE(raw_syscalls, sys_enter)
#define SC_EXIT TRACEPOINT_PROBE(raw_syscalls, sys_exit)
#define SC_CTX args
#define SC_NR (args->id)
#define SC_RET (args->ret)
#define SC_ARG(i, off) (args->args[i])
#endif

SC_ENTER
{
    if (!beefine_should_trace())
        return 0;
    long nr = SC_NR;
#if defined(NR_EXIT) && defined(NR_EXIT_GROUP)
    if (nr == NR_EXIT || nr == NR_EXIT_GROUP) {
        struct sc_flight f = {};
        beefine_fill_hdr(&f.r.h, SC_KIND);
        f.r.nr = nr;
        f.r.args[0] = SC_ARG(0, REG_DI);
        f.r.flags = SC_NORETURN;
        fill_ns(&f.r);
        emit(SC_CTX, &f, sizeof(f.r));
        return 0;
    }
#endif
    struct sc_pending p = {};
    p.ts = bpf_ktime_get_ns();
    p.nr = nr;
    p.args[0] = SC_ARG(0, REG_DI);
    p.args[1] = SC_ARG(1, REG_SI);
    p.args[2] = SC_ARG(2, REG_DX);
    p.args[3] = SC_ARG(3, REG_R10);
    p.args[4] = SC_ARG(4, REG_R8);
    p.args[5] = SC_ARG(5, REG_R9);
    u32 tid = (u32)bpf_get_current_pid_tgid();
    if (pending.update(&tid, &p) != 0)
        beefine_count_lost(BEEFINE_LOST_MAPFULL);
    return 0;
}

SC_EXIT
{
    u32 tid = (u32)bpf_get_current_pid_tgid();
    struct sc_pending *p = pending.lookup(&tid);
    if (!p)
        return 0;
    struct sc_flight f = {};
    struct sc_rec *r = &f.r;
    beefine_fill_hdr(&r->h, SC_KIND);
    r->nr = p->nr;
    r->args[0] = p->args[0];
    r->args[1] = p->args[1];
    r->args[2] = p->args[2];
    r->args[3] = p->args[3];
    r->args[4] = p->args[4];
    r->args[5] = p->args[5];
    r->ret = SC_RET;
    r->dur_ns = r->h.ts - p->ts;
    pending.delete(&tid);
    fill_ns(r);
#ifdef SC_PATH_CASES
    int which = sc_path_arg((long)r->nr);
    if (which) {
        const char *up = (const char *)sc_arg(r, which);
        if (up && bpf_probe_read_user_str(f.path, sizeof(f.path), up) > 0) {
            r->flags |= SC_PATH;
            emit(SC_CTX, &f, sizeof(f));
            return 0;
        }
    }
#endif
    emit(SC_CTX, &f, sizeof(f.r));
    return 0;
}

TRACEPOINT_PROBE(sched, sched_process_exit)
{
    u32 tid = (u32)bpf_get_current_pid_tgid();
    pending.delete(&tid);
    beefine_lineage_exit();
#if defined(FLIGHT_SLOTS) && defined(FILTER_PIDNS_DEV) && defined(FILTER_PIDNS_INO)
    struct bpf_pidns_info ns = {};
    if (bpf_get_ns_current_pid_tgid(FILTER_PIDNS_DEV, FILTER_PIDNS_INO, &ns, sizeof(ns)) == 0 && ns.pid == 1) {
        int zero = 0;
        u64 one = 1;
        flight_state.update(&zero, &one);
    }
#endif
    return 0;
}
