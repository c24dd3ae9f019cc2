/* nn/fastgraph.c — LK_COMPUTE_FP32 and LK_COMPUTE_INT8 (see fastgraph.h): the session's
 * planned ops as oneDNN primitives in their preferred layouts. Each activation is a graph
 * tensor whose layout its producer picked (format "any"); consumers are created on that
 * layout, and a reorder is inserted only where one refuses it, at the float NHWC input and
 * at the taps. All activations live in one arena laid out by liveness (a buffer is reused
 * once its last reader has run), made and touched at creation (lk_nn_big_alloc); one
 * scratchpad serves every primitive. INT8 on one thread: the depthwise 3x3 and small 1x1
 * layers are steps of nn/qconv's kernels instead (build_qconv). */
#include "nn/fastgraph.h"
#include "nn/qconv.h"

#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

#include "util/array.h"
#include "util/clock.h"
#include "util/size.h"

#define MAX_ARGS 6

typedef struct gt {        /* one activation of the graph */
  dnnl_memory_desc_t md;   /* layout and data type, chosen by its producer */
  dnnl_memory_t mem;       /* pointed into the arena once planned */
  float scale;             /* INT8: real value = scale * stored integer; else 1 */
  int last;                /* last step reading it; INT_MAX for taps */
} gt;

typedef struct gstep {
  dnnl_primitive_t prim;   /* NULL: dw's or pw's kernel, or a plain copy of `copy` bytes from
                            * args[0] to args[1] */
  lk_qconv_dw *dw;         /* INT8 on AVX-512 VNNI (nn/qconv.h), args[0] to args[1]: */
  lk_qconv_pw *pw;         /* a depthwise 3x3, a 1x1 with few input channels, or the */
  lk_qconv_stem *stem;     /* first 3x3 conv from 3 channels */
  size_t copy;
  char desc[96];           /* dw, pw: the shape in oneDNN's verbose notation (lk_fg_set_trace) */
  int nargs, scratch;      /* scratch: the shared scratchpad is appended at run time */
  dnnl_exec_arg_t args[MAX_ARGS];
  int in[2], out;          /* graph tensors read / written (-1 none) */
} gstep;

struct lk_fg {
  lk_dnnl *d;
  dnnl_engine_t eng;
  dnnl_stream_t stream;
  const lk_model *m;
  int compute, batch;
  gt *t;
  int nt, tcap;
  int *map;                /* model tensor -> graph tensor holding it (-1 none) */
  gstep *s;
  int ns, scap;
  dnnl_memory_t *owned;    /* weights, biases */
  int nowned, ocap;
  size_t scratch_bytes;
  dnnl_memory_t scratch;
  void *arena, *scratch_buf;
  size_t arena_bytes, scratch_map;
  int in_t;                /* graph tensor of the NHWC input: float, or s8 with in_lut */
  int in_q;                /* INT8: the input is s8, in_lut[pixel value] */
  int8_t in_lut[256];
  int *tap_t, ntaps;
};

static int dnnl_fail(lk_errbuf *err, const char *call, dnnl_status_t st) {
  int code = LK_EINVAL;
  if (st == dnnl_out_of_memory) code = LK_ENOMEM;
  else if (st == dnnl_unimplemented) code = LK_EUNSUPPORTED;
  return lk_err_set(err, code, "oneDNN: %s failed: %s", call, dnnl_status2str(st));
}

static int ck(dnnl_status_t st, const char *call, lk_errbuf *err) {
  return st == dnnl_success ? 0 : dnnl_fail(err, call, st);
}

/* util/array.h's growth for the graph's int-counted arrays, the new slots zeroed. */
static int grow(void **p, int *cap, int need, size_t elem) {
  size_t c = (size_t)*cap;
  int rc = lk_array_reserve(p, &c, (size_t)need, elem, 64);
  if (rc) return rc;
  if (c > INT_MAX) c = INT_MAX; /* (need <= INT_MAX: the slots past it stay unused) */
  memset((char *)*p + (size_t)*cap * elem, 0, (c - (size_t)*cap) * elem);
  *cap = (int)c;
  return 0;
}

static int new_tensor(lk_fg *g, const dnnl_memory_desc_t *md, float scale, lk_errbuf *err) {
  if (grow((void **)&g->t, &g->tcap, g->nt + 1, sizeof *g->t))
    return lk_err_set(err, LK_ENOMEM, "out of memory");
  gt *t = &g->t[g->nt];
  t->md = *md;
  t->scale = scale;
  t->last = -1;
  int rc = ck(dnnl_memory_create(&t->mem, md, g->eng, DNNL_MEMORY_NONE), "dnnl_memory_create", err);
  return rc ? rc : g->nt++;
}

static int own(lk_fg *g, dnnl_memory_t mem, lk_errbuf *err) {
  if (grow((void **)&g->owned, &g->ocap, g->nowned + 1, sizeof *g->owned)) {
    dnnl_memory_destroy(mem);
    return lk_err_set(err, LK_ENOMEM, "out of memory");
  }
  g->owned[g->nowned++] = mem;
  return 0;
}

/* Makes the primitive of pd a step; args name graph tensors by their memories. */
static int add_step(lk_fg *g, dnnl_primitive_desc_t pd, const dnnl_exec_arg_t *args, int nargs,
                    int in0, int in1, int out, lk_errbuf *err) {
  if (grow((void **)&g->s, &g->scap, g->ns + 1, sizeof *g->s))
    return lk_err_set(err, LK_ENOMEM, "out of memory");
  gstep *st = &g->s[g->ns];
  const dnnl_memory_desc_t *scr = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
  size_t sb = scr ? dnnl_memory_desc_get_size(scr) : 0;
  if (sb > g->scratch_bytes) g->scratch_bytes = sb;
  st->scratch = sb > 0;
  int rc = ck(dnnl_primitive_create(&st->prim, pd), "dnnl_primitive_create", err);
  if (rc) return rc;
  memcpy(st->args, args, (size_t)nargs * sizeof *args);
  st->nargs = nargs;
  st->in[0] = in0;
  st->in[1] = in1;
  st->out = out;
  g->ns++;
  return 0;
}

static dnnl_primitive_attr_t new_attr(lk_errbuf *err, int *rc) {
  dnnl_primitive_attr_t a = NULL;
  *rc = ck(dnnl_primitive_attr_create(&a), "dnnl_primitive_attr_create", err);
  if (!*rc)
    *rc = ck(dnnl_primitive_attr_set_scratchpad_mode(a, dnnl_scratchpad_mode_user),
             "dnnl_primitive_attr_set_scratchpad_mode", err);
  return a;
}

/* Graph tensor `from` in layout `want` (and want's data type): itself when it already is,
 * else a reorder into a new tensor (scaled by from's scale / out_scale for INT8). */
static int reorder_to(lk_fg *g, int from, const dnnl_memory_desc_t *want, float out_scale,
                      lk_errbuf *err) {
  if (dnnl_memory_desc_equal(&g->t[from].md, want) && g->t[from].scale == out_scale) return from;
  int rc, to = new_tensor(g, want, out_scale, err);
  if (to < 0) return to;
  dnnl_primitive_attr_t attr = new_attr(err, &rc);
  dnnl_primitive_desc_t pd = NULL;
  float sc = g->t[from].scale / out_scale;
  if (!rc && sc != 1.f)
    rc = ck(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &sc), "set_output_scales", err);
  if (!rc)
    rc = ck(dnnl_reorder_primitive_desc_create(&pd, &g->t[from].md, g->eng, want, g->eng, attr),
            "dnnl_reorder_primitive_desc_create", err);
  if (!rc) {
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, g->t[from].mem}, {DNNL_ARG_TO, g->t[to].mem}};
    rc = add_step(g, pd, a, 2, from, -1, to, err);
  }
  if (pd) dnnl_primitive_desc_destroy(pd);
  if (attr) dnnl_primitive_attr_destroy(attr);
  return rc ? rc : to;
}

