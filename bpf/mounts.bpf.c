/* mounts probe: mount(2) with its data string (overlay's lowerdir=...:...,upperdir=,workdir= can be
 * long), umount2(2), pivot_root(2) and the new mount API (fsopen, fsconfig, fsmount, move_mount,
 * open_tree). Arguments are copied from user memory at syscall entry, kept per thread, and the record
 * is sent once at syscall exit with the return value. Tracepoints only; see common.h.
 *
 * Optional cflags: HAVE_NEW_MOUNT_API (the fsopen... tracepoints exist on this kernel),
 * DATA_LEN (bytes of mount data copied, power of two, default 4096). */
#include "common.h"

#define K_MOUNT 1
#define K_UMOUNT 2
#define K_PIVOT_ROOT 3
#define K_FSOPEN 4
#define K_FSCONFIG 5
#define K_FSMOUNT 6
#define K_MOVE_MOUNT 7
#define K_OPEN_TREE 8

#ifndef DATA_LEN
#define DATA_LEN 4096
#endif
#define STR_LEN 256
#define FSTYPE_LEN 32

#define T_S1 1
#define T_S2 2
#define T_DATA 4
#define T_FSTYPE 8

/* The layout mounts.py unpacks: keep both in step. */
struct mount_rec {
    struct beefine_hdr h;
    s64 ret;
    u64 flags;       /* mount/umount/fsopen/fsmount/move_mount/open_tree flags */
    u64 arg;         /* fsmount: attr_flags; fsconfig: cmd */
    s32 fd1;         /* fsconfig/fsmount: fs fd; open_tree: dfd; move_mount: from_dfd */
    s32 fd2;         /* move_mount: to_dfd; fsconfig: aux */
    u32 data_len;    /* bytes used in data, with the NUL; 0 when there is none */
    u32 trunc;       /* T_* bits: that string was longer than its buffer and was cut */
    char fstype[FSTYPE_LEN];
    char s1[STR_LEN];  /* source, umount target, new_root, fsname, key, from_path, path */
    char s2[STR_LEN];  /* target, put_old, fsconfig value, to_path */
    char data[DATA_LEN];
};

_Static_assert(sizeof(struct mount_rec) == 624 + DATA_LEN, "mounts.py unpacks this layout: change both");

BPF_PERCPU_ARRAY(scratch, struct mount_rec, 1);

#define PAIRED_REC struct mount_rec
#define PAIRED_MAX 256
#include "paired.h"

static __always_inline struct mount_rec *rec_begin(u32 kind)
{
    if (!beefine_should_trace())
        return NULL;
    int zero = 0;
    struct mount_rec *r = scratch.lookup(&zero);
    if (!r)
        return NULL;
    beefine_fill_hdr(&r->h, kind);
    r->ret = 0;
    r->flags = 0;
    r->arg = 0;
    r->fd1 = 0;
    r->fd2 = 0;
    r->data_len = 0;
    r->trunc = 0;
    r->fstype[0] = 0;
    r->s1[0] = 0;
    r->s2[0] = 0;
    return r;
}

static __always_inline void read_s1(struct mount_rec *r, const char *p)
{
    if (p && beefine_user_str_cut(bpf_probe_read_user_str(r->s1, STR_LEN, p), STR_LEN, p))
        r->trunc |= T_S1;
}

static __always_inline void read_s2(struct mount_rec *r, const char *p)
{
    if (p && beefine_user_str_cut(bpf_probe_read_user_str(r->s2, STR_LEN, p), STR_LEN, p))
        r->trunc |= T_S2;
}

static __always_inline int rec_finish(void *ctx, long ret)
{
    struct mount_rec *r = paired_take(ret);
    if (!r)
        return 0;
    /* two constant sizes keep the verifier's bounds simple: without data, stop before it */
    if (r->data_len)
        beefine_submit(ctx, r, sizeof(struct mount_rec));
    else
        beefine_submit(ctx, r, offsetof(struct mount_rec, data));
    paired_done();
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_mount)
{
    struct mount_rec *r = rec_begin(K_MOUNT);
    if (!r)
        return 0;
    r->flags = args->flags;
    read_s1(r, args->dev_name);
    read_s2(r, args->dir_name);
    if (args->type)
        if (beefine_user_str_cut(bpf_probe_read_user_str(r->fstype, FSTYPE_LEN, args->type), FSTYPE_LEN,
                                 args->type))
            r->trunc |= T_FSTYPE;
    if (args->data) {
        /* a string for most filesystems (overlay, tmpfs, proc...): copied up to its NUL */
        int n = bpf_probe_read_user_str(r->data, DATA_LEN, args->data);
        if (n > 0) {
            r->data_len = n;
            if (beefine_user_str_cut(n, DATA_LEN, args->data))
                r->trunc |= T_DATA;
        }
    }
    return paired_park(r);
}

