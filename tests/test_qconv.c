/* tests/test_qconv.c — nn/qconv (the AVX-512 VNNI int8 kernels) against oneDNN's own int8
 * convolution, every implementation oneDNN lists but the reference one, on seeded random
 * tensors of each depthwise 3x3 shape of MobileNetV2, of its 1x1 layers the 1x1 kernel
 * takes and of its first conv (and batches of 2, short channel blocks, odd widths; ReLU6's clip at 255 and one
 * inside the u8 range): s8 or u8 NHWC in, u8 out, s8 weights, per-channel scales, bias. The
 * bytes must be equal: catalog vectors stay the same whichever kernel runs.
 * LOOKALIKE_BENCH=1 prints each shape's fastest of 200 runs beside oneDNN's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#include "nn/model.h"
#include "nn/qconv.h"
#include "testutil.h"
#include "util/clock.h"
#include "util/rng.h"

#define OK(x) assert_int_equal((x), dnnl_success)

typedef struct shape {
  int n, hw, c, stride;
  int ic, s8; /* ic > 0: a 1x1 from ic channels (s8: signed input) to c, else depthwise */
  int stem;   /* 1: the first conv, 3x3 stride 2 from 3 s8 channels (ic 3, s8 1) */
} shape;

static const shape SHAPES[] = {
    /* depthwise: MobileNetV2's ten shapes, then batches of 2, short blocks, edges */
    {1, 112, 32, 1, 0, 0, 0},
    {1, 112, 96, 2, 0, 0, 0},
    {1, 56, 144, 1, 0, 0, 0},
    {1, 56, 144, 2, 0, 0, 0},
    {1, 28, 192, 1, 0, 0, 0},
    {1, 28, 192, 2, 0, 0, 0},
    {1, 14, 384, 1, 0, 0, 0},
    {1, 14, 576, 1, 0, 0, 0},
    {1, 14, 576, 2, 0, 0, 0},
    {1, 7, 960, 1, 0, 0, 0},
    {2, 10, 48, 1, 0, 0, 0},
    {2, 6, 80, 2, 0, 0, 0},
    {1, 1, 16, 1, 0, 0, 0},
    {1, 2, 16, 2, 0, 0, 0},
    {1, 9, 16, 1, 0, 0, 0},
    {2, 7, 32, 1, 0, 0, 0},
    {1, 5, 16, 1, 0, 0, 0},
    /* 1x1: MobileNetV2's 16, 24, 32 and 64-channel expansions (s8 in), u8 in, short blocks */
    {1, 112, 96, 1, 16, 1, 0},
    {1, 56, 144, 1, 24, 1, 0},
    {1, 28, 192, 1, 32, 1, 0},
    {2, 5, 48, 1, 8, 0, 0},
    {1, 3, 16, 1, 64, 0, 0},
    {1, 1, 32, 1, 4, 1, 0},
    {1, 14, 384, 1, 64, 1, 0},
    /* the first conv: MobileNetV2's, a batch of 2, the smallest, a short row */
    {1, 224, 32, 2, 3, 1, 1},
    {2, 10, 32, 2, 3, 1, 1},
    {1, 2, 32, 2, 3, 1, 1},
    {1, 6, 32, 2, 3, 1, 1},
};

