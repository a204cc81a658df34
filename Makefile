# hmp: plain GNU make. `make` builds build/hmp and build/libhmp.a;
# `make check` runs every test; `make demo` runs the main job on an example.

BUILD ?= build
CC ?= cc
OPT ?= -O2
SAN ?=
CFLAGS ?=
CFLAGS += -std=gnu11 $(OPT) -g -Wall -Wextra -Werror -fopenmp $(SAN)
BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBS := $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
CPPFLAGS += -I. $(BLAS_CFLAGS) -MMD -MP
LDFLAGS += -fopenmp $(SAN)
LIBS := -lflint-arb -lflint -lmpfr -lgmp $(BLAS_LIBS) -lreadline -lm -lpthread
TEST_LIBS := $(shell pkg-config --libs criterion 2>/dev/null || echo -lcriterion)

DEB_PACKAGES := libgmp-dev libmpfr-dev libflint-dev libflint-arb-dev libcriterion-dev \
                libreadline-dev libopenblas-dev pkg-config python3-numpy

# One layer per folder, each built into its own archive and allowed to use
# only the layers listed after it (docs/ARCHITECTURE.md). A file that includes
# a layer it may not use, or an archive that needs a symbol of one, fails the
# build (tests/lib/layers.sh).
LAYERS := core program rewrite eval attention io frontends
LAYER_DEPS := core: program:core rewrite:program,core eval:program,core \
              attention:eval,rewrite,program,core io:attention,eval,rewrite,program,core \
              frontends:io,attention,eval,rewrite,program,core
layer_src = $(sort $(filter-out frontends/main.c,$(wildcard $(1)/*.c)))
LIB_SRC := $(foreach l,$(LAYERS),$(call layer_src,$(l)))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
# the archives in link order: a layer before the layers it uses
LAYER_LIBS := $(foreach l,frontends io attention eval rewrite program core,$(BUILD)/lib/libhmp-$(l).a)
TEST_SRC := $(sort $(wildcard tests/unit/test_*.c))
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_SRC := $(sort $(wildcard tests/bench/bench_*.c))
BENCH_BIN := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/tests/%)

.PHONY: all check demo deps bench sanitize asan ubsan clean golden tests
# keep the objects of test programs (no "rm" chatter)
.SECONDARY:

all: $(BUILD)/hmp $(BUILD)/libhmp.a $(BUILD)/layers.ok

$(BUILD)/libhmp.a: $(LIB_OBJ)
	@mkdir -p $(@D)
	@rm -f $@
	@ar rcs $@ $^

define layer_rule
$(BUILD)/lib/libhmp-$(1).a: $(patsubst %.c,$(BUILD)/%.o,$(call layer_src,$(1)))
	@mkdir -p $$(@D)
	@rm -f $$@
	@ar rcs $$@ $$^
endef
$(foreach l,$(LAYERS),$(eval $(call layer_rule,$(l))))

$(BUILD)/hmp: $(BUILD)/frontends/main.o $(LAYER_LIBS)
	@$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/layers.ok: tests/lib/layers.sh $(LAYER_LIBS) $(wildcard $(LAYERS:%=%/*.[ch]))
	@tests/lib/layers.sh . $(BUILD)/lib $(LAYER_DEPS)
	@touch $@

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	@$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/test_%: $(BUILD)/tests/unit/test_%.o $(BUILD)/libhmp.a
	@$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS) $(LIBS)

$(BUILD)/tests/bench_%: $(BUILD)/tests/bench/bench_%.o $(BUILD)/libhmp.a
	@$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS) $(LIBS)

tests: $(TEST_BIN) $(BENCH_BIN)

# Every test: one Criterion suite per module (MOD=term runs one), then the
# golden files of the command line. HMP_TEST_MULTIPLIER scales random tests.
check: deps
	@$(MAKE) -s --no-print-directory all tests
	@BUILD=$(BUILD) tests/run_all.sh $(MOD)

demo: deps
	@$(MAKE) -s --no-print-directory all
	$(BUILD)/hmp run --inline examples/transformer_block.hmp

bench: deps
	@$(MAKE) -s --no-print-directory OPT="-O2 -DNDEBUG" BUILD=$(BUILD)-bench all tests
	@BUILD=$(BUILD)-bench tests/run_bench.sh

# The test suite under AddressSanitizer and UndefinedBehaviorSanitizer.
sanitize: deps
	@$(MAKE) -s --no-print-directory BUILD=$(BUILD)-san OPT=-O1 \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" all tests
	@BUILD=$(BUILD)-san HMP_SANITIZED=1 ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  tests/run_all.sh $(MOD)
asan ubsan: sanitize

# Installs the Debian packages that are missing (apt-get, as root or sudo).
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

clean:
	rm -rf $(BUILD) $(BUILD)-san $(BUILD)-bench

-include $(LIB_OBJ:.o=.d) $(BUILD)/frontends/main.d $(TEST_SRC:%.c=$(BUILD)/%.d) $(BENCH_SRC:%.c=$(BUILD)/%.d)
