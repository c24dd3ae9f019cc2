/* nn/session.c — lk_session: plans the ops the taps need, lays all activations out in one
 * arena made at creation (buffers reused after their last reader; RESHAPE is a view), runs
 * batches on the reference kernels or oneDNN, rounds uint8/int8 outputs as TFLite 2.9's
 * integer kernels do (ops_ref.h; bit-identical on the golden fixtures) and pools the taps.
 * LK_COMPUTE_FP32/INT8 hand the planned ops to nn/fastgraph.c instead and pool its taps.
 * The reference backend is single-threaded; opts.threads applies to oneDNN. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/fastgraph.h"
#include "nn/nn_int.h"
#include "nn/ops_ref.h"
#include "util/size.h"

typedef struct step {
  int op;                   /* index into the model's ops */
  lk_conv_params conv;      /* CONV_2D / DEPTHWISE_CONV_2D: geometry for max_batch */
  lk_dnnl_conv *dnnl;       /* LK_BACKEND_DNNL, batch max_batch */
  lk_dnnl_conv *dnnl_tail;  /* LK_BACKEND_DNNL, batch tail_n (lazily made) */
  int rq_on;                /* convs: requantise the output as TFLite does (see rq) */
  lk_requant rq;
  double *rq_arrays;        /* rq's three per-channel arrays, owned */
  int qop;                  /* ADD, AVERAGE_POOL_2D, MEAN: TFLite's integer kernel (qo) */
  lk_qout qo;
  int fq;                   /* other ops: round the output to its grid */
  float q_scale;
  int q_zp, q_min, q_max;
} step;

typedef struct tap_plan {
  int tensor, pool, dim;
  float p;
} tap_plan;

struct lk_session {
  const lk_model *m;
  lk_session_opts o;
  tap_plan *taps;
  int ntaps, dim;
  step *steps;
  int nsteps;
  int *alias;      /* per tensor: the tensor whose buffer it uses (RESHAPE views) */
  float **ptr;     /* per tensor: its buffer, NULL when not computed by this plan */
  char *kept;      /* per tensor: still intact after a run */
  float *arena;     /* lk_nn_big_alloc'd, arena_len bytes mapped */
  size_t arena_len;
  int keep_all;
  int last_n;      /* images in the last successful run, 0 before */
  int tail_n;      /* batch size of the steps' dnnl_tail primitives, 0 if none */
  lk_dnnl *dnnl;
  lk_fg *fg;       /* LK_COMPUTE_FP32/INT8: the graph for fg_batch images */
  lk_fg *fg_tail;  /* ... and for tail_n < fg_batch images (made on first use) */
  int fg_batch;    /* images per graph run: a batch is run in slices of this many */
  float **tapbuf;  /* per tap: max_batch images of the tapped tensor (lk_session_tensor) */
};

void lk_session_opts_default(lk_session_opts *o) {
  o->backend = LK_BACKEND_DNNL;
  o->max_batch = 1;
  o->quantize_activations = 1;
  o->threads = 0;
  o->compute = LK_COMPUTE_EXACT;
}

static int root(const lk_session *s, int t) {
  while (s->alias[t] != t) t = s->alias[t];
  return t;
}

/* ---- Planning --------------------------------------------------------------------------- */

/* Marks the ops needed for the taps (walking producers back from them) as steps, in
 * model order. */
static int plan_steps(lk_session *s, lk_errbuf *err) {
  const lk_model *m = s->m;
  char *need_t = calloc((size_t)m->ntensors, 1), *need_op = calloc((size_t)m->nops + 1, 1);
  int rc = 0;
  if (!need_t || !need_op) {
    rc = lk_err_set(err, LK_ENOMEM, "out of memory");
    goto out;
  }
  for (int i = 0; i < s->ntaps; i++) need_t[s->taps[i].tensor] = 1;
  for (int k = m->nops - 1; k >= 0; k--) { /* producers precede consumers */
    const lk_nn_op *op = &m->ops[k];
    if (!need_t[op->out[0]]) continue;
    need_op[k] = 1;
    s->nsteps++;
    for (int j = 0; j < op->nin; j++)
      if (op->in[j] >= 0 && !m->tensors[op->in[j]].data) need_t[op->in[j]] = 1;
  }
  s->steps = calloc((size_t)s->nsteps + 1, sizeof *s->steps);
  if (!s->steps) {
    rc = lk_err_set(err, LK_ENOMEM, "out of memory");
    goto out;
  }
  int n = 0;
  for (int k = 0; k < m->nops; k++)
    if (need_op[k]) s->steps[n++].op = k;
out:
  free(need_t);
  free(need_op);
  return rc;
}

