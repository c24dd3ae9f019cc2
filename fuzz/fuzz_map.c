/* fuzz/fuzz_map.c — fuzz target for the catalog map's stored JSON (map/store.c), which
 * GET /api/map reads from the catalog file: any bytes must parse into a valid layout (ids
 * ascending, coordinates finite) or fail with a message; what parses survives the round trip
 * to JSON and back. Build with -DLK_LIBFUZZER for libFuzzer; otherwise fuzz/replay.c's main()
 * replays files and folders. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "map/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > (1 << 20)) return 0;
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  lk_map_layout l = {0}, back = {0};
  lk_errbuf eb = {0};
  int rc = lk_map_layout_from_json(s, &l, &eb);
  free(s);
  if (rc) {
    if (rc > 0 || !*lk_err_msg(&eb)) abort();
    lk_map_layout_free(&l);
    return 0;
  }
  for (size_t i = 0; i < l.n; i++) {
    if (i && l.ids[i] <= l.ids[i - 1]) abort(); /* the header promises ascending ids */
    if (!isfinite(l.xy[2 * i]) || !isfinite(l.xy[2 * i + 1])) abort();
  }
  char *js = NULL;
  if (lk_map_layout_to_json(&l, &js, &eb) == 0) {
    if (lk_map_layout_from_json(js, &back, &eb)) abort(); /* what we write we read */
    if (back.n != l.n || (l.n && memcmp(back.ids, l.ids, l.n * sizeof *l.ids))) abort();
    lk_map_layout_free(&back);
    free(js);
  }
  lk_map_layout_free(&l);
  return 0;
}
