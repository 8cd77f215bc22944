/*
 * zgnet-tls-loadgen: the benchmark's TLS load generator (OpenSSL, the system's libssl).
 *
 *   zgnet-tls-loadgen --mode echo --addr 127.0.0.1:PORT -c CONNS -s SIZE -d SECONDS [--warmup S]
 *   zgnet-tls-loadgen --mode handshake --addr 127.0.0.1:PORT -t THREADS -d SECONDS [--warmup S]
 *
 * echo: CONNS TLS connections (handshakes done before the clock starts), each sending SIZE-byte
 * messages and waiting for each to come back (ping-pong), on one thread with epoll; every
 * echoed byte is checked. Output, one JSON line: {"mode","conns","size","seconds","msgs",
 * "msgs_per_sec","p50_us","p99_us","errors","connect_failures"}.
 *
 * handshake: THREADS threads, each in a loop: connect, a full TLS handshake (no session
 * resumption: no tickets, no session cache), one byte echoed (the server has the connection
 * open), close. Output: {"mode","threads","seconds","handshakes","handshakes_per_sec","errors"}.
 *
 * The server's certificate is not verified: this measures the server, not the trust chain.
 * Exit status 0 ok; 1 when nothing completed or an error was seen; 2 on bad usage.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CONNS_MAX 4096
#define SIZE_MAX_BYTES 65536
#define SAMPLES_MAX (1 << 22)
#define THREADS_MAX 64

static struct sockaddr_in target;
static double warmup_s = 0.5;
static double seconds = 2;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int parse_addr(const char *text) {
  char host[64];
  const char *colon = strrchr(text, ':');
  if (!colon || (size_t)(colon - text) >= sizeof host) return -1;
  memcpy(host, text, colon - text);
  host[colon - text] = 0;
  target.sin_family = AF_INET;
  target.sin_port = htons((uint16_t)atoi(colon + 1));
  return inet_pton(AF_INET, host, &target.sin_addr) == 1 ? 0 : -1;
}

static SSL_CTX *client_ctx(void) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return NULL;
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  return ctx;
}

/* A blocking TCP connection with a finished handshake, or NULL. */
static SSL *dial(SSL_CTX *ctx, int *fd_out) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return NULL;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr *)&target, sizeof target) != 0) {
    close(fd);
    return NULL;
  }
  SSL *ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  SSL_set_tlsext_host_name(ssl, "localhost");
  if (SSL_connect(ssl) != 1) {
    SSL_free(ssl);
    close(fd);
    return NULL;
  }
  *fd_out = fd;
  return ssl;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

struct conn {
  SSL *ssl;
  int fd;
  size_t got;
  double sent_at;
};

static int run_echo(int conns, int size) {
  SSL_CTX *ctx = client_ctx();
  static struct conn c[CONNS_MAX];
  static unsigned char msg[SIZE_MAX_BYTES], buf[SIZE_MAX_BYTES];
  static double samples[SAMPLES_MAX];
  for (int i = 0; i < size; i++) msg[i] = (unsigned char)('a' + i % 26);
  int ep = epoll_create1(0), failures = 0, errors = 0;
  for (int i = 0; i < conns; i++) {
    c[i].ssl = dial(ctx, &c[i].fd);
    if (!c[i].ssl) {
      failures++;
      continue;
    }
    fcntl(c[i].fd, F_SETFL, fcntl(c[i].fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &ev);
  }
  double start = now_s(), window_start = start + warmup_s, end = window_start + seconds;
  long msgs = 0, count = 0;
  for (int i = 0; i < conns; i++) {
    if (!c[i].ssl) continue;
    c[i].sent_at = now_s();
    if (SSL_write(c[i].ssl, msg, size) != size) errors++;
  }
  struct epoll_event events[256];
  while (now_s() < end) {
    int n = epoll_wait(ep, events, 256, 100);
    for (int e = 0; e < n; e++) {
      struct conn *k = &c[events[e].data.u32];
      for (;;) {
        int r = SSL_read(k->ssl, buf, size - (int)k->got);
        if (r <= 0) {
          int err = SSL_get_error(k->ssl, r);
          if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
            errors++;
            epoll_ctl(ep, EPOLL_CTL_DEL, k->fd, NULL);
          }
          break;
        }
        if (memcmp(buf, msg + k->got, (size_t)r) != 0) errors++;
        k->got += (size_t)r;
        if (k->got < (size_t)size) continue;
        double t = now_s();
        if (t >= window_start && t < end) {
          msgs++;
          if (count < SAMPLES_MAX) samples[count++] = (t - k->sent_at) * 1e6;
        }
        k->got = 0;
        k->sent_at = t;
        if (SSL_write(k->ssl, msg, size) != size) errors++;
      }
    }
  }
  qsort(samples, (size_t)count, sizeof samples[0], cmp_double);
  double p50 = count ? samples[count / 2] : 0, p99 = count ? samples[count * 99 / 100] : 0;
  printf("{\"mode\":\"echo\",\"conns\":%d,\"size\":%d,\"seconds\":%.3f,\"msgs\":%ld,\"msgs_per_sec\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,"
         "\"errors\":%d,\"connect_failures\":%d}\n",
         conns, size, seconds, msgs, msgs / seconds, p50, p99, errors, failures);
  return msgs > 0 && errors == 0 && failures == 0 ? 0 : 1;
}

