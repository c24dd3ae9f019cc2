/* nn/dnnl_backend.c — oneDNN 2.6 (C API) convolutions for nn/ (the one sgemm wrapper is util/linalg.h): see dnnl_backend.h.
 * A conv is one forward-inference primitive for fixed shapes: src/dst are the caller's NHWC
 * buffers wrapped in place, weights are reordered once into the layout the primitive prefers,
 * bias/activation/fake quantisation are fused as bias + eltwise post-ops, and the scratchpad
 * is owned by the conv (user mode), so a run allocates nothing.
 * Threads: oneDNN here uses OpenMP; `threads` > 0 is applied around each create/run call. */
#include "nn/dnnl_backend.h"

#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

#include "util/size.h"

/* `threads` semantics: 0 = OpenMP's default (OMP_NUM_THREADS, else all cores); n > 0 = at most
 * n OpenMP threads for this handle's calls. The Makefile does not build with -fopenmp, so the
 * libgomp entry points (loaded anyway with libdnnl) are looked up with dlsym; omp_set_num_threads
 * only affects the calling thread and is restored after each call, so nothing leaks out. */
typedef void (*omp_set_fn)(int);
typedef int (*omp_get_fn)(void);

struct lk_dnnl {
  dnnl_engine_t engine;
  dnnl_stream_t stream;
  int threads;
  omp_set_fn omp_set; /* NULL when threads == 0 or no OpenMP runtime is loaded */
  omp_get_fn omp_get;
};

struct lk_dnnl_conv {
  lk_dnnl *d;             /* borrowed: must outlive the conv */
  dnnl_primitive_t prim;
  dnnl_memory_t src, dst; /* no buffer: the caller's pointers are set per run */
  dnnl_memory_t wei;      /* owned, in the primitive's preferred layout */
  dnnl_memory_t bias;     /* owned or NULL */
  dnnl_memory_t scratch;  /* owned or NULL when the primitive needs none */
  char impl[96];
  char wfmt[48];
};

/* Maps a failed dnnl call to an LK_E* code with a message naming the call. */
static int dnnl_fail(lk_errbuf *err, const char *call, dnnl_status_t st) {
  int code = LK_EINVAL;
  if (st == dnnl_out_of_memory) code = LK_ENOMEM;
  else if (st == dnnl_unimplemented) code = LK_EUNSUPPORTED;
  return lk_err_set(err, code, "oneDNN: %s failed: %s", call, dnnl_status2str(st));
}

/* 0 on success, else the mapped error; used as `if ((rc = ck(...))) goto fail;`. */
static int ck(dnnl_status_t st, const char *call, lk_errbuf *err) {
  return st == dnnl_success ? 0 : dnnl_fail(err, call, st);
}

static int thr_enter(const lk_dnnl *d) {
  if (!d->omp_set) return 0;
  int saved = d->omp_get();
  d->omp_set(d->threads);
  return saved;
}

static void thr_leave(const lk_dnnl *d, int saved) {
  if (d->omp_set) d->omp_set(saved);
}

int lk_dnnl_new(int threads, lk_dnnl **out, lk_errbuf *err) {
  *out = NULL;
  if (threads < 0) return lk_err_set(err, LK_EINVAL, "dnnl: threads must be >= 0, got %d", threads);
  lk_dnnl *d = calloc(1, sizeof *d);
  if (!d) return lk_err_set(err, LK_ENOMEM, "dnnl: out of memory");
  d->threads = threads;
  if (threads > 0) {
    d->omp_set = (omp_set_fn)dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    d->omp_get = (omp_get_fn)dlsym(RTLD_DEFAULT, "omp_get_max_threads");
    if (!d->omp_set || !d->omp_get) d->omp_set = NULL, d->omp_get = NULL;
  }
  int rc;
  if ((rc = ck(dnnl_engine_create(&d->engine, dnnl_cpu, 0), "dnnl_engine_create", err)))
    goto fail;
  if ((rc = ck(dnnl_stream_create(&d->stream, d->engine, dnnl_stream_default_flags),
               "dnnl_stream_create", err)))
    goto fail;
  *out = d;
  return 0;
fail:
  lk_dnnl_free(d);
  return rc;
}