/* INT8: how a model tensor is stored. Non-negative tensors (after ReLU/ReLU6, or whose
 * range starts at 0) are u8 over [0, hi]; others s8 over [-max|.|, max|.|]; the range is
 * the one the model's uint8/int8 quantisation parameters span. */
static int int8_of(const lk_nn_tensor *t, int nonneg, dnnl_data_type_t *dt, float *scale,
                   lk_errbuf *err) {
  float s;
  int zp, lo, hi;
  if (!lk_nn_tensor_fake_quant(t, &s, &zp, &lo, &hi))
    return lk_err_set(err, LK_EUNSUPPORTED,
                      "compute int8: tensor %s has no uint8/int8 quantisation range", t->name);
  double rlo = (double)s * (lo - zp), rhi = (double)s * (hi - zp);
  if (nonneg || rlo >= 0) {
    *dt = dnnl_u8;
    *scale = (float)(rhi > 0 ? rhi / 255 : 1);
  } else {
    double mx = fabs(rlo) > fabs(rhi) ? fabs(rlo) : fabs(rhi);
    *dt = dnnl_s8;
    *scale = (float)(mx > 0 ? mx / 127 : 1);
  }
  return 0;
}

static int append_act(dnnl_post_ops_t po, int act, float unit, lk_errbuf *err) {
  if (act == LK_ACT_RELU)
    return ck(dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_relu, 0.f, 0.f), "relu", err);
  if (act == LK_ACT_RELU6)
    return ck(dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_clip, 0.f, 6.f / unit), "clip",
              err);
  return 0;
}

/* Per-output-channel weight scales for INT8, TFLite weight layouts. Where the model's own
 * grid fits (|q - zero point| <= 127 for every weight of the channel: the steps of a uint8
 * asymmetric tensor are then s8 values) that grid is kept and the weights are exact; else
 * max |w| / 127. */
static void weight_scales(const lk_nn_tensor *w, int oc, int depthwise, float *sc) {
  size_t per = w->count / (size_t)oc;
  for (int c = 0; c < oc; c++) sc[c] = 0;
  for (size_t i = 0; i < per * (size_t)oc; i++) {
    int c = depthwise ? (int)(i % (size_t)oc) : (int)(i / per);
    float a = fabsf(w->data[i]);
    if (a > sc[c]) sc[c] = a;
  }
  for (int c = 0; c < oc; c++) {
    float grid = w->nq == 1 ? w->scale[0] : w->nq == oc ? w->scale[c] : 0;
    if (grid > 0 && sc[c] / grid <= 127.49f) sc[c] = grid;
    else sc[c] = sc[c] > 0 ? sc[c] / 127 : 1;
  }
}

/* Reorders the TFLite weights (OHWI, or [1][kh][kw][oc] depthwise) into want; INT8 divides
 * each output channel by its scale on the way (the reorder rounds and saturates). */
static int load_weights(lk_fg *g, const lk_nn_op *op, const dnnl_memory_desc_t *want,
                        const float *wsc, dnnl_memory_t *dst, lk_errbuf *err) {
  const lk_nn_tensor *w = &g->m->tensors[op->in[1]];
  const lk_nn_tensor *in = &g->m->tensors[op->in[0]];
  int oc = w->dims[op->code == LK_OP_DEPTHWISE_CONV_2D ? 3 : 0], kh = w->dims[1], kw = w->dims[2];
  int ic = in->dims[3];
  dnnl_memory_desc_t umd;
  dnnl_memory_t user = NULL;
  dnnl_primitive_desc_t rpd = NULL;
  dnnl_primitive_t r = NULL;
  dnnl_primitive_attr_t attr = NULL;
  float *inv = NULL;
  int rc, depthwise = op->code == LK_OP_DEPTHWISE_CONV_2D, mask;
  if (depthwise) {
    int mult = oc / ic;
    dnnl_dims_t dims = {ic, mult, 1, kh, kw};
    dnnl_dims_t str = {mult, 1, 1, (dnnl_dim_t)kw * oc, oc};
    rc = ck(dnnl_memory_desc_init_by_strides(&umd, 5, dims, dnnl_f32, str), "weights md", err);
    mask = 3;
  } else {
    dnnl_dims_t dims = {oc, ic, kh, kw};
    dnnl_dims_t str = {(dnnl_dim_t)kh * kw * ic, 1, (dnnl_dim_t)kw * ic, ic};
    rc = ck(dnnl_memory_desc_init_by_strides(&umd, 4, dims, dnnl_f32, str), "weights md", err);
    mask = 1;
  }
  if (rc) return rc;
  if ((rc = ck(dnnl_primitive_attr_create(&attr), "dnnl_primitive_attr_create", err))) goto out;
  if (wsc) {
    if (!(inv = malloc((size_t)oc * sizeof *inv))) {
      rc = lk_err_set(err, LK_ENOMEM, "out of memory");
      goto out;
    }
    for (int c = 0; c < oc; c++) inv[c] = 1 / wsc[c];
    if ((rc = ck(dnnl_primitive_attr_set_output_scales(attr, oc, mask, inv), "weight scales", err)))
      goto out;
  }
  if ((rc = ck(dnnl_memory_create(&user, &umd, g->eng, (void *)w->data), "user weights", err)) ||
      (rc = ck(dnnl_memory_create(dst, want, g->eng, DNNL_MEMORY_ALLOCATE), "weights", err)) ||
      (rc = ck(dnnl_reorder_primitive_desc_create(&rpd, &umd, g->eng, want, g->eng, attr),
               "weights reorder", err)) ||
      (rc = ck(dnnl_primitive_create(&r, rpd), "weights reorder primitive", err)))
    goto out;
  dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, *dst}};
  if ((rc = ck(dnnl_primitive_execute(r, g->stream, 2, a), "weights reorder run", err)) ||
      (rc = ck(dnnl_stream_wait(g->stream), "dnnl_stream_wait", err)))
    goto out;
out:
  free(inv);
  if (r) dnnl_primitive_destroy(r);
  if (rpd) dnnl_primitive_desc_destroy(rpd);
  if (user) dnnl_memory_destroy(user);
  if (attr) dnnl_primitive_attr_destroy(attr);
  return rc;
}

/* The convolution primitive of cd. An INT8 conv takes oneDNN's "jit_int8" kernels (the 1x1
 * ones: jit_int8_1x1) over the brdgmm / brgconv ones oneDNN 2.6 lists first, when both use the
 * same instruction set (the text after ':', e.g. avx512_core_vnni): same nhwc layouts, same
 * integer arithmetic (bit-identical vectors). Depthwise (oneDNN's, where qconv does not run),
 * one thread: 0.91 -> 0.81 ms a photo on this model's 17 layers (2026-12-06). 1x1, one
 * thread, in the graph: 0.530 -> 0.512 ms a photo on its 24 oneDNN layers on an AMD Zen 5
 * (2026-12-07; the projections to 16 and 24 channels at 112x112 and 56x56 gain 10-14 %, the
 * others 0-5 %), where on the Zen 4 of 2026-12-06 it was no faster (1.785 -> 1.782 ms). */
