# lookalike — build, test and demo entry points.
#   make            build build/lookalike and build/liblookalike.a
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
LIBS    := -lturbojpeg -lpng -lwebp -ldnnl -lsqlite3 -lpq -ljansson -lnettle -lmicrohttpd -lz -llapacke -lm -pthread
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
.PHONY: all test unit-test demo clean models bench bench-search fuzz fuzz-run
all: $(BUILD)/lookalike

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

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

# Benchmarks (issue 5; not part of `make test`): indexing (exact vs int8, with quality), search
# beside FAISS, HTTP, embedding beside TFLite and PyTorch, decode beside PIL. Writes their tables
# into docs/PERFORMANCE.md (bench/run.sh).
BENCH_BIN := $(BUILD)/bench/embed_bench $(BUILD)/bench/decode_bench $(BUILD)/bench/search_bench \
             $(BUILD)/bench/live_bench $(BUILD)/bench/calibration_bench
$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/liblookalike.a
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/liblookalike.a $(LIBS)

bench: $(BUILD)/lookalike $(BENCH_BIN)
	+@bash bench/run.sh $(BUILD)

# Search benchmarks alone: exact scan, IVF on 1M vectors, FAISS beside them (bench/search.sh).
bench-search: $(BUILD)/bench/search_bench
	@LK_SEARCH_BENCH=$(BUILD)/bench/search_bench bash bench/search.sh $(BUILD)

models:
	@bash scripts/models.sh

demo:
	@bash scripts/demo.sh

clean:
	rm -rf build build-san build-tsan build-fuzz

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_BIN:=.d) $(FUZZ_BIN:=.d) $(BENCH_BIN:=.d)
