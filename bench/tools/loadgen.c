/*
 * zgnet-loadgen: the benchmark's own load generator.
 *
 * Single-threaded, epoll, non-blocking. Opens CONNS connections (TCP or Unix stream) or
 * connected UDP sockets against an echo server and measures ping-pong round trips.
 *
 *   zgnet-loadgen --proto tcp|udp|unix --addr 127.0.0.1:PORT|[::1]:PORT|/path.sock
 *                 -c CONNS -s SIZE -d SECONDS [--warmup SECONDS] [--pipeline K]
 *                 [--server-pid PID] [--spin]
 *
 * Stream (tcp, unix): every connection sends SIZE-byte messages taken from a pseudo-random pool
 * at a per-connection, per-message offset, keeps K of them in flight (--pipeline, default 1),
 * verifies every echoed byte against what it sent and records each message's round trip
 * (first byte handed to writev -> last byte read back). Bytes beyond what was sent, a mismatch,
 * or a connection the server closes are errors (that connection is closed, the rest go on).
 * Connections are opened in batches: at most CONNECT_BATCH are "pending" (connecting or waiting
 * for their first echo, which proves the server accepted them), so the server's accept queue
 * never overflows and 500+ connections come up without SYN retransmits.
 *
 * UDP: every socket sends one SIZE-byte datagram (first bytes carry a sequence number and the
 * socket's id) and waits for it to come back; no answer within 200 ms counts as lost and the
 * socket sends the next one. A late answer to a datagram already counted lost is ignored; any
 * other reply that differs from what was sent is an error.
 *
 * The clock starts when every connection is up (or has failed, or CONNECT_TIMEOUT passed);
 * warm-up (default 1 s) runs first, then the measured window of SECONDS. Only messages whose
 * round trip completes inside the window count. At the end of the window it stops on its own.
 *
 * Output: one line of JSON on stdout:
 *   {"proto","conns","size","pipeline","seconds","msgs","msgs_per_sec","mib_per_sec",
 *    "p50_us","p99_us","errors","lost","connect_failures"}
 * plus "server_cpu_s" and "server_cpu_s_per_mmsg" with --server-pid (utime+stime of that
 * process over the measured window, from /proc/PID/stat).
 * mib_per_sec counts payload echoed in one direction (msgs * size / 2^20 / seconds).
 * Exit status: 0 ok; 1 if every connection failed, any error was seen, or no message completed
 * in the window; 2 on bad usage or a setup failure.
 * Diagnostics (first few errors, a short summary of problems) go to stderr.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CONNECT_BATCH 64                  /* pending (not yet proven accepted) connections */
#define CONNECT_TIMEOUT_NS (10ull * 1000000000ull)
#define CONNECT_RETRY_NS (2ull * 1000000ull) /* unix connect() EAGAIN: backlog full, retry */
#define DRAIN_NS (250ull * 1000000ull)   /* after the window: wait this long for in-flight echoes */
#define UDP_TIMEOUT_NS (200ull * 1000000ull)
#define UDP_SCAN_NS (5ull * 1000000ull)
#define RBUF_SIZE (256 * 1024)
#define MAX_IOV 64
#define POOL_SPREAD 4096u                 /* message offsets into the pool: 0..4095 */
#define MAX_EVENTS 1024
#define MAX_LOGGED_ERRORS 5

enum proto { P_TCP, P_UDP, P_UNIX };
static const char *proto_names[] = {"tcp", "udp", "unix"};

enum cstate {
    S_IDLE,       /* not started yet */
    S_RETRY,      /* connect() said EAGAIN; try again at retry_at */
    S_CONNECTING, /* non-blocking connect in progress */
    S_ACTIVE,     /* connected, first echo not back yet (still "pending") */
    S_ESTAB,      /* first echo came back */
    S_CLOSED,     /* failed or closed; fd is -1 */
};

struct conn {
    int fd;
    uint8_t state;
    uint8_t want_out;    /* EPOLLOUT registered */
    uint8_t waiting;     /* udp: a datagram is outstanding */
    uint32_t id;
    uint32_t send_pos;   /* bytes of message next_msg already written */
    uint32_t recv_pos;   /* bytes of message recv_msgs already read back */
    uint64_t next_msg;   /* index of the message being written */
    uint64_t recv_msgs;  /* messages fully echoed */
    uint64_t sent_bytes, recv_bytes;
    uint64_t retry_at;
    uint64_t *ts;        /* stream: K send timestamps, slot m % K */
    uint64_t sent_at;    /* udp */
    uint32_t seq;        /* udp */
    uint8_t *dgram;      /* udp: the datagram being sent (and expected back) */
};