static dnnl_status_t conv_pd(const lk_fg *g, const dnnl_convolution_desc_t *cd,
                             const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *pd) {
  if (g->compute != LK_COMPUTE_INT8)
    return dnnl_primitive_desc_create(pd, cd, attr, g->eng, NULL);
  dnnl_primitive_desc_iterator_t it;
  dnnl_status_t st = dnnl_primitive_desc_iterator_create(&it, cd, attr, g->eng, NULL);
  if (st != dnnl_success) return st;
  char first_isa[64];
  *pd = NULL;
  do {
    dnnl_primitive_desc_t p = dnnl_primitive_desc_iterator_fetch(it);
    if (!p) break;
    const char *impl = NULL, *isa;
    if (dnnl_primitive_desc_query(p, dnnl_query_impl_info_str, 0, &impl) != dnnl_success || !impl)
      impl = "";
    if (!*pd) snprintf(first_isa, sizeof first_isa, "%s", (isa = strchr(impl, ':')) ? isa : "");
    int pref = !strncmp(impl, "jit_int8", 8) && (isa = strchr(impl, ':')) && !strcmp(isa, first_isa);
    if (*pd && !pref) {
      dnnl_primitive_desc_destroy(p);
      continue;
    }
    if (*pd) dnnl_primitive_desc_destroy(*pd);
    *pd = p;
    if (pref) break;
  } while (dnnl_primitive_desc_iterator_next(it) == dnnl_success);
  dnnl_primitive_desc_iterator_destroy(it);
  return *pd ? dnnl_success : dnnl_unimplemented;
}

/* A step of lookalike's own (no primitive) from graph tensor src to dst, which then holds
 * model tensor out; the caller says what it runs. NULL when out of memory. */
static gstep *own_step(lk_fg *g, int src, int dst, int out) {
  if (grow((void **)&g->s, &g->scap, g->ns + 1, sizeof *g->s)) return NULL;
  gstep *st = &g->s[g->ns++];
  st->args[0] = (dnnl_exec_arg_t){DNNL_ARG_FROM, g->t[src].mem};
  st->args[1] = (dnnl_exec_arg_t){DNNL_ARG_TO, g->t[dst].mem};
  st->nargs = 2;
  st->in[0] = src;
  st->in[1] = -1;
  st->out = dst;
  g->map[out] = dst;
  return st;
}

/* INT8, one thread: a depthwise 3x3, a 1x1 conv of at most 64 input channels, or the first
 * conv (3x3 stride 2 from 3 channels to 32) whose shapes nn/qconv takes (depthwise: u8 nhwc
 * in, stride 1 pad 1 or stride 2 pad (0, 1); 1x1: s8 or u8 nhwc in, stride 1; first conv: s8
 * nhwc in, pad (0, 1); u8 nhwc out) runs there instead of pd: the same bytes (see
 * tests/test_qconv.c); on an AMD Zen 5 (2026-12-07), 1.8-3.2x oneDNN's depthwise, 1.4x its
 * first conv, 1.2-1.5x its 1x1 at 16-64 channels. Its weights are wmem's (want_w), bias bq and
 * scales osc as pd's. LOOKALIKE_QCONV=0 keeps oneDNN's. Returns 1, having added nothing,
 * where it does not fit. */
static int build_qconv(lk_fg *g, const lk_nn_op *op, int src, const dnnl_memory_desc_t *dst_md,
                       dnnl_memory_t wmem, const dnnl_memory_desc_t *want_w, const float *bq,
                       const float *osc, float oscale, lk_errbuf *err) {
  const lk_nn_tensor *in = &g->m->tensors[op->in[0]], *w = &g->m->tensors[op->in[1]];
  const lk_nn_tensor *out = &g->m->tensors[op->out[0]];
  const char *env = getenv("LOOKALIKE_QCONV");
  int s = op->stride_h, ic = in->dims[3], oc = out->dims[3], rc;
  int dw = op->code == LK_OP_DEPTHWISE_CONV_2D;
  int stem = !dw && ic == 3 && w->dims[1] == 3, kk = dw || stem ? 3 : 1;
  dnnl_data_type_t sdt = g->t[src].md.data_type;
  if ((env && !strcmp(env, "0")) || lk_dnnl_threads(g->d) != 1 || !lk_qconv_available() ||
      w->dims[1] != kk || w->dims[2] != kk || op->dil_h != 1 || op->dil_w != 1 || op->stride_w != s)
    return 1;
  if (dw ? oc != ic || (s != 1 && s != 2) || op->pad_t != 2 - s || op->pad_l != 2 - s ||
               op->pad_b != 1 || op->pad_r != 1 || sdt != dnnl_u8
      : stem ? s != 2 || op->pad_t || op->pad_l || op->pad_b != 1 || op->pad_r != 1 ||
                   sdt != dnnl_s8 || oc != 32
             : s != 1 || op->pad_t || op->pad_l || op->pad_b || op->pad_r || ic > 64 ||
                   (sdt != dnnl_u8 && sdt != dnnl_s8))
    return 1;
  dnnl_memory_desc_t nhwc;
  dnnl_dims_t sd = {g->batch, ic, in->dims[1], in->dims[2]};
  if (ck(dnnl_memory_desc_init_by_tag(&nhwc, 4, sd, sdt, dnnl_nhwc), "md", err) ||
      !dnnl_memory_desc_equal(&g->t[src].md, &nhwc))
    return 1;
  dnnl_dims_t dd = {g->batch, oc, out->dims[1], out->dims[2]};
  if (ck(dnnl_memory_desc_init_by_tag(&nhwc, 4, dd, dnnl_u8, dnnl_nhwc), "md", err) ||
      !dnnl_memory_desc_equal(dst_md, &nhwc))
    return 1;
  /* the s8 weights as oneDNN's reorder made them, copied out to [oc][kh][kw][ic / groups] */
  size_t wn = (size_t)oc * (size_t)(dw ? 9 : stem ? 27 : ic);
  int8_t *wq = malloc(wn);
  dnnl_memory_desc_t pmd;
  dnnl_dims_t wd = {oc, 1, 1, 3, 3}, wd1 = {oc, ic, kk, kk};
  dnnl_memory_t pm = NULL;
  dnnl_primitive_desc_t rpd = NULL;
  dnnl_primitive_t r = NULL;
  if (!wq) return lk_err_set(err, LK_ENOMEM, "out of memory");
  dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, wmem}, {DNNL_ARG_TO, NULL}};
  if (!(rc = ck(dw ? dnnl_memory_desc_init_by_tag(&pmd, 5, wd, dnnl_s8, dnnl_goihw)
                   : dnnl_memory_desc_init_by_tag(&pmd, 4, wd1, dnnl_s8, stem ? dnnl_ohwi : dnnl_oihw),
                "md", err)) &&
      !(rc = ck(dnnl_memory_create(&pm, &pmd, g->eng, wq), "weights", err)) &&
      !(rc = ck(dnnl_reorder_primitive_desc_create(&rpd, want_w, g->eng, &pmd, g->eng, NULL),
                "weights reorder", err)) &&
      !(rc = ck(dnnl_primitive_create(&r, rpd), "weights reorder primitive", err))) {
    a[1].memory = pm;
    if (!(rc = ck(dnnl_primitive_execute(r, g->stream, 2, a), "weights reorder run", err)))
      rc = ck(dnnl_stream_wait(g->stream), "dnnl_stream_wait", err);
  }
  if (r) dnnl_primitive_destroy(r);
  if (rpd) dnnl_primitive_desc_destroy(rpd);
  if (pm) dnnl_memory_destroy(pm);
  lk_qconv_dw *kd = NULL;
  lk_qconv_pw *kp = NULL;
  lk_qconv_stem *ks = NULL;
  float lo = op->act == LK_ACT_NONE ? -INFINITY : 0; /* append_act's clip */
  float hi = op->act == LK_ACT_RELU6 ? 6.f / oscale : INFINITY;
  if (!rc && dw) {
    lk_qconv_dw_params p = {g->batch, in->dims[1], in->dims[2], ic, s, wq, bq, osc, lo, hi};
    rc = lk_qconv_dw_new(&p, &kd, err);
  } else if (!rc && stem) {
    lk_qconv_stem_params p = {g->batch, in->dims[1], in->dims[2], oc, wq, bq, osc, lo, hi};
    rc = lk_qconv_stem_new(&p, &ks, err);
  } else if (!rc) {
    size_t px = (size_t)g->batch * (size_t)in->dims[1] * (size_t)in->dims[2];
    lk_qconv_pw_params p = {px, ic, oc, sdt == dnnl_s8, wq, bq, osc, lo, hi};
    rc = lk_qconv_pw_new(&p, &kp, err);
  }
  if (rc == LK_EUNSUPPORTED) rc = 1;
  free(wq);
  if (rc) return rc;
  int dst = new_tensor(g, dst_md, oscale, err);
  gstep *st = dst < 0 ? NULL : own_step(g, src, dst, op->out[0]);
  if (!st) {
    lk_qconv_dw_free(kd);
    lk_qconv_pw_free(kp);
    lk_qconv_stem_free(ks);
    return dst < 0 ? dst : lk_err_set(err, LK_ENOMEM, "out of memory");
  }
  st->dw = kd;
  st->pw = kp;
  st->stem = ks;
  int ih = in->dims[1], iw = in->dims[2], oh = out->dims[1], ow = out->dims[2];
  if (stem)
    snprintf(st->desc, sizeof st->desc,
             "mb%d_ic3oc%d_ih%doh%dkh3sh2dh0ph0_iw%dow%dkw3sw2dw0pw0", g->batch, oc, ih, oh, iw, ow);
  else if (dw)
    snprintf(st->desc, sizeof st->desc,
             "g%dmb%d_ic%doc%d_ih%doh%dkh3sh%ddh0ph%d_iw%dow%dkw3sw%ddw0pw%d", ic, g->batch, ic, oc,
             ih, oh, s, 2 - s, iw, ow, s, 2 - s);
  else
    snprintf(st->desc, sizeof st->desc, "mb%d_ic%doc%d_ih%doh%dkh1sh1dh0ph0_iw%dow%dkw1sw1dw0pw0",
             g->batch, ic, oc, ih, oh, iw, ow);
  return 0;
}

