/* tests/test_embed.c — recipes (presets, canonical JSON, ids) and the embedder on real photos
 * and models from ../shared (skipped with a message when they are absent). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "embed/embed.h"
#include "embed/recipe.h"
#include "nn/model.h"
#include "testutil.h"

static void test_recipe_roundtrip(void **state) {
  const char *names[] = {"default", "mnv2-avg+color", "mnv2-avg", "mnv2+mnv1+color", "color", "mnv2-avg+color+p80+fp32"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    lk_recipe r, back;
    assert_int_equal(lk_recipe_preset(names[i], &r, NULL), 0);
    char *js = lk_recipe_to_json(&r);
    assert_non_null(js);
    assert_int_equal(lk_recipe_from_json(js, &back, NULL), 0);
    char *js2 = lk_recipe_to_json(&back);
    assert_string_equal(js, js2); /* canonical: parse + print is the identity */
    char a[17], b[17];
    lk_recipe_id(&r, a);
    lk_recipe_id(&back, b);
    assert_string_equal(a, b);
    assert_int_equal(strlen(a), 16);
    free(js);
    free(js2);
  }
}

static void test_recipe_ids_differ(void **state) {
  lk_recipe a, b;
  char ia[17], ib[17];
  lk_recipe_default(&a);
  b = a;
  b.color_weight = 0.5f;
  lk_recipe_id(&a, ia);
  lk_recipe_id(&b, ib);
  assert_string_not_equal(ia, ib);
  b = a;
  b.preprocess = LK_PRE_PAD;
  lk_recipe_id(&b, ib);
  assert_string_not_equal(ia, ib);
  assert_string_equal(a.name, "mnv2-avg+color+p80+int8");
  assert_int_equal(a.compute, LK_COMPUTE_INT8);
  assert_int_equal(a.prescale, 80);
  /* the same preset computed exact is another recipe; the suffix needs a CNN preset */
  assert_int_equal(lk_recipe_preset("mnv2-avg+color+p80", &b, NULL), 0);
  assert_int_equal(b.compute, LK_COMPUTE_EXACT);
  lk_recipe_id(&b, ib);
  assert_string_not_equal(ia, ib);
  b.compute = LK_COMPUTE_INT8;
  snprintf(b.name, sizeof b.name, "%s", a.name);
  lk_recipe_id(&b, ib);
  assert_string_equal(ia, ib);
  assert_int_equal(lk_recipe_preset("mnv2-avg+fp32", &b, NULL), 0);
  assert_int_equal(b.compute, LK_COMPUTE_FP32);
  assert_string_equal(b.name, "mnv2-avg+fp32");
  assert_int_equal(lk_recipe_preset("color+int8", &b, NULL), LK_EINVAL);
  assert_int_equal(lk_recipe_preset("nothing+int8", &b, NULL), LK_ENOTFOUND);
  assert_int_equal(lk_recipe_preset("+int8", &b, NULL), LK_ENOTFOUND);
  assert_int_equal(a.nparts, 1);
  assert_string_equal(a.part[0].tap, "MobilenetV2/Logits/AvgPool");
  assert_int_equal(a.color_bins, 8);
  assert_float_equal(a.color_weight, 0.3, 1e-6);
}

static void test_recipe_bad_json(void **state) {
  lk_recipe r;
  lk_errbuf eb = {0};
  assert_int_equal(lk_recipe_preset("nope", &r, &eb), LK_ENOTFOUND);
  assert_int_equal(lk_recipe_from_json("{", &r, &eb), LK_ECORRUPT);
  assert_int_equal(lk_recipe_from_json("{\"format\":2}", &r, &eb), LK_EMISMATCH);
  assert_int_equal(lk_recipe_from_json("{\"format\":1,\"name\":\"x\",\"preprocess\":\"squash\",\"color_bins\":99,\"parts\":[]}", &r, &eb),
                   LK_ECORRUPT);
  assert_int_equal(lk_recipe_from_json("{\"format\":1,\"name\":\"x\",\"preprocess\":\"squash\",\"color_bins\":8,\"parts\":[{\"model\":1}]}", &r, &eb),
                   LK_ECORRUPT);
}

/* Numbers in a recipe are finite or refused (issue 15, item 4): --color-weight inf once made a
 * recipe whose JSON silently lost its colour weight. */