TRACEPOINT_PROBE(syscalls, sys_exit_mount)
{
    return rec_finish(args, args->ret);
}

TRACEPOINT_PROBE(syscalls, sys_enter_umount)
{
    struct mount_rec *r = rec_begin(K_UMOUNT);
    if (!r)
        return 0;
    r->flags = (u32)args->flags;
    read_s1(r, args->name);
    return paired_park(r);
}

TRACEPOINT_PROBE(syscalls, sys_exit_umount)
{
    return rec_finish(args, args->ret);
}

TRACEPOINT_PROBE(syscalls, sys_enter_pivot_root)
{
    struct mount_rec *r = rec_begin(K_PIVOT_ROOT);
    if (!r)
        return 0;
    read_s1(r, args->new_root);
    read_s2(r, args->put_old);
    return paired_park(r);
}

TRACEPOINT_PROBE(syscalls, sys_exit_pivot_root)
{
    return rec_finish(args, args->ret);
}

#ifdef HAVE_NEW_MOUNT_API
TRACEPOINT_PROBE(syscalls, sys_enter_fsopen)
{
    struct mount_rec *r = rec_begin(K_FSOPEN);
    if (!r)
        return 0;
    r->flags = (u32)args->flags;
    read_s1(r, args->_fs_name);
    return paired_park(r);
}

TRACEPOINT_PROBE(syscalls, sys_exit_fsopen)
{
    return rec_finish(args, args->ret);
}

TRACEPOINT_PROBE(syscalls, sys_enter_fsconfig)
{
    struct mount_rec *r = rec_begin(K_FSCONFIG);
    if (!r)
        return 0;
    u32 cmd = (u32)args->cmd;
    r->arg = cmd;
    r->fd1 = (s32)args->fd;
    r->fd2 = (s32)args->aux;
    read_s1(r, args->_key);
    /* the value is a string for SET_STRING (1), SET_PATH (3) and SET_PATH_EMPTY (4) */
    if (cmd < 8 && ((1u << cmd) & 0x1a))
        read_s2(r, (const char *)args->_value);
    return paired_park(r);
}

TRACEPOINT_PROBE(syscalls, sys_exit_fsconfig)
{
    return rec_finish(args, args->ret);
}

TRACEPOINT_PROBE(syscalls, sys_enter_fsmount)
{
    struct mount_rec *r = rec_begin(K_FSMOUNT);
    if (!r)
        return 0;
    r->fd1 = (s32)args->fs_fd;
    r->flags = (u32)args->flags;
    r->arg = (u32)args->attr_flags;
    return paired_park(r);
}

TRACEPOINT_PROBE(syscalls, sys_exit_fsmount)
{
    return rec_finish(args, args->ret);
}

TRACEPOINT_PROBE(syscalls, sys_enter_move_mount)
{
    struct mount_rec *r = rec_begin(K_MOVE_MOUNT);
    if (!r)
        return 0;
    r->fd1 = (s32)args->from_dfd;
    r->fd2 = (s32)args->to_dfd;
    r->flags = (u32)args->flags;
    read_s1(r, args->from_pathname);
    read_s2(r, args->to_pathname);
    return paired_park(r);
}

TRACEPOINT_PROBE(syscalls, sys_exit_move_mount)
{
    return rec_finish(args, args->ret);
}

TRACEPOINT_PROBE(syscalls, sys_enter_open_tree)
{
    struct mount_rec *r = rec_begin(K_OPEN_TREE);
    if (!r)
        return 0;
    r->fd1 = (s32)args->dfd;
    r->flags = (u32)args->flags;
    read_s1(r, args->filename);
    return paired_park(r);
}

TRACEPOINT_PROBE(syscalls, sys_exit_open_tree)
{
    return rec_finish(args, args->ret);
}
#endif
