/* tcp probe: TCP state changes from sock:inet_sock_set_state (in place of kprobe:tcp_connect, which
 * this kernel cannot offer): addresses, ports and old/new state, IPv4 and IPv6, all from the
 * tracepoint's own fields (no kernel struct is read).
 *
 * Many transitions run in softirq context (the SYN-ACK that makes a client ESTABLISHED, a server's
 * new connection), where the current task is whoever happened to be on the CPU. So the owner of a
 * socket is remembered from the first transition seen in process context that passes the filters
 * (connect(): CLOSE -> SYN_SENT, listen(): CLOSE -> LISTEN), keyed by the socket's address, and later
 * transitions of that socket are reported for that owner. A listener's owner also owns the
 * connections it accepts (matched by family and local port: a listener on the same port in another
 * network namespace is not told apart). Listeners that existed before the probe started are seeded
 * into `listeners` from the socket table by tcp.py. Transitions of sockets with no known owner are dropped when a
 * filter is set, and reported with pid 0 host-wide. Tracepoints only; see common.h. */
#include "common.h"

#define K_STATE 1

#define IPPROTO_TCP 6
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_FIN_WAIT1 4
#define TCP_CLOSE 7
#define TCP_LAST_ACK 9
#define TCP_LISTEN 10

#ifndef TCP_SOCKS_MAX
#define TCP_SOCKS_MAX 16384
#endif

struct owner {
    u32 pid;
    u32 tid;
    char comm[16];
};

/* The layout tcp.py unpacks: keep both in step. */
struct tcp_rec {
    struct beefine_hdr h;  /* pid/tid/comm: the socket's owner when known, else the current task */
    u64 skaddr;            /* the socket's kernel address: an opaque id to follow one connection */
    s32 oldstate;
    s32 newstate;
    u16 sport;             /* host byte order (the tracepoint converts) */
    u16 dport;
    u16 family;
    u16 protocol;
    u32 owner_known;       /* 1: pid/comm are the socket owner's */
    u32 pad;
    u8 saddr[4];
    u8 daddr[4];
    u8 saddr_v6[16];
    u8 daddr_v6[16];
};

_Static_assert(sizeof(struct tcp_rec) == 112, "tcp.py unpacks this layout: change both");

BPF_TABLE("lru_hash", u64, struct owner, socks, TCP_SOCKS_MAX);   /* skaddr -> owner */
BPF_TABLE("lru_hash", u32, struct owner, listeners, 1024);        /* family << 16 | port -> owner */

TRACEPOINT_PROBE(sock, inet_sock_set_state)
{
    if (args->protocol != IPPROTO_TCP)
        return 0;
    u64 sk = (u64)args->skaddr;
    int oldstate = args->oldstate;
    int newstate = args->newstate;
    u32 lkey = ((u32)args->family << 16) | args->sport;

    /* transitions only a syscall on the socket makes (connect, listen, close/shutdown): the current
     * task is then the socket's user, not a bystander whose time a softirq borrowed */
    int proc_ctx = newstate == TCP_SYN_SENT || newstate == TCP_LISTEN || newstate == TCP_FIN_WAIT1 ||
                   newstate == TCP_LAST_ACK || (oldstate == TCP_LISTEN && newstate == TCP_CLOSE);

    struct owner own = {};
    int known = 0;
    struct owner *o = socks.lookup(&sk);
    if (o) {
        own = *o;
        known = 1;
    } else if (newstate != TCP_SYN_SENT && newstate != TCP_LISTEN && (o = listeners.lookup(&lkey))) {
        /* a connection on a port a traced process listens on */
        own = *o;
        known = 1;
        socks.update(&sk, &own);
    } else if (proc_ctx && beefine_should_trace()) {
        u64 id = bpf_get_current_pid_tgid();
        own.pid = id >> 32;
        own.tid = (u32)id;
        bpf_get_current_comm(&own.comm, sizeof(own.comm));
        known = 1;
        if (newstate != TCP_CLOSE)
            socks.update(&sk, &own);
    } else {
#if defined(FILTER_PIDNS_DEV) || defined(FILTER_TRACKED) || defined(FILTER_FOLLOW)
        return 0; /* a socket of nobody we trace */
#else
        /* host-wide: report it, owner unknown (pid 0) rather than whoever is on the CPU */
#endif
    }

    /* LISTEN -> SYN_RECV is not the listener changing state: it is a new child socket, cloned from
     * the listener (so its old state reads LISTEN), completing a handshake. Only LISTEN -> CLOSE is
     * the listener itself going away. */
    if (newstate == TCP_LISTEN)
        listeners.update(&lkey, &own);
    else if (oldstate == TCP_LISTEN && newstate == TCP_CLOSE)
        listeners.delete(&lkey);
    if (newstate == TCP_CLOSE)
        socks.delete(&sk);

    struct tcp_rec r = {};
    r.h.ts = bpf_ktime_get_ns();
    r.h.kind = K_STATE;
    r.h.pid = own.pid;
    r.h.tid = own.tid;
    __builtin_memcpy(r.h.comm, own.comm, sizeof(r.h.comm));
    r.skaddr = sk;
    r.oldstate = oldstate;
    r.newstate = newstate;
    r.sport = args->sport;
    r.dport = args->dport;
    r.family = args->family;
    r.protocol = args->protocol;
    r.owner_known = known;
    __builtin_memcpy(r.saddr, args->saddr, 4);
    __builtin_memcpy(r.daddr, args->daddr, 4);
    __builtin_memcpy(r.saddr_v6, args->saddr_v6, 16);
    __builtin_memcpy(r.daddr_v6, args->daddr_v6, 16);
    beefine_submit(args, &r, sizeof(r));
    return 0;
}