static void test_recipe_numbers(void **state) {
  lk_recipe r;
  lk_errbuf eb = {0};
  assert_int_equal(lk_recipe_preset("default", &r, NULL), 0);
  assert_int_equal(lk_recipe_verify(&r, &eb), 0);
  const float bad[] = {INFINITY, -INFINITY, NAN, 2e4f, -3e38f}; /* 1e39 as a float is inf */
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    lk_recipe x = r;
    x.color_weight = bad[i];
    assert_int_equal(lk_recipe_verify(&x, &eb), LK_EINVAL);
    assert_non_null(strstr(eb.msg, "colour weight"));
    x = r;
    x.part[0].weight = bad[i];
    assert_int_equal(lk_recipe_verify(&x, &eb), LK_EINVAL);
    x = r;
    x.part[0].gem_p = bad[i];
    assert_int_equal(lk_recipe_verify(&x, &eb), LK_EINVAL);
  }
  /* a stored recipe: parses, reads back the same, has the recorded id */
  char *js = lk_recipe_to_json(&r), id[17];
  lk_recipe_id(&r, id);
  assert_int_equal(lk_recipe_check_stored(js, id, &eb), 0);
  assert_int_equal(lk_recipe_check_stored(js, "0123456789abcdef", &eb), LK_ECORRUPT);
  assert_non_null(strstr(eb.msg, "0123456789abcdef"));
  assert_int_equal(lk_recipe_check_stored("{\"format\":1", id, &eb), LK_ECORRUPT);
  /* JSON numbers past float range or not numbers at all are refused by the parser */
  char *p = strstr(js, "\"color_weight\":");
  assert_non_null(p);
  char buf[4096];
  snprintf(buf, sizeof buf, "%.*s\"color_weight\":1e39%s", (int)(p - js), js, strchr(p, ','));
  assert_int_equal(lk_recipe_from_json(buf, &r, &eb), LK_ECORRUPT);
  snprintf(buf, sizeof buf, "%.*s\"color_weight\":\"inf\"%s", (int)(p - js), js, strchr(p, ','));
  assert_int_equal(lk_recipe_from_json(buf, &r, &eb), LK_ECORRUPT);
  p = strstr(js, "\"color_bins\":");
  assert_non_null(p);
  static const char *const bins[] = {"8.5", "\"8\"", "1e3", "4294967304", "-1"};
  for (size_t i = 0; i < sizeof bins / sizeof *bins; i++) {
    snprintf(buf, sizeof buf, "%.*s\"color_bins\":%s%s", (int)(p - js), js, bins[i], strchr(p, ','));
    if (lk_recipe_from_json(buf, &r, &eb) != LK_ECORRUPT) fail_msg("color_bins %s accepted", bins[i]);
  }
  free(js);
}

static void test_find_models(void **state) {
  char out[4096];
  lk_errbuf eb = {0};
  assert_int_equal(lk_embed_find_models("/nonexistent", out, sizeof out, &eb), LK_ENOTFOUND);
  const char *m = lk_test_models_dir();
  if (!m) { skip(); }
  assert_int_equal(lk_embed_find_models(m, out, sizeof out, &eb), 0);
  assert_string_equal(out, m);
}

/* The tests find the models where `lookalike` does: ./models alone (what scripts/models.sh
 * makes in CI) is enough, without $LOOKALIKE_MODELS, $LOOKALIKE_SHARED or ../shared. */
static void test_models_in_dot_models(void **state) {
  const char *m = lk_test_models_dir();
  if (!m) skip();
  char abs[4096], cwd[4096];
  assert_non_null(realpath(m, abs));
  assert_non_null(getcwd(cwd, sizeof cwd));
  char *dir = lk_test_mkdtemp();
  assert_non_null(dir);
  assert_int_equal(symlink(abs, lk_test_path("%s/models", dir)), 0);
  const char *names[2] = {"LOOKALIKE_MODELS", "LOOKALIKE_SHARED"};
  char *saved[2];
  for (int i = 0; i < 2; i++) {
    saved[i] = getenv(names[i]) ? strdup(getenv(names[i])) : NULL;
    unsetenv(names[i]);
  }
  assert_int_equal(chdir(dir), 0);
  const char *found = lk_test_models_dir();
  int ok = found && strcmp(found, "models") == 0;
  assert_int_equal(chdir(cwd), 0);
  for (int i = 0; i < 2; i++) {
    if (saved[i]) setenv(names[i], saved[i], 1);
    free(saved[i]);
  }
  lk_test_rmtree(dir);
  free(dir);
  assert_true(ok);
}