/* TFLite clamps a fused activation on the integer output: the range in grid units. */
static void act_range(int act, float scale, int zp, int *qmin, int *qmax) {
  if (act == LK_ACT_RELU || act == LK_ACT_RELU6) *qmin = zp > *qmin ? zp : *qmin;
  if (act == LK_ACT_RELU6) {
    float top = (float)zp + roundf(6.0f / scale);
    if (top < (float)*qmax) *qmax = (int)top;
  }
}

/* Conv geometry, and how its output is rounded: with quantised input, weights and output
 * as TFLite's double-rounding requantisation (activation clamped on the grid), otherwise as
 * plain float with the fused activation. */
static int plan_conv(lk_session *s, step *st, lk_errbuf *err) {
  const lk_model *m = s->m;
  const lk_nn_op *op = &m->ops[st->op];
  const lk_nn_tensor *in = &m->tensors[op->in[0]], *w = &m->tensors[op->in[1]];
  const lk_nn_tensor *out = &m->tensors[op->out[0]];
  lk_conv_params *p = &st->conv;
  p->n = s->o.max_batch;
  p->ih = in->dims[1];
  p->iw = in->dims[2];
  p->ic = in->dims[3];
  p->oh = out->dims[1];
  p->ow = out->dims[2];
  p->oc = out->dims[3];
  p->kh = w->dims[1];
  p->kw = w->dims[2];
  p->sh = op->stride_h;
  p->sw = op->stride_w;
  p->dh = op->dil_h;
  p->dw = op->dil_w;
  p->pad_t = op->pad_t;
  p->pad_l = op->pad_l;
  p->pad_b = op->pad_b;
  p->pad_r = op->pad_r;
  p->depthwise = op->code == LK_OP_DEPTHWISE_CONV_2D;
  p->weights = w->data;
  p->bias = op->nin > 2 && op->in[2] >= 0 ? m->tensors[op->in[2]].data : NULL;
  p->act = op->act;
  p->fake_quant = 0;
  if (!s->o.quantize_activations ||
      !lk_nn_tensor_fake_quant(out, &p->q_scale, &p->q_zero_point, &p->q_min, &p->q_max))
    return 0; /* float output: float activation, no rounding */
  int chan_axis = p->depthwise ? 3 : 0;
  if (in->nq != 1 || w->nq < 1 || (w->nq > 1 && (w->nq != p->oc || w->qdim != chan_axis))) {
    p->fake_quant = 1; /* not TFLite's integer conv: round once after the activation */
    return 0;
  }
  lk_requant *r = &st->rq;
  r->scale = p->q_scale;
  r->zero_point = p->q_zero_point;
  r->qmin = p->q_min;
  r->qmax = p->q_max;
  act_range(op->act, r->scale, r->zero_point, &r->qmin, &r->qmax);
  p->act = LK_ACT_NONE; /* clamped on the grid instead */
  r->channels = p->oc;
  double *a = st->rq_arrays = malloc(3 * (size_t)p->oc * sizeof *a);
  if (!a) return lk_err_set(err, LK_ENOMEM, "out of memory");
  r->inv_unit = a;
  r->mult = a + p->oc;
  r->inv_pow2 = a + 2 * p->oc;
  for (int c = 0; c < p->oc; c++) {
    /* TFLite 2.9 forms the multiplier from a float product of the scales on its uint8 path
     * and from a double product on the int8 per-channel path; the last bit matters. */
    float ws = w->scale[w->nq > 1 ? c : 0];
    double unit = in->type == LK_NN_UINT8 ? (double)(in->scale[0] * ws) : (double)in->scale[0] * ws;
    int shift;
    a[c] = 1 / unit;
    lk_ref_quantize_multiplier(unit / (double)r->scale, &a[p->oc + c], &shift);
    a[2 * p->oc + c] = ldexp(1.0, -shift);
  }
  st->rq_on = 1;
  return 0;
}

