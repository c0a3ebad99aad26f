/* Shared by every Beefine BCC program. The runner pastes this text in place of `#include "common.h"`
 * (probes/bcc_program.py program_text): BCC rewrites map calls only in the main file.
 *
 * Rules for programs on this project (see ENVIRONMENT.md): attach to tracepoints only and read only
 * tracepoint arguments, user memory and helper results. The kernel headers BCC compiles against may
 * not match the running kernel, so kernel struct layouts must never be walked here.
 *
 * Parameters arrive as cflags from the Python side (probes/bcc_program.py):
 *   FILTER_PIDNS_DEV, FILTER_PIDNS_INO  only tasks whose active pid namespace is this one
 *   FILTER_TRACKED                      only tgids in the `tracked` hash (seeded from user space)
 *   FILTER_FOLLOW                       ...and add children forked by a tracked task (lineage)
 *   LINEAGE_ROOT                        the lineage root tgid (treated as tracked before seeding)
 *   BEEFINE_PERF                        use perf buffers (kernels without BPF ring buffers, < 5.8)
 *   EXCLUDE_SELF                        skip tgids in the `excluded` hash: Beefine itself and its
 *                                       helpers (filled by the runner, probes/own_pids.py)
 */
/* No kernel headers beyond what BCC itself includes (its helpers.h brings the types and
 * struct bpf_pidns_info): <linux/sched.h> alone tripled the compile time. */

#ifndef BEEFINE_TRACKED_MAX
#define BEEFINE_TRACKED_MAX 16384
#endif

/* Loss counters, read by the runner about every 0.5 s:
 *   [0] events that could not be written to the ring/perf buffer (consumer too slow)
 *   [1] syscall enters dropped because the per-thread scratch hash was full
 *   [2] lineage/fd table inserts that failed because the table was full */
BPF_ARRAY(lost, u64, 4);
#define BEEFINE_LOST_OUTPUT 0
#define BEEFINE_LOST_MAPFULL 1
#define BEEFINE_LOST_TABLEFULL 2

/* When loss happened, so the story can say in which phases: [0] the first loss since the runner last
 * reported (it zeroes the slot then), [1] the last one; bpf_ktime_get_ns(), as the records' ts. Plain
 * stores: two losses racing on two CPUs only blur the window by the time between them, the counts
 * above stay exact. Paid only on the loss path. */
BPF_ARRAY(lost_when, u64, 2);

static __always_inline void beefine_count_lost(int slot)
{
    int key = slot;
    u64 *v = lost.lookup(&key);
    if (v)
        __sync_fetch_and_add(v, 1);
    u64 now = bpf_ktime_get_ns();
    key = 0;
    u64 *first = lost_when.lookup(&key);
    if (first && *first == 0)
        *first = now;
    key = 1;
    u64 *last = lost_when.lookup(&key);
    if (last)
        *last = now;
}

/* The output buffer every program writes its records to, and the one function that writes there.
 * BCC refuses map method calls inside macros, so the perf/ring choice is an #ifdef inside a function;
 * this header is pasted into the main text (never #included by clang), so BCC rewrites the calls.
 * A record that does not fit counts BEEFINE_LOST_OUTPUT, in both modes. For perf buffers this is the
 * exact count: the kernel's own PERF_RECORD_LOST (what lost_cb reports) is written only when a later
 * sample fits, so the loss at the end of a burst would never be reported through it. */
#ifdef BEEFINE_PERF
#define BEEFINE_OUTPUT(name, pages) BPF_PERF_OUTPUT(name)
#else
#define BEEFINE_OUTPUT(name, pages) BPF_RINGBUF_OUTPUT(name, pages)
#endif

#ifndef BEEFINE_RING_PAGES
#define BEEFINE_RING_PAGES 256
#endif

BEEFINE_OUTPUT(events, BEEFINE_RING_PAGES);

/* `ctx` is the tracepoint's context (args), which perf_submit needs. Returns 0 when written. */
static __always_inline int beefine_submit(void *ctx, void *data, u32 size)
{
#ifdef BEEFINE_PERF
    int err = events.perf_submit(ctx, data, size);
#else
    int err = events.ringbuf_output(data, size, 0);
#endif
    if (err != 0)
        beefine_count_lost(BEEFINE_LOST_OUTPUT);
    return err;
}

/* Every record starts with this header; the Python decoders unpack it with one struct.Struct. */
struct beefine_hdr {
    u64 ts;     /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
    u32 kind;   /* program-specific record kind */
    u32 pid;    /* tgid */
    u32 tid;
    u32 pad;
    char comm[16];
};

