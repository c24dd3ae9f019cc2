#!/usr/bin/env bash
# tests/api.sh BUILD — the public API as a user of the library meets it: the header's worked
# example (examples/search.c) built and run against the build tree on a tiny catalog (a few
# photos of the shared catalog, in a temp dir); liblookalike.so's SONAME and exported symbols
# (exactly the header's LK_API names); `make install` into a temporary DESTDIR, the example
# built there with `pkg-config` (shared, and static with --static) and run against the
# installed library; `make uninstall` leaves no file behind.
set -u
B=${1:-build}
ROOT=$PWD
DATA=${LOOKALIKE_DATA:-$ROOT/../shared/data/fashion-catalog}
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "  ok   $1"; }
ko() { fail=$((fail + 1)); echo "  FAIL $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else ko "$name"; fi; }
finish() { echo "api: $pass passed, $fail failed"; [ $fail -eq 0 ]; exit $?; }

if [ ! -d "$DATA/images" ]; then echo "api: shared catalog missing at $DATA"; ko "shared catalog"; finish; fi
T=$(mktemp -d /tmp/lk-api-XXXXXX); trap 'rm -rf "$T"' EXIT
# A sanitizer build: leaks and errors fail the example (its exit status is checked).
export ASAN_OPTIONS="detect_leaks=1:exitcode=23${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

echo "api: the worked example against the build tree"
make -s BUILD="$B" "$B/examples/search" > "$T/make.log" 2>&1
check "make $B/examples/search builds it (-Wall -Wextra -Werror, only include/)" [ -x "$B/examples/search" ]
[ -x "$B/examples/search" ] || { tail -20 "$T/make.log"; finish; }

# The shop: 6 women's and 4 men's products (the first by id that have a photo).
mkdir -p "$T/img"
head -1 "$DATA/styles.csv" > "$T/styles.csv"
for g in Women Men; do
  awk -F, -v g=$g 'NR > 1 && $2 == g { print $1 }' "$DATA/styles.csv" | sort -n |
    while read -r id; do [ -f "$DATA/images/$id.jpg" ] && echo "$id"; done | head -$([ $g = Women ] && echo 6 || echo 4)
done > "$T/ids"
awk -F, 'NR == FNR { want[$1] = 1; next } FNR > 1 && ($1 in want)' "$T/ids" "$DATA/styles.csv" >> "$T/styles.csv"
while read -r id; do ln -s "$DATA/images/$id.jpg" "$T/img/$id.jpg"; done < "$T/ids"
self=$(head -1 "$T/ids") # a woman's product: it passes the example's filter gender=Women
check "the shop has 10 products with photos" [ "$(wc -l < "$T/ids")" -eq 10 ]

LD_LIBRARY_PATH="$ROOT/$B" "$B/examples/search" "$T/img" "$T/styles.csv" "$T/build.db" "$T/img/$self.jpg" \
  > "$T/out" 2> "$T/err"
rc=$?
check "the example exits 0 (its own checks pass)" [ $rc -eq 0 ]
[ $rc -eq 0 ] || { cat "$T/out"; tail -20 "$T/err"; }
check "it indexed the 10 products" grep -q "^catalog: 10 items, 10 with a vector, 0 errors" "$T/out"
check "product $self's own photo finds it first, cosine 1" grep -Eq "^1\. $self (1\.000|0\.99)" "$T/out"
check "every hit is a woman's product (gender=Women)" \
  bash -c 'n=0; for id in $(sed -n "s/^[0-9]\. \([0-9]*\) .*/\1/p" "$1"); do awk -F, -v id=$id "\$1 == id && \$2 != \"Women\" { bad = 1 } END { exit bad }" "$2" || exit 1; n=$((n + 1)); done; [ $n -ge 1 ]' _ "$T/out" "$T/styles.csv"
check "the example, a second time: nothing to embed, same answer" \
  bash -c 'LD_LIBRARY_PATH="$1" "$2" "$3/img" "$3/styles.csv" "$3/build.db" "$3/img/$4.jpg" > "$3/out2" 2>/dev/null &&
           grep -q "^indexed: 0 embedded, 10 unchanged" "$3/out2" && grep -q "^1\. $4 " "$3/out2"' _ "$ROOT/$B" "$B/examples/search" "$T" "$self"
check "a filter that cannot parse is an error with a message, exit 1" \
  bash -c 'LD_LIBRARY_PATH="$1" "$2" "$3/img" "$3/styles.csv" "$3/build.db" "$3/img/$4.jpg" "price<=" > /dev/null 2> "$3/err3"
           [ $? -eq 1 ] && grep -q "^filter .price<=.: ." "$3/err3"' _ "$ROOT/$B" "$B/examples/search" "$T" "$self"

echo "api: liblookalike.so"
SO=$B/liblookalike.so
check "SONAME is liblookalike.so.0" bash -c 'readelf -d "$1" | grep -q "SONAME.*\[liblookalike\.so\.0\]"' _ "$SO"
check "the example needs liblookalike.so.0" bash -c 'readelf -d "$1" | grep -q "NEEDED.*\[liblookalike\.so\.0\]"' _ "$B/examples/search"
# The header's LK_API names (functions and data), one per declaration line.
sed -n 's/^LK_API[^(\[]*[ *]\([a-z_][a-z0-9_]*\) *[(\[].*/\1/p' include/lookalike.h | sort -u > "$T/api"
# Exported definitions, less the linker's own symbols and those sanitizer runtimes add.
nm -D --defined-only "$SO" | awk '{ print $NF }' |
  grep -Ev '^(_init|_fini|_edata|_end|__bss_start)$|^_+(asan|odr_asan|ubsan|sancov|tsan)' | sort -u > "$T/exported"
check "the header declares some 40 LK_API names ($(wc -l < "$T/api"))" [ "$(wc -l < "$T/api")" -ge 40 ]
check "exported symbols = the header's LK_API names" cmp -s "$T/api" "$T/exported"
cmp -s "$T/api" "$T/exported" || diff "$T/api" "$T/exported" | head -20
check "an internal function (lk_index_search) is not exported" bash -c '! grep -qx lk_index_search "$1"' _ "$T/exported"

echo "api: make install / uninstall (PREFIX=/usr, DESTDIR)"
D=$T/dest
mkdir -p "$D/usr/bin" "$D/usr/lib"
echo other > "$D/usr/bin/other"; echo other > "$D/usr/lib/libother.so" # someone else's: stay
make -s BUILD="$B" PREFIX=/usr DESTDIR="$D" install > "$T/install.log" 2>&1 &&
  make -s BUILD="$B" PREFIX=/usr DESTDIR="$D" install >> "$T/install.log" 2>&1
check "make install exits 0, twice over" [ $? -eq 0 ]
(cd "$D" && find . ! -type d ! -name '*other*' | sort) > "$T/files"
{ echo ./usr/bin/lookalike; echo ./usr/include/lookalike.h; echo ./usr/lib/liblookalike.a
  echo ./usr/lib/liblookalike.so; echo ./usr/lib/liblookalike.so.0; echo ./usr/lib/liblookalike.so.0.1
  echo ./usr/lib/pkgconfig/lookalike.pc; [ -f man/lookalike.1 ] && echo ./usr/share/man/man1/lookalike.1
} | sort > "$T/want"
check "it installs exactly the binary, libraries, header, lookalike.pc (and man page)" cmp -s "$T/want" "$T/files"
cmp -s "$T/want" "$T/files" || { diff "$T/want" "$T/files"; tail -5 "$T/install.log"; }
check "lookalike.pc's prefix is /usr" grep -qx "prefix=/usr" "$D/usr/lib/pkgconfig/lookalike.pc"
export PKG_CONFIG_PATH=$D/usr/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$D
flags=$(pkg-config --cflags --libs lookalike)
check "pkg-config points into DESTDIR ($flags)" bash -c '[[ "$1" == *"-I$2/usr/include"* && "$1" == *"-L$2/usr/lib"* && "$1" == *-llookalike* ]]' _ "$flags" "$D"
# A sanitizer build's library needs its runtime in the program too.
san=$(readelf -d "$D/usr/lib/liblookalike.so.0" | sed -n 's/.*NEEDED.*\[lib\(asan\|ubsan\|tsan\)\.so.*/\1/p' |
  sed 's/asan/address/; s/ubsan/undefined/; s/tsan/thread/' | paste -sd, -)
cc -std=c11 -Wall -Wextra -Werror ${san:+-fsanitize=$san} -o "$T/search" examples/search.c $flags 2> "$T/cc.log"
check "examples/search.c builds with \`pkg-config --cflags --libs lookalike\`" [ $? -eq 0 ]
cat "$T/cc.log"
LD_LIBRARY_PATH="$D/usr/lib" "$T/search" "$T/img" "$T/styles.csv" "$T/installed.db" "$T/img/$self.jpg" > "$T/out4" 2> "$T/err4"
rc=$?
check "it runs against the installed library and its checks pass" [ $rc -eq 0 ]
[ $rc -eq 0 ] || tail -20 "$T/err4"
check "... which is DESTDIR's liblookalike.so.0" bash -c 'LD_LIBRARY_PATH="$1/usr/lib" ldd "$2" | grep -q "liblookalike\.so\.0 => $1/usr/lib/liblookalike\.so\.0"' _ "$D" "$T/search"
check "... with the same first hit as the build tree's" bash -c 'grep -q "^1\. $1 " "$2"' _ "$self" "$T/out4"
static=$(pkg-config --static --libs lookalike | sed 's/-llookalike/-Wl,-Bstatic -llookalike -Wl,-Bdynamic/')
cc -std=c11 -Wall -Wextra -Werror ${san:+-fsanitize=$san} -o "$T/search-static" examples/search.c \
  $(pkg-config --cflags lookalike) $static 2> "$T/cc2.log"
check "it links statically with \`pkg-config --static\` (Libs.private complete)" \
  bash -c '[ -x "$1" ] && ! readelf -d "$1" | grep -q liblookalike' _ "$T/search-static"
cat "$T/cc2.log" | head -5
make -s BUILD="$B" PREFIX=/usr DESTDIR="$D" uninstall > "$T/uninstall.log" 2>&1
check "make uninstall exits 0" [ $? -eq 0 ]
check "make uninstall leaves DESTDIR without its files (others' stay)" \
  [ "$(cd "$D" && find . ! -type d | sort | tr '\n' ' ')" = "./usr/bin/other ./usr/lib/libother.so " ]
finish
