/* fuzz/fuzz_calibration.c — fuzz target for the catalog's stored match-strength calibration
 * (search/calibrate.c), read from the catalog file at every engine load: any bytes must parse
 * into valid curves (scores ascending, probabilities in 0..1 and rising) or fail with a
 * message; what parses survives the round trip and labels any score. Build with -DLK_LIBFUZZER
 * for libFuzzer; otherwise fuzz/replay.c's main() replays files and folders. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "search/calibrate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > (1 << 20)) return 0;
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  lk_calibration c, back;
  lk_errbuf eb = {0};
  int rc = lk_calibration_from_json(s, &c, &eb);
  free(s);
  if (rc) {
    if (rc > 0 || !*lk_err_msg(&eb)) abort();
    return 0;
  }
  if (c.n < 1 || c.n > LK_CAL_MAX_POINTS) abort();
  for (int i = 0; i < c.n; i++) {
    if (!isfinite(c.score[i]) || !(c.p_kind[i] >= 0 && c.p_kind[i] <= 1) || !(c.p_product[i] >= 0 && c.p_product[i] <= 1)) abort();
    if (i && (c.score[i] <= c.score[i - 1] || c.p_kind[i] < c.p_kind[i - 1])) abort();
  }
  lk_match m;
  const float probe[] = {-INFINITY, -1, 0, 0.5f, 0.9f, 1, INFINITY, NAN};
  for (size_t i = 0; i < sizeof probe / sizeof *probe; i++) {
    lk_calibration_match(&c, probe[i], &m);
    if (m.label < LK_MATCH_NONE || m.label > LK_MATCH_PRODUCT || !(m.p_kind >= 0 && m.p_kind <= 1)) abort();
  }
  (void)lk_calibration_weak_score(&c);
  char *js = NULL;
  if (lk_calibration_to_json(&c, &js, &eb) == 0) {
    if (lk_calibration_from_json(js, &back, &eb)) abort(); /* what we write we read */
    if (back.n != c.n) abort();
    free(js);
  }
  return 0;
}
