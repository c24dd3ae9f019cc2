/* fuzz/fuzz_tflite.c — libFuzzer target for the TFLite model reader (nn/tflite.c) and the
 * graph validation behind it (nn/model.c): any bytes must load or fail cleanly. Small models
 * that load are also run once on the reference backend, which checks that validation leaves
 * the kernels nothing to trip over. Build with -fsanitize=fuzzer -DLK_LIBFUZZER; without
 * LK_LIBFUZZER, fuzz/replay.c's main() replays the files and folders named on the command line. Seeds in fuzz/corpus/tflite/ come from tests/test_nn.c (LK_NN_WRITE_SEEDS). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nn/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Runs the model's last-written activation as a tap when every tensor is small. */
static void run_small(const lk_model *m) {
  int nt = lk_model_tensor_count(m), h, w;
  size_t total = 0;
  if (lk_model_input_hw(m, &h, &w) != 0 || (size_t)h * (size_t)w > 64 * 64) return;
  for (int i = 0; i < nt; i++) {
    int dims[4], nd;
    if (lk_model_tensor_shape(m, i, dims, &nd) != 0) return;
    size_t n = 1;
    for (int d = 0; d < nd; d++) n *= (size_t)dims[d];
    total += n;
    if (total > ((size_t)1 << 20)) return;
  }
  uint8_t *px = malloc((size_t)h * (size_t)w * 3);
  if (!px) return;
  for (size_t i = 0; i < (size_t)h * (size_t)w * 3; i++) px[i] = (uint8_t)(i * 31);
  for (int i = nt - 1; i >= 0; i--) { /* the first tensor from the end that is a valid tap */
    lk_tap tap = {lk_model_tensor_name(m, i), LK_POOL_GEM, 3};
    int dim = lk_model_tap_dim(m, &tap);
    if (dim <= 0 || lk_model_find_tensor(m, tap.tensor) != i) continue;
    lk_session_opts o;
    lk_session_opts_default(&o);
    o.backend = LK_BACKEND_REF;
    o.max_batch = 2;
    lk_session *s;
    if (lk_session_new(m, &tap, 1, &o, &s, NULL) != 0) continue;
    float *out = malloc(2 * (size_t)lk_session_dim(s) * sizeof *out);
    if (out) {
      uint8_t *two = malloc(2 * (size_t)h * (size_t)w * 3);
      if (two) {
        memcpy(two, px, (size_t)h * (size_t)w * 3);
        memcpy(two + (size_t)h * (size_t)w * 3, px, (size_t)h * (size_t)w * 3);
        if (lk_session_run(s, two, 2, out, NULL) == 0 && lk_session_dim(s) != dim) abort();
        free(two);
      }
      free(out);
    }
    lk_session_free(s);
    break;
  }
  free(px);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lk_model *m;
  lk_errbuf err = {0};
  int rc = lk_model_load_buffer(data, size, &m, &err);
  if (rc != 0) {
    if (rc != LK_ECORRUPT && rc != LK_EUNSUPPORTED && rc != LK_ETOOBIG && rc != LK_ENOMEM)
      abort();
    if (!err.msg[0] || m != NULL) abort(); /* every failure says why */
    return 0;
  }
  int nt = lk_model_tensor_count(m);
  for (int i = 0; i < nt; i++) {
    const char *name = lk_model_tensor_name(m, i);
    if (!name) abort();
    int found = lk_model_find_tensor(m, name);
    if (found < 0 || found > i) abort(); /* finds the first tensor of that name */
  }
  run_small(m);
  lk_model_free(m);
  return 0;
}