void lk_dnnl_free(lk_dnnl *d) {
  if (!d) return;
  if (d->stream) dnnl_stream_destroy(d->stream);
  if (d->engine) dnnl_engine_destroy(d->engine);
  free(d);
}

/* Checks the parameters as untrusted input (they come from a model file). */
static int check_params(const lk_conv_params *p, lk_errbuf *err) {
  if (p->n <= 0 || p->ih <= 0 || p->iw <= 0 || p->ic <= 0 || p->oh <= 0 || p->ow <= 0 ||
      p->oc <= 0 || p->kh <= 0 || p->kw <= 0)
    return lk_err_set(err, LK_EINVAL,
                      "dnnl conv: sizes must be positive (n=%d in=%dx%dx%d out=%dx%dx%d k=%dx%d)",
                      p->n, p->ih, p->iw, p->ic, p->oh, p->ow, p->oc, p->kh, p->kw);
  if (p->sh <= 0 || p->sw <= 0 || p->dh <= 0 || p->dw <= 0)
    return lk_err_set(err, LK_EINVAL, "dnnl conv: stride %dx%d / dilation %dx%d must be >= 1",
                      p->sh, p->sw, p->dh, p->dw);
  if (p->pad_t < 0 || p->pad_l < 0 || p->pad_b < 0 || p->pad_r < 0)
    return lk_err_set(err, LK_EINVAL, "dnnl conv: negative padding %d,%d,%d,%d", p->pad_t,
                      p->pad_l, p->pad_b, p->pad_r);
  if (p->depthwise && p->oc % p->ic != 0)
    return lk_err_set(err, LK_EINVAL, "dnnl conv: depthwise oc %d is not a multiple of ic %d",
                      p->oc, p->ic);
  if (!p->weights) return lk_err_set(err, LK_EINVAL, "dnnl conv: no weights");
  if (p->act != LK_ACT_NONE && p->act != LK_ACT_RELU && p->act != LK_ACT_RELU6)
    return lk_err_set(err, LK_EINVAL, "dnnl conv: unknown activation %d", p->act);
  if (p->fake_quant && (!(p->q_scale > 0) || !isfinite(p->q_scale) || p->q_min > p->q_max))
    return lk_err_set(err, LK_EINVAL, "dnnl conv: bad fake quantisation scale %g range [%d,%d]",
                      (double)p->q_scale, p->q_min, p->q_max);
  /* Output size must follow from input, kernel, stride and padding (oneDNN's rule too). */
  int64_t span_h = (int64_t)(p->kh - 1) * p->dh + 1, span_w = (int64_t)(p->kw - 1) * p->dw + 1;
  int64_t room_h = (int64_t)p->ih + p->pad_t + p->pad_b - span_h;
  int64_t room_w = (int64_t)p->iw + p->pad_l + p->pad_r - span_w;
  if (room_h < 0 || room_w < 0 || room_h / p->sh + 1 != p->oh || room_w / p->sw + 1 != p->ow)
    return lk_err_set(err, LK_EINVAL,
                      "dnnl conv: output %dx%d does not match input %dx%d, kernel %dx%d, "
                      "stride %dx%d, dilation %dx%d, padding t%d l%d b%d r%d",
                      p->oh, p->ow, p->ih, p->iw, p->kh, p->kw, p->sh, p->sw, p->dh, p->dw,
                      p->pad_t, p->pad_l, p->pad_b, p->pad_r);
  size_t sz;
  if (lk_size_mul4((size_t)p->n, (size_t)p->ih, (size_t)p->iw, (size_t)p->ic, &sz) ||
      lk_size_mul4((size_t)p->n, (size_t)p->oh, (size_t)p->ow, (size_t)p->oc, &sz) ||
      lk_size_mul4((size_t)p->oc, (size_t)p->kh, (size_t)p->kw, (size_t)p->ic, &sz) ||
      lk_size_mul(sz, sizeof(float), &sz))
    return lk_err_set(err, LK_ETOOBIG, "dnnl conv: tensor sizes overflow");
  return 0;
}

/* The weights layout as a oneDNN-style tag: dims outer to inner as letters (upper case when
 * also blocked), then the inner blocks, e.g. "ABcd16b16a"; plain OHWI is "acdb". */