/* Which free buffer to reuse for `need` floats: one that fits beats one that does not; among
 * those that fit the smallest, among those that do not the largest (it grows the least). */
static int better(size_t cand, size_t best, size_t need) {
  int cf = cand >= need, bf = best >= need;
  if (cf != bf) return cf;
  return cf ? cand < best : cand > best;
}

static int grid_of(const lk_nn_tensor *t, lk_qgrid *g) {
  int lo, hi;
  return lk_nn_tensor_fake_quant(t, &g->scale, &g->zero_point, &lo, &hi);
}

/* How a non-conv op's output is rounded: the runtime's integer kernel where one is
 * emulated and every tensor involved is on a uint8/int8 grid, else one rounding. */
static void plan_rounding(lk_session *s, step *st) {
  const lk_model *m = s->m;
  const lk_nn_op *op = &m->ops[st->op];
  const lk_nn_tensor *out = &m->tensors[op->out[0]];
  st->fq = lk_nn_tensor_fake_quant(out, &st->q_scale, &st->q_zp, &st->q_min, &st->q_max);
  if (!st->fq) return;
  lk_qgrid g0, g1;
  int q0 = grid_of(&m->tensors[op->in[0]], &g0);
  switch (op->code) {
  case LK_OP_ADD:
    st->qop = q0 && grid_of(&m->tensors[op->in[1]], &g1);
    break;
  case LK_OP_AVERAGE_POOL_2D: /* the runtime requires one grid for input and output */
    st->qop = q0 && g0.scale == st->q_scale && g0.zero_point == st->q_zp;
    break;
  case LK_OP_MEAN:
    st->qop = q0;
    break;
  default:
    break;
  }
  if (!st->qop) return;
  st->fq = 0;
  st->qo = (lk_qout){st->q_scale, st->q_zp, st->q_min, st->q_max};
  act_range(op->act, st->q_scale, st->q_zp, &st->qo.qmin, &st->qo.qmax);
}

/* Assigns every computed tensor a buffer. With reuse, a buffer is free again once the last
 * step reading it has run; taps stay live to the end. Sizes are per image; the arena holds
 * max_batch images per buffer. */
static int plan_buffers(lk_session *s, int reuse, lk_errbuf *err) {
  const lk_model *m = s->m;
  int nt = m->ntensors, rc = 0;
  int *last = malloc((size_t)nt * sizeof *last), *vb = malloc((size_t)nt * sizeof *vb);
  size_t *vsize = calloc((size_t)nt, sizeof *vsize), *voff = calloc((size_t)nt, sizeof *voff);
  int *vfree = calloc((size_t)nt, sizeof *vfree), *vowner = calloc((size_t)nt, sizeof *vowner);
  int nv = 0;
  if (!last || !vb || !vsize || !voff || !vfree || !vowner) {
    rc = lk_err_set(err, LK_ENOMEM, "out of memory");
    goto out;
  }
  for (int t = 0; t < nt; t++) {
    last[t] = -1;
    vb[t] = -1;
  }
  for (int k = 0; k < s->nsteps; k++) {
    const lk_nn_op *op = &m->ops[s->steps[k].op];
    for (int j = 0; j < op->nin; j++)
      if (op->in[j] >= 0 && !m->tensors[op->in[j]].data) last[root(s, op->in[j])] = k;
  }
  for (int i = 0; i < s->ntaps; i++) last[root(s, s->taps[i].tensor)] = INT_MAX;

  /* step -1 writes the graph input; step k writes its op's output */
  for (int k = -1; k < s->nsteps; k++) {
    int t = k < 0 ? m->input : m->ops[s->steps[k].op].out[0];
    if (root(s, t) == t) {
      size_t need = m->tensors[t].count;
      int best = -1;
      for (int v = 0; reuse && v < nv; v++)
        if (vfree[v] && (best < 0 || better(vsize[v], vsize[best], need))) best = v;
      if (best < 0) best = nv++;
      if (vsize[best] < need) vsize[best] = need;
      vfree[best] = 0;
      vowner[best] = t;
      vb[t] = best;
    }
    /* release buffers whose last reader is this step (and outputs nobody reads) */
    if (k >= 0) {
      const lk_nn_op *op = &m->ops[s->steps[k].op];
      for (int j = 0; j < op->nin; j++) {
        if (op->in[j] < 0 || m->tensors[op->in[j]].data) continue;
        int r = root(s, op->in[j]);
        if (last[r] == k) vfree[vb[r]] = 1;
      }
    }
    int r = root(s, t);
    if (last[r] <= k && last[r] != INT_MAX) vfree[vb[r]] = 1;
  }

  size_t total = 0;
  for (int v = 0; v < nv; v++) {
    size_t bytes;
    voff[v] = total;
    if (lk_size_mul(vsize[v], (size_t)s->o.max_batch, &bytes) ||
        lk_size_add(bytes, 15, &bytes) || lk_size_add(total, bytes & ~(size_t)15, &total) ||
        total > (SIZE_MAX >> 3)) {
      rc = lk_err_set(err, LK_ETOOBIG, "activations of %d images do not fit in memory",
                      s->o.max_batch);
      goto out;
    }
  }
  size_t mapped = 0;
  float *arena = lk_nn_big_alloc(total * sizeof(float), &mapped);
  if (!arena) { /* the previous plan, if any, stays intact */
    rc = lk_err_set(err, LK_ENOMEM, "out of memory for %zu MB of activations",
                    total * sizeof(float) >> 20);
    goto out;
  }
  lk_nn_big_free(s->arena, s->arena_len);
  s->arena = arena;
  s->arena_len = mapped;
  for (int t = 0; t < nt; t++) {
    int r = root(s, t);
    s->ptr[t] = vb[r] >= 0 ? s->arena + voff[vb[r]] : NULL;
    s->kept[t] = vb[r] >= 0 && vowner[vb[r]] == r;
  }
out:
  free(last);
  free(vb);
  free(vsize);
  free(voff);
  free(vfree);
  free(vowner);
  return rc;
}

