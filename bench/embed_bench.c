/* bench/embed_bench.c — embedding throughput of lookalike's own engine (src/nn, src/embed),
 * the "lookalike" column of bench/embed.sh. Decodes and resizes a fixed list of catalog photos
 * once (timed and reported apart), then times, for each mode x batch x parallelism, the
 * network alone (lk_session_run on 224x224 inputs) and the whole pipeline (decode from
 * memory + resize to 224x224 + the same network), warm-up excluded. Counts the MACs and
 * bytes of the layers it runs (from the graph, nn_int.h) and measures the machine's limits
 * (oneDNN sgemm / u8s8s32 gemm on one thread, memcpy bandwidth). Not part of `make test`.
 *
 *   embed_bench [--model F] [--images DIR] [--n 64] [--seconds 2] [--modes exact,float,fp32,int8]
 *               [--batches 1,8] [--threads 1,2] [--no-pipeline] [--pipeline-batch 8] [--peak]
 *               [--layers] [--json]
 * The pipeline is timed at --pipeline-batch only (0: at every batch size).
 * --layers skips the timed runs and makes 11 single-threaded batch-1 runs per mode between
 * marker lines, for per-primitive times with ONEDNN_VERBOSE=1 (bench/embed.sh sums them); each
 * marker's total is the fastest of 10 runs of its own with the verbose output off.
 *
 * Parallelism for threads t > 1 is measured twice: t workers on pthreads, each with its own
 * single-threaded session (how `lookalike index` works), and one session with t OpenMP
 * threads (how one search uses the cores). */
#include <dlfcn.h>
#include <math.h>
#include <oneapi/dnnl/dnnl.h>

#include "embed_common.h"
#include "image/image.h"
#include "nn/fastgraph.h"
#include "nn/model.h"
#include "nn/nn_int.h"

#define PROG "embed_bench"
#define MAXL 8

/* The engine's modes (lk_session_opts.compute and quantize_activations, nn/model.h). */
typedef struct mode {
  const char *name;
  int compute, quantize_activations;
  const char *what;
} mode;
static const mode MODES[] = {
    {"exact", LK_COMPUTE_EXACT, 1, "float NHWC, TFLite's integer requantisation emulated (default)"},
    {"float", LK_COMPUTE_EXACT, 0, "the exact path without the requantisation: plain float NHWC"},
    {"fp32", LK_COMPUTE_FP32, 0, "float32, oneDNN blocked layouts end to end"},
    {"int8", LK_COMPUTE_INT8, 0, "oneDNN int8 (u8 activations, s8 weights, VNNI)"},
};
#define NMODES ((int)(sizeof MODES / sizeof MODES[0]))

typedef struct cfg {
  const char *model_path, *images, *tap;
  int n;
  double seconds;
  int modes[NMODES], nmodes;
  int batches[MAXL], nbatches;
  int threads[MAXL], nthreads;
  int pipeline, pipeline_batch, peak, layers, json;
} cfg;

/* ---- counting the work ------------------------------------------------------------------ */

typedef struct work {
  double macs, dw_macs, pw_macs;         /* all convs, depthwise, 1x1/other convs */
  double act_elems, w_elems;             /* activations read + written, weights read */
  double dw_act_elems, dw_w_elems;
  int convs, dws, ops;
} work;

static int is_const(const lk_model *m, int t) { return t >= 0 && m->tensors[t].data != NULL; }