static void describe_md(const dnnl_memory_desc_t *md, char *buf, size_t cap) {
  if (md->format_kind != dnnl_blocked) {
    snprintf(buf, cap, "%s", dnnl_fmt_kind2str(md->format_kind));
    return;
  }
  const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
  int order[DNNL_MAX_NDIMS], nd = md->ndims;
  for (int i = 0; i < nd; i++) order[i] = i;
  /* insertion sort: stride descending; on ties (size-1 dims) real dims first, like oneDNN */
  for (int i = 1; i < nd; i++)
    for (int j = i; j > 0 && (b->strides[order[j]] > b->strides[order[j - 1]] ||
                              (b->strides[order[j]] == b->strides[order[j - 1]] &&
                               md->dims[order[j]] > 1 && md->dims[order[j - 1]] == 1));
         j--) {
      int t = order[j];
      order[j] = order[j - 1];
      order[j - 1] = t;
    }
  size_t len = 0;
  for (int i = 0; i < nd && len + 1 < cap; i++) {
    int blocked = 0;
    for (int k = 0; k < b->inner_nblks; k++) blocked |= b->inner_idxs[k] == order[i];
    buf[len++] = (char)((blocked ? 'A' : 'a') + order[i]);
  }
  buf[len] = '\0';
  for (int k = 0; k < b->inner_nblks && len < cap; k++) {
    int w = snprintf(buf + len, cap - len, "%lld%c", (long long)b->inner_blks[k],
                     (char)('a' + b->inner_idxs[k]));
    if (w < 0) break;
    len += (size_t)w;
  }
}

static float clampf(float x, float lo, float hi) { return x < lo ? lo : x > hi ? hi : x; }

/* The activation and fake quantisation as eltwise post-ops. oneDNN 2.6's brgconv kernels
 * give every post-op of one algorithm kind the alpha/beta/scale of the first one (measured:
 * relu6 as clip followed by a quantisation clip clamps the grid index to 6), so no kind may
 * appear twice in the chain. With fake quantisation the activation is therefore folded into
 * the quantisation clip instead of being a post-op of its own. */
static int build_post_ops(const lk_conv_params *p, dnnl_post_ops_t po, lk_errbuf *err) {
  int rc;
  if (!p->fake_quant) {
    if (p->act == LK_ACT_RELU)
      return ck(dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_relu, 0.f, 0.f),
                "dnnl_post_ops_append_eltwise(relu)", err);
    if (p->act == LK_ACT_RELU6)
      return ck(dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_clip, 0.f, 6.f),
                "dnnl_post_ops_append_eltwise(relu6)", err);
    return 0;
  }
  /* q = clamp(round(act(y)/s) + zp, qmin, qmax); out = (q - zp) * s. Three rewrites, each exact:
   * - shift the zero point onto the bounds: out = clamp(round(act(y)/s), qmin-zp, qmax-zp) * s,
   *   so every intermediate is an exact integer and the last multiply yields the very float
   *   (q - zp) * s the reference computes (the multiply is the clip post-op's scale);
   * - act is clamp(y, a, b) (relu: [0, inf), relu6: [0, 6]) and f(y) = round(y * (1/s)) is
   *   monotone, so f(act(y)) = clamp(f(y), f(a), f(b)) with f evaluated here exactly as oneDNN
   *   does (one float multiply, round half to even);
   * - clamp(clamp(x, A, B), lo, hi) = clamp(x, clamp(A, lo, hi), clamp(B, lo, hi)) for A <= B. */
  float inv = 1.f / p->q_scale;
  float lo = (float)((double)p->q_min - p->q_zero_point);
  float hi = (float)((double)p->q_max - p->q_zero_point);
  if (p->act != LK_ACT_NONE) {
    float a = nearbyintf(0.f * inv), b = p->act == LK_ACT_RELU6 ? nearbyintf(6.f * inv) : hi;
    a = clampf(a, lo, hi);
    b = clampf(b, lo, hi);
    lo = a, hi = b;
  }
  if ((rc = ck(dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_linear, inv, 0.f),
               "dnnl_post_ops_append_eltwise(quant scale)", err)) ||
      (rc = ck(dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_round, 0.f, 0.f),
               "dnnl_post_ops_append_eltwise(round)", err)) ||
      (rc = ck(dnnl_post_ops_append_eltwise(po, p->q_scale, dnnl_eltwise_clip, lo, hi),
               "dnnl_post_ops_append_eltwise(quant clip)", err)))
    return rc;
  return 0;
}