/* A conv; with add (the ADD reading only this conv's output and graph tensor `acc`, whose
 * last reader it is) the sum is fused: the conv writes into acc in place (oneDNN's sum
 * post-op), and acc then holds the ADD's output. Returns 1, having added nothing, when
 * oneDNN cannot fuse them so. */
static int build_conv(lk_fg *g, const lk_nn_op *op, const lk_nn_op *add, int acc, lk_errbuf *err) {
  const lk_model *m = g->m;
  const lk_nn_tensor *in = &m->tensors[op->in[0]], *w = &m->tensors[op->in[1]];
  const lk_nn_tensor *out = &m->tensors[op->out[0]];
  const float *bias = op->nin > 2 && op->in[2] >= 0 ? m->tensors[op->in[2]].data : NULL;
  int depthwise = op->code == LK_OP_DEPTHWISE_CONV_2D;
  int ic = in->dims[3], oc = out->dims[3], kh = w->dims[1], kw = w->dims[2];
  int src = g->map[op->in[0]];
  int int8 = g->compute == LK_COMPUTE_INT8;
  dnnl_data_type_t odt = dnnl_f32;
  float oscale = 1;
  int rc = 0;
  if (int8 && (rc = int8_of(add ? &m->tensors[add->out[0]] : out,
                            (add ? add->act : op->act) != LK_ACT_NONE, &odt, &oscale, err)))
    return rc;
  if (add && odt != g->t[acc].md.data_type) return 1;
  if (int8 && g->t[src].md.data_type == dnnl_f32) { /* the network input */
    dnnl_data_type_t idt;
    float is;
    if ((rc = int8_of(in, 0, &idt, &is, err))) return rc;
    dnnl_memory_desc_t q = g->t[src].md;
    q.data_type = idt;
    q.extra.flags = 0;
    dnnl_dims_t d = {q.dims[0], q.dims[1], q.dims[2], q.dims[3]};
    if ((rc = ck(dnnl_memory_desc_init_by_tag(&q, 4, d, idt, dnnl_nhwc), "md", err))) return rc;
    if ((src = reorder_to(g, src, &q, is, err)) < 0) return src;
  }
  dnnl_memory_desc_t wmd, bmd, dmd, smd_any;
  dnnl_dims_t sd = {g->batch, ic, in->dims[1], in->dims[2]}, dd = {g->batch, oc, out->dims[1], out->dims[2]};
  dnnl_dims_t bd = {oc}, strides = {op->stride_h, op->stride_w};
  dnnl_dims_t dil = {op->dil_h - 1, op->dil_w - 1}, pl = {op->pad_t, op->pad_l}, pr = {op->pad_b, op->pad_r};
  dnnl_data_type_t wdt = int8 ? dnnl_s8 : dnnl_f32;
  if (depthwise) {
    dnnl_dims_t wd = {ic, oc / ic, 1, kh, kw};
    rc = ck(dnnl_memory_desc_init_by_tag(&wmd, 5, wd, wdt, dnnl_format_tag_any), "md", err);
  } else {
    dnnl_dims_t wd = {oc, ic, kh, kw};
    rc = ck(dnnl_memory_desc_init_by_tag(&wmd, 4, wd, wdt, dnnl_format_tag_any), "md", err);
  }
  if (rc || (rc = ck(dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_x), "md", err)) ||
      (rc = ck(dnnl_memory_desc_init_by_tag(&dmd, 4, dd, odt, dnnl_format_tag_any), "md", err)) ||
      (rc = ck(dnnl_memory_desc_init_by_tag(&smd_any, 4, sd, g->t[src].md.data_type,
                                            dnnl_format_tag_any), "md", err)))
    return rc;
  float *wsc = NULL, *osc = NULL, *bq = NULL;
  dnnl_primitive_attr_t attr = new_attr(err, &rc);
  dnnl_post_ops_t po = NULL;
  dnnl_primitive_desc_t pd = NULL;
  dnnl_memory_t wmem = NULL, bmem = NULL;
  if (rc) goto out;
  if (int8) {
    wsc = malloc((size_t)oc * sizeof *wsc);
    osc = malloc((size_t)oc * sizeof *osc);
    bq = malloc((size_t)oc * sizeof *bq);
    if (!wsc || !osc || !bq) {
      rc = lk_err_set(err, LK_ENOMEM, "out of memory");
      goto out;
    }
    weight_scales(w, oc, depthwise, wsc);
    for (int c = 0; c < oc; c++) {
      float unit = g->t[src].scale * wsc[c]; /* real value of one accumulator step */
      osc[c] = unit / oscale;
      bq[c] = bias ? bias[c] / unit : 0;
    }
    if ((rc = ck(dnnl_primitive_attr_set_output_scales(attr, oc, 2, osc), "output scales", err)))
      goto out;
  }
  if (add) dmd = g->t[acc].md;
  if ((rc = ck(dnnl_post_ops_create(&po), "dnnl_post_ops_create", err)) ||
      (rc = append_act(po, op->act, oscale, err)) ||
      (add && (rc = ck(dnnl_post_ops_append_sum(po, g->t[acc].scale / oscale), "sum", err))) ||
      (add && (rc = append_act(po, add->act, oscale, err))) ||
      (rc = ck(dnnl_primitive_attr_set_post_ops(attr, po), "set_post_ops", err)))
    goto out;
  /* first on the producer's layout; if no implementation takes it, on the one it prefers */
  for (int pass = 0; pass < 2; pass++) {
    dnnl_convolution_desc_t cd;
    const dnnl_memory_desc_t *smd = pass ? &smd_any : &g->t[src].md;
    dnnl_status_t st = dnnl_dilated_convolution_forward_desc_init(
        &cd, dnnl_forward_inference, dnnl_convolution_direct, smd, &wmd, bias || int8 ? &bmd : NULL,
        &dmd, strides, dil, pl, pr);
    if (st == dnnl_success) st = conv_pd(g, &cd, attr, &pd);
    const char *impl = NULL;
    if (st == dnnl_success && !pass &&
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl &&
        !strncmp(impl, "ref", 3)) { /* a slow fallback: let it pick the layout instead */
      dnnl_primitive_desc_destroy(pd);
      pd = NULL;
      continue;
    }
    if (st == dnnl_success) break;
    pd = NULL;
    if (pass && add) {
      rc = 1;
      goto out;
    }
    if (pass) {
      rc = dnnl_fail(err, "convolution primitive", st);
      goto out;
    }
  }
  const dnnl_memory_desc_t *want_src = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
  const dnnl_memory_desc_t *want_w = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
  const dnnl_memory_desc_t *got_dst = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
  if (add && (!dnnl_memory_desc_equal(got_dst, &g->t[acc].md) ||
              !dnnl_memory_desc_equal(want_src, &g->t[src].md))) {
    rc = 1; /* in place needs acc's very layout, and nothing added before the conv */
    goto out;
  }
  if ((src = reorder_to(g, src, want_src, g->t[src].scale, err)) < 0) {
    rc = src;
    goto out;
  }
  if ((rc = load_weights(g, op, want_w, wsc, &wmem, err)) || (rc = own(g, wmem, err))) goto out;
  if (int8 && !add &&
      (rc = build_qconv(g, op, src, got_dst, wmem, want_w, bq, osc, oscale, err)) != 1)
    goto out;
  rc = 0;
  if (bias || int8) {
    void *h = NULL;
    if ((rc = ck(dnnl_memory_create(&bmem, &bmd, g->eng, DNNL_MEMORY_ALLOCATE), "bias", err)))
      goto out;
    if ((rc = own(g, bmem, err))) goto out;
    dnnl_memory_get_data_handle(bmem, &h);
    memcpy(h, int8 ? bq : bias, (size_t)oc * sizeof(float));
  }
  int dst = add ? acc : new_tensor(g, got_dst, oscale, err);
  if (dst < 0) {
    rc = dst;
    goto out;
  }
  dnnl_exec_arg_t a[4] = {{DNNL_ARG_SRC, g->t[src].mem}, {DNNL_ARG_WEIGHTS, wmem},
                          {DNNL_ARG_DST, g->t[dst].mem}, {DNNL_ARG_BIAS, bmem}};
  if ((rc = add_step(g, pd, a, bmem ? 4 : 3, src, add ? acc : -1, dst, err))) goto out;
  g->map[op->out[0]] = dst;
  if (add) {
    g->map[add->out[0]] = dst;
    g->t[dst].scale = oscale; /* readers built from here on see the sum's scale */
  }