/* One shape against every non-reference oneDNN implementation; returns how many ran. */
static int check_shape(dnnl_engine_t eng, dnnl_stream_t strm, const shape *s, float hi,
                       uint64_t *rng) {
  int n = s->n, h = s->hw, w = s->hw, c = s->c, st = s->stride, stem = s->stem;
  int pw = s->ic > 0 && !stem, oh = h / st, ow = w / st, pad = st == 1 && !pw ? 1 : 0;
  int taps = stem ? 27 : pw ? s->ic : 9;
  size_t isz = (size_t)n * h * w * (s->ic > 0 ? s->ic : c), osz = (size_t)n * oh * ow * c;
  uint8_t *src = malloc(isz), *want = malloc(osz), *got = malloc(osz);
  int8_t *wt = malloc((size_t)c * taps);
  float *bias = malloc((size_t)c * sizeof *bias), *scale = malloc((size_t)c * sizeof *scale);
  assert_non_null(src && want && got && wt && bias && scale);
  for (size_t i = 0; i < isz; i++) src[i] = (uint8_t)(lk_rng_next(rng) >> 56);
  for (int i = 0; i < c * taps; i++) wt[i] = (int8_t)(int)(lk_rng_next(rng) % 255 - 127);
  for (int i = 0; i < c; i++) {
    bias[i] = (float)((double)(lk_rng_next(rng) >> 11) / 9007199254740992.0 * 20000 - 10000);
    scale[i] = (float)((0.0005 + (double)(lk_rng_next(rng) >> 11) / 9007199254740992.0 * 0.0035) *
                       sqrt(9.0 / taps)); /* the sums' spread grows with sqrt(taps) */
  }

  lk_qconv_dw *k = NULL;
  lk_qconv_pw *kp = NULL;
  lk_qconv_stem *ks = NULL;
  lk_errbuf err = {0};
  if (stem) {
    lk_qconv_stem_params sp = {n, h, w, c, wt, bias, scale, 0, hi};
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512vbmi") || !__builtin_cpu_supports("avx512vl")) {
      /* VNNI without VBMI (Cascade Lake): the graph keeps oneDNN's first conv */
      assert_int_equal(lk_qconv_stem_new(&sp, &ks, &err), LK_EUNSUPPORTED);
      free(src);
      free(want);
      free(got);
      free(wt);
      free(bias);
      free(scale);
      return 1;
    }
    assert_int_equal(lk_qconv_stem_new(&sp, &ks, &err), 0);
  } else if (pw) {
    lk_qconv_pw_params pp = {(size_t)n * h * w, s->ic, c, s->s8, wt, bias, scale, 0, hi};
    assert_int_equal(lk_qconv_pw_new(&pp, &kp, &err), 0);
  } else {
    assert_int_equal(
        lk_qconv_dw_new(&(lk_qconv_dw_params){n, h, w, c, st, wt, bias, scale, 0, hi}, &k, &err),
        0);
    int koh, kow;
    lk_qconv_dw_out_dims(k, &koh, &kow);
    assert_int_equal(koh, oh);
    assert_int_equal(kow, ow);
  }
  double best = 1e30; /* LOOKALIKE_BENCH=1: the fastest of 200 runs, printed beside oneDNN's */
  for (int t = 0; t < (getenv("LOOKALIKE_BENCH") ? 201 : 1); t++) {
    double t0 = lk_clock_now();
    if (stem)
      lk_qconv_stem_run(ks, (const int8_t *)src, got);
    else if (pw)
      lk_qconv_pw_run(kp, src, got);
    else
      lk_qconv_dw_run(k, src, got);
    if (lk_clock_now() - t0 < best) best = lk_clock_now() - t0;
  }
  lk_qconv_dw_free(k);
  lk_qconv_pw_free(kp);
  lk_qconv_stem_free(ks);

  dnnl_memory_desc_t smd, wmd, wplain, bmd, dmd;
  dnnl_dims_t sd = {n, s->ic > 0 ? s->ic : c, h, w}, dd = {n, c, oh, ow}, bd = {c};
  dnnl_dims_t wd = {c, 1, 1, 3, 3}, wd1 = {c, s->ic, stem ? 3 : 1, stem ? 3 : 1};
  dnnl_dims_t strides = {st, st}, dil = {0, 0}, pl = {pad, pad}, pr = {!pw, !pw};
  OK(dnnl_memory_desc_init_by_tag(&smd, 4, sd, s->ic > 0 && s->s8 ? dnnl_s8 : dnnl_u8, dnnl_nhwc));
  OK(dnnl_memory_desc_init_by_tag(&dmd, 4, dd, dnnl_u8, dnnl_nhwc));
  if (pw) {
    OK(dnnl_memory_desc_init_by_tag(&wmd, 4, wd1, dnnl_s8, dnnl_format_tag_any));
    OK(dnnl_memory_desc_init_by_tag(&wplain, 4, wd1, dnnl_s8, dnnl_oihw));
  } else if (stem) { /* the kernel's [oc][ky][kx][ic] */
    OK(dnnl_memory_desc_init_by_tag(&wmd, 4, wd1, dnnl_s8, dnnl_format_tag_any));
    OK(dnnl_memory_desc_init_by_tag(&wplain, 4, wd1, dnnl_s8, dnnl_ohwi));
  } else {
    OK(dnnl_memory_desc_init_by_tag(&wmd, 5, wd, dnnl_s8, dnnl_format_tag_any));
    OK(dnnl_memory_desc_init_by_tag(&wplain, 5, wd, dnnl_s8, dnnl_goihw));
  }
  OK(dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_x));
  dnnl_convolution_desc_t cd;
  OK(dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference,
                                                dnnl_convolution_direct, &smd, &wmd, &bmd, &dmd,
                                                strides, dil, pl, pr));
  dnnl_primitive_attr_t attr;
  dnnl_post_ops_t po;
  OK(dnnl_primitive_attr_create(&attr));
  OK(dnnl_primitive_attr_set_output_scales(attr, c, 2, scale));
  OK(dnnl_post_ops_create(&po));
  OK(dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_clip, 0.f, hi));
  OK(dnnl_primitive_attr_set_post_ops(attr, po));
  dnnl_primitive_desc_iterator_t it;
  OK(dnnl_primitive_desc_iterator_create(&it, &cd, attr, eng, NULL));
  int ran = 0;
  do {
    dnnl_primitive_desc_t pd = dnnl_primitive_desc_iterator_fetch(it);
    if (!pd) break;
    const char *impl = "";
    OK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl));
    /* (oneDNN's avx2 and sse41 1x1 kernels sum pairs of products in saturating int16
     * (vpmaddubsw), and halve the weights for an s8 input: their bytes are their own where a
     * sum saturates; the graph runs the VNNI ones) */
    const char *isa = strchr(impl, ':');
    if (!strncmp(impl, "ref", 3) ||
        ((pw || stem) && isa && (!strcmp(isa, ":avx2") || !strcmp(isa, ":sse41")))) {
      dnnl_primitive_desc_destroy(pd);
      continue;
    }
    const dnnl_memory_desc_t *want_w = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_memory_t ms, mw, mwp, mb, md;
    OK(dnnl_memory_create(&ms, &smd, eng, src));
    OK(dnnl_memory_create(&mwp, &wplain, eng, wt));
    OK(dnnl_memory_create(&mw, want_w, eng, DNNL_MEMORY_ALLOCATE));
    OK(dnnl_memory_create(&mb, &bmd, eng, bias));
    OK(dnnl_memory_create(&md, &dmd, eng, want));
    dnnl_primitive_desc_t rpd;
    dnnl_primitive_t r, p;
    OK(dnnl_reorder_primitive_desc_create(&rpd, &wplain, eng, want_w, eng, NULL));
    OK(dnnl_primitive_create(&r, rpd));
    dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, mwp}, {DNNL_ARG_TO, mw}};
    OK(dnnl_primitive_execute(r, strm, 2, ra));
    OK(dnnl_primitive_create(&p, pd));
    dnnl_exec_arg_t a[4] = {
        {DNNL_ARG_SRC, ms}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_BIAS, mb}, {DNNL_ARG_DST, md}};
    memset(want, 0xa5, osz);
    OK(dnnl_primitive_execute(p, strm, 4, a));
    OK(dnnl_stream_wait(strm));
    double one = 1e30;
    for (int t = 0; getenv("LOOKALIKE_BENCH") && t < 200; t++) {
      double t0 = lk_clock_now();
      OK(dnnl_primitive_execute(p, strm, 4, a));
      OK(dnnl_stream_wait(strm));
      if (lk_clock_now() - t0 < one) one = lk_clock_now() - t0;
    }
    if (getenv("LOOKALIKE_BENCH"))
      printf("n%d %3dx%-3d %3d -> %-4d %s stride %d: qconv %.4f ms, %s %.4f ms\n", n, h, w,
             s->ic > 0 ? s->ic : c, c, stem ? "3x3" : pw ? "1x1" : "dw ", st, 1e3 * best, impl,
             1e3 * one);
    size_t bad = 0, first = 0, mid = 0;
    for (size_t i = 0; i < osz; i++) {
      if (got[i] != want[i] && !bad++) first = i;
      mid += want[i] > 0 && want[i] < 255;
    }
    if (bad)
      print_error(
          "%s n%d %dx%d ic%d c%d stride %d: %zu of %zu bytes differ, first at %zu: %d, oneDNN %d\n",
          impl, n, h, w, s->ic, c, st, bad, osz, first, got[first], want[first]);
    assert_int_equal(bad, 0);
    assert_true(mid > osz / 4); /* the values span the range: the test is not all 0 or 255 */
    ran++;
    dnnl_primitive_destroy(p);
    dnnl_primitive_destroy(r);
    dnnl_primitive_desc_destroy(rpd);
    dnnl_primitive_desc_destroy(pd);
    dnnl_memory_destroy(ms);
    dnnl_memory_destroy(mw);
    dnnl_memory_destroy(mwp);
    dnnl_memory_destroy(mb);
    dnnl_memory_destroy(md);
  } while (dnnl_primitive_desc_iterator_next(it) == dnnl_success);
  dnnl_primitive_desc_iterator_destroy(it);
  dnnl_post_ops_destroy(po);
  dnnl_primitive_attr_destroy(attr);
  free(src);
  free(want);
  free(got);
  free(wt);
  free(bias);
  free(scale);
  return ran;
}