/* Copies the TFLite weights into c->wei in the layout the primitive wants (one reorder). */
static int load_weights(lk_dnnl *d, lk_dnnl_conv *c, const lk_conv_params *p,
                        const dnnl_memory_desc_t *want, lk_errbuf *err) {
  dnnl_memory_desc_t user_md;
  dnnl_memory_t user = NULL;
  dnnl_primitive_desc_t rpd = NULL;
  dnnl_primitive_t reorder = NULL;
  int rc;
  if (p->depthwise) { /* [1][kh][kw][oc], oc = g*mult + m  ->  dims {g, mult, 1, kh, kw} */
    int mult = p->oc / p->ic;
    dnnl_dims_t dims = {p->ic, mult, 1, p->kh, p->kw};
    dnnl_dims_t strides = {mult, 1, 1, (dnnl_dim_t)p->kw * p->oc, p->oc};
    rc = ck(dnnl_memory_desc_init_by_strides(&user_md, 5, dims, dnnl_f32, strides),
            "dnnl_memory_desc_init_by_strides(depthwise weights)", err);
  } else { /* OHWI [oc][kh][kw][ic]  ->  dims {oc, ic, kh, kw} */
    dnnl_dims_t dims = {p->oc, p->ic, p->kh, p->kw};
    dnnl_dims_t strides = {(dnnl_dim_t)p->kh * p->kw * p->ic, 1, (dnnl_dim_t)p->kw * p->ic, p->ic};
    rc = ck(dnnl_memory_desc_init_by_strides(&user_md, 4, dims, dnnl_f32, strides),
            "dnnl_memory_desc_init_by_strides(weights)", err);
  }
  if (rc) return rc;
  if ((rc = ck(dnnl_memory_create(&user, &user_md, d->engine, (void *)p->weights),
               "dnnl_memory_create(user weights)", err)) ||
      (rc = ck(dnnl_memory_create(&c->wei, want, d->engine, DNNL_MEMORY_ALLOCATE),
               "dnnl_memory_create(weights)", err)) ||
      (rc = ck(dnnl_reorder_primitive_desc_create(&rpd, &user_md, d->engine, want, d->engine, NULL),
               "dnnl_reorder_primitive_desc_create(weights)", err)) ||
      (rc = ck(dnnl_primitive_create(&reorder, rpd), "dnnl_primitive_create(weights reorder)",
               err)))
    goto out;
  dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, c->wei}};
  if ((rc = ck(dnnl_primitive_execute(reorder, d->stream, 2, args),
               "dnnl_primitive_execute(weights reorder)", err)) ||
      (rc = ck(dnnl_stream_wait(d->stream), "dnnl_stream_wait(weights reorder)", err)))
    goto out;
out:
  if (reorder) dnnl_primitive_destroy(reorder);
  if (rpd) dnnl_primitive_desc_destroy(rpd);
  if (user) dnnl_memory_destroy(user);
  return rc;
}

static int load_bias(lk_dnnl *d, lk_dnnl_conv *c, const dnnl_memory_desc_t *md,
                     const float *bias, int oc, lk_errbuf *err) {
  void *h = NULL;
  int rc;
  if ((rc = ck(dnnl_memory_create(&c->bias, md, d->engine, DNNL_MEMORY_ALLOCATE),
               "dnnl_memory_create(bias)", err)) ||
      (rc = ck(dnnl_memory_get_data_handle(c->bias, &h), "dnnl_memory_get_data_handle(bias)",
               err)))
    return rc;
  memcpy(h, bias, (size_t)oc * sizeof(float));
  return 0;
}