out:
  free(wsc);
  free(osc);
  free(bq);
  if (pd) dnnl_primitive_desc_destroy(pd);
  if (po) dnnl_post_ops_destroy(po);
  if (attr) dnnl_primitive_attr_destroy(attr);
  return rc;
}

static int build_add(lk_fg *g, const lk_nn_op *op, lk_errbuf *err) {
  int a = g->map[op->in[0]], b = g->map[op->in[1]], rc = 0;
  int int8 = g->compute == LK_COMPUTE_INT8;
  dnnl_data_type_t odt = dnnl_f32;
  float oscale = 1;
  if (int8 && (rc = int8_of(&g->m->tensors[op->out[0]], op->act != LK_ACT_NONE, &odt, &oscale, err)))
    return rc;
  if (!dnnl_memory_desc_equal(&g->t[a].md, &g->t[b].md) && g->t[a].md.data_type == g->t[b].md.data_type &&
      (b = reorder_to(g, b, &g->t[a].md, g->t[b].scale, err)) < 0)
    return b;
  dnnl_memory_desc_t dmd = g->t[a].md;
  dmd.data_type = odt;
  dmd.extra.flags = 0;
  dnnl_binary_desc_t bd;
  dnnl_primitive_desc_t pd = NULL;
  dnnl_post_ops_t po = NULL;
  dnnl_primitive_attr_t attr = new_attr(err, &rc);
  if (!rc && int8) {
    float s0 = g->t[a].scale / oscale, s1 = g->t[b].scale / oscale;
    rc = ck(dnnl_primitive_attr_set_scales(attr, DNNL_ARG_SRC_0, 1, 0, &s0), "scales", err);
    if (!rc) rc = ck(dnnl_primitive_attr_set_scales(attr, DNNL_ARG_SRC_1, 1, 0, &s1), "scales", err);
  }
  if (!rc) rc = ck(dnnl_post_ops_create(&po), "dnnl_post_ops_create", err);
  if (!rc) rc = append_act(po, op->act, oscale, err);
  if (!rc) rc = ck(dnnl_primitive_attr_set_post_ops(attr, po), "set_post_ops", err);
  if (!rc)
    rc = ck(dnnl_binary_desc_init(&bd, dnnl_binary_add, &g->t[a].md, &g->t[b].md, &dmd),
            "dnnl_binary_desc_init", err);
  if (!rc) rc = ck(dnnl_primitive_desc_create(&pd, &bd, attr, g->eng, NULL), "binary primitive", err);
  if (!rc) {
    int dst = new_tensor(g, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), oscale, err);
    if (dst < 0) rc = dst;
    else {
      dnnl_exec_arg_t ar[3] = {{DNNL_ARG_SRC_0, g->t[a].mem}, {DNNL_ARG_SRC_1, g->t[b].mem},
                               {DNNL_ARG_DST, g->t[dst].mem}};
      rc = add_step(g, pd, ar, 3, a, b, dst, err);
      g->map[op->out[0]] = dst;
    }
  }
  if (pd) dnnl_primitive_desc_destroy(pd);
  if (po) dnnl_post_ops_destroy(po);
  if (attr) dnnl_primitive_attr_destroy(attr);
  return rc;
}

/* AVERAGE_POOL_2D / MAX_POOL_2D, and MEAN over H and W as one window over the whole map.
 * Average pooling leaves padding out of the count, as TFLite does. The output keeps the
 * input's data type and scale. */
static int build_pool(lk_fg *g, const lk_nn_op *op, lk_errbuf *err) {
  const lk_nn_tensor *in = &g->m->tensors[op->in[0]], *out = &g->m->tensors[op->out[0]];
  int src = g->map[op->in[0]], rc = 0;
  int mean = op->code == LK_OP_MEAN;
  if (mean && (in->ndims != 4 || op->reduce_mask != 6))
    return lk_err_set(err, LK_EUNSUPPORTED, "compute fp32/int8: MEAN only over height and width");
  int oh = mean ? 1 : out->dims[1], ow = mean ? 1 : out->dims[2], c = in->dims[3];
  dnnl_dims_t dd = {g->batch, c, oh, ow};
  dnnl_dims_t strides = {mean ? 1 : op->stride_h, mean ? 1 : op->stride_w};
  dnnl_dims_t kern = {mean ? in->dims[1] : op->filter_h, mean ? in->dims[2] : op->filter_w};
  dnnl_dims_t pl = {mean ? 0 : op->pad_t, mean ? 0 : op->pad_l};
  dnnl_dims_t pr = {mean ? 0 : op->pad_b, mean ? 0 : op->pad_r};
  dnnl_memory_desc_t dmd;
  dnnl_pooling_desc_t pdsc;
  dnnl_primitive_desc_t pd = NULL;
  dnnl_post_ops_t po = NULL;
  dnnl_primitive_attr_t attr = new_attr(err, &rc);
  int act = mean ? LK_ACT_NONE : op->act;
  if (!rc) rc = ck(dnnl_memory_desc_init_by_tag(&dmd, 4, dd, g->t[src].md.data_type,
                                               dnnl_format_tag_any), "md", err);
  if (!rc && act != LK_ACT_NONE) {
    rc = ck(dnnl_post_ops_create(&po), "dnnl_post_ops_create", err);
    if (!rc) rc = append_act(po, act, g->t[src].scale, err);
    if (!rc) rc = ck(dnnl_primitive_attr_set_post_ops(attr, po), "set_post_ops", err);
  }
  if (!rc)
    rc = ck(dnnl_pooling_forward_desc_init(
                &pdsc, dnnl_forward_inference,
                op->code == LK_OP_MAX_POOL_2D ? dnnl_pooling_max : dnnl_pooling_avg_exclude_padding,
                &g->t[src].md, &dmd, strides, kern, pl, pr),
            "dnnl_pooling_forward_desc_init", err);
  if (!rc) rc = ck(dnnl_primitive_desc_create(&pd, &pdsc, attr, g->eng, NULL), "pooling primitive", err);
  if (!rc) {
    int dst = new_tensor(g, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), g->t[src].scale, err);
    if (dst < 0) rc = dst;
    else {
      dnnl_exec_arg_t a[2] = {{DNNL_ARG_SRC, g->t[src].mem}, {DNNL_ARG_DST, g->t[dst].mem}};
      rc = add_step(g, pd, a, 2, src, -1, dst, err);
      g->map[op->out[0]] = dst;
    }
  }
  if (pd) dnnl_primitive_desc_destroy(pd);
  if (po) dnnl_post_ops_destroy(po);
  if (attr) dnnl_primitive_attr_destroy(attr);
  return rc;
}

