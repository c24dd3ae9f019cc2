/* bench/tflite_bench.c — the official TensorFlow Lite 2.9 runtime (C API, libtensorflowlite_c
 * from the npm package tfjs-tflite-node@0.0.2, fetched by bench/embed.sh like
 * tools/golden/regen.sh does) on the very same .tflite file and the very same photos as
 * bench/embed_bench.c: decoded and resized once by lookalike's decoder, then timed through
 * TfLiteInterpreterInvoke, warm-up excluded. Peer column of bench/embed.sh; not in `make`.
 *
 *   tflite_bench MODEL [--images DIR] [--n 64] [--seconds 2] [--batches 1,8] [--threads 1,2]
 *                [--no-xnnpack] [--json]
 *
 * Per batch and thread count t: one interpreter with SetNumThreads(t), and for t > 1 also t
 * interpreters of one thread each on pthreads; each with the built-in kernels and with the
 * XNNPACK delegate (the .so exports TfLiteXNNPackDelegateCreate but ships no header; for a
 * uint8 model the delegate only takes the graph with its QU8 flag, which is set here). */
#include "embed_common.h"
#include "image/image.h"
#include "tensorflow/lite/c/c_api.h"

#define PROG "tflite_bench"
#define MAXL 8

/* tensorflow/lite/delegates/xnnpack/xnnpack_delegate.h of TF 2.9 (not shipped by the npm
 * package): options {num_threads, flags}. */
typedef struct {
  int32_t num_threads;
  uint32_t flags;
} TfLiteXNNPackDelegateOptions;
#define XNN_FLAG_QS8 0x1u
#define XNN_FLAG_QU8 0x2u
TfLiteXNNPackDelegateOptions TfLiteXNNPackDelegateOptionsDefault(void);
TfLiteDelegate *TfLiteXNNPackDelegateCreate(const TfLiteXNNPackDelegateOptions *options);
void TfLiteXNNPackDelegateDelete(TfLiteDelegate *delegate);

typedef struct cfg {
  const char *model_path, *images;
  int n;
  double seconds;
  int batches[MAXL], nbatches, threads[MAXL], nthreads;
  int xnnpack, json;
} cfg;

typedef struct job {
  const cfg *c;
  TfLiteModel *model;
  const uint8_t *inputs;
  int nphotos, batch, threads, xnn, first;
  bench_gate *gate;
  long done;
  double elapsed;
  const char *err;
} job;

static void fill_input(TfLiteTensor *in, const uint8_t *px, size_t n) {
  TfLiteType ty = TfLiteTensorType(in);
  void *d = TfLiteTensorData(in);
  if (ty == kTfLiteUInt8) memcpy(d, px, n);
  else if (ty == kTfLiteInt8)
    for (size_t i = 0; i < n; i++) ((int8_t *)d)[i] = (int8_t)(px[i] - 128);
  else if (ty == kTfLiteFloat32)
    for (size_t i = 0; i < n; i++) ((float *)d)[i] = px[i] / 127.5f - 1.f;
}