/* Everything after validation; on failure the caller frees the half-built conv. */
static int conv_build(lk_dnnl *d, lk_dnnl_conv *c, const lk_conv_params *p, lk_errbuf *err) {
  dnnl_memory_desc_t src_md, dst_md, wei_any, bias_md;
  dnnl_convolution_desc_t cd;
  dnnl_primitive_attr_t attr = NULL;
  dnnl_post_ops_t po = NULL;
  dnnl_primitive_desc_t pd = NULL;
  int rc;
  dnnl_dims_t src_dims = {p->n, p->ic, p->ih, p->iw};
  dnnl_dims_t dst_dims = {p->n, p->oc, p->oh, p->ow};
  dnnl_dims_t bias_dims = {p->oc};
  dnnl_dims_t strides = {p->sh, p->sw}, dil = {p->dh - 1, p->dw - 1};
  dnnl_dims_t pad_l = {p->pad_t, p->pad_l}, pad_r = {p->pad_b, p->pad_r};
  if (p->depthwise) {
    dnnl_dims_t wdims = {p->ic, p->oc / p->ic, 1, p->kh, p->kw};
    rc = ck(dnnl_memory_desc_init_by_tag(&wei_any, 5, wdims, dnnl_f32, dnnl_format_tag_any),
            "dnnl_memory_desc_init_by_tag(weights any)", err);
  } else {
    dnnl_dims_t wdims = {p->oc, p->ic, p->kh, p->kw};
    rc = ck(dnnl_memory_desc_init_by_tag(&wei_any, 4, wdims, dnnl_f32, dnnl_format_tag_any),
            "dnnl_memory_desc_init_by_tag(weights any)", err);
  }
  if (rc) return rc;
  if ((rc = ck(dnnl_memory_desc_init_by_tag(&src_md, 4, src_dims, dnnl_f32, dnnl_nhwc),
               "dnnl_memory_desc_init_by_tag(src)", err)) ||
      (rc = ck(dnnl_memory_desc_init_by_tag(&dst_md, 4, dst_dims, dnnl_f32, dnnl_nhwc),
               "dnnl_memory_desc_init_by_tag(dst)", err)) ||
      (rc = ck(dnnl_memory_desc_init_by_tag(&bias_md, 1, bias_dims, dnnl_f32, dnnl_x),
               "dnnl_memory_desc_init_by_tag(bias)", err)) ||
      (rc = ck(dnnl_dilated_convolution_forward_desc_init(
                   &cd, dnnl_forward_inference, dnnl_convolution_direct, &src_md, &wei_any,
                   p->bias ? &bias_md : NULL, &dst_md, strides, dil, pad_l, pad_r),
               "dnnl_dilated_convolution_forward_desc_init", err)) ||
      (rc = ck(dnnl_primitive_attr_create(&attr), "dnnl_primitive_attr_create", err)) ||
      (rc = ck(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user),
               "dnnl_primitive_attr_set_scratchpad_mode", err)) ||
      (rc = ck(dnnl_post_ops_create(&po), "dnnl_post_ops_create", err)) ||
      (rc = build_post_ops(p, po, err)) ||
      (rc = ck(dnnl_primitive_attr_set_post_ops(attr, po), "dnnl_primitive_attr_set_post_ops",
               err)) ||
      (rc = ck(dnnl_primitive_desc_create(&pd, &cd, attr, d->engine, NULL),
               "dnnl_primitive_desc_create(convolution)", err)))
    goto out;

  const char *impl = NULL;
  if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
    snprintf(c->impl, sizeof c->impl, "%s", impl);
  const dnnl_memory_desc_t *want = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
  const dnnl_memory_desc_t *got_src = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
  const dnnl_memory_desc_t *got_dst = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
  const dnnl_memory_desc_t *scr = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
  if (!want || !got_src || !got_dst || !scr) {
    rc = lk_err_set(err, LK_EUNSUPPORTED, "oneDNN: dnnl_primitive_desc_query_md failed");
    goto out;
  }
  /* src/dst were given as nhwc, so the pd must keep them; checked because we run in place. */
  if (!dnnl_memory_desc_equal(got_src, &src_md) || !dnnl_memory_desc_equal(got_dst, &dst_md)) {
    rc = lk_err_set(err, LK_EUNSUPPORTED, "oneDNN: convolution changed the nhwc src/dst layout");
    goto out;
  }
  describe_md(want, c->wfmt, sizeof c->wfmt);
  if ((rc = load_weights(d, c, p, want, err))) goto out;
  if (p->bias && (rc = load_bias(d, c, &bias_md, p->bias, p->oc, err))) goto out;
  if (dnnl_memory_desc_get_size(scr) > 0 &&
      (rc = ck(dnnl_memory_create(&c->scratch, scr, d->engine, DNNL_MEMORY_ALLOCATE),
               "dnnl_memory_create(scratchpad)", err)))
    goto out;
  if ((rc = ck(dnnl_memory_create(&c->src, &src_md, d->engine, DNNL_MEMORY_NONE),
               "dnnl_memory_create(src)", err)) ||
      (rc = ck(dnnl_memory_create(&c->dst, &dst_md, d->engine, DNNL_MEMORY_NONE),
               "dnnl_memory_create(dst)", err)) ||
      (rc = ck(dnnl_primitive_create(&c->prim, pd), "dnnl_primitive_create(convolution)", err)))
    goto out;
