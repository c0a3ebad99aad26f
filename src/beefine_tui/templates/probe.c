// name: {{name}}
// description: every execve on this machine: pid, command name and the file it runs
//
// A Beefine TUI probe in BCC's C. Open it from the TUI (Load eBPF -> Your programs) or
// check it headless: sudo beefine-tui probe ... (see `beefine-tui --help`).
//
// How Beefine reads it:
// - the `// name:` and `// description:` lines above are its metadata (the probe shows as
//   "user:<name>");
// - every function written with TRACEPOINT_PROBE(category, event) is loaded and attached
//   (the events are in /sys/kernel/tracing/events/<category>/<event>/format);
// - every BPF_RINGBUF_OUTPUT / BPF_PERF_OUTPUT table streams events: BCC records the struct
//   you submit to it, and each of its fields becomes a column (char arrays as text, other
//   arrays as lists; a field named ts, pid, tid, ppid or comm also fills the common columns);
// - other maps (BPF_HASH, BPF_ARRAY...) can be read as a snapshot;
// - a BPF_ARRAY named `lost` counts records that did not fit: Beefine shows them as lost events.
//
// Some kernels are built without kprobes (`sudo beefine-tui doctor` says whether yours has
// them): tracepoints work everywhere. With kernel headers that do not match the running kernel,
// read only tracepoint arguments, helper results and user memory: never walk kernel structs
// such as task_struct.

#define FILENAME_LEN 128

// One record per execve. Fixed-size fields only: the record is copied as it is.
struct event {
    u64 ts;                      // bpf_ktime_get_ns(): same clock as the other probes
    u32 pid;                     // process id (the kernel's tgid)
    u32 tid;                     // thread id (the kernel's pid)
    char comm[16];               // still the OLD program's name: the exec has not happened yet
    char filename[FILENAME_LEN]; // the program being executed, as passed to execve
};

BPF_RINGBUF_OUTPUT(events, 64);  // 64 pages, shared by all CPUs (a power of two)
BPF_ARRAY(lost, u64, 1);         // records dropped because the ring buffer was full

// Runs at the entry of every execve(2) system call, before the new program is loaded.
TRACEPOINT_PROBE(syscalls, sys_enter_execve)
{
    struct event *e = events.ringbuf_reserve(sizeof(struct event));
    if (!e) {                    // the verifier insists: reserve can fail when the buffer is full
        int zero = 0;
        lost.increment(zero);
        return 0;
    }
    u64 id = bpf_get_current_pid_tgid();
    e->ts = bpf_ktime_get_ns();
    e->pid = id >> 32;
    e->tid = (u32)id;
    bpf_get_current_comm(&e->comm, sizeof(e->comm));
    // args->filename points into the caller's memory: copy it with a bounded, checked read
    bpf_probe_read_user_str(&e->filename, sizeof(e->filename), args->filename);
    events.ringbuf_submit(e, 0);
    return 0;
}