void lk_session_free(lk_session *s) {
  if (!s) return;
  for (int k = 0; s->steps && k < s->nsteps; k++) { /* steps is NULL when its calloc failed */
    lk_dnnl_conv_free(s->steps[k].dnnl);
    lk_dnnl_conv_free(s->steps[k].dnnl_tail);
    free(s->steps[k].rq_arrays);
  }
  lk_fg_free(s->fg);
  lk_fg_free(s->fg_tail);
  for (int j = 0; s->tapbuf && j < s->ntaps; j++) free(s->tapbuf[j]);
  free(s->tapbuf);
  lk_dnnl_free(s->dnnl);
  free(s->steps);
  free(s->taps);
  free(s->alias);
  free(s->ptr);
  free(s->kept);
  lk_nn_big_free(s->arena, s->arena_len);
  free(s);
}

/* The fast graph (nn/fastgraph.h) of the planned steps for `batch` images. */
static int make_fg(lk_session *s, int batch, lk_fg **out, lk_errbuf *err) {
  int *ops = malloc(((size_t)s->nsteps + 1) * sizeof *ops), tt[64];
  if (!ops) return lk_err_set(err, LK_ENOMEM, "out of memory");
  for (int k = 0; k < s->nsteps; k++) ops[k] = s->steps[k].op;
  for (int i = 0; i < s->ntaps; i++) tt[i] = s->taps[i].tensor;
  int rc = lk_fg_new(s->m, ops, s->nsteps, tt, s->ntaps, s->o.compute, batch, s->dnnl, out, err);
  free(ops);
  return rc;
}

