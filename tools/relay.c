/*
 * relay.c - the physical-limit baseline for tools/bench_router.py, and its packet sink.
 *
 *   relay SECONDS DST_PORT...   bind 127.0.0.1:0, print "port N", then (for at most SECONDS,
 *                               until no packet came for 0.5 s after the first one) one
 *                               recvfrom per datagram and one sendto per destination
 *                               (127.0.0.1:DST_PORT), the same fan-out work as the router
 *                               without SRTP, parsing or rewriting; prints "in N out M
 *                               cpu_us C" (its own user + system CPU time).
 *   sink SECONDS HEX|-...       one socket per argument on 127.0.0.1:0; print "ports P...";
 *                               each socket first sends its HEX datagram (e.g. an SRTCP RR
 *                               that teaches the router the address) to 127.0.0.1:$SINK_DST;
 *                               then counts datagrams (recvmmsg) until SECONDS pass or no
 *                               packet came for 1.5 s after the first one. A packet whose
 *                               byte 16 is 0x27 (RFC 8285 one-byte element id 2, 8 bytes)
 *                               carries CLOCK_MONOTONIC ns at bytes 17..24: its latency is
 *                               recorded. Prints "count N first_ns F last_ns L lat N p50 X
 *                               p99 Y" (latencies in ns) and per-socket counts.
 *
 * Built at run time by the benchmark with the system compiler: cc -O2 -o relay relay.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SOCKS 256
#define BATCH 64
#define MAX_LAT (4 * 1024 * 1024)

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static long long cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000
        + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

static int bind_any(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int size = 4 << 20;
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    if (fd < 0) { perror("socket"); exit(1); }
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); exit(1); }
    getsockname(fd, (struct sockaddr *)&a, &len);
    return fd;
}

static int port_of(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    return ntohs(a.sin_port);
}

static struct sockaddr_in loopback(int port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    return a;
}

static int relay(double seconds, int ndst, char **ports)
{
    static struct sockaddr_in dst[MAX_SOCKS];
    static unsigned char buf[2048];
    struct timeval tv = {0, 200000};
    long long in = 0, out = 0;
    int fd = bind_any(), i;
    int64_t end = now_ns() + (int64_t)(seconds * 1e9);
    for (i = 0; i < ndst && i < MAX_SOCKS; i++) dst[i] = loopback(atoi(ports[i]));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    printf("port %d\n", port_of(fd));
    fflush(stdout);
    int64_t last = 0;
    for (;;) {
        int64_t t = now_ns();
        ssize_t n;
        if (t >= end || (last && t - last > 500000000LL)) break;
        n = recvfrom(fd, buf, sizeof buf, 0, NULL, NULL);
        if (n < 0) continue;
        if ((in & 255) == 0) last = now_ns();
        in++;
        for (i = 0; i < ndst; i++)
            if (sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&dst[i], sizeof dst[i]) >= 0)
                out++;
    }
    printf("in %lld out %lld cpu_us %lld\n", in, out, cpu_us());
    return 0;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int unhex(const char *s, unsigned char *out, size_t cap)
{
    size_t n = strlen(s) / 2, i;
    if (n > cap) return -1;
    for (i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) return -1;
        out[i] = (unsigned char)v;
    }
    return (int)n;
}

static int sink(double seconds, int nsock, char **hexes)
{
    static struct pollfd pfd[MAX_SOCKS];
    static long long counts[MAX_SOCKS];
    static unsigned char bufs[BATCH][2048];
    static struct mmsghdr msgs[BATCH];
    static struct iovec iov[BATCH];
    static unsigned char hello[2048];
    int64_t *lat = malloc(sizeof(int64_t) * MAX_LAT);
    long long total = 0, nlat = 0;
    int64_t first = 0, last = 0, start = now_ns(), end = start + (int64_t)(seconds * 1e9);
    const char *dst_env = getenv("SINK_DST");
    struct sockaddr_in dst = loopback(dst_env ? atoi(dst_env) : 0);
    int i;
    if (!lat) return 1;
    if (nsock > MAX_SOCKS) nsock = MAX_SOCKS;
    printf("ports");
    for (i = 0; i < nsock; i++) {
        pfd[i].fd = bind_any();
        pfd[i].events = POLLIN;
        printf(" %d", port_of(pfd[i].fd));
    }
    printf("\n");
    fflush(stdout);
    for (i = 0; i < nsock; i++) {
        int n = strcmp(hexes[i], "-") ? unhex(hexes[i], hello, sizeof hello) : 0;
        if (n > 0 && dst_env)
            sendto(pfd[i].fd, hello, (size_t)n, 0, (struct sockaddr *)&dst, sizeof dst);
    }
    for (i = 0; i < BATCH; i++) {
        iov[i].iov_base = bufs[i];
        iov[i].iov_len = sizeof bufs[i];
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    for (;;) {
        int64_t t = now_ns();
        if (t >= end || (last && t - last > 500000000LL)) break;
        if (poll(pfd, (nfds_t)nsock, 100) <= 0) continue;
        for (i = 0; i < nsock; i++) {
            if (!(pfd[i].revents & POLLIN)) continue;
            for (;;) {
                int got = recvmmsg(pfd[i].fd, msgs, BATCH, MSG_DONTWAIT, NULL), k;
                if (got <= 0) break;
                t = now_ns();
                if (!first) first = t;
                last = t;
                counts[i] += got;
                total += got;
                for (k = 0; k < got; k++) {
                    const unsigned char *p = bufs[k];
                    if (msgs[k].msg_len >= 25 && (p[1] < 192 || p[1] > 223) && p[16] == 0x27
                        && nlat < MAX_LAT) {
                        int64_t sent = 0;
                        int b;
                        for (b = 0; b < 8; b++) sent = (sent << 8) | p[17 + b];
                        lat[nlat++] = t - sent;
                    }
                }
                if (got < BATCH) break;
            }
        }
    }
    qsort(lat, (size_t)nlat, sizeof lat[0], cmp64);
    printf("count %lld first_ns %lld last_ns %lld lat %lld p50 %lld p99 %lld\n", total,
           (long long)first, (long long)last, nlat,
           (long long)(nlat ? lat[nlat / 2] : 0), (long long)(nlat ? lat[nlat * 99 / 100] : 0));
    printf("per_socket");
    for (i = 0; i < nsock; i++) printf(" %lld", counts[i]);
    printf("\n");
    free(lat);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "relay")) return relay(atof(argv[2]), argc - 3, argv + 3);
    if (argc >= 4 && !strcmp(argv[1], "sink")) return sink(atof(argv[2]), argc - 3, argv + 3);
    fprintf(stderr, "usage: relay relay SECONDS DST_PORT... | relay sink SECONDS HEX|-...\n");
    return 2;
}