/* The plain float layout of a tensor shaped like md: NHWC for 4-D, row-major otherwise. */
static int plain_md(const dnnl_memory_desc_t *md, dnnl_memory_desc_t *out, lk_errbuf *err) {
  static const dnnl_format_tag_t tags[] = {dnnl_a, dnnl_ab, dnnl_abc, dnnl_nhwc, dnnl_abcde, dnnl_abcdef};
  if (md->ndims < 1 || md->ndims > 6) return lk_err_set(err, LK_EUNSUPPORTED, "tensor rank %d", md->ndims);
  return ck(dnnl_memory_desc_init_by_tag(out, md->ndims, md->dims, dnnl_f32, tags[md->ndims - 1]),
            "md", err);
}

/* A model tensor's shape as a oneDNN md, batch first: 4-D as {n, c, h, w} (NHWC data),
 * others row-major. */
static int model_md(lk_fg *g, const lk_nn_tensor *t, dnnl_memory_desc_t *md, lk_errbuf *err) {
  dnnl_dims_t d;
  if (t->ndims < 1 || t->ndims > 6 || t->dims[0] != 1)
    return lk_err_set(err, LK_EUNSUPPORTED, "compute fp32/int8: tensor %s is not batch-first", t->name);
  for (int i = 0; i < t->ndims; i++) d[i] = t->dims[i];
  d[0] = g->batch;
  if (t->ndims == 4) {
    dnnl_dim_t h = d[1], w = d[2];
    d[1] = d[3];
    d[2] = h;
    d[3] = w;
  }
  dnnl_memory_desc_t shape;
  int rc = ck(dnnl_memory_desc_init_by_tag(&shape, t->ndims, d, dnnl_f32, dnnl_format_tag_any), "md", err);
  return rc ? rc : plain_md(&shape, md, err);
}

/* RESHAPE: the input in plain float layout (leaving INT8 here), copied under the new shape. */
static int build_reshape(lk_fg *g, const lk_nn_op *op, lk_errbuf *err) {
  const lk_nn_tensor *out = &g->m->tensors[op->out[0]];
  int src = g->map[op->in[0]], rc;
  dnnl_memory_desc_t pin, pout;
  if ((rc = plain_md(&g->t[src].md, &pin, err)) || (rc = model_md(g, out, &pout, err))) return rc;
  if ((src = reorder_to(g, src, &pin, 1, err)) < 0) return src;
  if (dnnl_memory_desc_get_size(&pin) != dnnl_memory_desc_get_size(&pout))
    return lk_err_set(err, LK_EUNSUPPORTED, "compute fp32/int8: RESHAPE changes the batch");
  int dst = new_tensor(g, &pout, 1, err);
  if (dst < 0) return dst;
  gstep *st = own_step(g, src, dst, op->out[0]);
  if (!st) return lk_err_set(err, LK_ENOMEM, "out of memory");
  st->copy = dnnl_memory_desc_get_size(&pout);
  return 0;
}

/* SOFTMAX over the last axis (beta 1), in float. */
static int build_softmax(lk_fg *g, const lk_nn_op *op, lk_errbuf *err) {
  int src = g->map[op->in[0]], rc;
  if (op->beta != 1.f) return lk_err_set(err, LK_EUNSUPPORTED, "compute fp32/int8: SOFTMAX beta != 1");
  dnnl_memory_desc_t pin;
  if ((rc = plain_md(&g->t[src].md, &pin, err))) return rc;
  if ((src = reorder_to(g, src, &pin, 1, err)) < 0) return src;
  int axis = pin.ndims == 4 ? 1 : pin.ndims - 1; /* channels: last in NHWC */
  dnnl_softmax_desc_t sd;
  dnnl_primitive_desc_t pd = NULL;
  dnnl_primitive_attr_t attr = new_attr(err, &rc);
  if (!rc) rc = ck(dnnl_softmax_forward_desc_init(&sd, dnnl_forward_inference, &pin, axis), "softmax", err);
  if (!rc) rc = ck(dnnl_primitive_desc_create(&pd, &sd, attr, g->eng, NULL), "softmax primitive", err);
  if (!rc) {
    int dst = new_tensor(g, &pin, 1, err);
    if (dst < 0) rc = dst;
    else {
      dnnl_exec_arg_t a[2] = {{DNNL_ARG_SRC, g->t[src].mem}, {DNNL_ARG_DST, g->t[dst].mem}};
      rc = add_step(g, pd, a, 2, src, -1, dst, err);
      g->map[op->out[0]] = dst;
    }
  }
  if (pd) dnnl_primitive_desc_destroy(pd);
  if (attr) dnnl_primitive_attr_destroy(attr);
  return rc;
}

/* The tap as float NHWC: a reorder out of the graph's layout (and INT8 scale). Tensors of
 * fewer than 4 dims (MEAN without keep_dims) hold the same values as their 4-D source. */
static int build_tap(lk_fg *g, int i, int tensor, lk_errbuf *err) {
  int src = g->map[tensor], rc;
  const dnnl_memory_desc_t *s = &g->t[src].md;
  dnnl_memory_desc_t want;
  if ((rc = plain_md(s, &want, err))) return rc;
  /* always a distinct tensor, kept to the end of the run */
  int to = new_tensor(g, &want, 1, err);
  if (to < 0) return to;
  dnnl_primitive_attr_t attr = new_attr(err, &rc);
  dnnl_primitive_desc_t pd = NULL;
  float sc = g->t[src].scale;
  if (!rc && sc != 1.f) rc = ck(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &sc), "scales", err);
  if (!rc) rc = ck(dnnl_reorder_primitive_desc_create(&pd, s, g->eng, &want, g->eng, attr), "tap reorder", err);
  if (!rc) {
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, g->t[src].mem}, {DNNL_ARG_TO, g->t[to].mem}};
    rc = add_step(g, pd, a, 2, src, -1, to, err);
  }
  if (pd) dnnl_primitive_desc_destroy(pd);
  if (attr) dnnl_primitive_attr_destroy(attr);
  g->tap_t[i] = to;
  return rc;
}

/* Liveness: each tensor gets a buffer from a pool of virtual buffers, freed after its last
 * reader (taps are never freed); then one arena holds them all. */