/* Marks the ops needed for tensor `tap` and counts their MACs and bytes per image. */
static void count_work(const lk_model *m, int tap, work *w) {
  memset(w, 0, sizeof *w);
  char *need_t = calloc((size_t)m->ntensors, 1), *need_op = calloc((size_t)m->nops, 1);
  if (!need_t || !need_op) bench_die(PROG, "out of memory", NULL);
  need_t[tap] = 1;
  for (int i = m->nops - 1; i >= 0; i--) {
    const lk_nn_op *op = &m->ops[i];
    int hit = 0;
    for (int j = 0; j < op->nout; j++) hit |= op->out[j] >= 0 && need_t[op->out[j]];
    if (!hit) continue;
    need_op[i] = 1;
    for (int j = 0; j < op->nin; j++)
      if (op->in[j] >= 0) need_t[op->in[j]] = 1;
  }
  for (int i = 0; i < m->nops; i++) {
    if (!need_op[i]) continue;
    const lk_nn_op *op = &m->ops[i];
    double act = 0, wts = 0;
    for (int j = 0; j < op->nin; j++) {
      int t = op->in[j];
      if (t < 0) continue;
      if (is_const(m, t)) wts += (double)m->tensors[t].count;
      else act += (double)m->tensors[t].count;
    }
    for (int j = 0; j < op->nout; j++)
      if (op->out[j] >= 0) act += (double)m->tensors[op->out[j]].count;
    w->ops++;
    w->act_elems += act;
    w->w_elems += wts;
    if ((op->code == LK_OP_CONV_2D || op->code == LK_OP_DEPTHWISE_CONV_2D) && op->nin >= 2 &&
        op->nout >= 1) {
      const lk_nn_tensor *o = &m->tensors[op->out[0]], *f = &m->tensors[op->in[1]];
      double outpix = (double)o->dims[1] * o->dims[2];
      if (op->code == LK_OP_CONV_2D) { /* filter O,KH,KW,I */
        double macs = outpix * f->dims[0] * f->dims[1] * f->dims[2] * f->dims[3];
        w->macs += macs, w->pw_macs += macs, w->convs++;
      } else { /* filter 1,KH,KW,C */
        double macs = outpix * f->dims[1] * f->dims[2] * f->dims[3];
        w->macs += macs, w->dw_macs += macs, w->dws++;
        w->dw_act_elems += act, w->dw_w_elems += wts;
      }
    }
  }
  free(need_t);
  free(need_op);
}

/* ---- machine limits ------------------------------------------------------------------- */

typedef void (*omp_set_fn)(int);

static void set_omp_threads(int n) {
  omp_set_fn f = (omp_set_fn)dlsym(RTLD_DEFAULT, "omp_set_num_threads");
  if (f) f(n);
}

/* Best of 10: GFLOP/s of a single-threaded 1024^3 sgemm, GOP/s of u8s8s32, GB/s of memcpy. */
static void measure_peak(double *sgemm, double *igemm, double *copy_gbs) {
  const int n = 1024;
  size_t nn = (size_t)n * n;
  float *a = malloc(nn * 4), *b = malloc(nn * 4), *c = malloc(nn * 4);
  uint8_t *ua = malloc(nn);
  int8_t *sb = malloc(nn);
  int32_t *ic = malloc(nn * 4);
  if (!a || !b || !c || !ua || !sb || !ic) bench_die(PROG, "out of memory", NULL);
  for (size_t i = 0; i < nn; i++)
    a[i] = (float)(i % 7) * 0.1f, b[i] = (float)(i % 5) * 0.1f, ua[i] = (uint8_t)(i % 200),
    sb[i] = (int8_t)(i % 100 - 50);
  set_omp_threads(1);
  double best = 1e30, ibest = 1e30;
  for (int r = 0; r < 11; r++) {
    double t0 = bench_now();
    dnnl_sgemm('N', 'N', n, n, n, 1.f, a, n, b, n, 0.f, c, n);
    double t = bench_now() - t0;
    if (r && t < best) best = t;
    int32_t co = 0;
    t0 = bench_now();
    dnnl_gemm_u8s8s32('N', 'N', 'F', n, n, n, 1.f, ua, n, 0, sb, n, 0, 0.f, ic, n, &co);
    t = bench_now() - t0;
    if (r && t < ibest) ibest = t;
  }
  *sgemm = 2.0 * n * n * n / best / 1e9;
  *igemm = 2.0 * n * n * n / ibest / 1e9;
  free(a), free(b), free(c), free(ua), free(sb), free(ic);
  size_t big = (size_t)256 << 20;
  uint8_t *s = malloc(big), *d = malloc(big);
  if (!s || !d) bench_die(PROG, "out of memory", NULL);
  memset(s, 1, big), memset(d, 2, big);
  double cb = 1e30;
  for (int r = 0; r < 5; r++) {
    double t0 = bench_now();
    memcpy(d, s, big);
    double t = bench_now() - t0;
    if (t < cb) cb = t;
  }
  *copy_gbs = 2.0 * (double)big / cb / 1e9; /* read + write */
  free(s), free(d);
}

