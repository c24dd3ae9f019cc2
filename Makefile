# lookalike — build, test and demo entry points.
#   make            build build/lookalike, build/liblookalike.a and build/liblookalike.so
#   make install    PREFIX=/usr/local DESTDIR=: the binary, the libraries, lookalike.h, lookalike.pc,
#                   the man page; make uninstall removes exactly those
#   make test       unit, golden, integration, HTTP, reliability, PostgreSQL, CLI/demo and browser tests (what CI runs)
#   make demo       set up, build, index a sample of the shared catalog, run a search
#   make bench      benchmarks (embedding vs TFLite/PyTorch, decode vs PIL, search, HTTP) → docs/PERFORMANCE.md
#   make SANITIZE=address,undefined test   the same under ASan+UBSan (separate build dir)

CC      ?= cc
BUILD   ?= build
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wno-unused-parameter -fno-strict-aliasing \
           -march=x86-64-v3 -Iinclude -Isrc -MMD -MP -pthread
LIBS    := -lturbojpeg -lpng -lwebp -ldnnl -lsqlite3 -lpq -ljansson -lnettle -lmicrohttpd -lz -lisal -llapacke -lm -pthread
# libpq (PostgreSQL catalogs, src/catalog/pg.c): Debian keeps its headers in /usr/include/postgresql
PQ_CFLAGS := $(shell pkg-config --cflags libpq 2>/dev/null || echo -I/usr/include/postgresql)
CFLAGS  += $(PQ_CFLAGS)
TESTLIBS:= -lcmocka

ifneq ($(SANITIZE),)
BUILD   := build-san
CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
endif

