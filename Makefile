# lookalike — build, test and demo entry points.
#   make            build build/lookalike and build/liblookalike.a
#   make test       unit, golden, integration and browser tests (what CI runs)
#   make demo       set up, build, index a sample of the shared catalog, run a search
#   make SANITIZE=address,undefined test   the same under ASan+UBSan (separate build dir)

CC      ?= cc
BUILD   ?= build
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wno-unused-parameter -fno-strict-aliasing \
           -march=x86-64-v3 -Iinclude -Isrc -MMD -MP -pthread
LIBS    := -lturbojpeg -lpng -lwebp -ldnnl -lsqlite3 -ljansson -lnettle -lmicrohttpd -lm -pthread
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
.PHONY: all test unit-test demo clean models bench fuzz
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

$(BUILD)/fuzz/%: $(BUILD)/fuzz/%.o $(BUILD)/fuzz/replay.o $(BUILD)/liblookalike.a
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/fuzz/replay.o $(BUILD)/liblookalike.a $(LIBS)

unit-test: $(TEST_BIN) $(FUZZ_BIN) $(BUILD)/lookalike
	@bash tests/run_unit.sh $(BUILD)

# libFuzzer builds of the fuzz targets (clang): make fuzz, then build-fuzz/fuzz_csv fuzz/corpus/csv
fuzz: $(BUILD)/gen/assets.c
	@mkdir -p build-fuzz
	@for f in $(FUZZ_SRC); do n=$$(basename $$f .c); \
	  clang -g -O1 -fsanitize=fuzzer,address,undefined -DLK_LIBFUZZER -std=c11 -D_GNU_SOURCE -Iinclude -Isrc \
	    $$f $(LIB_SRC) $(BUILD)/gen/assets.c -o build-fuzz/$$n $(LIBS) || exit 1; echo "built build-fuzz/$$n"; done

test: unit-test
	@bash tests/run_all.sh $(BUILD)

models:
	@bash scripts/models.sh

demo:
	@bash scripts/demo.sh

clean:
	rm -rf build build-san build-fuzz

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_BIN:=.d) $(FUZZ_BIN:=.d)
