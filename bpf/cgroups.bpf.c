/* cgroups probe: cgroup directories made and removed (cgroup:cgroup_mkdir, cgroup:cgroup_rmdir) and
 * tasks moved into a cgroup (cgroup:cgroup_attach_task). The path is the tracepoint's __data_loc
 * string: relative to the hierarchy's root ("/docker/<id>" on cgroup v1, "/system.slice/docker-<id>.scope"
 * on v2). These fire in the context of the task doing the work (runc writing cgroup.procs), so the
 * kernel-side filters select who makes the change, and target_pid/target_comm say who is moved.
 * Tracepoints only; see common.h. */
#include "common.h"

#define K_MKDIR 1
#define K_ATTACH 2
#define K_RMDIR 3

#define PATH_LEN 256

/* The layout cgroups.py unpacks: keep both in step. */
struct cg_rec {
    struct beefine_hdr h;
    u64 id;          /* cgroup id (kernfs node id; on cgroup v2 the value bpf_get_current_cgroup_id gives) */
    s32 root;        /* hierarchy id (0 is the cgroup v2 unified hierarchy; see /proc/cgroups) */
    s32 level;       /* depth below the root */
    s32 target_pid;  /* attach: the task moved */
    u32 cut;         /* 1: the path was longer than PATH_LEN - 1 bytes and was cut */
    char target_comm[16];
    char path[PATH_LEN];
};

_Static_assert(sizeof(struct cg_rec) == 336, "cgroups.py unpacks this layout: change both");

BPF_PERCPU_ARRAY(scratch, struct cg_rec, 1);

static __always_inline struct cg_rec *begin(u32 kind)
{
    if (!beefine_should_trace())
        return NULL;
    int zero = 0;
    struct cg_rec *r = scratch.lookup(&zero);
    if (!r)
        return NULL;
    beefine_fill_hdr(&r->h, kind);
    r->target_pid = 0;
    r->cut = 0;
    r->target_comm[0] = 0;
    r->path[0] = 0;
    return r;
}

/* __data_loc fields hold (length << 16 | offset from the start of the record); the length counts the
 * NUL, so a string longer than the buffer is known to be cut. Returns 1 when it was. */
static __always_inline u32 read_loc(char *dst, u32 size, void *args, u32 loc)
{
    u16 off = loc & 0xFFFF;
    bpf_probe_read_kernel_str(dst, size, (char *)args + off);
    return (loc >> 16) > size;
}

TRACEPOINT_PROBE(cgroup, cgroup_mkdir)
{
    struct cg_rec *r = begin(K_MKDIR);
    if (!r)
        return 0;
    r->id = args->id;
    r->root = args->root;
    r->level = args->level;
    r->cut = read_loc(r->path, PATH_LEN, args, args->data_loc_path);
    beefine_submit(args, r, sizeof(*r));
    return 0;
}

TRACEPOINT_PROBE(cgroup, cgroup_rmdir)
{
    struct cg_rec *r = begin(K_RMDIR);
    if (!r)
        return 0;
    r->id = args->id;
    r->root = args->root;
    r->level = args->level;
    r->cut = read_loc(r->path, PATH_LEN, args, args->data_loc_path);
    beefine_submit(args, r, sizeof(*r));
    return 0;
}

TRACEPOINT_PROBE(cgroup, cgroup_attach_task)
{
    struct cg_rec *r = begin(K_ATTACH);
    if (!r)
        return 0;
    r->id = args->dst_id;
    r->root = args->dst_root;
    r->level = args->dst_level;
    r->target_pid = args->pid;
    r->cut = read_loc(r->path, PATH_LEN, args, args->data_loc_dst_path);
    read_loc(r->target_comm, sizeof(r->target_comm), args, args->data_loc_comm);
    beefine_submit(args, r, sizeof(*r));
    return 0;
}