/* ---------------------------------------------------------------- options, state */
static enum proto opt_proto = P_TCP;
static const char *opt_addr;
static long opt_conns = 1;
static long opt_size = 64;
static double opt_seconds = 5.0;
static double opt_warmup = 1.0;
static long opt_pipeline = 1;
static long opt_server_pid = 0;
static int opt_spin = 0;

static struct sockaddr_storage peer;
static socklen_t peer_len;
static int peer_family;

static int ep = -1;
static struct conn *conns;
static uint8_t *pool;          /* opt_size + POOL_SPREAD pseudo-random bytes */
static uint8_t *rbuf;
static uint64_t now;           /* refreshed once per loop iteration and around syscalls */
static uint64_t m_start = UINT64_MAX, m_end = UINT64_MAX;
static volatile sig_atomic_t interrupted;
static int draining;

static uint64_t msgs, errors, lost, connect_failures;
static uint64_t disconnects, late, refused, connect_retries;
static long pending, alive, next_to_start, logged;

/* ---------------------------------------------------------------- helpers */
static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("zgnet-loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

__attribute__((format(printf, 1, 2))) static void logerr(const char *fmt, ...) {
    if (logged >= MAX_LOGGED_ERRORS) {
        if (logged == MAX_LOGGED_ERRORS) fputs("zgnet-loadgen: (further errors not shown)\n", stderr);
        logged++;
        return;
    }
    logged++;
    va_list ap;
    va_start(ap, fmt);
    fputs("zgnet-loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static inline int in_window(uint64_t t) { return t >= m_start && t < m_end; }

/* Per-connection, per-message offset into the pool: different connections and consecutive
 * messages of one connection see different bytes, so crossed or repeated data is caught. */
static inline uint32_t msg_off(uint32_t id, uint64_t m) {
    return (uint32_t)((id * 2654435761u) + (uint32_t)m * 97u) & (POOL_SPREAD - 1);
}

/* ---------------------------------------------------------------- latency histogram
 * Log-linear, like HdrHistogram: values below 128 ns exact, above that 64 linear
 * sub-buckets per power of two (relative error < 1.6%). Values in ns, capped at 2^43-1. */
#define H_SUB_BITS 7
#define H_SUB (1u << H_SUB_BITS)
#define H_HALF (H_SUB >> 1)
#define H_MAX_EXP 42
#define H_BUCKETS (H_SUB + (H_MAX_EXP - H_SUB_BITS + 1) * H_HALF)

static uint64_t hist[H_BUCKETS];
static uint64_t h_total, h_min = UINT64_MAX, h_max;

static inline void hist_record(uint64_t v) {
    if (v > (1ull << (H_MAX_EXP + 1)) - 1) v = (1ull << (H_MAX_EXP + 1)) - 1;
    unsigned idx;
    if (v < H_SUB) {
        idx = (unsigned)v;
    } else {
        unsigned e = 63u - (unsigned)__builtin_clzll(v);
        unsigned shift = e - H_SUB_BITS + 1;
        unsigned mant = (unsigned)(v >> shift);
        idx = H_SUB + (shift - 1) * H_HALF + (mant - H_HALF);
    }
    hist[idx]++;
    h_total++;
    if (v < h_min) h_min = v;
    if (v > h_max) h_max = v;
}

static double hist_pct_us(double p) {
    if (h_total == 0) return 0.0;
    uint64_t target = (uint64_t)ceil(p * (double)h_total);
    if (target < 1) target = 1;
    uint64_t cum = 0;
    for (unsigned i = 0; i < H_BUCKETS; i++) {
        cum += hist[i];
        if (cum >= target) {
            double mid;
            if (i < H_SUB) {
                mid = (double)i;
            } else {
                unsigned k = i - H_SUB;
                unsigned shift = k / H_HALF + 1;
                uint64_t low = (uint64_t)(k % H_HALF + H_HALF) << shift;
                mid = (double)low + (double)(1ull << shift) / 2.0;
            }
            if (mid < (double)h_min) mid = (double)h_min;
            if (mid > (double)h_max) mid = (double)h_max;
            return mid / 1000.0;
        }
    }
    return (double)h_max / 1000.0;
}

/* ---------------------------------------------------------------- setup */
static void parse_addr(const char *a) {
    memset(&peer, 0, sizeof peer);
    if (opt_proto == P_UNIX) {
        struct sockaddr_un *un = (struct sockaddr_un *)&peer;
        size_t n = strlen(a);
        if (n == 0 || n >= sizeof un->sun_path) die("unix socket path empty or too long: %s", a);
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, a, n + 1);
        peer_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
        peer_family = AF_UNIX;
        return;
    }
    const char *colon = strrchr(a, ':');
    if (!colon || colon == a || !colon[1]) die("address must be HOST:PORT, got %s", a);
    char host[INET6_ADDRSTRLEN + 2];
    size_t hl = (size_t)(colon - a);
    if (hl >= sizeof host) die("bad host in %s", a);
    memcpy(host, a, hl);
    host[hl] = 0;
    char *h = host;
    if (h[0] == '[') {
        if (hl < 2 || h[hl - 1] != ']') die("bad IPv6 address in %s", a);
        h[hl - 1] = 0;
        h++;
    }
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || *end || port < 1 || port > 65535) die("bad port in %s", a);
    if (strcmp(h, "localhost") == 0) h = "127.0.0.1";
    struct sockaddr_in *s4 = (struct sockaddr_in *)&peer;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&peer;
    if (inet_pton(AF_INET, h, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        peer_len = sizeof *s4;
        peer_family = AF_INET;
    } else if (inet_pton(AF_INET6, h, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        peer_len = sizeof *s6;
        peer_family = AF_INET6;
    } else {
        die("host must be a numeric IPv4/IPv6 address (or localhost): %s", h);
    }
}

static void raise_nofile(long need) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) die("getrlimit: %s", strerror(errno));
    if (rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur < need) {
        rlim_t want = rl.rlim_max;
        if (want == RLIM_INFINITY || want > (rlim_t)need + 1024) want = (rlim_t)need + 1024;
        if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max) want = rl.rlim_max;
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) die("setrlimit(RLIMIT_NOFILE): %s", strerror(errno));
    }
    if (rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur < need)
        die("need %ld file descriptors, hard limit is %ld", need, (long)rl.rlim_max);
}

