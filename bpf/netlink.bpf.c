/* netlink probe: rtnetlink requests that change links, addresses and routes (RTM_NEWLINK, DELLINK,
 * SETLINK, NEWADDR, DELADDR, NEWROUTE, DELROUTE), sent with sendto(2) or sendmsg(2). This is how
 * dockerd (libnetwork, through vishvananda/netlink) makes the veth pair, moves one end into the
 * container's network namespace and names it eth0: no syscall argument says it, only the message.
 *
 * The first MSG_MAX bytes of the message are copied from user memory and decoded in Python
 * (probes/netlink.py): walking attributes in BPF would need bounded loops for nothing the kernel
 * side needs. Filtered here on what is cheap and sure: the destination is an AF_NETLINK address and
 * the first message's type is one of the above. Other netlink families reuse those numbers (XFRM,
 * nfnetlink's batch begin): the decoder checks the message's structure before it claims rtnetlink.
 * Reported once at syscall exit with the return value. Tracepoints only; see common.h. */
#include "common.h"

#define K_SENDTO 1
#define K_SENDMSG 2

#define MSG_MAX 512
#define AF_NETLINK_ 16

/* The layout netlink.py unpacks: keep both in step. */
struct nl_rec {
    struct beefine_hdr h;
    s64 ret;
    s32 fd;
    u32 len;        /* the message's length as passed (sendto len, sendmsg first iovec's length) */
    u32 msg_read;   /* bytes of it copied into msg (0: none) */
    u32 iovs;       /* sendmsg: msg_iovlen (only the first iovec is read); sendto: 1 */
    u8 msg[MSG_MAX];
};

_Static_assert(sizeof(struct nl_rec) == 576, "netlink.py unpacks this layout: change both");
_Static_assert(offsetof(struct nl_rec, msg) == 64, "netlink.py: records are sent without the unused tail");

BPF_PERCPU_ARRAY(scratch, struct nl_rec, 1);          /* too big for the 512-byte BPF stack */

#define PAIRED_REC struct nl_rec
#define PAIRED_MAX 1024
#include "paired.h"

/* the user-space struct msghdr and struct iovec, as sendmsg(2) gets them (64-bit) */
struct u_msghdr {
    u64 name;
    s32 namelen;
    s32 pad;
    u64 iov;
    u64 iovlen;
};
struct u_iovec {
    u64 base;
    u64 len;
};

static __always_inline int is_rtm_change(u16 type)
{
    /* RTM_NEWLINK 16, DELLINK 17, SETLINK 19, NEWADDR 20, DELADDR 21, NEWROUTE 24, DELROUTE 25 */
    return type == 16 || type == 17 || type == 19 || type == 20 || type == 21 || type == 24 ||
           type == 25;
}

static __always_inline int start(const void *uaddr, u32 addrlen, const void *buf, u64 len, s32 fd,
                                 u32 kind, u32 iovs)
{
    if (!uaddr || addrlen < 2 || !buf || len < 16)
        return 0;
    u16 family = 0;
    if (bpf_probe_read_user(&family, sizeof(family), uaddr) != 0 || family != AF_NETLINK_)
        return 0;
    u16 type = 0; /* nlmsghdr: u32 len, u16 type, ... */
    if (bpf_probe_read_user(&type, sizeof(type), (const u8 *)buf + 4) != 0 || !is_rtm_change(type))
        return 0;
    int zero = 0;
    struct nl_rec *r = scratch.lookup(&zero);
    if (!r)
        return 0;
    beefine_fill_hdr(&r->h, kind);
    r->ret = 0;
    r->fd = fd;
    r->len = len > 0xffffffff ? 0xffffffff : (u32)len;
    r->iovs = iovs;
    r->msg_read = 0;
    u32 n = len > MSG_MAX ? MSG_MAX : (u32)len;
    n = ((n - 1) & (MSG_MAX - 1)) + 1; /* 1..MSG_MAX in a form the verifier can bound */
    if (bpf_probe_read_user(r->msg, n, buf) == 0)
        r->msg_read = n;
    return paired_park(r);
}

static __always_inline int finish(void *ctx, long ret)
{
    struct nl_rec *r = paired_take(ret);
    if (!r)
        return 0;
    /* only the bytes copied: most requests are under 100 bytes, so the ring holds ~8x more of them */
    u32 n = r->msg_read;
    if (n > MSG_MAX)
        n = MSG_MAX;
    beefine_submit(ctx, r, offsetof(struct nl_rec, msg) + n);
    paired_done();
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_sendto)
{
    if (!beefine_should_trace())
        return 0;
    return start(args->addr, (u32)args->addr_len, args->buff, (u64)args->len, (s32)args->fd, K_SENDTO, 1);
}

TRACEPOINT_PROBE(syscalls, sys_exit_sendto)
{
    return finish(args, args->ret);
}

TRACEPOINT_PROBE(syscalls, sys_enter_sendmsg)
{
    if (!beefine_should_trace())
        return 0;
    struct u_msghdr m = {};
    if (bpf_probe_read_user(&m, sizeof(m), args->msg) != 0 || !m.iov || m.iovlen == 0)
        return 0;
    struct u_iovec v = {};
    if (bpf_probe_read_user(&v, sizeof(v), (const void *)m.iov) != 0)
        return 0;
    u32 iovs = m.iovlen > 0xffffffff ? 0xffffffff : (u32)m.iovlen;
    return start((const void *)m.name, (u32)m.namelen, (const void *)v.base, v.len, (s32)args->fd,
                 K_SENDMSG, iovs);
}

TRACEPOINT_PROBE(syscalls, sys_exit_sendmsg)
{
    return finish(args, args->ret);
}