static __always_inline void beefine_fill_hdr(struct beefine_hdr *h, u32 kind)
{
    u64 id = bpf_get_current_pid_tgid();
    h->ts = bpf_ktime_get_ns();
    h->kind = kind;
    h->pid = id >> 32;
    h->tid = (u32)id;
    h->pad = 0;
    bpf_get_current_comm(&h->comm, sizeof(h->comm));
}

/* Whether a user string read with bpf_probe_read_user_str(dst, size, src) -> n was cut: it filled
 * the buffer (n == size) and the byte the NUL took the place of is not the string's end. Exact, unlike
 * n == size alone, which also holds for a string of exactly size - 1 bytes. */
static __always_inline u32 beefine_user_str_cut(int n, u32 size, const char *src)
{
    if (n < (int)size)
        return 0;
    char last = 0;
    if (bpf_probe_read_user(&last, 1, src + size - 1) != 0)
        return 1; /* unreadable past the buffer: say it may be cut rather than claim it whole */
    return last != 0;
}

#if defined(FILTER_TRACKED) || defined(FILTER_FOLLOW)
/* tgids (and, when following, tids of threads forked by them) we trace */
BPF_HASH(tracked, u32, u8, BEEFINE_TRACKED_MAX);
#endif

#ifdef EXCLUDE_SELF
BPF_HASH(excluded, u32, u8, 256);
#endif

static __always_inline int beefine_should_trace(void)
{
    /* most selective check first: following a lineage, nearly every task on the host fails the one
     * `tracked` lookup and goes no further; our own tgids (`excluded`) are rarely in a target at
     * all, so that lookup is paid only by what is traced (bench/trace_overhead.py); the pid namespace
     * check, too, comes before it (the syscalls probe runs this on every syscall of the machine) */
#if defined(FILTER_TRACKED) || defined(FILTER_FOLLOW)
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    int root = 0;
#ifdef LINEAGE_ROOT
    root = tgid == LINEAGE_ROOT;
#endif
    if (!root && !tracked.lookup(&tgid))
        return 0;
#endif
#if defined(FILTER_PIDNS_DEV) && defined(FILTER_PIDNS_INO)
    struct bpf_pidns_info ns = {};
    /* returns -EINVAL when the current task's active pid namespace is not this one */
    if (bpf_get_ns_current_pid_tgid(FILTER_PIDNS_DEV, FILTER_PIDNS_INO, &ns, sizeof(ns)) != 0)
        return 0;
#endif
#ifdef EXCLUDE_SELF
    u32 self_tgid = bpf_get_current_pid_tgid() >> 32;
    if (excluded.lookup(&self_tgid))
        return 0;
#endif
    return 1;
}

/* Lineage bookkeeping, called from sched:sched_process_fork / sched_process_exit handlers.
 * A program that needs its own handler for these tracepoints defines BEEFINE_OWN_FORK_HANDLER /
 * BEEFINE_OWN_EXIT_HANDLER and calls these helpers itself. */
static __always_inline void beefine_lineage_fork(u32 child_pid)
{
#ifdef FILTER_FOLLOW
    /* runs in the parent's context: follow the child when the parent is followed */
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    u8 one = 1;
    int parent_tracked = 0;
#ifdef LINEAGE_ROOT
    if (tgid == LINEAGE_ROOT)
        parent_tracked = 1;
#endif
    if (!parent_tracked && tracked.lookup(&tgid))
        parent_tracked = 1;
    if (parent_tracked && tracked.update(&child_pid, &one) != 0)
        beefine_count_lost(BEEFINE_LOST_TABLEFULL);
#endif
}

static __always_inline void beefine_lineage_exit(void)
{
#ifdef FILTER_FOLLOW
    /* sched_process_exit fires once per exiting thread, in its context: forget its tid */
    u32 tid = (u32)bpf_get_current_pid_tgid();
    tracked.delete(&tid);
#endif
}

#if defined(FILTER_FOLLOW) && !defined(BEEFINE_OWN_FORK_HANDLER)
TRACEPOINT_PROBE(sched, sched_process_fork)
{
    beefine_lineage_fork(args->child_pid);
    return 0;
}
#endif

#if defined(FILTER_FOLLOW) && !defined(BEEFINE_OWN_EXIT_HANDLER)
TRACEPOINT_PROBE(sched, sched_process_exit)
{
    beefine_lineage_exit();
    return 0;
}
#endif
