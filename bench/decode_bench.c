/* bench/decode_bench.c — photo decoding speed of lookalike's decoder (src/image, TurboJPEG),
 * the "lookalike" column of bench/decode.sh (PIL is bench/decode_pil.py, run beside it).
 * Per folder of JPEGs (read into memory first): decode + antialiased resize to 224x224,
 * once at full size (min_side 0) and once with the min_side the embedding path asks for
 * (224, so TurboJPEG's DCT scaling decodes at 1/2..1/8 size), and with min_side 60 (all that
 * the default recipe keeps: it shrinks photos to 80 px first), single thread, best of rounds.
 *
 *   decode_bench [--n 40] [--seconds 1] [--rounds 3] [--json] LABEL=DIR...
 */
#include "embed_common.h"
#include "image/image.h"

#define PROG "decode_bench"

typedef struct how {
  const char *name;
  int min_side;
} how;
/* dct60: what the default recipe (prescale to 80 px, mnv2-avg+color+p80) would need. */
static const how HOWS[] = {{"full", 0}, {"dct224", 224}, {"dct60", 60}};

int main(int argc, char **argv) {
  int n = 40, rounds = 3, json = 0;
  double seconds = 1;
  int first = argc;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--n") && v) n = atoi(v), i++;
    else if (!strcmp(a, "--seconds") && v) seconds = atof(v), i++;
    else if (!strcmp(a, "--rounds") && v) rounds = atoi(v), i++;
    else if (!strcmp(a, "--json")) json = 1;
    else if (a[0] != '-' && strchr(a, '=')) {
      first = i;
      break;
    } else {
      fprintf(stderr, "usage: decode_bench [--n N] [--seconds S] [--rounds R] [--json] LABEL=DIR...\n");
      return 2;
    }
  }
  if (!json) printf("%-10s %-7s %9s %9s %9s %11s\n", "photos", "decode", "w x h", "photos/s",
                    "ms/photo", "MB/s (JPEG)");
  for (int i = first; i < argc; i++) {
    char label[256];
    const char *eq = strchr(argv[i], '=');
    if (!eq) continue;
    snprintf(label, sizeof label, "%.*s", (int)(eq - argv[i]), argv[i]);
    bench_file *f = NULL;
    int cnt = bench_read_photos(PROG, eq + 1, n, &f);
    double bytes = 0;
    for (int k = 0; k < cnt; k++) bytes += (double)f[k].len;
    for (size_t h = 0; h < sizeof HOWS / sizeof HOWS[0]; h++) {
      double best = 0;
      int dw = 0, dh = 0;
      for (int r = 0; r < rounds; r++) {
        long done = 0;
        double t0 = bench_now(), el;
        do {
          for (int k = 0; k < cnt; k++) {
            lk_image img = {0}, rs = {0};
            lk_errbuf eb = {0};
            if (lk_image_decode(f[k].buf, f[k].len, NULL, HOWS[h].min_side, &img, &eb))
              bench_die(PROG, "decode failed", lk_err_msg(&eb));
            if (lk_image_resize(&img, 224, 224, &rs)) bench_die(PROG, "resize failed", f[k].name);
            dw = img.w, dh = img.h;
            lk_image_free(&img);
            lk_image_free(&rs);
          }
          done += cnt;
          el = bench_now() - t0;
        } while (el < seconds);
        if (done / el > best) best = done / el;
      }
      char wh[32];
      snprintf(wh, sizeof wh, "%dx%d", dw, dh);
      if (json)
        printf("{\"bench\":\"lookalike\",\"kind\":\"decode\",\"set\":\"%s\",\"how\":\"%s\","
               "\"decoded\":\"%s\",\"photos\":%d,\"mean_bytes\":%.0f,\"photos_per_s\":%.2f,"
               "\"ms_per_photo\":%.3f,\"load\":%.2f}\n",
               label, HOWS[h].name, wh, cnt, bytes / cnt, best, 1000 / best, bench_loadavg());
      else
        printf("%-10s %-7s %9s %9.1f %9.3f %11.1f\n", label, HOWS[h].name, wh, best, 1000 / best,
               best * bytes / cnt / 1e6);
      fflush(stdout);
    }
    bench_free_photos(f, cnt);
  }
  return 0;
}