static void *run_job(void *arg) {
  job *j = arg;
  int b = j->batch;
  size_t in_sz = 224 * 224 * 3;
  TfLiteInterpreterOptions *o = TfLiteInterpreterOptionsCreate();
  TfLiteInterpreterOptionsSetNumThreads(o, j->threads);
  TfLiteDelegate *del = NULL;
  if (j->xnn) {
    TfLiteXNNPackDelegateOptions xo = TfLiteXNNPackDelegateOptionsDefault();
    xo.num_threads = j->threads > 1 ? j->threads : 0;
    xo.flags |= XNN_FLAG_QS8 | XNN_FLAG_QU8;
    del = TfLiteXNNPackDelegateCreate(&xo);
    if (del) TfLiteInterpreterOptionsAddDelegate(o, del);
  }
  TfLiteInterpreter *it = TfLiteInterpreterCreate(j->model, o);
  long done = 0;
  double t0 = 0;
  if (!it) j->err = "TfLiteInterpreterCreate failed";
  if (!j->err && b != 1) {
    int dims[4] = {b, 224, 224, 3};
    if (TfLiteInterpreterResizeInputTensor(it, 0, dims, 4) != kTfLiteOk) j->err = "resize failed";
  }
  if (!j->err && TfLiteInterpreterAllocateTensors(it) != kTfLiteOk) j->err = "AllocateTensors failed";
  TfLiteTensor *in = j->err ? NULL : TfLiteInterpreterGetInputTensor(it, 0);
  int pos = j->first % j->nphotos;
  uint8_t *buf = malloc((size_t)b * in_sz);
  if (!buf) j->err = "out of memory";
  for (int phase = 0; phase < 2; phase++) {
    if (phase == 1) {
      bench_gate_wait(j->gate);
      t0 = bench_now();
    }
    for (int k = 0; !j->err; k++) {
      if (phase == 0 && k == 2) break;
      if (phase == 1 && bench_now() - t0 >= j->c->seconds) break;
      for (int q = 0; q < b; q++)
        memcpy(buf + (size_t)q * in_sz, j->inputs + (size_t)((pos + q) % j->nphotos) * in_sz, in_sz);
      fill_input(in, buf, (size_t)b * in_sz);
      if (TfLiteInterpreterInvoke(it) != kTfLiteOk) j->err = "Invoke failed";
      pos = (pos + b) % j->nphotos;
      if (phase == 1) done += b;
    }
    if (phase == 0 && j->err) bench_gate_wait(j->gate);
  }
  j->elapsed = bench_now() - t0;
  j->done = done;
  free(buf);
  TfLiteInterpreterDelete(it);
  if (del) TfLiteXNNPackDelegateDelete(del);
  TfLiteInterpreterOptionsDelete(o);
  return NULL;
}

/* Returns photos/s, or 0 with *err set when the runtime refused the configuration (this
 * model's RESHAPE to a fixed [1,1001] makes TFLite refuse batches > 1). */
static double measure(job *proto, int workers, int threads, const char **err) {
  *err = NULL;
  job js[64];
  pthread_t th[64];
  bench_gate gate;
  if (workers > 64) workers = 64;
  bench_gate_init(&gate, workers);
  for (int w = 0; w < workers; w++) {
    js[w] = *proto;
    js[w].threads = threads;
    js[w].gate = &gate;
    js[w].first = w * proto->nphotos / workers;
    if (pthread_create(&th[w], NULL, run_job, &js[w])) bench_die(PROG, "pthread_create failed", NULL);
  }
  for (int w = 0; w < workers; w++) pthread_join(th[w], NULL);
  double rate = 0;
  for (int w = 0; w < workers; w++) {
    if (js[w].err) *err = js[w].err;
    rate += js[w].elapsed > 0 ? (double)js[w].done / js[w].elapsed : 0;
  }
  bench_gate_destroy(&gate);
  return *err ? 0 : rate;
}

static void usage(void) {
  fprintf(stderr, "usage: tflite_bench MODEL [--images DIR] [--n N] [--seconds S] [--batches 1,8]\n"
                  "                    [--threads 1,2] [--no-xnnpack] [--json]\n");
  exit(2);
}