/* ---- the timed runs --------------------------------------------------------------------- */

typedef struct job {
  const cfg *c;
  const lk_model *model;
  const uint8_t *inputs; /* n images of 224*224*3 */
  const bench_file *files;
  int nphotos, side;
  int compute, qa, batch, omp, first, pipeline;
  bench_gate *gate;
  /* results */
  long done;
  double elapsed;
  int rc;
  char msg[LK_ERRMSG_MAX];
} job;

static const char *TAP_DEFAULT = "MobilenetV2/Logits/AvgPool";

static void *run_job(void *arg) {
  job *j = arg;
  lk_errbuf eb = {0};
  lk_session *s = NULL;
  float *out = NULL;
  int in_sz = 224 * 224 * 3, b = j->batch;
  lk_session_opts o;
  lk_session_opts_default(&o);
  o.backend = LK_BACKEND_DNNL;
  o.max_batch = b;
  o.quantize_activations = j->qa;
  o.compute = j->compute;
  o.threads = j->omp;
  lk_tap tap = {j->c->tap, LK_POOL_AVG, 0};
  j->rc = lk_session_new(j->model, &tap, 1, &o, &s, &eb);
  if (!j->rc) out = malloc((size_t)b * (size_t)lk_session_dim(s) * sizeof *out);
  /* Contiguous batches of the photo list, starting at this worker's offset. */
  int pos = j->first % j->nphotos;
  uint8_t *batchbuf = malloc((size_t)b * (size_t)in_sz);
  if (!j->rc && (!out || !batchbuf)) j->rc = LK_ENOMEM;
  long done = 0;
  double t0 = 0;
  for (int phase = 0; phase < 2; phase++) { /* 0: warm-up (2 batches), 1: timed */
    if (phase == 1) {
      bench_gate_wait(j->gate);
      t0 = bench_now();
    }
    for (int it = 0; !j->rc; it++) {
      if (phase == 0 && it == 2) break;
      if (phase == 1 && bench_now() - t0 >= j->c->seconds) break;
      if (!j->pipeline) {
        for (int k = 0; k < b; k++)
          memcpy(batchbuf + (size_t)k * in_sz, j->inputs + (size_t)((pos + k) % j->nphotos) * in_sz,
                 (size_t)in_sz);
        j->rc = lk_session_run(s, batchbuf, b, out, &eb);
      } else {
        for (int k = 0; k < b && !j->rc; k++) {
          const bench_file *f = &j->files[(pos + k) % j->nphotos];
          lk_image img = {0}, rs = {0};
          j->rc = lk_image_decode(f->buf, f->len, NULL, j->side, &img, &eb);
          if (!j->rc) j->rc = lk_image_resize(&img, 224, 224, &rs);
          if (!j->rc) memcpy(batchbuf + (size_t)k * in_sz, rs.px, (size_t)in_sz);
          lk_image_free(&img);
          lk_image_free(&rs);
        }
        if (!j->rc) j->rc = lk_session_run(s, batchbuf, b, out, &eb);
      }
      pos = (pos + b) % j->nphotos;
      if (phase == 1) done += b;
    }
    if (phase == 0 && j->rc) bench_gate_wait(j->gate); /* do not leave the others waiting */
  }
  j->elapsed = bench_now() - t0;
  j->done = done;
  if (j->rc) snprintf(j->msg, sizeof j->msg, "%s", lk_err_msg(&eb));
  free(batchbuf);
  free(out);
  lk_session_free(s);
  return NULL;
}

/* Runs `workers` jobs in parallel, each with `omp` OpenMP threads; returns photos/s, or 0
 * with the message in err[LK_ERRMSG_MAX] when the engine refuses the mode. */