static void test_matches_onednn(void **state) {
  (void)state;
  if (!lk_qconv_available()) { /* the graph then keeps oneDNN's: the kernels must refuse */
    int8_t wt[9 * 16] = {0};
    float f[16] = {0};
    lk_qconv_dw *k = NULL;
    lk_qconv_pw *kp = NULL;
    lk_errbuf err = {0};
    assert_int_equal(lk_qconv_dw_new(&(lk_qconv_dw_params){1, 4, 4, 16, 1, wt, f, f, 0, 255}, &k, &err),
                     LK_EUNSUPPORTED);
    assert_int_equal(lk_qconv_pw_new(&(lk_qconv_pw_params){16, 8, 16, 1, wt, f, f, 0, 255}, &kp, &err),
                     LK_EUNSUPPORTED);
    return;
  }
  dnnl_engine_t eng;
  dnnl_stream_t strm;
  OK(dnnl_engine_create(&eng, dnnl_cpu, 0));
  OK(dnnl_stream_create(&strm, eng, dnnl_stream_default_flags));
  uint64_t rng = 19;
  for (size_t i = 0; i < sizeof SHAPES / sizeof *SHAPES; i++)
    /* ReLU6 over an output scale of 6/255 as the model's (the packs saturate), or a clip
     * inside the u8 range */
    assert_true(check_shape(eng, strm, &SHAPES[i], i % 2 ? 200.5f : 6 / 0.0235294f, &rng) >= 1);
  dnnl_stream_destroy(strm);
  dnnl_engine_destroy(eng);
}