LIB_SRC  := $(filter-out src/cli/%,$(wildcard src/*/*.c))
CLI_SRC  := $(wildcard src/cli/*.c)
TEST_SRC := $(wildcard tests/test_*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
FUZZ_SRC := $(wildcard fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:fuzz/%.c=$(BUILD)/fuzz/%)

.SECONDARY:
.PHONY: all test unit-test demo clean models bench bench-search bench-peers bench-peers-10m bench-big bench-serve-big fuzz fuzz-run install uninstall FORCE
all: $(BUILD)/lookalike $(BUILD)/liblookalike.so

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# The library's objects serve the static and the shared library alike: position-independent,
# and only what include/lookalike.h marks LK_API is exported from liblookalike.so; public
# functions are not interposable, so calls between them inline as before (code as -fPIE's).
# The stamp rebuilds objects made with other flags (a build dir from an older checkout).
LIB_FLAGS := -fPIC -fvisibility=hidden -fno-semantic-interposition
$(LIB_OBJ) $(BUILD)/gen/assets.o: CFLAGS += $(LIB_FLAGS)
$(LIB_OBJ) $(BUILD)/gen/assets.o: $(BUILD)/.lib-flags
ifneq ($(file < $(BUILD)/.lib-flags),$(LIB_FLAGS))
$(shell mkdir -p $(BUILD))
$(file > $(BUILD)/.lib-flags,$(LIB_FLAGS))
endif

# The web page (web/) compiled into the library as C arrays (src/server/assets.h).
ASSETS   := $(sort $(wildcard web/*.html web/*.js web/*.css web/*.svg))
$(BUILD)/gen/assets.c: tools/embed_assets.sh $(ASSETS)
	@mkdir -p $(dir $@)
	sh tools/embed_assets.sh $@ $(ASSETS)

$(BUILD)/gen/assets.o: $(BUILD)/gen/assets.c src/server/assets.h
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/liblookalike.a: $(LIB_OBJ) $(BUILD)/gen/assets.o
	@rm -f $@
	ar rcs $@ $^

# liblookalike.so.MAJOR.MINOR, SONAME liblookalike.so.MAJOR (LK_VERSION in include/lookalike.h).
VERSION := $(shell sed -n 's/^\#define LK_VERSION "\(.*\)"/\1/p' include/lookalike.h)
SO_MAJOR := $(word 1,$(subst ., ,$(VERSION)))
SO_NAME  := liblookalike.so.$(SO_MAJOR)
SO_FILE  := liblookalike.so.$(SO_MAJOR).$(word 2,$(subst ., ,$(VERSION)))
$(BUILD)/$(SO_FILE): $(LIB_OBJ) $(BUILD)/gen/assets.o
	$(CC) $(LDFLAGS) -shared -Wl,-soname,$(SO_NAME) -Wl,--no-undefined -o $@ $^ $(LIBS)
$(BUILD)/liblookalike.so: $(BUILD)/$(SO_FILE)
	ln -sf $(SO_FILE) $(BUILD)/$(SO_NAME)
	ln -sf $(SO_NAME) $@

# The public header's worked example, built against the build tree (tests/api.sh runs it, and
# builds it again against an installed copy through pkg-config).
$(BUILD)/examples/%: examples/%.c include/lookalike.h $(BUILD)/liblookalike.so
	@mkdir -p $(dir $@)
	$(CC) $(OPT) -g -std=c11 -Wall -Wextra -Werror -Iinclude $(LDFLAGS) -o $@ $< -L$(BUILD) -llookalike

$(BUILD)/lookalike: $(CLI_OBJ) $(BUILD)/liblookalike.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/liblookalike.a $(LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/tests/testutil.o $(BUILD)/liblookalike.a
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/tests/testutil.o $(BUILD)/liblookalike.a $(LIBS) $(TESTLIBS)

# Allocation-failure torture: our code's malloc & co. go through the test's wrappers.
ALLOC_WRAP := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=aligned_alloc,--wrap=strdup,--wrap=free
$(BUILD)/tests/test_alloc: $(BUILD)/tests/test_alloc.o $(BUILD)/tests/testutil.o $(BUILD)/liblookalike.a
	$(CC) $(LDFLAGS) $(ALLOC_WRAP) -o $@ $< $(BUILD)/tests/testutil.o $(BUILD)/liblookalike.a $(LIBS) $(TESTLIBS)

# Storage-fault injection (LD_PRELOAD) for tests/reliability.sh; never sanitized.
$(BUILD)/tests/faultshim.so: tests/faultshim.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -Wall -shared -fPIC -o $@ $< -ldl -pthread

$(BUILD)/fuzz/%: $(BUILD)/fuzz/%.o $(BUILD)/fuzz/replay.o $(BUILD)/liblookalike.a
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/fuzz/replay.o $(BUILD)/liblookalike.a $(LIBS)

unit-test: $(TEST_BIN) $(FUZZ_BIN) $(BUILD)/lookalike $(BUILD)/tests/faultshim.so
	@bash tests/run_unit.sh $(BUILD)

# libFuzzer builds of the fuzz targets (clang): make fuzz, then build-fuzz/fuzz_csv fuzz/corpus/csv;
# make fuzz-run FUZZ_SECONDS=30 runs each target that long on a copy of its corpus (fuzz/run.sh).
FUZZ_CFLAGS := -g -O1 -fsanitize=address,undefined -std=c11 -D_GNU_SOURCE -Iinclude -Isrc $(PQ_CFLAGS)
FUZZ_LIBOBJ := $(LIB_SRC:%.c=build-fuzz/obj/%.o) build-fuzz/obj/assets.o
build-fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
build-fuzz/obj/assets.o: $(BUILD)/gen/assets.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -c $< -o $@
build-fuzz/fuzz_%: fuzz/fuzz_%.c $(FUZZ_LIBOBJ)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -DLK_LIBFUZZER $< $(FUZZ_LIBOBJ) -o $@ $(LIBS)
fuzz: $(FUZZ_SRC:fuzz/%.c=build-fuzz/%)
fuzz-run: fuzz
	@bash fuzz/run.sh $(or $(FUZZ_SECONDS),30)

test: unit-test
	@bash tests/run_all.sh $(BUILD)

# Benchmarks (issue 5; `make test` builds them but runs none): indexing (exact vs int8, with quality), search
# beside FAISS, HTTP, embedding beside TFLite and PyTorch, decode beside PIL. Writes their tables
# into docs/PERFORMANCE.md (bench/run.sh).
BENCH_BIN := $(BUILD)/bench/embed_bench $(BUILD)/bench/decode_bench $(BUILD)/bench/search_bench \
             $(BUILD)/bench/live_bench $(BUILD)/bench/calibration_bench $(BUILD)/bench/big_bench \
             $(BUILD)/bench/catalog_bench $(BUILD)/bench/engine_ivf_bench
# issue 14's experiments (docs/QUALITY.md "What was tried"), run by hand
BENCH_EXP := $(BUILD)/bench/finetune $(BUILD)/bench/imagenet_prior
$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/liblookalike.a
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/liblookalike.a $(LIBS)
# `make test` builds every bench program (none runs in it) so none can rot unnoticed
# (bench/tflite_bench.c is built by bench/embed.sh against TFLite's library).
test: $(BENCH_BIN) $(BENCH_EXP)

bench: $(BUILD)/lookalike $(BENCH_BIN)
	+@bash bench/run.sh $(BUILD)

# Search benchmarks alone: exact scan, IVF on 1M vectors, FAISS beside them (bench/search.sh).
bench-search: $(BUILD)/bench/search_bench
	@LK_SEARCH_BENCH=$(BUILD)/bench/search_bench bash bench/search.sh $(BUILD)

# Ours beside hnswlib and FAISS at 1M, tuned 256-d vectors (issue 19; bench/peers.sh).
bench-peers: $(BUILD)/bench/search_bench
	@LK_SEARCH_BENCH=$(BUILD)/bench/search_bench bash bench/peers.sh $(BUILD)
# The same at 10M with the peers that fit this machine (~13 GB of RAM, builds under an hour;
# ~75 min, 11 GB of disk under /tmp; not in `make bench`).
bench-peers-10m: $(BUILD)/bench/search_bench
	@LK_SEARCH_BENCH=$(BUILD)/bench/search_bench bash bench/peers.sh $(BUILD) --n 10000000 --peers faiss_ivf_flat,faiss_ivf_sq8,hnswlib_m16
# Ten million items (issue 19): the IVF with filter columns, saved and loaded (bench/big.sh).
bench-big: $(BUILD)/bench/big_bench
	@LK_BIG_BENCH=$(BUILD)/bench/big_bench bash bench/big.sh $(BUILD)
# `serve` of ten million items from the saved index (issue 19; bench/serve_big.sh).
bench-serve-big: $(BUILD)/lookalike $(BUILD)/bench/catalog_bench
	@bash bench/serve_big.sh $(BUILD)

# make install PREFIX=/usr DESTDIR=/tmp/stage; make uninstall (same PREFIX, DESTDIR) removes
# exactly the files install wrote. The page assets are inside the binary and the libraries.
PREFIX  ?= /usr/local
BINDIR  := $(PREFIX)/bin
LIBDIR  := $(PREFIX)/lib
INCDIR  := $(PREFIX)/include
PCDIR   := $(LIBDIR)/pkgconfig
MAN1DIR := $(PREFIX)/share/man/man1
D := $(DESTDIR)
$(BUILD)/lookalike.pc: tools/lookalike.pc.in FORCE
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@VERSION@|$(VERSION)|; s|@LIBS@|$(LIBS)|' $< > $@.tmp && mv $@.tmp $@
FORCE:
install: all $(BUILD)/lookalike.pc
	install -d $(D)$(BINDIR) $(D)$(LIBDIR) $(D)$(INCDIR) $(D)$(PCDIR)
	install -m 755 $(BUILD)/lookalike $(D)$(BINDIR)/lookalike
	install -m 644 $(BUILD)/liblookalike.a $(D)$(LIBDIR)/liblookalike.a
	install -m 755 $(BUILD)/$(SO_FILE) $(D)$(LIBDIR)/$(SO_FILE)
	ln -sf $(SO_FILE) $(D)$(LIBDIR)/$(SO_NAME)
	ln -sf $(SO_NAME) $(D)$(LIBDIR)/liblookalike.so
	install -m 644 include/lookalike.h $(D)$(INCDIR)/lookalike.h
	install -m 644 $(BUILD)/lookalike.pc $(D)$(PCDIR)/lookalike.pc
	if [ -f man/lookalike.1 ]; then install -d $(D)$(MAN1DIR) && install -m 644 man/lookalike.1 $(D)$(MAN1DIR)/lookalike.1; fi
uninstall:
	rm -f $(D)$(BINDIR)/lookalike $(D)$(LIBDIR)/liblookalike.a $(D)$(LIBDIR)/$(SO_FILE) \
	      $(D)$(LIBDIR)/$(SO_NAME) $(D)$(LIBDIR)/liblookalike.so $(D)$(INCDIR)/lookalike.h \
	      $(D)$(PCDIR)/lookalike.pc $(D)$(MAN1DIR)/lookalike.1

models:
	@bash scripts/models.sh

demo:
	@bash scripts/demo.sh

clean:
	rm -rf build build-san build-tsan build-fuzz

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_BIN:=.d) $(FUZZ_BIN:=.d) $(BENCH_BIN:=.d)
