# tests/bench/bench.mk: the load driver and `make bench` / `make bench-smoke`
# (included by the Makefile).  See tests/bench/bench.sh and BENCHMARKS.md.

BENCH_DRIVER := $(BUILDDIR)/bench/neostra-bench

$(BENCH_DRIVER): tests/bench/driver.c tests/bench/bench.mk Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -pie -o $@ $< $(LDHARD) $(call pc_libs,pam) -lm

.PHONY: bench-driver bench-smoke

bench-driver: $(BENCH_DRIVER)

# The whole comparison: minutes; BENCH_RUNS (3) runs of BENCH_DURATION (5 s)
# per measurement.  Results in $(BUILDDIR)/bench/results.md.
bench: deps bench-deps all $(BENCH_DRIVER) $(BUILDDIR)/tests/pamcheck daemon-bench-build
	@sh tests/bench/bench.sh $(BUILDDIR)

# Seconds: the driver against pam_permit and against our stack with the mock.
bench-smoke: all $(BENCH_DRIVER)
	@sh tests/bench/smoke.sh $(BUILDDIR)

# `make check` builds the driver with the tests (plain and ASan), so that
# tests/bench/smoke.sh can run from tests/run-tests.sh.
tests-build: $(BENCH_DRIVER)
