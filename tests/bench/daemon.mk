# tests/bench/daemon.mk: the daemon-side benchmark's programs
# (tests/bench/daemon-bench.sh).  Included by the Makefile.
DBENCH_DIR  := $(BUILDDIR)/bench
DBENCH_BINS := $(DBENCH_DIR)/userdb-load $(DBENCH_DIR)/userdb-floor $(DBENCH_DIR)/daemon-authload \
               $(DBENCH_DIR)/daemon-fakeapi $(DBENCH_DIR)/relay-floor
DBENCH_CFLAGS = $(filter-out -fvisibility=hidden,$(CFLAGS))

$(DBENCH_BINS): $(DBENCH_DIR)/%: tests/bench/%.c tests/bench/daemon-client.h tests/bench/floor-server.h tests/bench/daemon.mk
	@mkdir -p $(dir $@)
	$(CC) $(DBENCH_CFLAGS) -o $@ $< $(LDHARD) -lm

# The memory floor links exactly the daemon's libraries.
$(DBENCH_DIR)/memory-floor: tests/bench/memory-floor.c tests/bench/daemon.mk
	@mkdir -p $(dir $@)
	$(CC) $(DBENCH_CFLAGS) $(call pc_cflags,$(DAEMON_PKGS)) -o $@ $< $(LDHARD) $(call pc_libs,$(DAEMON_PKGS)) -lpthread

.PHONY: daemon-bench-build daemon-bench
daemon-bench-build: all $(DBENCH_BINS) $(DBENCH_DIR)/memory-floor

# `make check` builds them with the tests (plain and ASan): tests/bench/smoke.sh
# runs the floors briefly, so they are compiled and work between benchmarks.
tests-build: $(DBENCH_BINS) $(DBENCH_DIR)/memory-floor

# The daemon-side part alone: make daemon-bench [DBENCH_QUICK=1] [DBENCH_LOGINS=N]
daemon-bench: daemon-bench-build
	@sh tests/bench/daemon-bench.sh $(BUILDDIR)
