/* A library the view-only tests LD_PRELOAD into the viewer: when it is
 * loaded, its constructor tries to copy SR_PRELOAD_SOURCE to
 * SR_PRELOAD_TARGET, the way injected code would exfiltrate what a trusted
 * program may read. It leaves traces for the test:
 *   TARGET.loaded   it was loaded (the loader honoured LD_PRELOAD);
 *   TARGET.err      the errno of the open or read that failed;
 *   TARGET          the copy, when the open and read succeeded.
 * A setgid viewer must never load it (the loader ignores LD_PRELOAD for a
 * setgid program); a non-setgid copy of the viewer loads it, and the copy
 * must then be refused by the filesystem. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void put(const char* target, const char* suffix, const char* text) {
  char path[4096];
  snprintf(path, sizeof path, "%s%s", target, suffix);
  const int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  (void)!write(fd, text, strlen(text));
  close(fd);
}

__attribute__((constructor)) static void copy_on_load(void) {
  const char* source = getenv("SR_PRELOAD_SOURCE");
  const char* target = getenv("SR_PRELOAD_TARGET");
  if (source == NULL || target == NULL) return;
  put(target, ".loaded", "loaded\n");
  const int in = open(source, O_RDONLY | O_CLOEXEC);
  char err[32];
  if (in < 0) {
    snprintf(err, sizeof err, "%d\n", errno);
    put(target, ".err", err);
    return;
  }
  char buf[65536];
  const ssize_t n = read(in, buf, sizeof buf);
  close(in);
  if (n < 0) {
    snprintf(err, sizeof err, "%d\n", errno);
    put(target, ".err", err);
    return;
  }
  const int out = open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) return;
  (void)!write(out, buf, (size_t)n);
  close(out);
}
