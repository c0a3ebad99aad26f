/* Enter/exit pairing, for probes that report a syscall once, at its exit, with its return value: the
 * enter handler fills a record and parks it under the thread's id, the exit handler takes it back with
 * the return value and the time filled in, writes it out and forgets it. Pasted in place of
 * `#include "paired.h"` like common.h (BCC rewrites map calls only in the main text), after the record
 * is defined:
 *
 *     #define PAIRED_REC struct ns_rec   starts with `struct beefine_hdr h`, has an `s64 ret`
 *     #define PAIRED_MAX 1024            calls in flight at once (threads blocked inside the call)
 *     #include "paired.h"
 *
 * A park that finds the table full counts BEEFINE_LOST_MAPFULL. An exit with nothing parked (the call
 * entered before the probe was attached, or its enter was filtered out) reports nothing: the runner
 * says so once at start (PAIRED_CALLS_NOTE in probes/base.py). */

#ifndef PAIRED_MAX
#define PAIRED_MAX 1024
#endif

BPF_HASH(pending, u32, PAIRED_REC, PAIRED_MAX); /* tid -> call in flight */

static __always_inline int paired_park(PAIRED_REC *r)
{
    u32 tid = r->h.tid;
    if (pending.update(&tid, r) != 0)
        beefine_count_lost(BEEFINE_LOST_MAPFULL);
    return 0;
}

/* This thread's parked call, its return value and time filled in, or NULL. The caller writes it out
 * (beefine_submit, with the size it needs) and then calls paired_done(). */
static __always_inline PAIRED_REC *paired_take(long ret)
{
    u32 tid = (u32)bpf_get_current_pid_tgid();
    PAIRED_REC *r = pending.lookup(&tid);
    if (!r)
        return 0;
    r->ret = ret;
    r->h.ts = bpf_ktime_get_ns();
    return r;
}

static __always_inline void paired_done(void)
{
    u32 tid = (u32)bpf_get_current_pid_tgid();
    pending.delete(&tid);
}

/* The usual exit: the whole record written out. */
static __always_inline int paired_finish(void *ctx, long ret)
{
    PAIRED_REC *r = paired_take(ret);
    if (!r)
        return 0;
    beefine_submit(ctx, r, sizeof(*r));
    paired_done();
    return 0;
}