static const char *photo(const char *id) {
  const char *s = lk_test_shared_dir();
  return s ? lk_test_path("%s/data/fashion-catalog/images/%s.jpg", s, id) : NULL;
}

static void test_embedder_real(void **state) {
  const char *m = lk_test_models_dir();
  if (!m || !photo("10001")) { print_message("models or catalog absent: skipped\n"); skip(); }
  lk_recipe r;
  lk_recipe_default(&r);
  lk_embedder_opts o;
  lk_embedder_opts_default(&o);
  o.max_batch = 3;
  lk_embedder *e = NULL;
  lk_errbuf eb = {0};
  assert_int_equal(lk_embedder_new(&r, m, &o, &e, &eb), 0);
  assert_int_equal(lk_embedder_dim(e), 1280 + 512);
  assert_int_equal(lk_embedder_input_side(e), 224);
  const char *ids[3] = {"10001", "39386", "59263"};
  lk_image imgs[3] = {{0}};
  for (int i = 0; i < 3; i++) {
    int rc = lk_image_load(photo(ids[i]), NULL, 224, &imgs[i], &eb);
    if (rc) print_error("%s: %s\n", ids[i], eb.msg);
    assert_int_equal(rc, 0);
  }
  int dim = lk_embedder_dim(e);
  float *v = malloc(sizeof(float) * 3 * dim), *w = malloc(sizeof(float) * dim);
  assert_int_equal(lk_embedder_run(e, imgs, 3, v, &eb), 0);
  for (int i = 0; i < 3; i++) {
    double n = 0, nc = 0;
    for (int k = 0; k < dim; k++) n += (double)v[i * dim + k] * v[i * dim + k];
    for (int k = 1280; k < dim; k++) nc += (double)v[i * dim + k] * v[i * dim + k];
    assert_float_equal(n, 1.0, 1e-4);
    /* the colour part carries 0.3^2 / (1 + 0.3^2) of the energy */
    assert_float_equal(nc, 0.09 / 1.09, 1e-4);
  }
  /* A batch of one gives the same vector as inside the batch (batch independence). */
  assert_int_equal(lk_embedder_run(e, &imgs[1], 1, w, &eb), 0);
  double dot = 0;
  for (int k = 0; k < dim; k++) dot += (double)w[k] * v[dim + k];
  assert_true(dot > 0.9999);
  /* Different products differ. */
  double d01 = 0;
  for (int k = 0; k < dim; k++) d01 += (double)v[k] * v[dim + k];
  assert_true(d01 < 0.99);
  assert_int_equal(lk_embedder_run(e, imgs, 4, v, &eb), LK_EINVAL);
  for (int i = 0; i < 3; i++) lk_image_free(&imgs[i]);
  free(v);
  free(w);
  lk_embedder_free(e);
}

static void test_embedder_wrong_model(void **state) {
  const char *m = lk_test_models_dir();
  if (!m) skip();
  char *dir = lk_test_mkdtemp();
  char target[4096];
  snprintf(target, sizeof target, "%s/mobilenet_v1_1.0_224_quant_embedding_extractor.tflite", m);
  if (target[0] != '/') {
    char cwd[2048];
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(target, sizeof target, "%s/%s/mobilenet_v1_1.0_224_quant_embedding_extractor.tflite", cwd, m);
  }
  assert_int_equal(symlink(target, lk_test_path("%s/mobilenet_v2_1.0_224_quant.tflite", dir)), 0);
  lk_recipe r;
  lk_recipe_default(&r);
  lk_embedder *e = NULL;
  lk_errbuf eb = {0};
  assert_int_equal(lk_embedder_new(&r, dir, NULL, &e, &eb), LK_EMISMATCH);
  assert_null(e);
  assert_non_null(strstr(eb.msg, "SHA-256"));
  lk_test_rmtree(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_recipe_roundtrip),   cmocka_unit_test(test_recipe_ids_differ),
      cmocka_unit_test(test_recipe_bad_json),    cmocka_unit_test(test_find_models),
      cmocka_unit_test(test_recipe_numbers),
      cmocka_unit_test(test_embedder_real),      cmocka_unit_test(test_embedder_wrong_model),
      cmocka_unit_test(test_models_in_dot_models),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
