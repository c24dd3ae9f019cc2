/* fuzz/fuzz_recipe.c — fuzz target for recipe JSON (embed/recipe.c), the JSON lookalike reads
 * from outside: `--recipe file.json` and the recipe stored in a catalog file. Any bytes must
 * parse or fail with a message; what parses must survive the canonical round trip (to JSON and
 * back: same id) and a copy. Build with -DLK_LIBFUZZER for libFuzzer; otherwise
 * fuzz/replay.c's main() replays files and folders. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "embed/recipe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > (1 << 20)) return 0;
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  lk_recipe r, back, copy;
  lk_errbuf eb = {0};
  int rc = lk_recipe_from_json(s, &r, &eb);
  free(s);
  if (rc) {
    if (!*lk_err_msg(&eb) || rc > 0) abort();
    lk_recipe_clear(&r); /* harmless after a failure */
    return 0;
  }
  if (r.nparts < 0 || r.nparts > LK_RECIPE_MAX_PARTS) abort();
  char *json = lk_recipe_to_json(&r);
  if (json) {
    if (lk_recipe_from_json(json, &back, &eb)) abort(); /* what we write we read */
    char id1[17], id2[17];
    lk_recipe_id(&r, id1);
    lk_recipe_id(&back, id2);
    if (strcmp(id1, id2)) abort();
    lk_recipe_clear(&back);
    free(json);
  }
  if (lk_recipe_copy(&copy, &r) == 0) lk_recipe_clear(&copy);
  lk_recipe_clear(&r);
  return 0;
}
