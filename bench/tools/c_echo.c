/*
 * c-echo: the ceiling for zgnet's benchmarks. A minimal single-threaded epoll echo server.
 *
 *   c-echo --proto tcp|udp|unix --addr 127.0.0.1:0|[::1]:0|/path.sock
 *
 * Level-triggered. Stream sockets: one read() and one write() per readiness; what write()
 * does not take is kept in a per-connection buffer, the connection then waits for EPOLLOUT
 * only (no reading meanwhile, so the buffer never holds more than one read) and goes back to
 * EPOLLIN once drained. UDP: one recvfrom() and one sendto() per readiness; a reply the socket
 * buffer refuses (EAGAIN) is dropped, as UDP may. TCP_NODELAY on accepted TCP sockets.
 *
 * Prints "listening <port>" (tcp/udp; the bound port when given port 0) or
 * "listening <path>" (unix) on stdout once ready. SIGTERM/SIGINT: closes everything, unlinks
 * the unix path, exits 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define BUF_SIZE 65536
#define MAX_EVENTS 512
#define ACCEPTS_PER_WAKE 256
#define NOFILE_CAP 1048576

enum proto { P_TCP, P_UDP, P_UNIX };

struct conn {
    int fd;
    uint32_t out_off, out_len, out_cap; /* pending output: out[out_off .. out_len) */
    uint8_t *out;
};

static enum proto proto = P_TCP;
static const char *addr_arg;
static int ep = -1, lfd = -1, sfd = -1, spare_fd = -1;
static struct conn **conns; /* indexed by fd */
static size_t conns_cap;
static uint8_t buf[BUF_SIZE];
static char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static unsigned long udp_dropped;

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("c-echo: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (unix_path[0]) unlink(unix_path);
    exit(2);
}

__attribute__((format(printf, 1, 2))) static void warnmsg(const char *fmt, ...) {
    static unsigned long n;
    if (++n > 20) return; /* never flood stderr on a hot path */
    va_list ap;
    va_start(ap, fmt);
    fputs("c-echo: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) die("getrlimit: %s", strerror(errno));
    rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > NOFILE_CAP ? NOFILE_CAP : rl.rlim_max;
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want) return;
    rl.rlim_cur = want;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) warnmsg("setrlimit(RLIMIT_NOFILE): %s", strerror(errno));
}

static socklen_t parse_addr(const char *a, struct sockaddr_storage *ss) {
    memset(ss, 0, sizeof *ss);
    if (proto == P_UNIX) {
        struct sockaddr_un *un = (struct sockaddr_un *)ss;
        size_t n = strlen(a);
        if (n == 0 || n >= sizeof un->sun_path) die("unix socket path empty or too long: %s", a);
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, a, n + 1);
        return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
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
    if (errno || *end || port < 0 || port > 65535) die("bad port in %s", a);
    if (strcmp(h, "localhost") == 0) h = "127.0.0.1";
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, h, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        return sizeof *s4;
    }
    if (inet_pton(AF_INET6, h, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        return sizeof *s6;
    }
    die("host must be a numeric IPv4/IPv6 address (or localhost): %s", h);
}

static void ep_ctl(int op, int fd, uint32_t events) {
    struct epoll_event ev = {.events = events, .data.fd = fd};
    if (epoll_ctl(ep, op, fd, &ev) != 0) die("epoll_ctl(%d, fd %d): %s", op, fd, strerror(errno));
}

/* ------------------------------------------------------------------ stream connections */
static void conn_close(struct conn *c) {
    /* close() also removes the fd from the epoll set (we never dup it). */
    if (close(c->fd) != 0 && errno != EINTR) warnmsg("close(%d): %s", c->fd, strerror(errno));
    conns[c->fd] = NULL;
    free(c->out);
    free(c);
}

static int is_peer_gone(int err) {
    return err == ECONNRESET || err == EPIPE || err == ETIMEDOUT || err == EHOSTUNREACH ||
           err == ENETUNREACH || err == ENOTCONN;
}