static double measure(job *proto, int workers, int omp, char *err) {
  err[0] = 0;
  job js[64];
  pthread_t th[64];
  bench_gate gate;
  if (workers > 64) workers = 64;
  bench_gate_init(&gate, workers);
  for (int w = 0; w < workers; w++) {
    js[w] = *proto;
    js[w].omp = omp;
    js[w].gate = &gate;
    js[w].first = w * proto->nphotos / workers;
    if (pthread_create(&th[w], NULL, run_job, &js[w])) bench_die(PROG, "pthread_create failed", NULL);
  }
  double rate = 0;
  for (int w = 0; w < workers; w++) pthread_join(th[w], NULL);
  for (int w = 0; w < workers; w++) {
    if (js[w].rc) snprintf(err, LK_ERRMSG_MAX, "%s", js[w].msg);
    rate += js[w].elapsed > 0 ? (double)js[w].done / js[w].elapsed : 0;
  }
  bench_gate_destroy(&gate);
  return err[0] ? 0 : rate;
}

static void usage(void) {
  fprintf(stderr,
          "usage: embed_bench [--model FILE] [--images DIR] [--n N] [--seconds S]\n"
          "                   [--modes exact,float,fp32,int8] [--batches 1,8] [--threads 1,2] [--tap NAME]\n"
          "                   [--no-pipeline] [--pipeline-batch B] [--peak] [--layers] [--json]\n");
  exit(2);
}

