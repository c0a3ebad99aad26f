/* Beefine TUI built-in: xdp. Counts packets and bytes per protocol on one interface and samples
 * packet headers 1 in SAMPLE_EVERY into a ring buffer. Always returns XDP_PASS: it only looks.
 *
 * Attached in generic (SKB) mode by probes/xdp_runner.py. Only packet bytes are read, through
 * ctx->data / ctx->data_end with a bounds check before every header (the verifier rejects any read
 * it cannot prove lies inside the packet). The header structs are uapi (stable layouts).
 *
 * cflags from the runner: SAMPLE_EVERY (>= 1), RING_PAGES (power of two).
 */
#include <uapi/linux/bpf.h>
#include <uapi/linux/if_ether.h>
#include <uapi/linux/in.h>
#include <uapi/linux/ip.h>
#include <uapi/linux/ipv6.h>
#include <uapi/linux/tcp.h>
#include <uapi/linux/udp.h>

#ifndef SAMPLE_EVERY
#define SAMPLE_EVERY 1
#endif
#ifndef RING_PAGES
#define RING_PAGES 64
#endif

/* counter slots, mirrored in probes/xdp_runner.py COUNTER_SLOTS */
#define C_TOTAL 0
#define C_IPV4 1     /* every IPv4 packet */
#define C_IPV6 2     /* every IPv6 packet */
#define C_ARP 3
#define C_OTHER 4    /* neither IP nor ARP (ethertype) */
#define C_TCP 5      /* TCP over IPv4 or IPv6 */
#define C_UDP 6
#define C_ICMP 7     /* ICMP or ICMPv6 */
#define C_IP_OTHER 8 /* IP with another L4 protocol (or an IPv6 extension header first) */
#define C_SLOTS 9

struct counter {
    u64 packets;
    u64 bytes;
};

BPF_PERCPU_ARRAY(counts, struct counter, C_SLOTS);
/* [0] samples not written because the ring buffer was full; [1] packets seen for sampling */
BPF_PERCPU_ARRAY(sampling, u64, 2);
BPF_RINGBUF_OUTPUT(samples, RING_PAGES);

/* mirrored by SAMPLE_FORMAT in probes/xdp_runner.py (little endian, explicit padding: 80 bytes) */
struct sample {
    u64 ts;
    u32 len;         /* whole frame length */
    u16 eth_proto;   /* host order */
    u8 ipver;        /* 4, 6 or 0 */
    u8 l4proto;      /* IPPROTO_* or 0 */
    u8 eth_src[6];
    u8 eth_dst[6];
    u8 src[16];      /* IPv4 in the first 4 bytes */
    u8 dst[16];
    u16 sport;       /* host order */
    u16 dport;
    u8 tcp_flags;    /* FIN SYN RST PSH ACK URG ECE CWR as bits 0..7 */
    u8 pad[3];
    u32 pad2;
    u64 pad3;
};

static __always_inline void count(int slot, u64 len)
{
    int key = slot;
    struct counter *c = counts.lookup(&key);
    if (c) {
        c->packets += 1; /* per-CPU: no atomics needed */
        c->bytes += len;
    }
}

int beefine_xdp(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    u64 len = data_end - data;
    struct ethhdr *eth = data;
    struct sample s = {};
    int l4 = 0;
    void *l4h = 0;

    count(C_TOTAL, len);
    if ((void *)(eth + 1) > data_end) {
        count(C_OTHER, len);
        return XDP_PASS;
    }
    s.eth_proto = bpf_ntohs(eth->h_proto);
    __builtin_memcpy(s.eth_src, eth->h_source, 6);
    __builtin_memcpy(s.eth_dst, eth->h_dest, 6);

    if (s.eth_proto == ETH_P_IP) {
        struct iphdr *ip = (void *)(eth + 1);
        count(C_IPV4, len);
        if ((void *)(ip + 1) > data_end)
            goto sample;
        s.ipver = 4;
        l4 = ip->protocol;
        __builtin_memcpy(s.src, &ip->saddr, 4);
        __builtin_memcpy(s.dst, &ip->daddr, 4);
        u32 ihl = ip->ihl * 4;
        if (ihl < sizeof(*ip))
            goto sample;
        l4h = (void *)ip + ihl;
    } else if (s.eth_proto == ETH_P_IPV6) {
        struct ipv6hdr *ip6 = (void *)(eth + 1);
        count(C_IPV6, len);
        if ((void *)(ip6 + 1) > data_end)
            goto sample;
        s.ipver = 6;
        l4 = ip6->nexthdr; /* extension headers are not followed: they count as C_IP_OTHER */
        __builtin_memcpy(s.src, &ip6->saddr, 16);
        __builtin_memcpy(s.dst, &ip6->daddr, 16);
        l4h = (void *)(ip6 + 1);
    } else if (s.eth_proto == ETH_P_ARP) {
        count(C_ARP, len);
        goto sample;
    } else {
        count(C_OTHER, len);
        goto sample;
    }

    s.l4proto = l4;
    if (l4 == IPPROTO_TCP) {
        struct tcphdr *tcp = l4h;
        count(C_TCP, len);
        if ((void *)(tcp + 1) <= data_end) {
            s.sport = bpf_ntohs(tcp->source);
            s.dport = bpf_ntohs(tcp->dest);
            s.tcp_flags = ((u8 *)tcp)[13];
        }
    } else if (l4 == IPPROTO_UDP) {
        struct udphdr *udp = l4h;
        count(C_UDP, len);
        if ((void *)(udp + 1) <= data_end) {
            s.sport = bpf_ntohs(udp->source);
            s.dport = bpf_ntohs(udp->dest);
        }
    } else if (l4 == IPPROTO_ICMP || l4 == 58 /* IPPROTO_ICMPV6 */) {
        count(C_ICMP, len);
    } else {
        count(C_IP_OTHER, len);
    }

sample:
    {
        int k = 1;
        u64 *seen = sampling.lookup(&k);
        if (!seen)
            return XDP_PASS;
        *seen += 1;
        if (SAMPLE_EVERY > 1 && (*seen % SAMPLE_EVERY) != 0)
            return XDP_PASS;
        s.ts = bpf_ktime_get_ns();
        s.len = len;
        if (samples.ringbuf_output(&s, sizeof(s), 0) != 0) {
            int d = 0;
            u64 *dropped = sampling.lookup(&d);
            if (dropped)
                *dropped += 1;
        }
    }
    return XDP_PASS;
}