out:
  if (pd) dnnl_primitive_desc_destroy(pd);
  if (po) dnnl_post_ops_destroy(po);
  if (attr) dnnl_primitive_attr_destroy(attr);
  return rc;
}

int lk_dnnl_conv_new(lk_dnnl *d, const lk_conv_params *p, lk_dnnl_conv **out, lk_errbuf *err) {
  *out = NULL;
  int rc = check_params(p, err);
  if (rc) return rc;
  lk_dnnl_conv *c = calloc(1, sizeof *c);
  if (!c) return lk_err_set(err, LK_ENOMEM, "dnnl conv: out of memory");
  c->d = d;
  int saved = thr_enter(d);
  rc = conv_build(d, c, p, err);
  thr_leave(d, saved);
  if (rc) {
    lk_dnnl_conv_free(c);
    return rc;
  }
  *out = c;
  return 0;
}

void lk_dnnl_conv_free(lk_dnnl_conv *c) {
  if (!c) return;
  if (c->prim) dnnl_primitive_destroy(c->prim);
  if (c->src) dnnl_memory_destroy(c->src);
  if (c->dst) dnnl_memory_destroy(c->dst);
  if (c->wei) dnnl_memory_destroy(c->wei);
  if (c->bias) dnnl_memory_destroy(c->bias);
  if (c->scratch) dnnl_memory_destroy(c->scratch);
  free(c);
}

void *lk_dnnl_engine(lk_dnnl *d) { return d->engine; }
void *lk_dnnl_stream(lk_dnnl *d) { return d->stream; }
int lk_dnnl_thr_enter(const lk_dnnl *d) { return thr_enter(d); }
void lk_dnnl_thr_leave(const lk_dnnl *d, int saved) { thr_leave(d, saved); }
int lk_dnnl_threads(const lk_dnnl *d) { return d->threads; }

const char *lk_dnnl_conv_impl(const lk_dnnl_conv *c) { return c ? c->impl : ""; }

const char *lk_dnnl_conv_weights_format(const lk_dnnl_conv *c) { return c ? c->wfmt : ""; }

/* Not reentrant for one c (the data handles live on it); distinct convs may run in parallel
 * only on distinct lk_dnnl handles (one stream each). */
int lk_dnnl_conv_run(lk_dnnl_conv *c, const float *in, float *out, lk_errbuf *err) {
  if (!in || !out) return lk_err_set(err, LK_EINVAL, "dnnl conv: NULL input or output");
  lk_dnnl *d = c->d;
  int rc;
  /* oneDNN only reads src; the cast is the C API's lack of a const handle setter. */
  if ((rc = ck(dnnl_memory_set_data_handle(c->src, (void *)in), "dnnl_memory_set_data_handle(src)",
               err)) ||
      (rc = ck(dnnl_memory_set_data_handle(c->dst, out), "dnnl_memory_set_data_handle(dst)", err)))
    return rc;
  dnnl_exec_arg_t args[5] = {
      {DNNL_ARG_SRC, c->src}, {DNNL_ARG_WEIGHTS, c->wei}, {DNNL_ARG_DST, c->dst}};
  int nargs = 3;
  if (c->bias) args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, c->bias};
  if (c->scratch) args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, c->scratch};
  int saved = thr_enter(d);
  rc = ck(dnnl_primitive_execute(c->prim, d->stream, nargs, args),
          "dnnl_primitive_execute(convolution)", err);
  if (!rc) rc = ck(dnnl_stream_wait(d->stream), "dnnl_stream_wait(convolution)", err);
  thr_leave(d, saved);
  return rc;
}