static atomic_long handshakes;
static atomic_int handshake_errors;
static atomic_int counting;
static atomic_int stopping;

static void *handshake_thread(void *arg) {
  SSL_CTX *ctx = arg;
  unsigned char byte = 'x';
  while (!atomic_load(&stopping)) {
    int fd;
    SSL *ssl = dial(ctx, &fd);
    if (!ssl) {
      atomic_fetch_add(&handshake_errors, 1);
      continue;
    }
    unsigned char back = 0;
    if (SSL_write(ssl, &byte, 1) == 1 && SSL_read(ssl, &back, 1) == 1 && back == byte) {
      if (atomic_load(&counting)) atomic_fetch_add(&handshakes, 1);
    } else {
      atomic_fetch_add(&handshake_errors, 1);
    }
    SSL_shutdown(ssl);
    SSL_free(ssl);
    close(fd);
  }
  return NULL;
}

static int run_handshakes(int threads) {
  SSL_CTX *ctx = client_ctx();
  pthread_t t[THREADS_MAX];
  for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, handshake_thread, ctx);
  struct timespec w = {(time_t)warmup_s, (long)((warmup_s - (time_t)warmup_s) * 1e9)};
  nanosleep(&w, NULL);
  atomic_store(&counting, 1);
  double start = now_s();
  struct timespec d = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
  nanosleep(&d, NULL);
  atomic_store(&counting, 0);
  double took = now_s() - start;
  atomic_store(&stopping, 1);
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  long n = atomic_load(&handshakes);
  int errors = atomic_load(&handshake_errors);
  printf("{\"mode\":\"handshake\",\"threads\":%d,\"seconds\":%.3f,\"handshakes\":%ld,\"handshakes_per_sec\":%.1f,\"errors\":%d}\n", threads, took, n,
         n / took, errors);
  return n > 0 && errors == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
  const char *mode = "echo", *addr = NULL;
  int conns = 64, size = 64, threads = 4;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--mode")) mode = argv[i + 1];
    else if (!strcmp(argv[i], "--addr")) addr = argv[i + 1];
    else if (!strcmp(argv[i], "-c")) conns = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "-s")) size = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "-t")) threads = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "-d")) seconds = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--warmup")) warmup_s = atof(argv[i + 1]);
    else {
      fprintf(stderr, "zgnet-tls-loadgen: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (!addr || parse_addr(addr) != 0 || conns < 1 || conns > CONNS_MAX || size < 1 || size > SIZE_MAX_BYTES || threads < 1 ||
      threads > THREADS_MAX || seconds <= 0) {
    fprintf(stderr, "usage: zgnet-tls-loadgen --mode echo|handshake --addr 127.0.0.1:PORT [-c N -s BYTES | -t THREADS] -d SECONDS\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  if (!strcmp(mode, "echo")) return run_echo(conns, size);
  if (!strcmp(mode, "handshake")) return run_handshakes(threads);
  fprintf(stderr, "zgnet-tls-loadgen: --mode echo or handshake\n");
  return 2;
}
