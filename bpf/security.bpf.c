/* security probe: seccomp(2) (op, flags, and the filter's length in BPF instructions), prctl(2)
 * (option and arg2; PR_SET_NAME with the name) and capset(2) with the capability sets read from the
 * caller's cap_user_data_t. Reported once at syscall exit with the return value. Tracepoints only;
 * see common.h. */
#include "common.h"
#include <uapi/linux/capability.h> /* cap_user_header_t, cap_user_data_t in the tracepoint args */

#define K_SECCOMP 1
#define K_PRCTL 2
#define K_CAPSET 3

#define PR_SET_NAME 15
#define PR_SET_SECCOMP 22
#define SECCOMP_SET_MODE_FILTER 1
#define SECCOMP_MODE_FILTER 2

/* The layout security.py unpacks: keep both in step. */
struct sec_rec {
    struct beefine_hdr h;
    s64 ret;
    u64 a0;          /* seccomp: op; prctl: option */
    u64 a1;          /* seccomp: flags; prctl: arg2 */
    u64 a2;          /* prctl: arg3 */
    u32 filter_len;  /* seccomp/prctl filter mode: struct sock_fprog.len (0 when unknown) */
    u32 cap_version; /* capset: cap_user_header_t.version; prctl(PR_SET_NAME): 1 when the name asked for
                      * was longer than 15 bytes (the kernel keeps 15 too: `name` is what it set) */
    s32 cap_pid;     /* capset: cap_user_header_t.pid */
    u32 cap_n;       /* capset: how many __user_cap_data_struct were read (1 or 2) */
    u32 caps[6];     /* capset: {effective, permitted, inheritable} x cap_n, low 32 bits first */
    char name[16];   /* prctl(PR_SET_NAME): the new name */
};

_Static_assert(sizeof(struct sec_rec) == 128, "security.py unpacks this layout: change both");

#define PAIRED_REC struct sec_rec
#define PAIRED_MAX 1024
#include "paired.h"

/* struct sock_fprog (include/uapi/linux/filter.h) starts with `unsigned short len` */
static __always_inline u32 fprog_len(const void *uprog)
{
    u16 len = 0;
    if (uprog)
        bpf_probe_read_user(&len, sizeof(len), uprog);
    return len;
}

TRACEPOINT_PROBE(syscalls, sys_enter_seccomp)
{
    if (!beefine_should_trace())
        return 0;
    struct sec_rec r = {};
    beefine_fill_hdr(&r.h, K_SECCOMP);
    r.a0 = (u32)args->op;
    r.a1 = (u32)args->flags;
    if (r.a0 == SECCOMP_SET_MODE_FILTER)
        r.filter_len = fprog_len(args->uargs);
    return paired_park(&r);
}

TRACEPOINT_PROBE(syscalls, sys_exit_seccomp)
{
    return paired_finish(args, args->ret);
}

TRACEPOINT_PROBE(syscalls, sys_enter_prctl)
{
    if (!beefine_should_trace())
        return 0;
    struct sec_rec r = {};
    beefine_fill_hdr(&r.h, K_PRCTL);
    r.a0 = (u32)args->option;
    r.a1 = args->arg2;
    r.a2 = args->arg3;
    if (r.a0 == PR_SET_NAME && args->arg2) {
        const char *asked = (const char *)args->arg2;
        r.cap_version = beefine_user_str_cut(bpf_probe_read_user_str(r.name, sizeof(r.name), asked),
                                             sizeof(r.name), asked);
    }
    else if (r.a0 == PR_SET_SECCOMP && args->arg2 == SECCOMP_MODE_FILTER)
        r.filter_len = fprog_len((const void *)args->arg3);
    return paired_park(&r);
}

TRACEPOINT_PROBE(syscalls, sys_exit_prctl)
{
    return paired_finish(args, args->ret);
}

/* include/uapi/linux/capability.h: header {u32 version; int pid}; data: one
 * {u32 effective, permitted, inheritable} for _LINUX_CAPABILITY_VERSION_1, two (low and high 32 bits)
 * for versions 2 and 3 */
#define LINUX_CAPABILITY_VERSION_1 0x19980330

TRACEPOINT_PROBE(syscalls, sys_enter_capset)
{
    if (!beefine_should_trace())
        return 0;
    struct sec_rec r = {};
    beefine_fill_hdr(&r.h, K_CAPSET);
    const u32 *hdr = (const u32 *)args->header;
    if (hdr) {
        bpf_probe_read_user(&r.cap_version, sizeof(r.cap_version), &hdr[0]);
        bpf_probe_read_user(&r.cap_pid, sizeof(r.cap_pid), &hdr[1]);
    }
    const void *data = (const void *)args->data;
    if (data) {
        if (r.cap_version == LINUX_CAPABILITY_VERSION_1) {
            if (bpf_probe_read_user(r.caps, 12, data) == 0)
                r.cap_n = 1;
        } else if (bpf_probe_read_user(r.caps, 24, data) == 0) {
            r.cap_n = 2;
        }
    }
    return paired_park(&r);
}

TRACEPOINT_PROBE(syscalls, sys_exit_capset)
{
    return paired_finish(args, args->ret);
}
