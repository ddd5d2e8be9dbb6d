/* sr-test-viewer: a minimal document viewer for the view-only tests and the
 * demo and benchmark scripts (it is installed root-owned and setgid to the
 * vault's viewer group by whoever uses it).
 *
 *   sr-test-viewer [-q | --times] [--delay-ms N] [--hold-ms N] FILE...
 *       Opens each FILE read-only and reads all of it. On a terminal it shows
 *       the text; otherwise (a pipe or a file: an export) it prints only
 *       "FILE: N bytes, fnv1a64 HEX", with -q nothing, with --times
 *       "NANOSECONDS FILE" (the open, the reads and the close; for
 *       scripts/bench.sh). --delay-ms: waits first; --hold-ms: waits
 *       between opening each file and reading it.
 *   sr-test-viewer --copy-range FILE DEST
 *       Opens FILE read-only and DEST for writing, and calls copy_file_range
 *       from the one to the other: what a viewer with an export feature
 *       could do, and what the filesystem must refuse out of a view file.
 *   sr-test-viewer --write FILE
 *       Tries to open FILE for writing.
 * Exit 0 on success; 1 with "sr-test-viewer: FILE: <strerror> (errno N)" on
 * stderr for the first failure; 2 for bad usage. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int fail(const char* what) {
  const int err = errno;
  fprintf(stderr, "sr-test-viewer: %s: %s (errno %d)\n", what, strerror(err), err);
  return 1;
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static int show(const char* path, int quiet, int times, long hold_ms, int tty) {
  const int64_t start = now_ns();
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(path);
  if (hold_ms > 0) sleep_ms(hold_ms);
  uint64_t hash = 1469598103934665603ULL;
  uint64_t total = 0;
  char buf[65536];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int rc = fail(path);
      close(fd);
      return rc;
    }
    if (n == 0) break;
    for (ssize_t i = 0; i < n; ++i) {
      hash ^= (unsigned char)buf[i];
      hash *= 1099511628211ULL;
    }
    total += (uint64_t)n;
    if (tty && !quiet) fwrite(buf, 1, (size_t)n, stdout);
  }
  close(fd);
  if (times) {
    printf("%lld %s\n", (long long)(now_ns() - start), path);
    return 0;
  }
  if (!tty && !quiet) printf("%s: %llu bytes, fnv1a64 %016llx\n", path, (unsigned long long)total,
                             (unsigned long long)hash);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 4 && strcmp(argv[1], "--copy-range") == 0) {
    const int in = open(argv[2], O_RDONLY | O_CLOEXEC);
    if (in < 0) return fail(argv[2]);
    const int out = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) return fail(argv[3]);
    const ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 20, 0);
    if (n < 0) return fail("copy_file_range");
    printf("copied %zd bytes\n", n);
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "--write") == 0) {
    const int fd = open(argv[2], O_WRONLY | O_CLOEXEC);
    if (fd < 0) return fail(argv[2]);
    printf("opened %s for writing\n", argv[2]);
    return 0;
  }
  int quiet = 0, times = 0;
  long delay_ms = 0, hold_ms = 0;
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; ++i) {
    if (strcmp(argv[i], "-q") == 0) {
      quiet = 1;
    } else if (strcmp(argv[i], "--times") == 0) {
      times = 1;
    } else if (strcmp(argv[i], "--delay-ms") == 0 && i + 1 < argc) {
      delay_ms = strtol(argv[++i], NULL, 10);
    } else if (strcmp(argv[i], "--hold-ms") == 0 && i + 1 < argc) {
      hold_ms = strtol(argv[++i], NULL, 10);
    } else {
      fprintf(stderr, "usage: sr-test-viewer [-q | --times] [--delay-ms N] [--hold-ms N] FILE... | --copy-range FILE DEST | --write FILE\n");
      return 2;
    }
  }
  if (i == argc) {
    fprintf(stderr, "usage: sr-test-viewer [-q | --times] [--delay-ms N] [--hold-ms N] FILE... | --copy-range FILE DEST | --write FILE\n");
    return 2;
  }
  if (delay_ms > 0) sleep_ms(delay_ms);
  const int tty = isatty(1);
  for (; i < argc; ++i) {
    const int rc = show(argv[i], quiet, times, hold_ms, tty);
    if (rc != 0) return rc;
  }
  return 0;
}