static void fill_pool(void) {
    uint64_t x = 0x9E3779B97F4A7C15ull;
    size_t n = (size_t)opt_size + POOL_SPREAD;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;  /* xorshift64 */
        pool[i] = (uint8_t)(x >> 24);
    }
}

static int read_proc_cpu(long pid, double *out) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    unsigned long ut, st;
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) return -1;
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0) hz = 100;
    *out = (double)(ut + st) / (double)hz;
    return 0;
}

/* ---------------------------------------------------------------- connection bookkeeping */
static void ep_set(struct conn *c, uint32_t events, int op) {
    struct epoll_event ev = {.events = events, .data.u64 = c->id};
    if (epoll_ctl(ep, op, c->fd, &ev) != 0) die("epoll_ctl(conn %u): %s", c->id, strerror(errno));
}

static void conn_close(struct conn *c) {
    if (c->fd >= 0) {
        if (close(c->fd) != 0 && errno != EINTR) logerr("close(conn %u): %s", c->id, strerror(errno));
        c->fd = -1;
    }
    if (c->state == S_ACTIVE || c->state == S_CONNECTING || c->state == S_RETRY) pending--;
    if (c->state == S_ACTIVE || c->state == S_ESTAB) alive--;
    c->state = S_CLOSED;
}

static void connect_failed(struct conn *c, int err) {
    connect_failures++;
    logerr("conn %u: connect: %s", c->id, strerror(err));
    conn_close(c);
}

/* A connection that was up failed: a verification error or the server went away. */
__attribute__((format(printf, 2, 3))) static void conn_error(struct conn *c, const char *fmt, ...) {
    errors++;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    logerr("conn %u: %s", c->id, msg);
    conn_close(c);
}

