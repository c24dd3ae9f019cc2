/* tools/golden/tflite_dump.c — writes a golden fixture for tests/test_nn.c by running a model
 * through the official TensorFlow Lite runtime (C API). The C API cannot read intermediate
 * tensors, so the tap tensors are made graph outputs by patching a copy of the flatbuffer:
 * a new int32 vector [outputs..., taps...] is appended and SubGraph.outputs re-pointed at it.
 * Built and run only by tools/golden/regen.sh (never part of `make`).
 *
 *   tflite_dump MODEL IMAGES_DIR [-t TAP]... [-c CLASSES_TAP] ID... > fixture.txt
 *
 * Inputs are made exactly as the test makes them: lk_image_load(path, NULL, 0) then
 * lk_image_resize to the model's input size; the fixture records each input's SHA-256. */
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "tensorflow/lite/c/c_api.h"

#define MAX_TAPS 8

static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static void wr32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

static void die(const char *msg, const char *detail) {
  fprintf(stderr, "tflite_dump: %s%s%s\n", msg, detail ? ": " : "", detail ? detail : "");
  exit(1);
}

/* Position of field `slot` of the table at `pos` (0 if absent); the model file is trusted
 * here but every read is still checked against its length. */
static size_t field(const uint8_t *b, size_t len, size_t pos, int slot) {
  if (pos + 4 > len) die("bad table", NULL);
  size_t vt = pos - (size_t)(int32_t)rd32(b + pos);
  if (vt + 4 > len) die("bad vtable", NULL);
  unsigned vtlen = b[vt] | b[vt + 1] << 8;
  if ((unsigned)(4 + 2 * slot + 2) > vtlen) return 0;
  unsigned off = b[vt + 4 + 2 * slot] | b[vt + 5 + 2 * slot] << 8;
  return off ? pos + off : 0;
}

static size_t deref(const uint8_t *b, size_t len, size_t pos) {
  if (!pos || pos + 4 > len) die("bad offset", NULL);
  size_t t = pos + rd32(b + pos);
  if (t + 4 > len) die("offset outside the file", NULL);
  return t;
}

/* Finds tensor `name` in subgraph 0. */
static int tensor_index(const uint8_t *b, size_t len, size_t sg, const char *name) {
  size_t tv = deref(b, len, field(b, len, sg, 0));
  uint32_t n = rd32(b + tv);
  for (uint32_t i = 0; i < n; i++) {
    size_t t = deref(b, len, tv + 4 + 4 * (size_t)i);
    size_t nf = field(b, len, t, 3);
    if (!nf) continue;
    size_t s = deref(b, len, nf);
    uint32_t sl = rd32(b + s);
    if (s + 4 + sl <= len && sl == strlen(name) && memcmp(b + s + 4, name, sl) == 0) return (int)i;
  }
  return -1;
}

/* Returns a patched copy whose outputs are the original ones plus the taps; *pos[i] is the
 * output position of tap i. */
static uint8_t *patch_outputs(const uint8_t *b, size_t len, char **taps, int ntaps, int *pos,
                              size_t *outlen) {
  size_t root = rd32(b);
  size_t sgv = deref(b, len, field(b, len, root, 2));
  size_t sg = deref(b, len, sgv + 4);
  size_t of = field(b, len, sg, 2);
  size_t ov = deref(b, len, of);
  uint32_t nout = rd32(b + ov);
  int idx[MAX_TAPS], extra = 0;
  for (int i = 0; i < ntaps; i++) {
    idx[i] = tensor_index(b, len, sg, taps[i]);
    if (idx[i] < 0) die("no such tensor", taps[i]);
    pos[i] = -1;
    for (uint32_t j = 0; j < nout; j++)
      if ((int32_t)rd32(b + ov + 4 + 4 * j) == idx[i]) pos[i] = (int)j;
    if (pos[i] < 0) pos[i] = (int)nout + extra++;
  }
  size_t base = (len + 3) & ~(size_t)3, total = base + 4 + 4 * ((size_t)nout + extra);
  uint8_t *c = calloc(1, total);
  if (!c) die("out of memory", NULL);
  memcpy(c, b, len);
  wr32(c + base, nout + (uint32_t)extra);
  for (uint32_t j = 0; j < nout; j++) wr32(c + base + 4 + 4 * j, rd32(b + ov + 4 + 4 * j));
  for (int i = 0, k = 0; i < ntaps; i++)
    if (pos[i] >= (int)nout) wr32(c + base + 4 + 4 * (nout + k++), (uint32_t)idx[i]);
  wr32(c + of, (uint32_t)(base - of)); /* uoffsets point forward from the field itself */
  *outlen = total;
  return c;
}

