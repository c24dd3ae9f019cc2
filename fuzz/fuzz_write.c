/* fuzz/fuzz_write.c — fuzz target for the item bodies of the write API (server/write.h): the
 * input is split into NDJSON lines (lk_write_next_line) and each line parsed as an item
 * (lk_write_parse_json), then each line is also tried as a form field "name=value"
 * (lk_write_item_field). Invariants: lines lie inside the input and move forward; a parsed
 * item has no more than LK_WRITE_MAX_FIELDS fields, its texts are within their limits, and a
 * refusal leaves the item cleared. Build with -DLK_LIBFUZZER for libFuzzer; otherwise
 * fuzz/replay.c's main() replays files and folders. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/write.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_item(const lk_write_item *it) {
  int n = 0;
  for (int i = 0; i < LK_NFIELDS; i++) {
    if (it->field[i] && strlen(it->field[i]) > LK_WRITE_MAX_VALUE) abort();
    if (it->field[i] && !(it->sent >> i & 1)) abort();
    n += it->sent >> i & 1;
  }
  if (it->extra && !json_is_object(it->extra)) abort();
  n += it->extra ? (int)json_object_size(it->extra) : 0;
  if (n > LK_WRITE_MAX_FIELDS) abort();
  if (it->has_id && it->id < 0) abort();
  if (it->upload[0] && strlen(it->upload) != LK_WRITE_UPLOAD_ID - 1) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > (1u << 20)) return 0;
  size_t pos = 0, len, prev = 0;
  long lineno = 0, lines = 0;
  const char *line;
  while (lk_write_next_line(data, size, &pos, &lineno, &line, &len)) {
    if ((const uint8_t *)line < data || (const uint8_t *)line + len > data + size || pos <= prev || pos > size) abort();
    prev = pos;
    if (++lines > 100000) abort();
    lk_write_item it;
    lk_errbuf eb = {0};
    if (lk_write_parse_json(line, len, &it, &eb) == 0) {
      check_item(&it);
      lk_write_item_clear(&it);
    } else if (it.extra || it.has_id || it.sent || !eb.msg[0]) {
      abort(); /* a refusal clears the item and says why */
    }
    /* the same line as a form field */
    char *s = malloc(len + 1);
    if (!s) return 0;
    memcpy(s, line, len);
    s[len] = '\0';
    char *eq = strchr(s, '=');
    if (eq) {
      *eq = '\0';
      lk_write_item f = {0};
      if (lk_write_item_field(&f, s, eq + 1, 1, &eb) == 0) check_item(&f);
      lk_write_item_clear(&f);
    }
    free(s);
  }
  return 0;
}