static void conn_readable(struct conn *c) {
    ssize_t n;
    do n = read(c->fd, buf, sizeof buf); while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (!is_peer_gone(errno)) warnmsg("read(%d): %s", c->fd, strerror(errno));
        conn_close(c);
        return;
    }
    if (n == 0) {
        conn_close(c);
        return;
    }
    ssize_t w;
    do w = write(c->fd, buf, (size_t)n); while (w < 0 && errno == EINTR);
    if (w < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            if (!is_peer_gone(errno)) warnmsg("write(%d): %s", c->fd, strerror(errno));
            conn_close(c);
            return;
        }
        w = 0;
    }
    if (w == n) return;
    size_t rest = (size_t)(n - w);
    if (c->out_cap < rest) {
        uint8_t *nb = realloc(c->out, BUF_SIZE); /* one read's worth is the most ever kept */
        if (!nb) {
            warnmsg("out of memory buffering %zu bytes; dropping connection %d", rest, c->fd);
            conn_close(c);
            return;
        }
        c->out = nb;
        c->out_cap = BUF_SIZE;
    }
    memcpy(c->out, buf + w, rest);
    c->out_off = 0;
    c->out_len = (uint32_t)rest;
    ep_ctl(EPOLL_CTL_MOD, c->fd, EPOLLOUT);
}

static void conn_writable(struct conn *c) {
    ssize_t w;
    do w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off); while (w < 0 && errno == EINTR);
    if (w < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (!is_peer_gone(errno)) warnmsg("write(%d): %s", c->fd, strerror(errno));
        conn_close(c);
        return;
    }
    c->out_off += (uint32_t)w;
    if (c->out_off == c->out_len) {
        c->out_off = c->out_len = 0;
        ep_ctl(EPOLL_CTL_MOD, c->fd, EPOLLIN);
    }
}

static void conn_event(struct conn *c, uint32_t ev) {
    if (c->out_len == 0) {
        /* waiting for input; HUP/ERR show up as read() returning 0 or an error */
        if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) conn_readable(c);
    } else if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
        conn_writable(c);
    }
}

static int track_fd(int fd) {
    if ((size_t)fd >= conns_cap) {
        size_t cap = conns_cap ? conns_cap : 1024;
        while (cap <= (size_t)fd) cap *= 2;
        struct conn **nc = realloc(conns, cap * sizeof *nc);
        if (!nc) return -1;
        memset(nc + conns_cap, 0, (cap - conns_cap) * sizeof *nc);
        conns = nc;
        conns_cap = cap;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (!c) return -1;
    c->fd = fd;
    conns[fd] = c;
    return 0;
}

static void do_accept(void) {
    for (int i = 0; i < ACCEPTS_PER_WAKE; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int err = errno;
            if (err == EINTR || err == ECONNABORTED || err == EPROTO) continue;
            if (err == EAGAIN || err == EWOULDBLOCK) return;
            if ((err == EMFILE || err == ENFILE) && spare_fd >= 0) {
                /* out of descriptors: free the spare, accept and drop one, take it back,
                 * so a level-triggered listener does not spin */
                warnmsg("accept: %s; dropping a connection", strerror(err));
                close(spare_fd);
                int tmp = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                if (tmp >= 0) close(tmp);
                spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                return;
            }
            warnmsg("accept: %s", strerror(err));
            return;
        }
        if (proto == P_TCP) {
            int one = 1;
            if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
                warnmsg("TCP_NODELAY(%d): %s", fd, strerror(errno));
        }
        if (track_fd(fd) != 0) {
            warnmsg("out of memory; dropping connection");
            close(fd);
            continue;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            warnmsg("epoll_ctl(ADD %d): %s", fd, strerror(errno));
            conn_close(conns[fd]);
        }
    }
}

/* ------------------------------------------------------------------ udp */
static void udp_readable(void) {
    struct sockaddr_storage from;
    socklen_t fl = sizeof from;
    ssize_t n;
    do n = recvfrom(lfd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl); while (n < 0 && errno == EINTR);
    if (n < 0) {
        /* ECONNREFUSED and friends: an ICMP error for an earlier reply; nothing to do */
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNREFUSED && errno != EHOSTUNREACH &&
            errno != ENETUNREACH)
            warnmsg("recvfrom: %s", strerror(errno));
        return;
    }
    ssize_t w;
    do w = sendto(lfd, buf, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&from, fl); while (w < 0 && errno == EINTR);
    if (w < 0) {
        udp_dropped++;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS && errno != ECONNREFUSED)
            warnmsg("sendto: %s", strerror(errno));
    }
}

/* ------------------------------------------------------------------ main */
static void usage(FILE *f) {
    fputs("usage: c-echo --proto tcp|udp|unix --addr 127.0.0.1:0|[::1]:0|/path.sock\n"
          "prints \"listening <port-or-path>\" once ready; SIGTERM/SIGINT stop it\n",
          f);
}

