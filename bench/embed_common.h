/* bench/embed_common.h — helpers shared by the benchmark programs (embed_bench, tflite_bench,
 * decode_bench): picking a fixed, reproducible list of photos, reading them into memory,
 * a monotonic clock, a start barrier for worker threads, and the machine's load.
 * Header-only (static functions); benchmarks are not part of the library or of `make test`. */
#ifndef LK_BENCH_EMBED_COMMON_H
#define LK_BENCH_EMBED_COMMON_H

#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline void bench_die(const char *prog, const char *msg, const char *detail) {
  fprintf(stderr, "%s: %s%s%s\n", prog, msg, detail ? ": " : "", detail ? detail : "");
  exit(1);
}

/* One encoded photo held in memory. */
typedef struct bench_file {
  char *name;
  uint8_t *buf;
  size_t len;
} bench_file;

static inline int bench_cmp_name(const void *a, const void *b) {
  const char *x = *(char *const *)a, *y = *(char *const *)b;
  long nx = strtol(x, NULL, 10), ny = strtol(y, NULL, 10);
  if (nx != ny) return nx < ny ? -1 : 1;
  return strcmp(x, y);
}

/* Reads n *.jpg files of dir, spread evenly over its numerically sorted listing (the same
 * list for every program and run). Returns the count actually read. */
static inline int bench_read_photos(const char *prog, const char *dir, int n, bench_file **out) {
  DIR *d = opendir(dir);
  if (!d) bench_die(prog, "cannot open the photo folder", dir);
  char **names = NULL;
  size_t cnt = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t l = strlen(e->d_name);
    if (l < 5 || strcmp(e->d_name + l - 4, ".jpg")) continue;
    if (cnt == cap) {
      cap = cap ? 2 * cap : 1024;
      names = realloc(names, cap * sizeof *names);
      if (!names) bench_die(prog, "out of memory", NULL);
    }
    names[cnt++] = strdup(e->d_name);
  }
  closedir(d);
  if (!cnt) bench_die(prog, "no .jpg photos in", dir);
  qsort(names, cnt, sizeof *names, bench_cmp_name);
  if (n <= 0 || (size_t)n > cnt) n = (int)cnt;
  bench_file *f = calloc((size_t)n, sizeof *f);
  if (!f) bench_die(prog, "out of memory", NULL);
  for (int i = 0; i < n; i++) {
    const char *nm = names[(size_t)i * cnt / (size_t)n];
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, nm);
    FILE *fp = fopen(path, "rb");
    if (!fp) bench_die(prog, "cannot open", path);
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    f[i].buf = malloc(sz > 0 ? (size_t)sz : 1);
    if (!f[i].buf || sz <= 0 || fread(f[i].buf, 1, (size_t)sz, fp) != (size_t)sz)
      bench_die(prog, "cannot read", path);
    fclose(fp);
    f[i].len = (size_t)sz;
    f[i].name = strdup(nm);
  }
  for (size_t i = 0; i < cnt; i++) free(names[i]);
  free(names);
  *out = f;
  return n;
}

static inline void bench_free_photos(bench_file *f, int n) {
  for (int i = 0; f && i < n; i++) free(f[i].buf), free(f[i].name);
  free(f);
}

/* Start barrier so that parallel workers begin timing together (after their warm-up). */
typedef struct bench_gate {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int waiting, total;
} bench_gate;

static inline void bench_gate_init(bench_gate *g, int total) {
  pthread_mutex_init(&g->mu, NULL);
  pthread_cond_init(&g->cv, NULL);
  g->waiting = 0;
  g->total = total;
}

static inline void bench_gate_wait(bench_gate *g) {
  pthread_mutex_lock(&g->mu);
  if (++g->waiting >= g->total) pthread_cond_broadcast(&g->cv);
  while (g->waiting < g->total) pthread_cond_wait(&g->cv, &g->mu);
  pthread_mutex_unlock(&g->mu);
}

static inline void bench_gate_destroy(bench_gate *g) {
  pthread_mutex_destroy(&g->mu);
  pthread_cond_destroy(&g->cv);
}

/* The 1-minute load average (what `uptime` shows first), or -1. */
static inline double bench_loadavg(void) {
  double l = -1;
  FILE *f = fopen("/proc/loadavg", "r");
  if (f) {
    if (fscanf(f, "%lf", &l) != 1) l = -1;
    fclose(f);
  }
  return l;
}

/* Parses "1,8" into at most cap positive ints; returns the count. */
static inline int bench_parse_list(const char *s, int *v, int cap) {
  int n = 0;
  while (*s && n < cap) {
    char *end;
    long x = strtol(s, &end, 10);
    if (end == s || x <= 0 || x > 4096) return -1;
    v[n++] = (int)x;
    s = *end == ',' ? end + 1 : end;
    if (*end && *end != ',') return -1;
  }
  return n;
}

#endif