/* The INT8 graph (nn/fastgraph.c) of each int8-capable shared model gives the same bytes with
 * the qconv steps (one thread, the default) as with oneDNN alone (LOOKALIKE_QCONV=0): the
 * weights, bias, scales and clip reach the kernels as oneDNN's primitives get them. Batches of
 * 1 and 3 (the graph's slices), random pixels. */
static void test_graph_same_bytes(void **state) {
  (void)state;
  const char *models = lk_test_models_dir();
  if (!models) skip();
  static const struct {
    const char *file, *tap;
  } M[] = {
      {"mobilenet_v2_1.0_224_quant.tflite", "MobilenetV2/Logits/AvgPool"},
      {"mobilenet_v1_1.0_224_quant_embedding_extractor.tflite",
       "MobilenetV1/Logits/AvgPool_1a/AvgPool"},
  };
  uint64_t rng = 5;
  for (size_t i = 0; i < sizeof M / sizeof *M; i++) {
    lk_model *m;
    lk_errbuf err = {0};
    if (lk_model_load(lk_test_path("%s/%s", models, M[i].file), &m, &err))
      fail_msg("%s: %s", M[i].file, lk_err_msg(&err));
    size_t px = (size_t)3 * 224 * 224 * 3;
    uint8_t *in = malloc(px);
    assert_non_null(in);
    for (size_t j = 0; j < px; j++) in[j] = (uint8_t)(lk_rng_next(&rng) >> 56);
    float *out[2] = {NULL, NULL};
    int dim = 0;
    for (int off = 0; off < 2; off++) {
      if (off) setenv("LOOKALIKE_QCONV", "0", 1);
      else unsetenv("LOOKALIKE_QCONV");
      lk_session_opts o;
      lk_session_opts_default(&o);
      o.backend = LK_BACKEND_DNNL;
      o.compute = LK_COMPUTE_INT8;
      o.threads = 1;
      o.max_batch = 3;
      lk_tap tap = {M[i].tap, LK_POOL_AVG, 0};
      lk_session *s;
      if (lk_session_new(m, &tap, 1, &o, &s, &err)) fail_msg("%s", lk_err_msg(&err));
      dim = lk_session_dim(s);
      out[off] = malloc((size_t)4 * dim * sizeof(float));
      assert_non_null(out[off]);
      assert_int_equal(lk_session_run(s, in, 1, out[off], &err), 0);
      assert_int_equal(lk_session_run(s, in, 3, out[off] + dim, &err), 0);
      lk_session_free(s);
    }
    unsetenv("LOOKALIKE_QCONV");
    assert_memory_equal(out[0], out[1], (size_t)4 * dim * sizeof(float));
    assert_memory_equal(out[0], out[0] + dim, (size_t)dim * sizeof(float)); /* same photo */
    free(out[0]);
    free(out[1]);
    free(in);
    lk_model_free(m);
  }
}