/* ---------------------------------------------------------------- stream (tcp, unix) */
static void stream_send(struct conn *c) {
    const uint32_t size = (uint32_t)opt_size;
    if (draining) return;
    for (;;) {
        uint64_t limit = c->recv_msgs + (uint64_t)opt_pipeline;
        if (c->next_msg >= limit) break;
        struct iovec iov[MAX_IOV];
        int n = 0;
        size_t total = 0;
        uint64_t m = c->next_msg;
        uint32_t pos = c->send_pos;
        uint64_t t = now_ns();
        while (m < limit && n < MAX_IOV) {
            if (pos == 0) c->ts[m % (uint64_t)opt_pipeline] = t;
            iov[n].iov_base = pool + msg_off(c->id, m) + pos;
            iov[n].iov_len = size - pos;
            total += size - pos;
            n++;
            m++;
            pos = 0;
        }
        ssize_t w;
        do w = writev(c->fd, iov, n); while (w < 0 && errno == EINTR);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            conn_error(c, "write: %s", strerror(errno));
            return;
        }
        c->sent_bytes += (uint64_t)w;
        size_t left = (size_t)w;
        while (left > 0) {
            size_t rest = size - c->send_pos;
            if (left >= rest) {
                left -= rest;
                c->send_pos = 0;
                c->next_msg++;
            } else {
                c->send_pos += (uint32_t)left;
                left = 0;
            }
        }
        if ((size_t)w < total) break; /* socket buffer full */
    }
    int want = c->next_msg < c->recv_msgs + (uint64_t)opt_pipeline;
    if (want != c->want_out) {
        c->want_out = (uint8_t)want;
        ep_set(c, EPOLLIN | (want ? EPOLLOUT : 0), EPOLL_CTL_MOD);
    }
}

static void stream_read(struct conn *c) {
    ssize_t n;
    do n = read(c->fd, rbuf, RBUF_SIZE); while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        disconnects++;
        conn_error(c, "read: %s", strerror(errno));
        return;
    }
    if (n == 0) {
        disconnects++;
        conn_error(c, "server closed the connection");
        return;
    }
    uint64_t t = now_ns();
    if (c->recv_bytes + (uint64_t)n > c->sent_bytes) {
        conn_error(c, "verification: got %" PRIu64 " bytes back, only %" PRIu64 " sent",
                   c->recv_bytes + (uint64_t)n, c->sent_bytes);
        return;
    }
    c->recv_bytes += (uint64_t)n;
    const uint32_t size = (uint32_t)opt_size;
    const uint8_t *p = rbuf;
    size_t left = (size_t)n;
    int completed = 0;
    while (left > 0) {
        size_t take = size - c->recv_pos;
        if (take > left) take = left;
        const uint8_t *want = pool + msg_off(c->id, c->recv_msgs) + c->recv_pos;
        if (memcmp(p, want, take) != 0) {
            size_t i = 0;
            while (p[i] == want[i]) i++;
            conn_error(c, "verification: message %" PRIu64 " byte %zu is 0x%02x, sent 0x%02x",
                       c->recv_msgs, (size_t)c->recv_pos + i, p[i], want[i]);
            return;
        }
        p += take;
        left -= take;
        c->recv_pos += (uint32_t)take;
        if (c->recv_pos == size) {
            if (in_window(t)) {
                hist_record(t - c->ts[c->recv_msgs % (uint64_t)opt_pipeline]);
                msgs++;
            }
            c->recv_msgs++;
            c->recv_pos = 0;
            completed = 1;
        }
    }
    if (draining) {
        /* everything sent has come back: close now, so the server sees a FIN, not an RST
         * (closing with unread data resets; an unhandled ECONNRESET kills a bare net server) */
        if (c->recv_bytes == c->sent_bytes) conn_close(c);
        return;
    }
    if (completed) {
        if (c->state == S_ACTIVE) {
            c->state = S_ESTAB;
            pending--;
        }
        stream_send(c);
    }
}

/* The window is over (or SIGINT): stop sending, let in-flight echoes arrive (still verified,
 * not counted), close each connection once it has nothing outstanding. */
static void start_drain(void) {
    draining = 1;
    for (long i = 0; i < opt_conns; i++) {
        struct conn *c = &conns[i];
        if (c->state == S_IDLE || c->state == S_RETRY || c->state == S_CONNECTING) {
            conn_close(c); /* SIGINT during the connect phase */
            continue;
        }
        if (c->state != S_ACTIVE && c->state != S_ESTAB) continue;
        if (opt_proto == P_UDP || c->recv_bytes == c->sent_bytes) {
            conn_close(c);
            continue;
        }
        if (c->want_out) {
            c->want_out = 0;
            ep_set(c, EPOLLIN, EPOLL_CTL_MOD);
        }
    }
}

static void on_connected(struct conn *c, int first) {
    c->state = S_ACTIVE;
    alive++;
    c->want_out = 0;
    ep_set(c, EPOLLIN, first ? EPOLL_CTL_ADD : EPOLL_CTL_MOD);
    stream_send(c);
}