int lk_session_new(const lk_model *m, const lk_tap *taps, int ntaps, const lk_session_opts *o,
                   lk_session **out, lk_errbuf *err) {
  *out = NULL;
  lk_session_opts def;
  if (!o) {
    lk_session_opts_default(&def);
    o = &def;
  }
  if (!m || !taps || ntaps < 1 || ntaps > 64)
    return lk_err_set(err, LK_EINVAL, "session needs a model and 1..64 taps");
  if (o->max_batch < 1 || o->max_batch > 4096)
    return lk_err_set(err, LK_EINVAL, "max_batch %d out of range 1..4096", o->max_batch);
  if (o->backend != LK_BACKEND_REF && o->backend != LK_BACKEND_DNNL)
    return lk_err_set(err, LK_EINVAL, "unknown backend %d", o->backend);
  if (o->compute < LK_COMPUTE_EXACT || o->compute > LK_COMPUTE_INT8)
    return lk_err_set(err, LK_EINVAL, "unknown compute mode %d", o->compute);
  if (o->compute != LK_COMPUTE_EXACT && o->backend != LK_BACKEND_DNNL)
    return lk_err_set(err, LK_EINVAL, "compute fp32/int8 needs the oneDNN backend");
  lk_session *s = calloc(1, sizeof *s);
  if (!s) return lk_err_set(err, LK_ENOMEM, "out of memory");
  s->m = m;
  s->o = *o;
  s->o.quantize_activations = o->quantize_activations != 0;
  int rc = 0, nt = m->ntensors;
  s->taps = calloc((size_t)ntaps, sizeof *s->taps);
  s->alias = malloc((size_t)nt * sizeof *s->alias);
  s->ptr = calloc((size_t)nt, sizeof *s->ptr);
  s->kept = calloc((size_t)nt, 1);
  if (!s->taps || !s->alias || !s->ptr || !s->kept) {
    rc = lk_err_set(err, LK_ENOMEM, "out of memory");
    goto fail;
  }
  s->ntaps = ntaps;
  for (int i = 0; i < ntaps; i++) {
    tap_plan *tp = &s->taps[i];
    int t = taps[i].tensor ? lk_model_find_tensor(m, taps[i].tensor) : LK_EINVAL;
    if (t < 0) {
      rc = lk_err_set(err, LK_ENOTFOUND, "tap %d: no tensor named \"%s\" in the model", i,
                      taps[i].tensor ? taps[i].tensor : "(null)");
      goto fail;
    }
    const lk_nn_tensor *tt = &m->tensors[t];
    if (tt->data || (tt->producer < 0 && t != m->input)) {
      rc = lk_err_set(err, LK_EINVAL, "tap %d: %s is not computed by the model", i, tt->name);
      goto fail;
    }
    if (taps[i].pool < LK_POOL_AVG || taps[i].pool > LK_POOL_GEM ||
        (taps[i].pool == LK_POOL_GEM && !(taps[i].gem_p > 0 && taps[i].gem_p <= 100))) {
      rc = lk_err_set(err, LK_EINVAL, "tap %d: bad pooling (GeM needs 0 < p <= 100)", i);
      goto fail;
    }
    tp->tensor = t;
    tp->pool = taps[i].pool;
    tp->p = taps[i].gem_p;
    tp->dim = tt->dims[tt->ndims - 1];
    s->dim += tp->dim;
  }
  if ((rc = plan_steps(s, err))) goto fail;
  if (s->o.compute != LK_COMPUTE_EXACT) {
    /* Slices of at most 4 images: measured on a 2-core AVX-512 VM, 1 thread, ms/photo for
     * slices of 1/2/4/8: fp32 3.54/3.57/3.56/4.05 (8 images' activations spill the caches),
     * int8 1.64/1.57/1.48/1.49. */
    s->fg_batch = s->o.max_batch < 4 ? s->o.max_batch : 4;
    if ((rc = lk_dnnl_new(s->o.threads, &s->dnnl, err)) || (rc = make_fg(s, s->fg_batch, &s->fg, err)))
      goto fail;
    if (!(s->tapbuf = calloc((size_t)ntaps, sizeof *s->tapbuf))) {
      rc = lk_err_set(err, LK_ENOMEM, "out of memory");
      goto fail;
    }
    for (int j = 0; j < ntaps; j++) {
      size_t cnt;
      if (lk_size_mul(m->tensors[s->taps[j].tensor].count, (size_t)s->o.max_batch, &cnt) ||
          lk_size_mul(cnt, sizeof(float), &cnt) || !(s->tapbuf[j] = malloc(cnt))) {
        rc = lk_err_set(err, LK_ENOMEM, "out of memory for the taps");
        goto fail;
      }
    }
    *out = s;
    return 0;
  }
  for (int t = 0; t < nt; t++) s->alias[t] = t;
  for (int k = 0; k < s->nsteps; k++) {
    step *st = &s->steps[k];
    const lk_nn_op *op = &m->ops[st->op];
    if (op->code == LK_OP_RESHAPE) s->alias[op->out[0]] = op->in[0];
    if (op->code == LK_OP_CONV_2D || op->code == LK_OP_DEPTHWISE_CONV_2D) {
      if ((rc = plan_conv(s, st, err))) goto fail;
    } else if (op->code != LK_OP_RESHAPE && s->o.quantize_activations) {
      plan_rounding(s, st);
    }
  }
  if ((rc = plan_buffers(s, 1, err))) goto fail;
  if (s->o.backend == LK_BACKEND_DNNL) {
    if ((rc = lk_dnnl_new(s->o.threads, &s->dnnl, err))) goto fail;
    for (int k = 0; k < s->nsteps; k++) {
      step *st = &s->steps[k];
      int code = m->ops[st->op].code;
      if (code != LK_OP_CONV_2D && code != LK_OP_DEPTHWISE_CONV_2D) continue;
      if ((rc = lk_dnnl_conv_new(s->dnnl, &st->conv, &st->dnnl, err))) goto fail;
    }
  }
  *out = s;
  return 0;
fail:
  lk_session_free(s);
  return rc;
}

