/* The kernel's cost of one small HTTP response written three ways on a
 * loopback TCP connection: writev(2) of the head and the body apart (what
 * hyper does), send(2) of both copied together (what HAProxy does) and
 * writev(2) of one slice. A thread drains the other end; the figure is the
 * writing thread's system time per call (getrusage RUSAGE_THREAD), the
 * three ways interleaved, medians over ROUNDS rounds: it holds better than
 * wall time on a loaded machine, but still moves with it, so compare the
 * three within one run only.
 *
 * Build and run: bench/syscalls/run.sh [CALLS] [ROUNDS]  (default 100000 20)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static int reader_fd;

static void *drain(void *arg) {
    char buf[65536];
    (void)arg;
    while (read(reader_fd, buf, sizeof buf) > 0) {
    }
    return NULL;
}

static double stime_us(void) {
    struct rusage r;
    getrusage(RUSAGE_THREAD, &r);
    return r.ru_stime.tv_sec * 1e6 + r.ru_stime.tv_usec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int calls = argc > 1 ? atoi(argv[1]) : 100000;
    int rounds = argc > 2 ? atoi(argv[2]) : 20;
    struct sockaddr_in a = {0};
    socklen_t alen = sizeof a;
    int one = 1;
    int l = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* port 0: the kernel picks */
    if (bind(l, (void *)&a, sizeof a) || listen(l, 1) || getsockname(l, (void *)&a, &alen)) {
        perror("listen");
        return 1;
    }
    int w = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(w, (void *)&a, sizeof a)) {
        perror("connect");
        return 1;
    }
    reader_fd = accept(l, NULL, NULL);
    setsockopt(w, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pthread_t t;
    pthread_create(&t, NULL, drain, NULL);

    static const char head[] = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\n";
    static const char body[] = "ok";
    size_t hl = strlen(head);
    char flat[256];
    memcpy(flat, head, hl);
    memcpy(flat + hl, body, 2);
    double *v2 = calloc(rounds, sizeof *v2), *s1 = calloc(rounds, sizeof *s1),
           *v1 = calloc(rounds, sizeof *v1);
    for (int r = 0; r < rounds; r++) {
        double t0 = stime_us();
        for (int i = 0; i < calls; i++) {
            struct iovec iov[2] = {{(void *)head, hl}, {(void *)body, 2}};
            writev(w, iov, 2);
        }
        double t1 = stime_us();
        for (int i = 0; i < calls; i++) send(w, flat, hl + 2, MSG_NOSIGNAL);
        double t2 = stime_us();
        for (int i = 0; i < calls; i++) {
            struct iovec iov[1] = {{flat, hl + 2}};
            writev(w, iov, 1);
        }
        double t3 = stime_us();
        v2[r] = (t1 - t0) / calls;
        s1[r] = (t2 - t1) / calls;
        v1[r] = (t3 - t2) / calls;
    }
    qsort(v2, rounds, sizeof *v2, cmp);
    qsort(s1, rounds, sizeof *s1, cmp);
    qsort(v1, rounds, sizeof *v1, cmp);
    printf("system time per call, medians of %d rounds of %d calls:\n", rounds, calls);
    printf("  writev, head and body apart: %.3f us\n", v2[rounds / 2]);
    printf("  send, one buffer:            %.3f us\n", s1[rounds / 2]);
    printf("  writev, one slice:           %.3f us\n", v1[rounds / 2]);
    shutdown(w, SHUT_WR);
    pthread_join(t, NULL);
    return 0;
}