static void start_connect(struct conn *c) {
    c->state = S_CONNECTING; /* counted in `pending` by the caller from here on */
    int fd = socket(peer_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        connect_failed(c, errno);
        return;
    }
    c->fd = fd;
    if (opt_proto == P_TCP) {
        int one = 1;
        if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
            logerr("conn %u: TCP_NODELAY: %s", c->id, strerror(errno));
    }
    int rc = connect(fd, (struct sockaddr *)&peer, peer_len);
    if (rc == 0) {
        on_connected(c, 1);
        return;
    }
    int err = errno;
    if (err == EINPROGRESS || err == EINTR) {
        /* EINTR on a non-blocking connect: it goes on asynchronously, like EINPROGRESS. */
        ep_set(c, EPOLLOUT, EPOLL_CTL_ADD);
        return;
    }
    if (err == EAGAIN) {
        /* Unix socket with a full backlog (or no ephemeral port): retry shortly. */
        (void)close(fd);
        c->fd = -1;
        c->state = S_RETRY;
        c->retry_at = now_ns() + CONNECT_RETRY_NS;
        connect_retries++;
        return;
    }
    connect_failed(c, err);
}

static void stream_event(struct conn *c, uint32_t ev) {
    if (c->state == S_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
        if (err == 0 && !(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        if (err != 0) {
            connect_failed(c, err);
            return;
        }
        if (ev & EPOLLHUP) {
            connect_failed(c, ECONNRESET);
            return;
        }
        on_connected(c, 0);
        return;
    }
    if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        stream_read(c);
        if (c->state == S_CLOSED) return;
    }
    if ((ev & EPOLLOUT) && c->want_out) stream_send(c);
}

/* ---------------------------------------------------------------- udp */
/* First min(8, SIZE) bytes of a datagram: seq (4 bytes LE), then the socket id (4 bytes LE). */
static void udp_header(uint8_t *dst, uint32_t id, uint32_t seq) {
    uint8_t h[8];
    for (int i = 0; i < 4; i++) {
        h[i] = (uint8_t)(seq >> (8 * i));
        h[4 + i] = (uint8_t)(id >> (8 * i));
    }
    memcpy(dst, h, opt_size < 8 ? (size_t)opt_size : 8);
}

static void udp_send(struct conn *c) {
    udp_header(c->dgram, c->id, c->seq);
    ssize_t w;
    do w = send(c->fd, c->dgram, (size_t)opt_size, MSG_NOSIGNAL); while (w < 0 && errno == EINTR);
    c->sent_at = now_ns();
    c->waiting = 1;
    if (w < 0) {
        /* Not sent (EAGAIN, or ECONNREFUSED left by an earlier ICMP): it times out and counts
         * as lost like any datagram that never came back. */
        if (errno == ECONNREFUSED) refused++;
        else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS)
            logerr("conn %u: send: %s", c->id, strerror(errno));
    } else if (w != opt_size) {
        logerr("conn %u: short datagram send %zd of %ld", c->id, w, opt_size);
    }
}

/* Is this reply an answer to a datagram we already gave up on (or a duplicate of an earlier
 * one)? Right length, same body, same socket id, and a sequence number below the current one.
 * Datagrams shorter than 8 bytes carry only part of the header, so for them this check (and so
 * verification of late replies) is weaker: any earlier sequence number with the same low bytes. */
static int udp_is_late(struct conn *c, const uint8_t *p, ssize_t n) {
    if (n != opt_size) return 0;
    size_t h = opt_size < 8 ? (size_t)opt_size : 8;
    if (memcmp(p + h, c->dgram + h, (size_t)opt_size - h) != 0) return 0;
    if (h > 4) {
        uint8_t hdr[8];
        udp_header(hdr, c->id, 0);
        if (memcmp(p + 4, hdr + 4, h - 4) != 0) return 0;
    }
    size_t sb = h < 4 ? h : 4;
    uint32_t v = 0;
    for (size_t i = 0; i < sb; i++) v |= (uint32_t)p[i] << (8 * i);
    if (sb == 4) return v < c->seq;
    uint32_t mask = (1u << (8 * sb)) - 1;
    return c->seq > mask || v < c->seq;
}