int main(int argc, char **argv) {
  cfg c = {.images = "../shared/data/fashion-catalog/images", .n = 64, .seconds = 2, .xnnpack = 1};
  c.batches[0] = 1, c.batches[1] = 8, c.nbatches = 2;
  c.threads[0] = 1, c.threads[1] = 2, c.nthreads = 2;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--images") && v) c.images = v, i++;
    else if (!strcmp(a, "--n") && v) c.n = atoi(v), i++;
    else if (!strcmp(a, "--seconds") && v) c.seconds = atof(v), i++;
    else if (!strcmp(a, "--batches") && v) {
      if ((c.nbatches = bench_parse_list(v, c.batches, MAXL)) <= 0) usage();
      i++;
    } else if (!strcmp(a, "--threads") && v) {
      if ((c.nthreads = bench_parse_list(v, c.threads, MAXL)) <= 0) usage();
      i++;
    } else if (!strcmp(a, "--no-xnnpack")) c.xnnpack = 0;
    else if (!strcmp(a, "--json")) c.json = 1;
    else if (a[0] != '-' && !c.model_path) c.model_path = a;
    else usage();
  }
  if (!c.model_path) usage();
  TfLiteModel *model = TfLiteModelCreateFromFile(c.model_path);
  if (!model) bench_die(PROG, "cannot load the model", c.model_path);

  bench_file *files = NULL;
  int n = bench_read_photos(PROG, c.images, c.n, &files);
  size_t in_sz = 224 * 224 * 3;
  uint8_t *inputs = malloc((size_t)n * in_sz);
  if (!inputs) bench_die(PROG, "out of memory", NULL);
  for (int i = 0; i < n; i++) {
    lk_image img = {0}, rs = {0};
    lk_errbuf eb = {0};
    if (lk_image_decode(files[i].buf, files[i].len, NULL, 224, &img, &eb) ||
        lk_image_resize(&img, 224, 224, &rs))
      bench_die(PROG, "cannot decode", files[i].name);
    memcpy(inputs + (size_t)i * in_sz, rs.px, in_sz);
    lk_image_free(&img);
    lk_image_free(&rs);
  }
  TfLiteXNNPackDelegateOptions xd = TfLiteXNNPackDelegateOptionsDefault();
  if (c.json)
    printf("{\"bench\":\"tflite\",\"kind\":\"info\",\"version\":\"%s\",\"model\":\"%s\",\"photos\":%d,"
           "\"xnnpack_default_threads\":%d,\"xnnpack_default_flags\":%u}\n",
           TfLiteVersion(), c.model_path, n, xd.num_threads, xd.flags);
  else
    printf("TFLite %s, %s, %d photos\n%-8s %5s %7s %7s %9s %9s\n", TfLiteVersion(), c.model_path, n,
           "kernels", "batch", "workers", "threads", "photos/s", "ms/photo");
  fflush(stdout);
  for (int x = 0; x < 1 + c.xnnpack; x++)
    for (int bi = 0; bi < c.nbatches; bi++)
      for (int ti = 0; ti < c.nthreads; ti++)
        for (int par = 0; par < (c.threads[ti] > 1 ? 2 : 1); par++) {
          int t = c.threads[ti], workers = par ? t : 1, threads = par ? 1 : t;
          job proto = {.c = &c, .model = model, .inputs = inputs, .nphotos = n,
                       .batch = c.batches[bi], .xnn = x};
          const char *err = NULL, *k = x ? "xnnpack" : "builtin";
          double rate = measure(&proto, workers, threads, &err);
          if (err && c.json)
            printf("{\"bench\":\"tflite\",\"kind\":\"embed\",\"mode\":\"%s\",\"batch\":%d,\"workers\":%d,"
                   "\"omp\":%d,\"threads\":%d,\"photos_per_s\":null,\"error\":\"%s\"}\n",
                   k, c.batches[bi], workers, threads, t, err);
          else if (err)
            printf("%-8s %5d %7d %7d  refused: %s\n", k, c.batches[bi], workers, threads, err);
          else if (c.json)
            printf("{\"bench\":\"tflite\",\"kind\":\"embed\",\"mode\":\"%s\",\"batch\":%d,\"workers\":%d,"
                   "\"omp\":%d,\"threads\":%d,\"photos_per_s\":%.2f,\"ms_per_photo\":%.3f,\"load\":%.2f}\n",
                   k, c.batches[bi], workers, threads, t, rate, 1000.0 / rate, bench_loadavg());
          else
            printf("%-8s %5d %7d %7d %9.1f %9.2f\n", k, c.batches[bi], workers, threads, rate,
                   1000.0 / rate);
          fflush(stdout);
        }
  free(inputs);
  bench_free_photos(files, n);
  TfLiteModelDelete(model);
  return 0;
}