int lk_session_dim(const lk_session *s) { return s ? s->dim : 0; }

int lk_session_keep_all(lk_session *s, int on) {
  if (!s) return LK_EINVAL;
  if (s->o.compute != LK_COMPUTE_EXACT) return on ? LK_EUNSUPPORTED : 0; /* taps only */
  on = on != 0;
  if (on == s->keep_all) return 0;
  int rc = plan_buffers(s, !on, NULL);
  if (rc) return rc;
  s->keep_all = on;
  s->last_n = 0; /* buffers moved: nothing from an earlier run is readable */
  return 0;
}

int lk_session_tensor(lk_session *s, int tensor, int i, float *out, size_t cap) {
  if (!s || tensor < 0 || tensor >= s->m->ntensors || i < 0 || i >= s->last_n) return LK_EINVAL;
  if (s->o.compute != LK_COMPUTE_EXACT) { /* the fast graphs keep their taps only */
    for (int j = 0; j < s->ntaps; j++)
      if (s->taps[j].tensor == tensor) {
        size_t count = s->m->tensors[tensor].count;
        memcpy(out, s->tapbuf[j] + (size_t)i * count, (count < cap ? count : cap) * sizeof *out);
        return count > INT_MAX ? INT_MAX : (int)count;
      }
    return LK_ENOTFOUND;
  }
  if (!s->ptr[tensor]) return LK_ENOTFOUND; /* not computed by this session's plan */
  if (!s->kept[tensor]) return LK_EINVAL;   /* overwritten: use lk_session_keep_all */
  size_t count = s->m->tensors[tensor].count;
  memcpy(out, s->ptr[tensor] + (size_t)i * count, (count < cap ? count : cap) * sizeof *out);
  return count > INT_MAX ? INT_MAX : (int)count;
}

/* ---- Running ---------------------------------------------------------------------------- */

/* Maps the uint8 RGB pixels to the input tensor's values (into x). */
static void load_input(lk_session *s, const uint8_t *px, int n, float *x) {
  const lk_nn_tensor *t = &s->m->tensors[s->m->input];
  size_t count = (size_t)n * t->count;
  float offset, scale;
  lk_nn_input_affine(t, &offset, &scale);
  for (size_t j = 0; j < count; j++) x[j] = ((float)px[j] + offset) * scale;
}

/* oneDNN primitives are fixed to a batch size: those for max_batch are made at creation; a
 * smaller batch (the tail of a job) gets its own set, made on first use and kept until a
 * different small size comes (lk_session_run), so a session holds at most two weight sets. */
static int run_conv(lk_session *s, step *st, int n, const float *in, float *out,
                    lk_errbuf *err) {
  lk_conv_params p = st->conv;
  p.n = n;
  if (s->o.backend != LK_BACKEND_DNNL) {
    lk_ref_conv(&p, in, out);
    return 0;
  }
  if (n == s->o.max_batch) return lk_dnnl_conv_run(st->dnnl, in, out, err);
  if (!st->dnnl_tail) {
    int rc = lk_dnnl_conv_new(s->dnnl, &p, &st->dnnl_tail, err);
    if (rc) return rc;
  }
  return lk_dnnl_conv_run(st->dnnl_tail, in, out, err);
}

static size_t prod(const int *dims, int from, int to) {
  size_t r = 1;
  for (int d = from; d < to; d++) r *= (size_t)dims[d];
  return r;
}

