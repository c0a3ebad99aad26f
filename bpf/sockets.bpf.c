/* sockets probe: socket(2), bind(2) and connect(2) with the address copied from user memory (up to
 * 128 bytes: a sockaddr_un is 110), listen(2), accept(2)/accept4(2) with the peer address read from
 * user memory at exit, and epoll_create(2)/epoll_create1(2). Reported once at syscall exit with the
 * return value. Tracepoints only; see common.h. */
#include "common.h"

#define K_SOCKET 1
#define K_BIND 2
#define K_CONNECT 3
#define K_LISTEN 4
#define K_ACCEPT 5
#define K_EPOLL 6

#define ADDR_LEN 128

/* The layout sockets.py unpacks: keep both in step. */
struct sock_rec {
    struct beefine_hdr h;
    s64 ret;
    s32 fd;         /* bind/connect/listen/accept: the socket fd */
    s32 a1;         /* socket: family; listen: backlog; accept: flags; epoll: size or flags */
    s32 a2;         /* socket: type; accept: 1 for accept4; epoll: 1 for epoll_create1 */
    s32 a3;         /* socket: protocol */
    u32 addrlen;    /* bind/connect: the addrlen argument; accept: the peer's length after the call */
    u32 addr_read;  /* bytes of addr copied (0: none) */
    u64 uaddr;      /* accept: where the caller wants the peer address (kept until exit) */
    u64 ulen;       /* accept: pointer to its length */
    u8 addr[ADDR_LEN];
};

_Static_assert(sizeof(struct sock_rec) == 216, "sockets.py unpacks this layout: change both");

#define PAIRED_REC struct sock_rec
#define PAIRED_MAX 4096 /* accept may block long */
#include "paired.h"

/* copy min(len, ADDR_LEN) bytes of a user sockaddr */
static __always_inline void read_addr(struct sock_rec *r, const void *uaddr, int len)
{
    if (!uaddr || len <= 0)
        return;
    u32 n = len > ADDR_LEN ? ADDR_LEN : (u32)len;
    n = ((n - 1) & (ADDR_LEN - 1)) + 1; /* 1..ADDR_LEN in a form the verifier can bound */
    if (bpf_probe_read_user(r->addr, n, uaddr) == 0)
        r->addr_read = n;
}

static __always_inline int finish(void *ctx, long ret)
{
    struct sock_rec *r = paired_take(ret);
    if (!r)
        return 0;
    if (r->h.kind == K_ACCEPT && ret >= 0 && r->uaddr && r->ulen) {
        int len = 0;
        bpf_probe_read_user(&len, sizeof(len), (const void *)r->ulen);
        r->addrlen = len;
        read_addr(r, (const void *)r->uaddr, len);
    }
    r->uaddr = 0;
    r->ulen = 0;
    beefine_submit(ctx, r, sizeof(*r));
    paired_done();
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_socket)
{
    if (!beefine_should_trace())
        return 0;
    struct sock_rec r = {};
    beefine_fill_hdr(&r.h, K_SOCKET);
    r.a1 = (s32)args->family;
    r.a2 = (s32)args->type;
    r.a3 = (s32)args->protocol;
    return paired_park(&r);
}

TRACEPOINT_PROBE(syscalls, sys_exit_socket)
{
    return finish(args, args->ret);
}

TRACEPOINT_PROBE(syscalls, sys_enter_bind)
{
    if (!beefine_should_trace())
        return 0;
    struct sock_rec r = {};
    beefine_fill_hdr(&r.h, K_BIND);
    r.fd = (s32)args->fd;
    r.addrlen = (u32)args->addrlen;
    read_addr(&r, args->umyaddr, (int)args->addrlen);
    return paired_park(&r);
}

TRACEPOINT_PROBE(syscalls, sys_exit_bind)
{
    return finish(args, args->ret);
}

TRACEPOINT_PROBE(syscalls, sys_enter_connect)
{
    if (!beefine_should_trace())
        return 0;
    struct sock_rec r = {};
    beefine_fill_hdr(&r.h, K_CONNECT);
    r.fd = (s32)args->fd;
    r.addrlen = (u32)args->addrlen;
    read_addr(&r, args->uservaddr, (int)args->addrlen);
    return paired_park(&r);
}

TRACEPOINT_PROBE(syscalls, sys_exit_connect)
{
    return finish(args, args->ret);
}

TRACEPOINT_PROBE(syscalls, sys_enter_listen)
{
    if (!beefine_should_trace())
        return 0;
    struct sock_rec r = {};
    beefine_fill_hdr(&r.h, K_LISTEN);
    r.fd = (s32)args->fd;
    r.a1 = (s32)args->backlog;
    return paired_park(&r);
}

TRACEPOINT_PROBE(syscalls, sys_exit_listen)
{
    return finish(args, args->ret);
}

TRACEPOINT_PROBE(syscalls, sys_enter_accept)
{
    if (!beefine_should_trace())
        return 0;
    struct sock_rec r = {};
    beefine_fill_hdr(&r.h, K_ACCEPT);
    r.fd = (s32)args->fd;
    r.uaddr = (u64)args->upeer_sockaddr;
    r.ulen = (u64)args->upeer_addrlen;
    return paired_park(&r);
}

TRACEPOINT_PROBE(syscalls, sys_exit_accept)
{
    return finish(args, args->ret);
}

TRACEPOINT_PROBE(syscalls, sys_enter_accept4)
{
    if (!beefine_should_trace())
        return 0;
    struct sock_rec r = {};
    beefine_fill_hdr(&r.h, K_ACCEPT);
    r.fd = (s32)args->fd;
    r.a1 = (s32)args->flags;
    r.a2 = 1;
    r.uaddr = (u64)args->upeer_sockaddr;
    r.ulen = (u64)args->upeer_addrlen;
    return paired_park(&r);
}

TRACEPOINT_PROBE(syscalls, sys_exit_accept4)
{
    return finish(args, args->ret);
}

TRACEPOINT_PROBE(syscalls, sys_enter_epoll_create)
{
    if (!beefine_should_trace())
        return 0;
    struct sock_rec r = {};
    beefine_fill_hdr(&r.h, K_EPOLL);
    r.a1 = (s32)args->size;
    return paired_park(&r);
}

TRACEPOINT_PROBE(syscalls, sys_exit_epoll_create)
{
    return finish(args, args->ret);
}

TRACEPOINT_PROBE(syscalls, sys_enter_epoll_create1)
{
    if (!beefine_should_trace())
        return 0;
    struct sock_rec r = {};
    beefine_fill_hdr(&r.h, K_EPOLL);
    r.a1 = (s32)args->flags;
    r.a2 = 1;
    return paired_park(&r);
}

TRACEPOINT_PROBE(syscalls, sys_exit_epoll_create1)
{
    return finish(args, args->ret);
}