static void udp_read(struct conn *c) {
    ssize_t n;
    do n = recv(c->fd, rbuf, RBUF_SIZE, MSG_TRUNC); while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (errno == ECONNREFUSED) {
            refused++;
            return;
        }
        logerr("conn %u: recv: %s", c->id, strerror(errno));
        return;
    }
    uint64_t t = now_ns();
    if (c->waiting && n == opt_size && memcmp(rbuf, c->dgram, (size_t)n) == 0) {
        if (in_window(t)) {
            hist_record(t - c->sent_at);
            msgs++;
        }
        c->waiting = 0;
        c->seq++;
        udp_send(c);
        return;
    }
    if (udp_is_late(c, rbuf, n)) {
        late++;
        return;
    }
    errors++;
    logerr("conn %u: verification: unexpected %zd-byte datagram (expected %ld bytes, seq %u)",
           c->id, n, opt_size, c->seq);
}

static void udp_scan(uint64_t t) {
    for (long i = 0; i < opt_conns; i++) {
        struct conn *c = &conns[i];
        if (c->state != S_ESTAB || !c->waiting || t - c->sent_at < UDP_TIMEOUT_NS) continue;
        if (in_window(t)) lost++;
        c->waiting = 0;
        c->seq++;
        udp_send(c);
    }
}

static void udp_setup(void) {
    for (long i = 0; i < opt_conns; i++) {
        struct conn *c = &conns[i];
        int fd = socket(peer_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            connect_failed(c, errno);
            continue;
        }
        c->fd = fd;
        if (connect(fd, (struct sockaddr *)&peer, peer_len) != 0) {
            connect_failed(c, errno);
            continue;
        }
        c->dgram = malloc((size_t)opt_size);
        if (!c->dgram) die("out of memory");
        memcpy(c->dgram, pool + msg_off(c->id, 0), (size_t)opt_size);
        c->state = S_ESTAB;
        alive++;
        ep_set(c, EPOLLIN, EPOLL_CTL_ADD);
    }
    for (long i = 0; i < opt_conns; i++)
        if (conns[i].state == S_ESTAB) udp_send(&conns[i]);
}

/* ---------------------------------------------------------------- main */
static void on_signal(int sig) {
    (void)sig;
    interrupted = 1;
}

static void usage(FILE *f) {
    fputs("usage: zgnet-loadgen --proto tcp|udp|unix --addr 127.0.0.1:PORT|[::1]:PORT|/path.sock\n"
          "                     -c CONNS -s SIZE -d SECONDS [--warmup SECONDS] [--pipeline K]\n"
          "                     [--server-pid PID] [--spin]\n"
          "  -c, --conns N       connections (udp: connected sockets), default 1\n"
          "  -s, --size BYTES    message size, default 64 (udp: at most 65507)\n"
          "  -d, --duration S    measured seconds (fractions allowed), default 5\n"
          "  -w, --warmup S      seconds run before measuring, default 1\n"
          "  -k, --pipeline K    messages in flight per connection (tcp/unix), default 1\n"
          "  -p, --server-pid P  also report CPU seconds used by process P in the window\n"
          "      --spin          poll epoll without sleeping (burns a core; on VMs, avoids the\n"
          "                      loadgen's vCPU halting between replies at low concurrency)\n"
          "prints one JSON line: proto conns size pipeline seconds msgs msgs_per_sec mib_per_sec\n"
          "p50_us p99_us errors lost connect_failures [server_cpu_s server_cpu_s_per_mmsg]\n",
          f);
}

static long parse_long(const char *s, const char *what, long lo, long hi) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) die("bad %s: %s (allowed %ld..%ld)", what, s, lo, hi);
    return v;
}

static double parse_secs(const char *s, const char *what, double lo) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || end == s || !(v >= lo) || v > 86400.0) die("bad %s: %s", what, s);
    return v;
}