static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) die("cannot open", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)n);
  if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) die("cannot read", path);
  fclose(f);
  *len = (size_t)n;
  return b;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: tflite_dump MODEL IMAGES_DIR [-t TAP]... [-c CLASSES_TAP] ID...\n");
    return 2;
  }
  const char *model_path = argv[1], *images = argv[2];
  char *taps[MAX_TAPS];
  int ntaps = 0, classes = -1, first_id = 3;
  while (first_id + 1 < argc && (strcmp(argv[first_id], "-t") == 0 ||
                                 strcmp(argv[first_id], "-c") == 0)) {
    if (ntaps == MAX_TAPS) die("too many taps", NULL);
    if (argv[first_id][1] == 'c') classes = ntaps;
    taps[ntaps++] = argv[first_id + 1];
    first_id += 2;
  }
  if (ntaps == 0 || first_id >= argc) die("need at least one tap and one image id", NULL);

  size_t len, plen;
  uint8_t *orig = read_file(model_path, &len);
  int pos[MAX_TAPS];
  uint8_t *patched = patch_outputs(orig, len, taps, ntaps, pos, &plen);
  TfLiteModel *model = TfLiteModelCreate(patched, plen);
  if (!model) die("TfLiteModelCreate failed", model_path);
  TfLiteInterpreterOptions *opts = TfLiteInterpreterOptionsCreate();
  TfLiteInterpreterOptionsSetNumThreads(opts, 1);
  TfLiteInterpreter *it = TfLiteInterpreterCreate(model, opts);
  if (!it || TfLiteInterpreterAllocateTensors(it) != kTfLiteOk) die("interpreter failed", NULL);
  TfLiteTensor *in = TfLiteInterpreterGetInputTensor(it, 0);
  if (TfLiteTensorType(in) != kTfLiteUInt8 || TfLiteTensorNumDims(in) != 4)
    die("model input is not a uint8 NHWC image", NULL);
  int h = TfLiteTensorDim(in, 1), w = TfLiteTensorDim(in, 2);

  const char *base = strrchr(model_path, '/');
  printf("# golden fixture: %s through the official TFLite runtime %s (C API, 1 thread)\n",
         base ? base + 1 : model_path, TfLiteVersion());
  printf("# made by tools/golden/regen.sh; read by tests/test_nn.c. Tap values are the raw\n"
         "# quantised outputs: real value = scale * (q - zero_point).\n");
  printf("model %s\nsize %d %d\ntaps %d\n", base ? base + 1 : model_path, h, w, ntaps);
  for (int i = 0; i < ntaps; i++) {
    const TfLiteTensor *t = TfLiteInterpreterGetOutputTensor(it, pos[i]);
    if (strcmp(TfLiteTensorName(t), taps[i]) != 0)
      die("patched output has the wrong name", taps[i]);
    TfLiteType ty = TfLiteTensorType(t);
    if (ty != kTfLiteUInt8 && ty != kTfLiteInt8) die("tap is not uint8/int8", taps[i]);
    TfLiteQuantizationParams q = TfLiteTensorQuantizationParams(t);
    printf("tap %d %zu %s %.9g %d %d %s\n", i, TfLiteTensorByteSize(t),
           ty == kTfLiteUInt8 ? "u8" : "i8", q.scale, q.zero_point, i == classes, taps[i]);
  }
  printf("images %d\n", argc - first_id);

  for (int a = first_id; a < argc; a++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.jpg", images, argv[a]);
    lk_image img = {0}, sized = {0};
    lk_errbuf err = {0};
    if (lk_image_load(path, NULL, 0, &img, &err) || lk_image_resize(&img, w, h, &sized))
      die(lk_err_msg(&err), path);
    size_t nbytes = (size_t)w * h * 3;
    struct sha256_ctx ctx;
    uint8_t digest[SHA256_DIGEST_SIZE];
    sha256_init(&ctx);
    sha256_update(&ctx, nbytes, sized.px);
    sha256_digest(&ctx, sizeof digest, digest);
    if (TfLiteTensorCopyFromBuffer(in, sized.px, nbytes) != kTfLiteOk ||
        TfLiteInterpreterInvoke(it) != kTfLiteOk)
      die("invoke failed", path);
    printf("image %s ", argv[a]);
    for (int i = 0; i < SHA256_DIGEST_SIZE; i++) printf("%02x", digest[i]);
    printf("\n");
    for (int i = 0; i < ntaps; i++) {
      const TfLiteTensor *t = TfLiteInterpreterGetOutputTensor(it, pos[i]);
      const uint8_t *d = TfLiteTensorData(t);
      size_t n = TfLiteTensorByteSize(t);
      int is_u8 = TfLiteTensorType(t) == kTfLiteUInt8;
      printf("q %d", i);
      for (size_t j = 0; j < n; j++) printf(" %d", is_u8 ? d[j] : (int)(int8_t)d[j]);
      printf("\n");
      if (i == classes) { /* top-5 class indices, largest first, lower index on ties */
        int top[5];
        for (int k = 0; k < 5; k++) {
          int best = -1;
          for (size_t j = 0; j < n; j++) {
            int v = is_u8 ? d[j] : (int8_t)d[j], taken = 0;
            for (int u = 0; u < k; u++) taken |= top[u] == (int)j;
            if (!taken && (best < 0 || v > (is_u8 ? d[best] : (int8_t)d[best]))) best = (int)j;
          }
          top[k] = best;
        }
        printf("top5 %d %d %d %d %d\n", top[0], top[1], top[2], top[3], top[4]);
      }
    }
    lk_image_free(&img);
    lk_image_free(&sized);
  }
  TfLiteInterpreterDelete(it);
  TfLiteInterpreterOptionsDelete(opts);
  TfLiteModelDelete(model);
  free(patched);
  free(orig);
  return 0;
}
