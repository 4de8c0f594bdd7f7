# The two commands of the README (make run, make test) and a few helpers.
# Build trees live under build/: release (run, bench), debug, asan, tsan (test).

JOBS ?= $(shell nproc)
# Tests run side by side too: every test is written to pass on a loaded machine.
CTEST_JOBS ?= $(JOBS)
CMAKE ?= cmake

.PHONY: all deps build run test test-release-build test-debug test-asan test-tsan test-fuzz bench format check-format clean fuzz fuzz-build soak

all: build

deps:
	@scripts/install-deps.sh

build/release/CMakeCache.txt:
	$(CMAKE) -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF

build: build/release/CMakeCache.txt
	$(CMAKE) --build build/release -j $(JOBS)

# spio_tgt in the foreground on every core, RPC on /var/tmp/spio.sock; Ctrl-C stops it.
run: deps build
	@echo "make run: starting spio_tgt with Malloc0; in another shell: build/release/spio_rpc bdev_get_bdevs"
	./build/release/spio_tgt -c app/spio_tgt/malloc0.json

check-format:
	@scripts/check-format.sh

format:
	@scripts/check-format.sh --fix

# First a Release build (NDEBUG) of the library, programs and benchmarks with
# -Werror (the optimiser finds warnings, format truncation, that Debug builds
# do not); then the Debug suite: the unit tests and the QEMU interop tests
# (~1 min each, run only there); then ASan+UBSan with every other test too:
# the programs' shell tests, the fuzz replays and the 20 s soak (run once,
# where the sanitizers watch them); then TSan for the concurrent layers;
# last a short libFuzzer run of each fuzzer (about a minute with the build).
test: deps check-format test-release-build test-debug test-asan test-tsan test-fuzz
	@echo "make test: all suites passed"

test-release-build:
	$(CMAKE) -S . -B build/release-werror -DCMAKE_BUILD_TYPE=Release -DSPIO_WERROR=ON -DBUILD_TESTING=OFF
	$(CMAKE) --build build/release-werror -j $(JOBS)

test-debug:
	$(CMAKE) -S . -B build/debug -DCMAKE_BUILD_TYPE=Debug -DSPIO_WERROR=ON
	$(CMAKE) --build build/debug -j $(JOBS)
	@rm -f build/debug/ctest-results.xml
	ctest --test-dir build/debug -j $(CTEST_JOBS) --output-on-failure -LE 'fuzz|soak|func|compat|install' --output-junit $(CURDIR)/build/debug/ctest-results.xml; \
		rc=$$?; scripts/ctest-summary.sh build/debug/ctest-results.xml "make test (Debug)"; exit $$rc

test-asan:
	$(CMAKE) -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DSPIO_WERROR=ON -DSPIO_SANITIZE=address,undefined
	$(CMAKE) --build build/asan -j $(JOBS)
	@rm -f build/asan/ctest-results.xml
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --test-dir build/asan -j $(CTEST_JOBS) --output-on-failure -LE interop --output-junit $(CURDIR)/build/asan/ctest-results.xml; \
		rc=$$?; scripts/ctest-summary.sh build/asan/ctest-results.xml "make test (ASan+UBSan)"; exit $$rc

test-tsan:
	$(CMAKE) -S . -B build/tsan -DCMAKE_BUILD_TYPE=Debug -DSPIO_WERROR=ON -DSPIO_SANITIZE=thread
	$(CMAKE) --build build/tsan -j $(JOBS)
	@rm -f build/tsan/ctest-results.xml
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" \
		ctest --test-dir build/tsan -j $(CTEST_JOBS) --output-on-failure -L tsan --output-junit $(CURDIR)/build/tsan/ctest-results.xml; \
		rc=$$?; scripts/ctest-summary.sh build/tsan/ctest-results.xml "make test (TSan)"; exit $$rc

# libFuzzer (clang, ASan+UBSan, -O1) over each fuzzer's corpus for FUZZ_S seconds
# each (tests/fuzz/run.sh, docs/reliability.md); the test builds only replay
# the corpora, with a bounded number of mutations (CTest label fuzz).
FUZZ_S ?= 60

fuzz-build:
	$(CMAKE) -S . -B build/fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
		-DCMAKE_C_FLAGS_DEBUG="-g -O1" -DSPIO_SANITIZE=address,undefined -DSPIO_FUZZ=ON
	$(CMAKE) --build build/fuzz -j $(JOBS) --target fuzzers

fuzz: fuzz-build
	tests/fuzz/run.sh build/fuzz $(FUZZ_S)

# Long runs of the randomized tests, in the ASan build: the blobstore's power-cut
# test over SOAK_RUNS workloads and SOAK_CUTS cut points (make test runs 3 and 3000),
# then the spio_tgt soak for SOAK_S seconds (tests/soak/tgt_soak.sh; make test
# runs 20 s of it). The soak's RPC client is a release spio_rpc: an ASan one
# takes ten times as long to start, which would slow the churn, not test more.
SOAK_RUNS ?= 20
SOAK_CUTS ?= 60000
SOAK_S ?= 300
soak: deps build/release/CMakeCache.txt
	$(CMAKE) -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DSPIO_WERROR=ON -DSPIO_SANITIZE=address,undefined
	$(CMAKE) --build build/asan -j $(JOBS) --target test_blob_crash spio_tgt spio_rpc spio_nvme_perf spio_identify
	$(CMAKE) --build build/release -j $(JOBS) --target spio_rpc
	SPIO_CRASH_RUNS=$(SOAK_RUNS) SPIO_CRASH_CUTS=$(SOAK_CUTS) build/asan/tests/test_blob_crash --jobs=1
	SOAK_S=$(SOAK_S) SOAK_RPC=build/release/spio_rpc tests/soak/tgt_soak.sh build/asan

# The CTest tests of the libFuzzer build: each fuzzer, a bounded number of
# runs from its corpus (the gcc suites replay the corpora too).
test-fuzz:
	$(MAKE) fuzz-build
	@rm -f build/fuzz/ctest-results.xml
	ctest --test-dir build/fuzz -L fuzz --output-on-failure --output-junit $(CURDIR)/build/fuzz/ctest-results.xml; \
		rc=$$?; scripts/ctest-summary.sh build/fuzz/ctest-results.xml "make test (libFuzzer)"; exit $$rc

bench: deps build
	bench/run.sh build/release
	@if [ -n "$(SPDK_DIR)" ]; then SPIO_BUILD=build/release bench/vs_spdk.sh "$(SPDK_DIR)"; \
	else echo "make bench: set SPDK_DIR=<an SPDK build> to compare with SPDK's bdevperf (bench/vs_spdk.sh)"; fi

clean:
	rm -rf build