static int run_step(lk_session *s, step *st, int n, lk_errbuf *err) {
  const lk_model *m = s->m;
  const lk_nn_op *op = &m->ops[st->op];
  const lk_nn_tensor *in = &m->tensors[op->in[0]], *out = &m->tensors[op->out[0]];
  const float *x = s->ptr[op->in[0]];
  float *y = s->ptr[op->out[0]];
  size_t count = (size_t)n * out->count;
  switch (op->code) {
  case LK_OP_CONV_2D:
  case LK_OP_DEPTHWISE_CONV_2D: {
    int rc = run_conv(s, st, n, x, y, err);
    if (!rc && st->rq_on) lk_ref_requant(y, count, &st->rq);
    return rc;
  }
  case LK_OP_AVERAGE_POOL_2D:
  case LK_OP_MAX_POOL_2D: {
    lk_pool_params p = {n, in->dims[1], in->dims[2], in->dims[3], out->dims[1], out->dims[2],
                        op->filter_h, op->filter_w, op->stride_h, op->stride_w, op->pad_t,
                        op->pad_l, op->act};
    if (op->code == LK_OP_MAX_POOL_2D) lk_ref_max_pool(&p, x, y);
    else if (st->qop) lk_ref_avg_pool_q(&p, x, &st->qo, y);
    else lk_ref_avg_pool(&p, x, y);
    break;
  }
  case LK_OP_ADD:
    if (st->qop) {
      lk_qgrid ga, gb;
      grid_of(in, &ga);
      grid_of(&m->tensors[op->in[1]], &gb);
      lk_ref_add_q(x, ga, s->ptr[op->in[1]], gb, count, &st->qo, y);
    } else {
      lk_ref_add(x, s->ptr[op->in[1]], count, op->act, y);
    }
    break;
  case LK_OP_RESHAPE:
    break; /* a view: output shares the input's buffer */
  case LK_OP_SOFTMAX: {
    size_t len = (size_t)out->dims[out->ndims - 1];
    lk_ref_softmax(x, count / len, len, op->beta, y);
    break;
  }
  case LK_OP_QUANTIZE:
  case LK_OP_DEQUANTIZE:
    memcpy(y, x, count * sizeof *y); /* same values in float; rounding follows below */
    break;
  case LK_OP_CONCATENATION: {
    const float *ins[LK_NN_MAX_OP_IO];
    size_t inner[LK_NN_MAX_OP_IO];
    for (int j = 0; j < op->nin; j++) {
      const lk_nn_tensor *t = &m->tensors[op->in[j]];
      ins[j] = s->ptr[op->in[j]];
      inner[j] = prod(t->dims, op->axis, t->ndims);
    }
    lk_ref_concat(ins, inner, op->nin, (size_t)n * prod(out->dims, 0, op->axis), y);
    break;
  }
  case LK_OP_RESIZE_BILINEAR:
    lk_ref_resize_bilinear(x, n, in->dims[1], in->dims[2], in->dims[3], out->dims[1],
                           out->dims[2], op->align_corners, op->half_pixel_centers, y);
    break;
  case LK_OP_MEAN: {
    int dims[LK_NN_MAX_DIMS];
    memcpy(dims, in->dims, sizeof dims);
    dims[0] = n; /* batch 1 in the model, never reduced */
    lk_qgrid gi;
    if (st->qop && grid_of(in, &gi))
      lk_ref_mean_q(x, gi, dims, in->ndims, op->reduce_mask, &st->qo, y);
    else
      lk_ref_mean(x, dims, in->ndims, op->reduce_mask, y);
    break;
  }
  case LK_OP_ARG_MAX:
    lk_ref_arg_max(x, (size_t)n * prod(in->dims, 0, op->axis), (size_t)in->dims[op->axis],
                   prod(in->dims, op->axis + 1, in->ndims), y);
    break;
  default:
    return lk_err_set(err, LK_EUNSUPPORTED, "op %s not runnable", lk_nn_op_name(op->code));
  }
  if (st->fq) lk_ref_fake_quant(y, count, st->q_scale, st->q_zp, st->q_min, st->q_max);
  return 0;
}

