/* nn/vnni_int.h — what nn/dw3.c and nn/pw.c share inside src/nn/: oneDNN's int8
 * requantisation on AVX-512 registers and the channel order that lets the packs restore the
 * channels' order. A block of 64 channels is four registers of 16 int32 sums; dword j of
 * 128-bit lane l of register r holds channel 16 l + 4 r + j, so packs_epi32 (r 0 with 1, 2
 * with 3) then packus_epi16 give the 64 bytes in channel order. */
#ifndef LK_NN_VNNI_INT_H
#define LK_NN_VNNI_INT_H

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#define LK_VNNI_FN __attribute__((target("avx512f,avx512bw,avx512vnni"), always_inline)) static inline

typedef struct lk_vnni_quad { /* four registers: a block of 64 channels */
  __m512i v[4];
} lk_vnni_quad;

static inline int lk_vnni_available(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vnni");
}

/* Channel of dword j of lane l of register r in block b; lanes: the 16-channel lanes one
 * pixel fills (4, or fewer when a register holds several pixels, whose lanes repeat). */
static inline int lk_vnni_chan(int b, int r, int l, int j, int lanes) {
  return 64 * b + 16 * (l % lanes) + 4 * r + j;
}

/* 1 when the float clip at hi must run: hi rounds below 255, or some channel's value could
 * reach 2^31 (where the conversion to int32 would fail). Else the packs' saturation to
 * [0, 255] gives the same bytes, the clip being monotone with the rounding. Channel c's sum
 * has at most `taps` products of |x| <= xmax with w[c * taps + i]. */
static inline int lk_vnni_need_clip(float hi, const int8_t *w, const float *bias,
                                    const float *scale, int c, int taps, int xmax) {
  if (!(hi > 254.5f)) return 1;
  for (int ch = 0; ch < c; ch++) {
    double big = fabs((double)bias[ch]);
    for (int i = 0; i < taps; i++) big += (double)xmax * abs(w[(size_t)ch * (size_t)taps + (size_t)i]);
    if (big * fabs((double)scale[ch]) >= 1e9) return 1;
  }
  return 0;
}

/* oneDNN's requantisation of a block: y = (float)acc + bias, y *= scale (two roundings,
 * never an FMA), the clip at hi (where needed), round to nearest even, saturate to u8; the
 * clip below 0 is the saturation (lo <= 0). Bias and scale: 64 floats in register order. */
LK_VNNI_FN __m512i lk_vnni_requant(lk_vnni_quad acc, const float *bias, const float *scale,
                                   __m512 hi, int clip) {
  __m512i v[4];
#pragma GCC unroll 4
  for (int r = 0; r < 4; r++) {
    __m512 f = _mm512_add_round_ps(_mm512_cvtepi32_ps(acc.v[r]), _mm512_load_ps(bias + 16 * r),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    f = _mm512_mul_round_ps(f, _mm512_load_ps(scale + 16 * r),
                            _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    v[r] = _mm512_cvtps_epi32(clip ? _mm512_min_ps(f, hi) : f);
  }
  return _mm512_packus_epi16(_mm512_packs_epi32(v[0], v[1]), _mm512_packs_epi32(v[2], v[3]));
}

#endif