static int plan_arena(lk_fg *g, lk_errbuf *err) {
  int nt = g->nt, nv = 0, rc = 0;
  size_t *vsize = calloc((size_t)nt + 1, sizeof *vsize);
  int *vfree = calloc((size_t)nt + 1, sizeof *vfree), *vb = malloc(((size_t)nt + 1) * sizeof *vb);
  if (!vsize || !vfree || !vb) {
    rc = lk_err_set(err, LK_ENOMEM, "out of memory");
    goto out;
  }
  for (int t = 0; t < nt; t++) vb[t] = -1;
  for (int k = 0; k < g->ns; k++)
    for (int j = 0; j < 2; j++)
      if (g->s[k].in[j] >= 0 && g->t[g->s[k].in[j]].last != INT_MAX) g->t[g->s[k].in[j]].last = k;
  for (int k = -1; k < g->ns; k++) {
    int t = k < 0 ? g->in_t : g->s[k].out;
    size_t need = (dnnl_memory_desc_get_size(&g->t[t].md) + 63) & ~(size_t)63;
    int best = vb[t]; /* a conv with a fused sum writes into its accumulator in place */
    for (int v = 0; v < nv && vb[t] < 0; v++) {
      if (!vfree[v]) continue;
      int cf = vsize[v] >= need, bf = best >= 0 && vsize[best] >= need;
      if (best < 0 || (cf != bf ? cf : cf ? vsize[v] < vsize[best] : vsize[v] > vsize[best])) best = v;
    }
    if (best < 0) best = nv++;
    if (vsize[best] < need) vsize[best] = need;
    vfree[best] = 0;
    vb[t] = best;
    if (k >= 0)
      for (int j = 0; j < 2; j++) {
        int r = g->s[k].in[j];
        if (r >= 0 && g->t[r].last == k) vfree[vb[r]] = 1;
      }
    if (g->t[t].last < k) vfree[best] = 1; /* written, never read (cannot happen for taps) */
  }
  size_t total = 0, *voff = calloc((size_t)nv + 1, sizeof *voff);
  if (!voff) {
    rc = lk_err_set(err, LK_ENOMEM, "out of memory");
    goto out;
  }
  for (int v = 0; v < nv; v++) {
    voff[v] = total;
    if (lk_size_add(total, vsize[v], &total)) {
      free(voff);
      rc = lk_err_set(err, LK_ETOOBIG, "activations do not fit in memory");
      goto out;
    }
  }
  if (!(g->arena = lk_nn_big_alloc(total, &g->arena_bytes))) {
    free(voff);
    rc = lk_err_set(err, LK_ENOMEM, "out of memory for %zu MB of activations", total >> 20);
    goto out;
  }
  for (int t = 0; t < nt && !rc; t++)
    if (vb[t] >= 0)
      rc = ck(dnnl_memory_set_data_handle(g->t[t].mem, (char *)g->arena + voff[vb[t]]),
              "dnnl_memory_set_data_handle", err);
  free(voff);
out:
  free(vsize);
  free(vfree);
  free(vb);
  return rc;
}

void lk_fg_free(lk_fg *g) {
  if (!g) return;
  for (int k = 0; k < g->ns; k++) {
    if (g->s[k].prim) dnnl_primitive_destroy(g->s[k].prim);
    lk_qconv_dw_free(g->s[k].dw);
    lk_qconv_pw_free(g->s[k].pw);
    lk_qconv_stem_free(g->s[k].stem);
  }
  for (int t = 0; t < g->nt; t++)
    if (g->t[t].mem) dnnl_memory_destroy(g->t[t].mem);
  for (int i = 0; i < g->nowned; i++) dnnl_memory_destroy(g->owned[i]);
  if (g->scratch) dnnl_memory_destroy(g->scratch);
  lk_nn_big_free(g->arena, g->arena_bytes);
  lk_nn_big_free(g->scratch_buf, g->scratch_map);
  free(g->s);
  free(g->t);
  free(g->owned);
  free(g->map);
  free(g->tap_t);
  free(g);
}

/* The model ops in order (see build); nread/lastr: readers of each model tensor and the
 * position of the last (INT_MAX for taps), counted on the tensor QUANTIZE/DEQUANTIZE views
 * lead back to, for fusing a conv with the ADD after it. */
static int build_ops(lk_fg *g, const int *ops, int nops, const int *nread, const int *lastr,
                     lk_errbuf *err) {
  const lk_model *m = g->m;
  int rc = 0;
  for (int k = 0; k < nops; k++) {
    const lk_nn_op *op = &m->ops[ops[k]];
    for (int j = 0; j < op->nin; j++)
      if (op->in[j] >= 0 && !m->tensors[op->in[j]].data && g->map[op->in[j]] < 0)
        return lk_err_set(err, LK_EUNSUPPORTED, "compute fp32/int8: op %d reads an unplanned tensor",
                          op->index);
    switch (op->code) {
    case LK_OP_CONV_2D:
    case LK_OP_DEPTHWISE_CONV_2D:
      rc = 1;
      if (k + 1 < nops) { /* conv, then an ADD of its output alone and x */
        const lk_nn_op *add = &m->ops[ops[k + 1]];
        int y = op->out[0];
        if (add->code == LK_OP_ADD && add->nin == 2 && nread[y] == 1 && lastr[y] == k + 1 &&
            (add->in[0] == y) != (add->in[1] == y)) {
          int x = add->in[add->in[0] == y ? 1 : 0];
          /* x: not a constant, not the input, not read by the conv itself (in place), and
           * dead after the ADD (through every view of it) */
          if (!m->tensors[x].data && m->tensors[x].count == m->tensors[y].count &&
              lastr[x] == k + 1 && g->map[x] >= 0 && g->map[x] != g->in_t &&
              g->map[x] != g->map[op->in[0]] &&
              !(g->compute == LK_COMPUTE_INT8 && g->t[g->map[op->in[0]]].md.data_type == dnnl_f32)) {
            rc = build_conv(g, op, add, g->map[x], err);
            if (!rc) k++; /* the ADD is done */
          }
        }
      }
      if (rc == 1) rc = build_conv(g, op, NULL, -1, err);
      break;
    case LK_OP_ADD:
      if (op->nin != 2 || m->tensors[op->in[1]].data ||
          m->tensors[op->in[0]].count != m->tensors[op->in[1]].count)
        return lk_err_set(err, LK_EUNSUPPORTED, "compute fp32/int8: ADD with broadcast (op %d)",
                          op->index);
      rc = build_add(g, op, err);
      break;
    case LK_OP_AVERAGE_POOL_2D:
    case LK_OP_MAX_POOL_2D:
    case LK_OP_MEAN:
      rc = build_pool(g, op, err);
      break;
    case LK_OP_RESHAPE:
      rc = build_reshape(g, op, err);
      break;
    case LK_OP_SOFTMAX:
      rc = build_softmax(g, op, err);
      break;
    case LK_OP_QUANTIZE:
    case LK_OP_DEQUANTIZE:
      g->map[op->out[0]] = g->map[op->in[0]]; /* values unchanged in these modes */
      rc = 0;
      break;
    default:
      return lk_err_set(err, LK_EUNSUPPORTED,
                        "compute fp32/int8 cannot run op %s (op %d); use compute exact",
                        lk_nn_op_name(op->code), op->index);
    }
    if (rc) return rc;
  }
  return 0;
}