/* Global pooling of one tap over everything but the channels. */
static void pool_tap(const tap_plan *tp, const float *x, size_t spatial, float *out) {
  int c = tp->dim;
  for (int k = 0; k < c; k++) {
    double acc = tp->pool == LK_POOL_MAX ? -INFINITY : 0;
    for (size_t i = 0; i < spatial; i++) {
      double v = x[i * (size_t)c + (size_t)k];
      if (tp->pool == LK_POOL_AVG) acc += v;
      else if (tp->pool == LK_POOL_MAX) acc = v > acc ? v : acc;
      else acc += pow(v > 0 ? v : 0, tp->p);
    }
    if (tp->pool == LK_POOL_AVG) acc /= (double)spatial;
    else if (tp->pool == LK_POOL_GEM) acc = pow(acc / (double)spatial, 1.0 / tp->p);
    out[k] = (float)acc;
  }
}

/* Pools the taps of n images into out; x[j] is tap j's NHWC data for image 0. */
static void pool_taps(lk_session *s, int n, const float **x, float *out) {
  for (int i = 0; i < n; i++) {
    float *row = out + (size_t)i * (size_t)s->dim;
    for (int j = 0; j < s->ntaps; j++) {
      const tap_plan *tp = &s->taps[j];
      size_t count = s->m->tensors[tp->tensor].count;
      pool_tap(tp, x[j] + (size_t)i * count, count / (size_t)tp->dim, row);
      row += tp->dim;
    }
  }
}

/* LK_COMPUTE_FP32/INT8: the batch in slices of fg_batch images (a smaller last slice runs on
 * a second graph, cached for that size); taps are pooled and kept for lk_session_tensor. */
static int run_fg(lk_session *s, const uint8_t *input, int n, float *out, lk_errbuf *err) {
  const lk_nn_tensor *it = &s->m->tensors[s->m->input];
  for (int i = 0; i < n; i += s->fg_batch) {
    int k = n - i < s->fg_batch ? n - i : s->fg_batch;
    lk_fg *g = s->fg;
    if (k != s->fg_batch) {
      if (k != s->tail_n) {
        lk_fg_free(s->fg_tail);
        s->fg_tail = NULL;
        s->tail_n = 0;
      }
      if (!s->fg_tail) {
        int rc = make_fg(s, k, &s->fg_tail, err);
        if (rc) return rc;
        s->tail_n = k;
      }
      g = s->fg_tail;
    }
    float *fin = lk_fg_input(g);
    if (fin) load_input(s, input + (size_t)i * it->count, k, fin);
    else lk_fg_load_pixels(g, input + (size_t)i * it->count, (size_t)k * it->count);
    int rc = lk_fg_run(g, err);
    if (rc) return rc;
    const float *x[64];
    for (int j = 0; j < s->ntaps; j++) {
      size_t count = s->m->tensors[s->taps[j].tensor].count;
      x[j] = lk_fg_tap(g, j);
      memcpy(s->tapbuf[j] + (size_t)i * count, x[j], (size_t)k * count * sizeof(float));
    }
    pool_taps(s, k, x, out + (size_t)i * (size_t)s->dim);
  }
  s->last_n = n;
  return 0;
}

int lk_session_run(lk_session *s, const uint8_t *input, int n, float *out, lk_errbuf *err) {
  if (!s || !input || !out) return lk_err_set(err, LK_EINVAL, "NULL argument");
  if (n < 1 || n > s->o.max_batch)
    return lk_err_set(err, LK_EINVAL, "batch of %d images (session allows 1..%d)", n,
                      s->o.max_batch);
  s->last_n = 0;
  if (s->o.compute == LK_COMPUTE_EXACT && s->o.backend == LK_BACKEND_DNNL && n != s->o.max_batch &&
      n != s->tail_n) {
    for (int k = 0; k < s->nsteps; k++) { /* one cached set of tail primitives */
      lk_dnnl_conv_free(s->steps[k].dnnl_tail);
      s->steps[k].dnnl_tail = NULL;
    }
    s->tail_n = n;
  }
  if (s->o.compute != LK_COMPUTE_EXACT) return run_fg(s, input, n, out, err);
  load_input(s, input, n, s->ptr[s->m->input]);
  for (int k = 0; k < s->nsteps; k++) {
    int rc = run_step(s, &s->steps[k], n, err);
    if (rc) return rc;
  }
  const float *x[64];
  for (int j = 0; j < s->ntaps; j++) x[j] = s->ptr[s->taps[j].tensor];
  pool_taps(s, n, x, out);
  s->last_n = n;
  return 0;
}