static void test_refuses(void **state) {
  (void)state;
  if (!lk_qconv_available()) return; /* (test_matches_onednn checks the refusal there) */
  int8_t wt[9 * 40] = {0};
  float f[40] = {0};
  lk_qconv_dw *k = (lk_qconv_dw *)&k;
  lk_errbuf err = {0};
  const lk_qconv_dw_params bad[] = {
      {1, 8, 8, 40, 1, wt, f, f, 0, 255}, /* channels not a multiple of 16 */
      {1, 8, 8, 32, 3, wt, f, f, 0, 255}, /* stride 3 */
      {1, 7, 8, 32, 2, wt, f, f, 0, 255}, /* stride 2 on an odd height */
      {1, 8, 8, 32, 1, wt, f, f, 1, 255}, /* a clip above 0 */
      {0, 8, 8, 32, 1, wt, f, f, 0, 255}, /* no image */
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    assert_int_equal(lk_qconv_dw_new(&bad[i], &k, &err), LK_EUNSUPPORTED);
    assert_null(k);
    assert_true(strlen(lk_err_msg(&err)) > 0);
  }
  lk_qconv_dw_free(NULL);
  lk_qconv_pw *kp = (lk_qconv_pw *)&kp;
  const lk_qconv_pw_params badp[] = {
      {64, 6, 32, 1, wt, f, f, 0, 255},  /* input channels not a multiple of 4 */
      {64, 68, 32, 1, wt, f, f, 0, 255}, /* more than 64 input channels */
      {64, 8, 40, 1, wt, f, f, 0, 255},  /* outputs not a multiple of 16 */
      {0, 8, 32, 1, wt, f, f, 0, 255},   /* no pixel */
      {64, 8, 32, 1, wt, f, f, 0, -1},   /* a clip below 0 */
  };
  for (size_t i = 0; i < sizeof badp / sizeof *badp; i++) {
    assert_int_equal(lk_qconv_pw_new(&badp[i], &kp, &err), LK_EUNSUPPORTED);
    assert_null(kp);
    assert_true(strlen(lk_err_msg(&err)) > 0);
  }
  lk_qconv_pw_free(NULL);
  lk_qconv_stem *ks = (lk_qconv_stem *)&ks;
  const lk_qconv_stem_params bads[] = {
      {1, 8, 8, 16, wt, f, f, 0, 255}, /* not 32 outputs */
      {1, 7, 8, 32, wt, f, f, 0, 255}, /* an odd height */
      {1, 8, 9, 32, wt, f, f, 0, 255}, /* an odd width */
      {0, 8, 8, 32, wt, f, f, 0, 255}, /* no image */
      {1, 8, 8, 32, wt, f, f, 0, -1},  /* a clip below 0 */
  };
  for (size_t i = 0; i < sizeof bads / sizeof *bads; i++) {
    assert_int_equal(lk_qconv_stem_new(&bads[i], &ks, &err), LK_EUNSUPPORTED);
    assert_null(ks);
    assert_true(strlen(lk_err_msg(&err)) > 0);
  }
  lk_qconv_stem_free(NULL);
}

/* The input table, at every length that ends a 64-byte block differently, against the plain
 * loop; every table entry used. */
static void test_table(void **state) {
  (void)state;
  uint64_t rng = 7;
  int8_t table[256];
  for (int i = 0; i < 256; i++) table[i] = (int8_t)(int)(lk_rng_next(&rng) >> 56);
  static const size_t N[] = {0, 1, 63, 64, 65, 127, 128, 1000, 3 * 224 * 224};
  uint8_t *src = malloc(N[8]);
  int8_t *got = malloc(N[8] + 64), *want = malloc(N[8]);
  assert_non_null(src && got && want);
  for (size_t i = 0; i < N[8]; i++) src[i] = (uint8_t)(i < 256 ? i : lk_rng_next(&rng) >> 56);
  for (size_t k = 0; k < sizeof N / sizeof *N; k++) {
    memset(got, 0x5a, N[k] + 64);
    lk_qconv_table(table, src, got, N[k]);
    for (size_t i = 0; i < N[k]; i++) want[i] = table[src[i]];
    assert_memory_equal(got, want, N[k]);
    for (size_t i = N[k]; i < N[k] + 64; i++) assert_int_equal(got[i], 0x5a); /* no overrun */
  }
  free(src);
  free(got);
  free(want);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_matches_onednn),
      cmocka_unit_test(test_refuses),
      cmocka_unit_test(test_graph_same_bytes),
      cmocka_unit_test(test_table),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