int main(int argc, char **argv) {
    static const struct option lopts[] = {
        {"proto", required_argument, 0, 'P'},   {"addr", required_argument, 0, 'a'},
        {"conns", required_argument, 0, 'c'},   {"size", required_argument, 0, 's'},
        {"duration", required_argument, 0, 'd'}, {"seconds", required_argument, 0, 'd'},
        {"warmup", required_argument, 0, 'w'},  {"pipeline", required_argument, 0, 'k'},
        {"server-pid", required_argument, 0, 'p'}, {"spin", no_argument, 0, 'S'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "P:a:c:s:d:w:k:p:h", lopts, NULL)) != -1) {
        switch (o) {
        case 'P':
            if (strcmp(optarg, "tcp") == 0) opt_proto = P_TCP;
            else if (strcmp(optarg, "udp") == 0) opt_proto = P_UDP;
            else if (strcmp(optarg, "unix") == 0) opt_proto = P_UNIX;
            else die("--proto must be tcp, udp or unix");
            break;
        case 'a': opt_addr = optarg; break;
        case 'c': opt_conns = parse_long(optarg, "--conns", 1, 1000000); break;
        case 's': opt_size = parse_long(optarg, "--size", 1, 64L << 20); break;
        case 'd': opt_seconds = parse_secs(optarg, "--duration", 0.001); break;
        case 'w': opt_warmup = parse_secs(optarg, "--warmup", 0.0); break;
        case 'k': opt_pipeline = parse_long(optarg, "--pipeline", 1, 65536); break;
        case 'p': opt_server_pid = parse_long(optarg, "--server-pid", 1, INT_MAX); break;
        case 'S': opt_spin = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    if (!opt_addr) die("--addr is required");
    if (opt_proto == P_UDP && opt_size > 65507) die("--size: a UDP datagram holds at most 65507 bytes");
    if (opt_proto == P_UDP && opt_pipeline != 1) die("--pipeline is for tcp/unix; udp does ping-pong");
    parse_addr(opt_addr);
    raise_nofile(opt_conns + 32);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL) != 0) die("sigaction: %s", strerror(errno));
    sa.sa_handler = on_signal; /* no SA_RESTART: epoll_wait returns EINTR */
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0)
        die("sigaction: %s", strerror(errno));

    pool = malloc((size_t)opt_size + POOL_SPREAD);
    rbuf = malloc(RBUF_SIZE);
    conns = calloc((size_t)opt_conns, sizeof *conns);
    if (!pool || !rbuf || !conns) die("out of memory");
    fill_pool();
    uint64_t *ts_all = NULL;
    if (opt_proto != P_UDP) {
        ts_all = calloc((size_t)opt_conns * (size_t)opt_pipeline, sizeof *ts_all);
        if (!ts_all) die("out of memory");
    }
    for (long i = 0; i < opt_conns; i++) {
        conns[i].fd = -1;
        conns[i].id = (uint32_t)i;
        conns[i].state = S_IDLE;
        if (ts_all) conns[i].ts = ts_all + (size_t)i * (size_t)opt_pipeline;
    }

    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1: %s", strerror(errno));
    struct epoll_event *evs = calloc(MAX_EVENTS, sizeof *evs);
    if (!evs) die("out of memory");

    const uint64_t warm_ns = (uint64_t)(opt_warmup * 1e9);
    const uint64_t dur_ns = (uint64_t)(opt_seconds * 1e9);
    uint64_t t0 = now_ns();
    int connect_phase = 1;
    if (opt_proto == P_UDP) {
        udp_setup();
        next_to_start = opt_conns;
    }
    uint64_t next_scan = 0;
    int cpu_started = 0;
    double cpu0 = 0, cpu1 = 0;
    int cpu_ok = 0, cpu_ended = 0;

    uint64_t drain_end = 0;
    for (;;) {
        now = now_ns();
        if (!draining && (interrupted || now >= m_end)) {
            if (now < m_end) m_end = now; /* interrupted: the window ends here */
            if (opt_server_pid && cpu_started && !cpu_ended) {
                cpu_ended = 1;
                cpu_ok = cpu_ok && read_proc_cpu(opt_server_pid, &cpu1) == 0;
            }
            start_drain();
            drain_end = now + DRAIN_NS;
        }
        if (draining) {
            if (alive == 0 || now >= drain_end) break;
            goto wait;
        }
        if (connect_phase) {
            /* retries first, then new connections while fewer than CONNECT_BATCH are pending */
            if (opt_proto != P_UDP) {
                for (long i = 0; i < next_to_start; i++) {
                    struct conn *c = &conns[i];
                    if (c->state == S_RETRY && now >= c->retry_at) start_connect(c); /* still pending */
                }
                while (pending < CONNECT_BATCH && next_to_start < opt_conns) {
                    pending++; /* released by conn_close or by the first echo */
                    start_connect(&conns[next_to_start++]);
                }
            }
            long not_done = 0;
            for (long i = 0; i < opt_conns && !not_done; i++) {
                uint8_t s = conns[i].state;
                if (s == S_IDLE || s == S_RETRY || s == S_CONNECTING || s == S_ACTIVE) not_done = 1;
            }
            int timed_out = now - t0 >= CONNECT_TIMEOUT_NS;
            if (!not_done || timed_out) {
                if (timed_out) {
                    long stuck = 0;
                    for (long i = 0; i < opt_conns; i++) {
                        struct conn *c = &conns[i];
                        if (c->state == S_IDLE || c->state == S_RETRY || c->state == S_CONNECTING) {
                            connect_failures++;
                            conn_close(c);
                        } else if (c->state == S_ACTIVE) {
                            stuck++;
                        }
                    }
                    fprintf(stderr, "zgnet-loadgen: connect phase timed out after %.0f s; %ld connected "
                            "but never echoed\n", CONNECT_TIMEOUT_NS / 1e9, stuck);
                }
                connect_phase = 0;
                m_start = now + warm_ns;
                m_end = m_start + dur_ns;
            }
        }
        if (alive == 0 && !connect_phase) {
            if (now < m_end) m_end = now;
            break;
        }
        if (!connect_phase && !cpu_started && now >= m_start) {
            cpu_started = 1;
            if (opt_server_pid) cpu_ok = read_proc_cpu(opt_server_pid, &cpu0) == 0;
        }
        if (opt_proto == P_UDP && now >= next_scan) {
            udp_scan(now);
            next_scan = now + UDP_SCAN_NS;
        }
    wait:;
        int timeout;
        if (draining) {
            timeout = 1;
        } else if (connect_phase) {
            timeout = 2;
        } else {
            uint64_t until = (now < m_start ? m_start : m_end) - now;
            uint64_t ms = (until + 999999) / 1000000;
            uint64_t cap = opt_proto == P_UDP ? 5 : 100;
            timeout = (int)(ms < cap ? ms : cap);
        }
        if (opt_spin) timeout = 0;
        int n = epoll_wait(ep, evs, MAX_EVENTS, timeout);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait: %s", strerror(errno));
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = &conns[evs[i].data.u64];
            if (c->state == S_CLOSED || c->fd < 0) continue;
            if (opt_proto == P_UDP) {
                if (evs[i].events & (EPOLLIN | EPOLLERR)) udp_read(c);
            } else {
                stream_event(c, evs[i].events);
            }
        }
    }
    uint64_t t_end = m_end;
    double secs = (m_start != UINT64_MAX && t_end > m_start) ? (double)(t_end - m_start) / 1e9 : 0.0;
    if (opt_server_pid && cpu_started && !cpu_ended) cpu_ok = cpu_ok && read_proc_cpu(opt_server_pid, &cpu1) == 0;

    double mps = secs > 0 ? (double)msgs / secs : 0.0;
    double mib = secs > 0 ? (double)msgs * (double)opt_size / 1048576.0 / secs : 0.0;
    printf("{\"proto\":\"%s\",\"conns\":%ld,\"size\":%ld,\"pipeline\":%ld,\"seconds\":%.3f,"
           "\"msgs\":%" PRIu64 ",\"msgs_per_sec\":%.1f,\"mib_per_sec\":%.2f,\"p50_us\":%.1f,"
           "\"p99_us\":%.1f,\"errors\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"connect_failures\":%" PRIu64,
           proto_names[opt_proto], opt_conns, opt_size, opt_pipeline, secs, msgs, mps, mib,
           hist_pct_us(0.50), hist_pct_us(0.99), errors, lost, connect_failures);
    if (opt_server_pid) {
        if (cpu_ok) {
            double cpu = cpu1 - cpu0;
            printf(",\"server_cpu_s\":%.2f,\"server_cpu_s_per_mmsg\":%.3f", cpu,
                   msgs ? cpu / ((double)msgs / 1e6) : 0.0);
        } else {
            printf(",\"server_cpu_s\":null,\"server_cpu_s_per_mmsg\":null");
        }
    }
    printf("}\n");
    fflush(stdout);

    if (disconnects || late || refused || connect_retries || interrupted)
        fprintf(stderr,
                "zgnet-loadgen: disconnects=%" PRIu64 " late_udp_replies=%" PRIu64 " refused=%" PRIu64
                " connect_retries=%" PRIu64 "%s\n",
                disconnects, late, refused, connect_retries, interrupted ? " (interrupted)" : "");

    int rc = 0;
    if (connect_failures >= (uint64_t)opt_conns) {
        fprintf(stderr, "zgnet-loadgen: every connection failed\n");
        rc = 1;
    }
    if (errors) {
        fprintf(stderr, "zgnet-loadgen: %" PRIu64 " error(s)\n", errors);
        rc = 1;
    }
    if (msgs == 0 && rc == 0) {
        fprintf(stderr, "zgnet-loadgen: no message completed in the measured window\n");
        rc = 1;
    }
    return rc;
}