int main(int argc, char **argv) {
  cfg c = {.model_path = "models/mobilenet_v2_1.0_224_quant.tflite",
           .images = "../shared/data/fashion-catalog/images",
           .tap = TAP_DEFAULT,
           .n = 64,
           .seconds = 2,
           .pipeline = 1,
           .pipeline_batch = 8};
  c.nmodes = NMODES;
  for (int i = 0; i < NMODES; i++) c.modes[i] = i;
  c.batches[0] = 1, c.batches[1] = 8, c.nbatches = 2;
  c.threads[0] = 1, c.threads[1] = 2, c.nthreads = 2;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--model") && v) c.model_path = v, i++;
    else if (!strcmp(a, "--images") && v) c.images = v, i++;
    else if (!strcmp(a, "--tap") && v) c.tap = v, i++;
    else if (!strcmp(a, "--n") && v) c.n = atoi(v), i++;
    else if (!strcmp(a, "--seconds") && v) c.seconds = atof(v), i++;
    else if (!strcmp(a, "--batches") && v) {
      if ((c.nbatches = bench_parse_list(v, c.batches, MAXL)) <= 0) usage();
      i++;
    } else if (!strcmp(a, "--threads") && v) {
      if ((c.nthreads = bench_parse_list(v, c.threads, MAXL)) <= 0) usage();
      i++;
    } else if (!strcmp(a, "--modes") && v) {
      c.nmodes = 0;
      char tmp[256];
      snprintf(tmp, sizeof tmp, "%s", v);
      for (char *save = NULL, *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int k = 0;
        while (k < NMODES && strcmp(MODES[k].name, t)) k++;
        if (k == NMODES) bench_die(PROG, "unknown mode", t);
        c.modes[c.nmodes++] = k;
      }
      i++;
    } else if (!strcmp(a, "--no-pipeline")) c.pipeline = 0;
    else if (!strcmp(a, "--pipeline-batch") && v) c.pipeline_batch = atoi(v), i++;
    else if (!strcmp(a, "--peak")) c.peak = 1;
    else if (!strcmp(a, "--layers")) c.layers = 1;
    else if (!strcmp(a, "--json")) c.json = 1;
    else usage();
  }

  lk_errbuf eb = {0};
  lk_model *m = NULL;
  if (lk_model_load(c.model_path, &m, &eb)) bench_die(PROG, "cannot load the model", lk_err_msg(&eb));
  int ih = 0, iw = 0;
  lk_model_input_hw(m, &ih, &iw);
  if (ih != 224 || iw != 224) bench_die(PROG, "expected a 224x224 model", c.model_path);
  int tap = lk_model_find_tensor(m, c.tap);
  if (tap < 0) bench_die(PROG, "no such tensor", c.tap);
  work w;
  count_work(m, tap, &w);


  /* Photos: read once, then decode + resize once (timed: the decode column). */
  bench_file *files = NULL;
  int n = bench_read_photos(PROG, c.images, c.n, &files);
  size_t in_sz = 224 * 224 * 3;
  uint8_t *inputs = malloc((size_t)n * in_sz);
  if (!inputs) bench_die(PROG, "out of memory", NULL);
  double dec_best = 1e30;
  int dw = 0, dh = 0;
  for (int r = 0; r < 3; r++) {
    double t0 = bench_now();
    for (int i = 0; i < n; i++) {
      lk_image img = {0}, rs = {0};
      if (lk_image_decode(files[i].buf, files[i].len, NULL, 224, &img, &eb))
        bench_die(PROG, "decode failed", files[i].name);
      if (lk_image_resize(&img, 224, 224, &rs)) bench_die(PROG, "resize failed", files[i].name);
      memcpy(inputs + (size_t)i * in_sz, rs.px, in_sz);
      dw = img.w, dh = img.h;
      lk_image_free(&img);
      lk_image_free(&rs);
    }
    double t = bench_now() - t0;
    if (t < dec_best) dec_best = t;
  }
  double dec_rate = n / dec_best;

  double peak_s = 0, peak_i = 0, copy_bw = 0;
  if (c.peak) measure_peak(&peak_s, &peak_i, &copy_bw);

  double load0 = bench_loadavg();
  if (c.json) {
    printf("{\"bench\":\"lookalike\",\"kind\":\"info\",\"model\":\"%s\",\"tap\":\"%s\",\"photos\":%d,"
           "\"photo_w\":%d,\"photo_h\":%d,\"macs\":%.0f,\"dw_macs\":%.0f,\"conv_macs\":%.0f,"
           "\"act_elems\":%.0f,\"weight_elems\":%.0f,\"dw_act_elems\":%.0f,\"dw_weight_elems\":%.0f,"
           "\"convs\":%d,\"dwconvs\":%d,\"ops\":%d,\"decode_resize_per_s\":%.1f,"
           "\"sgemm_gflops_1t\":%.1f,\"u8s8s32_gops_1t\":%.1f,\"memcpy_gbs_1t\":%.1f,\"load\":%.2f}\n",
           c.model_path, c.tap, n, dw, dh, w.macs, w.dw_macs, w.pw_macs, w.act_elems, w.w_elems,
           w.dw_act_elems, w.dw_w_elems, w.convs, w.dws, w.ops, dec_rate, peak_s, peak_i, copy_bw,
           load0);
  } else {
    printf("model %s, tap %s: %d ops, %d convs + %d depthwise, %.1f M MACs/photo (depthwise %.1f M)\n",
           c.model_path, c.tap, w.ops, w.convs, w.dws, w.macs / 1e6, w.dw_macs / 1e6);
    printf("bytes/photo if every tensor crosses memory once: fp32 %.1f MB (weights %.1f MB), "
           "8-bit %.1f MB\n",
           4 * (w.act_elems + w.w_elems) / 1e6, 4 * w.w_elems / 1e6, (w.act_elems + w.w_elems) / 1e6);
    printf("%d photos (%dx%d), decode + resize to 224x224: %.1f photos/s (1 thread)\n", n, dw, dh,
           dec_rate);
    if (c.peak)
      printf("machine, 1 thread: sgemm %.1f GFLOP/s, u8s8s32 gemm %.1f GOP/s, memcpy %.1f GB/s\n",
             peak_s, peak_i, copy_bw);
    printf("%-6s %-8s %5s %7s %4s %9s %9s %8s\n", "mode", "what", "batch", "workers", "omp",
           "photos/s", "ms/photo", "GFLOP/s");
  }
  fflush(stdout);

  for (int pass = 0; !c.layers && pass < 1 + c.pipeline; pass++)
    for (int mi = 0; mi < c.nmodes; mi++)
      for (int bi = 0; bi < c.nbatches; bi++)
        for (int ti = 0; ti < c.nthreads; ti++)
          for (int par = 0; par < (c.threads[ti] > 1 ? 2 : 1); par++) {
            if (pass == 1 && c.pipeline_batch > 0 && c.batches[bi] != c.pipeline_batch) continue;
            int t = c.threads[ti], workers = par == 0 ? t : 1, omp = par == 0 ? 1 : t;
            job proto = {.c = &c, .model = m, .inputs = inputs, .files = files, .nphotos = n,
                         .side = 224, .compute = MODES[c.modes[mi]].compute,
                         .qa = MODES[c.modes[mi]].quantize_activations, .batch = c.batches[bi],
                         .pipeline = pass};
            char err[LK_ERRMSG_MAX];
            double rate = measure(&proto, workers, omp, err);
            double gf = rate * 2 * w.macs / 1e9;
            const char *what = pass ? "pipeline" : "embed";
            for (char *q = err; *q; q++)
              if (*q == '"' || *q == '\\' || (unsigned char)*q < 32) *q = ' ';
            if (err[0] && c.json)
              printf("{\"bench\":\"lookalike\",\"kind\":\"%s\",\"mode\":\"%s\",\"batch\":%d,"
                     "\"workers\":%d,\"omp\":%d,\"threads\":%d,\"photos_per_s\":null,\"error\":\"%s\"}\n",
                     what, MODES[c.modes[mi]].name, c.batches[bi], workers, omp, t, err);
            else if (err[0])
              printf("%-6s %-8s %5d %7d %4d  refused: %s\n", MODES[c.modes[mi]].name, what,
                     c.batches[bi], workers, omp, err);
            else if (c.json)
              printf("{\"bench\":\"lookalike\",\"kind\":\"%s\",\"mode\":\"%s\",\"batch\":%d,"
                     "\"workers\":%d,\"omp\":%d,\"threads\":%d,\"photos_per_s\":%.2f,"
                     "\"ms_per_photo\":%.3f,\"gflops\":%.2f,\"load\":%.2f}\n",
                     what, MODES[c.modes[mi]].name, c.batches[bi], workers, omp, t, rate,
                     1000.0 / rate, gf, bench_loadavg());
            else
              printf("%-6s %-8s %5d %7d %4d %9.1f %9.2f %8.1f\n", MODES[c.modes[mi]].name, what,
                     c.batches[bi], workers, omp, rate, 1000.0 / rate, gf);
            fflush(stdout);
          }

  if (c.layers) { /* only: batch-1 runs per mode, for ONEDNN_VERBOSE=1 per-primitive times */
    const char *ev = getenv("ONEDNN_VERBOSE");
    int verbose = ev ? atoi(ev) : 0;
    for (int mi = 0; mi < c.nmodes; mi++) {
      lk_session_opts o;
      lk_session_opts_default(&o);
      o.backend = LK_BACKEND_DNNL;
      o.quantize_activations = MODES[c.modes[mi]].quantize_activations;
      o.compute = MODES[c.modes[mi]].compute;
      o.threads = 1;
      lk_tap tp = {c.tap, LK_POOL_AVG, 0};
      lk_session *s = NULL;
      if (lk_session_new(m, &tp, 1, &o, &s, &eb)) {
        printf("embed_bench_layers_refused mode=%s: %s\n", MODES[c.modes[mi]].name, lk_err_msg(&eb));
        continue;
      }
      float *out = malloc((size_t)lk_session_dim(s) * sizeof *out);
      for (int r = 0; r < 11; r++) { /* run 0 warms up */
        /* the total: the fastest of 10 quiet runs; oneDNN's verbose lines cost ~5 us each
         * (0.2 ms a photo on 55 primitives), time its per-primitive figures leave out */
        dnnl_set_verbose(0);
        lk_fg_set_trace(0);
        double ms = 1e30;
        for (int q = 0; q < 10; q++) {
          double t0 = bench_now();
          if (lk_session_run(s, inputs, 1, out, &eb)) bench_die(PROG, "run", lk_err_msg(&eb));
          double t = 1000 * (bench_now() - t0);
          if (t < ms) ms = t;
        }
        dnnl_set_verbose(verbose);
        lk_fg_set_trace(verbose > 0);
        printf("embed_bench_layers_begin mode=%s run=%d\n", MODES[c.modes[mi]].name, r);
        fflush(stdout);
        if (lk_session_run(s, inputs, 1, out, &eb)) bench_die(PROG, "run", lk_err_msg(&eb));
        fflush(stdout);
        printf("embed_bench_layers_end mode=%s run=%d ms=%.3f\n", MODES[c.modes[mi]].name, r, ms);
      }
      free(out);
      lk_session_free(s);
    }
  }

  free(inputs);
  bench_free_photos(files, n);
  lk_model_free(m);
  return 0;
}