int main(int argc, char **argv) {
    static const struct option lopts[] = {
        {"proto", required_argument, 0, 'P'},
        {"addr", required_argument, 0, 'a'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "P:a:h", lopts, NULL)) != -1) {
        switch (o) {
        case 'P':
            if (strcmp(optarg, "tcp") == 0) proto = P_TCP;
            else if (strcmp(optarg, "udp") == 0) proto = P_UDP;
            else if (strcmp(optarg, "unix") == 0) proto = P_UNIX;
            else die("--proto must be tcp, udp or unix");
            break;
        case 'a': addr_arg = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    if (!addr_arg) {
        if (proto == P_UNIX) die("--addr /path.sock is required for unix");
        addr_arg = "127.0.0.1:0";
    }
    raise_nofile();

    /* Signals: SIGPIPE ignored; SIGINT/SIGTERM through a signalfd (reset to default first:
     * a shell starting us in the background sets SIGINT to ignored, which would drop it). */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL) != 0) die("sigaction: %s", strerror(errno));
    sa.sa_handler = SIG_DFL;
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0)
        die("sigaction: %s", strerror(errno));
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0) die("sigprocmask: %s", strerror(errno));
    sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) die("signalfd: %s", strerror(errno));

    struct sockaddr_storage ss;
    socklen_t sl = parse_addr(addr_arg, &ss);
    int type = (proto == P_UDP ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC;
    lfd = socket(ss.ss_family, type, 0);
    if (lfd < 0) die("socket: %s", strerror(errno));
    if (proto == P_UNIX) {
        const char *path = ((struct sockaddr_un *)&ss)->sun_path;
        struct stat st;
        if (lstat(path, &st) == 0) {
            if (!S_ISSOCK(st.st_mode)) die("%s exists and is not a socket", path);
            if (unlink(path) != 0) die("unlink stale %s: %s", path, strerror(errno));
        }
    } else {
        int one = 1;
        if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
            die("SO_REUSEADDR: %s", strerror(errno));
    }
    if (bind(lfd, (struct sockaddr *)&ss, sl) != 0) die("bind %s: %s", addr_arg, strerror(errno));
    if (proto == P_UNIX) strcpy(unix_path, ((struct sockaddr_un *)&ss)->sun_path);
    if (proto != P_UDP && listen(lfd, SOMAXCONN) != 0) die("listen: %s", strerror(errno));
    spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (spare_fd < 0) die("open /dev/null: %s", strerror(errno));

    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1: %s", strerror(errno));
    ep_ctl(EPOLL_CTL_ADD, lfd, EPOLLIN);
    ep_ctl(EPOLL_CTL_ADD, sfd, EPOLLIN);

    if (proto == P_UNIX) {
        printf("listening %s\n", unix_path);
    } else {
        struct sockaddr_storage bound;
        socklen_t bl = sizeof bound;
        if (getsockname(lfd, (struct sockaddr *)&bound, &bl) != 0) die("getsockname: %s", strerror(errno));
        unsigned port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                                    : ntohs(((struct sockaddr_in *)&bound)->sin_port);
        printf("listening %u\n", port);
    }
    if (fflush(stdout) != 0) die("stdout: %s", strerror(errno));

    static struct epoll_event evs[MAX_EVENTS];
    int running = 1;
    while (running) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait: %s", strerror(errno));
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            uint32_t ev = evs[i].events;
            if (fd == sfd) {
                struct signalfd_siginfo si;
                ssize_t r = read(sfd, &si, sizeof si);
                if (r == (ssize_t)sizeof si || (r < 0 && errno != EAGAIN && errno != EINTR)) running = 0;
            } else if (fd == lfd) {
                if (proto == P_UDP) udp_readable();
                else do_accept();
            } else if ((size_t)fd < conns_cap && conns[fd]) {
                conn_event(conns[fd], ev);
            }
        }
    }

    for (size_t fd = 0; fd < conns_cap; fd++)
        if (conns[fd]) conn_close(conns[fd]);
    free(conns);
    close(lfd);
    close(sfd);
    close(ep);
    close(spare_fd);
    if (unix_path[0] && unlink(unix_path) != 0 && errno != ENOENT)
        fprintf(stderr, "c-echo: unlink %s: %s\n", unix_path, strerror(errno));
    if (udp_dropped) fprintf(stderr, "c-echo: %lu udp replies dropped (socket buffer full)\n", udp_dropped);
    return 0;
}