static int build(lk_fg *g, const int *ops, int nops, const int *taps, int ntaps, lk_errbuf *err) {
  const lk_model *m = g->m;
  const lk_nn_tensor *it = &m->tensors[m->input];
  int rc;
  if (it->ndims != 4 || it->dims[3] != 3)
    return lk_err_set(err, LK_EUNSUPPORTED, "compute fp32/int8: input must be N,H,W,3");
  dnnl_memory_desc_t imd;
  dnnl_dims_t id = {g->batch, 3, it->dims[1], it->dims[2]};
  /* INT8 on a quantised input: pixels go straight to s8 through a table (the values the float
   * input reordered to s8 would get: one rounding of input value / s8 scale) */
  dnnl_data_type_t idt = dnnl_f32;
  float is = 1;
  if (g->compute == LK_COMPUTE_INT8 && it->nq == 1 && it->type != LK_NN_FLOAT32) {
    float off, sc;
    if ((rc = int8_of(it, 0, &idt, &is, err))) return rc;
    lk_nn_input_affine(it, &off, &sc);
    float inv = 1 / is;
    for (int v = 0; v < 256; v++) {
      float q = nearbyintf((((float)v + off) * sc) * inv);
      if (idt == dnnl_u8) q = q < 0 ? 0 : q > 255 ? 255 : q;
      else q = q < -128 ? -128 : q > 127 ? 127 : q;
      g->in_lut[v] = (int8_t)(idt == dnnl_u8 ? (int)(uint8_t)q : (int)q);
    }
    g->in_q = 1;
  }
  if ((rc = ck(dnnl_memory_desc_init_by_tag(&imd, 4, id, idt, dnnl_nhwc), "md", err))) return rc;
  if ((g->in_t = new_tensor(g, &imd, is, err)) < 0) return g->in_t;
  g->map[m->input] = g->in_t;
  /* per model tensor: how many planned ops read it, and the position of the last one */
  int *nread = calloc((size_t)m->ntensors, sizeof *nread), *lastr = malloc((size_t)m->ntensors * sizeof *lastr);
  if (!nread || !lastr) {
    free(nread);
    free(lastr);
    return lk_err_set(err, LK_ENOMEM, "out of memory");
  }
  int *root = malloc((size_t)m->ntensors * sizeof *root);
  if (!root) {
    free(nread);
    free(lastr);
    return lk_err_set(err, LK_ENOMEM, "out of memory");
  }
  for (int t = 0; t < m->ntensors; t++) lastr[t] = -1, root[t] = t;
  for (int k = 0; k < nops; k++) { /* views share their source's buffer: count on the source */
    const lk_nn_op *op = &m->ops[ops[k]];
    if ((op->code == LK_OP_QUANTIZE || op->code == LK_OP_DEQUANTIZE) && op->in[0] >= 0)
      root[op->out[0]] = root[op->in[0]];
  }
  for (int k = 0; k < nops; k++)
    for (int j = 0; j < m->ops[ops[k]].nin; j++) {
      int t = m->ops[ops[k]].in[j];
      if (t >= 0 && !m->tensors[t].data) nread[root[t]]++, lastr[root[t]] = k;
    }
  for (int i = 0; i < ntaps; i++) lastr[root[taps[i]]] = INT_MAX;
  for (int t = 0; t < m->ntensors; t++) nread[t] = nread[root[t]], lastr[t] = lastr[root[t]];
  free(root);
  rc = build_ops(g, ops, nops, nread, lastr, err);
  free(nread);
  free(lastr);
  if (rc) return rc;
  for (int i = 0; i < ntaps; i++) {
    if (g->map[taps[i]] < 0)
      return lk_err_set(err, LK_EUNSUPPORTED, "compute fp32/int8: tap is not computed");
    if ((rc = build_tap(g, i, taps[i], err))) return rc;
    g->t[g->tap_t[i]].last = INT_MAX;
  }
  if ((rc = plan_arena(g, err))) return rc;
  if (g->scratch_bytes) {
    dnnl_memory_desc_t smd;
    dnnl_dims_t sd = {(dnnl_dim_t)g->scratch_bytes};
    if (!(g->scratch_buf = lk_nn_big_alloc(g->scratch_bytes, &g->scratch_map)))
      return lk_err_set(err, LK_ENOMEM, "out of memory for the scratchpad");
    if ((rc = ck(dnnl_memory_desc_init_by_tag(&smd, 1, sd, dnnl_u8, dnnl_x), "md", err)) ||
        (rc = ck(dnnl_memory_create(&g->scratch, &smd, g->eng, g->scratch_buf), "scratchpad", err)))
      return rc;
  }
  return 0;
}

int lk_fg_new(const lk_model *m, const int *ops, int nops, const int *taps, int ntaps,
              int compute, int batch, lk_dnnl *d, lk_fg **out, lk_errbuf *err) {
  *out = NULL;
  if (compute != LK_COMPUTE_FP32 && compute != LK_COMPUTE_INT8)
    return lk_err_set(err, LK_EINVAL, "fastgraph: compute %d is not fp32 or int8", compute);
  lk_fg *g = calloc(1, sizeof *g);
  if (!g) return lk_err_set(err, LK_ENOMEM, "out of memory");
  g->d = d;
  g->eng = (dnnl_engine_t)lk_dnnl_engine(d);
  g->stream = (dnnl_stream_t)lk_dnnl_stream(d);
  g->m = m;
  g->compute = compute;
  g->batch = batch;
  g->ntaps = ntaps;
  g->map = malloc((size_t)m->ntensors * sizeof *g->map);
  g->tap_t = calloc((size_t)ntaps, sizeof *g->tap_t);
  if (!g->map || !g->tap_t) {
    lk_fg_free(g);
    return lk_err_set(err, LK_ENOMEM, "out of memory");
  }
  for (int t = 0; t < m->ntensors; t++) g->map[t] = -1;
  int saved = lk_dnnl_thr_enter(d);
  int rc = build(g, ops, nops, taps, ntaps, err);
  lk_dnnl_thr_leave(d, saved);
  if (rc) {
    lk_fg_free(g);
    return rc;
  }
  *out = g;
  return 0;
}

void lk_fg_load_pixels(lk_fg *g, const uint8_t *px, size_t count) {
  void *h = NULL;
  dnnl_memory_get_data_handle(g->t[g->in_t].mem, &h);
  lk_qconv_table(g->in_lut, px, h, count);
}

float *lk_fg_input(lk_fg *g) {
  void *h = NULL;
  if (g->in_q) return NULL;
  dnnl_memory_get_data_handle(g->t[g->in_t].mem, &h);
  return h;
}

const float *lk_fg_tap(const lk_fg *g, int i) {
  void *h = NULL;
  dnnl_memory_get_data_handle(g->t[g->tap_t[i]].mem, &h);
  return h;
}

static atomic_int trace; /* lk_fg_set_trace */

void lk_fg_set_trace(int on) { atomic_store_explicit(&trace, on, memory_order_relaxed); }

int lk_fg_run(lk_fg *g, lk_errbuf *err) {
  int saved = lk_dnnl_thr_enter(g->d), rc = 0;
  for (int k = 0; k < g->ns && !rc; k++) {
    gstep *st = &g->s[k];
    dnnl_exec_arg_t a[MAX_ARGS + 1];
    memcpy(a, st->args, (size_t)st->nargs * sizeof *a);
    int n = st->nargs;
    if (!st->prim) { /* RESHAPE, qconv: the stream is in order, so wait for the producer first */
      void *from = NULL, *to = NULL;
      rc = ck(dnnl_stream_wait(g->stream), "dnnl_stream_wait", err);
      dnnl_memory_get_data_handle(st->args[0].memory, &from);
      dnnl_memory_get_data_handle(st->args[1].memory, &to);
      int own = st->dw || st->pw || st->stem;
      int tr = own && atomic_load_explicit(&trace, memory_order_relaxed);
      double t0 = tr ? lk_clock_now() : 0;
      if (!rc && st->dw) lk_qconv_dw_run(st->dw, from, to);
      else if (!rc && st->pw) lk_qconv_pw_run(st->pw, from, to);
      else if (!rc && st->stem) lk_qconv_stem_run(st->stem, from, to);
      else if (!rc) memcpy(to, from, st->copy);
      if (!rc && tr)
        printf("onednn_verbose,exec,cpu,convolution,lookalike_qconv:avx512_vnni,"
               "forward_inference,src_u8 dst_u8,,alg:convolution_direct,%s,%g\n",
               st->desc, 1000 * (lk_clock_now() - t0));
      continue;
    }
    if (st->scratch) a[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, g->scratch};
    rc = ck(dnnl_primitive_execute(st->prim, g->stream, n, a), "dnnl_primitive_execute", err);
  }
  if (!rc) rc = ck(dnnl_stream_wait(g->stream), "dnnl_stream_wait", err);
  lk_dnnl_thr_leave(g->d, saved);
  return rc;
}
