# JobRunner — build, run and test. Every step installs what it needs, so these
# work on a fresh Debian machine with only Swift installed (run as root).

SWIFT        ?= swift
HOST         ?= 127.0.0.1
PORT         ?= 8080
PREFIX       ?= /usr/local
VENV         := .venv
PYTHON       := $(VENV)/bin/python
BIN          := .build/release/jobrunnerd
# The small C program each command job runs under, built static with the C
# compiler (no Swift runtime, no dynamic loader at each job start) beside the
# daemon, where jobrunnerd looks for it. `swift build` builds a plain copy of it
# for the Swift tests.
SUPERVISOR   := .build/release/jobrunner-supervisor
CC           ?= cc
# The Swift runtime linked in statically: a self-contained binary that maps only
# what it uses (idle RSS about 3 MB lower than with the shared libraries). lld
# links it without GNU ld's noise about code in the static runtime we never call.
RELEASE      := $(SWIFT) build -c release --static-swift-stdlib -Xswiftc -use-ld=lld

# Debian packages: what building and running need, and what tests and benchmarks
# add (python and its venv, chromium for the browser tests, wrk, curl, gcc).
BUILD_PACKAGES := pkg-config libmicrohttpd-dev libjansson-dev libgnutls28-dev libsqlite3-dev libsystemd-dev libcurl4-gnutls-dev libpq-dev gcc libc6-dev
TEST_PACKAGES  := $(BUILD_PACKAGES) sqlite3 postgresql python3 python3-venv python3-pip chromium wrk curl gcc util-linux openssl prometheus

.PHONY: all deps apt-deps build-deps install-packages py-deps build run test unit-test e2e-test bench clean install uninstall fuzz test-sanitized

BINDIR       = $(DESTDIR)$(PREFIX)/bin
SHAREDIR     = $(DESTDIR)$(PREFIX)/share/jobrunner
UNITDIR      = $(DESTDIR)$(PREFIX)/lib/systemd/system
CONFDIR      = $(DESTDIR)/etc/jobrunner
SCRIPTS      = jr-submit jr-watch jr-list jr-cancel jr-stats jr-schedule

all: build

deps: apt-deps py-deps

build-deps:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(BUILD_PACKAGES)"

apt-deps:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(TEST_PACKAGES)"

# Installs whichever of $(PACKAGES) are missing (apt-get update first); idempotent.
install-packages:
	@missing=""; \
	for p in $(PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# Pinned Python tools for the black-box tests live in a project-local venv.
py-deps: $(VENV)/.installed

$(VENV)/.installed: Tests/e2e/requirements.txt
	@command -v python3 >/dev/null || $(MAKE) apt-deps
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q --disable-pip-version-check -r Tests/e2e/requirements.txt
	touch $@

build: build-deps
	$(RELEASE) --product jobrunnerd
	$(CC) -O2 -static -Wall -Wextra -Werror -o $(SUPERVISOR) Sources/jobrunner-supervisor/*.c

run: build
	$(BIN) --host $(HOST) --port $(PORT) --www www --db ./var/jobs.db --job-types-dir deploy/jobs.d

unit-test: build-deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

e2e-test: build py-deps
	JOBRUNNERD=$(BIN) WWW_ROOT=www $(PYTHON) -m pytest -q Tests/e2e

test: deps unit-test e2e-test

# Installs the daemon, the dashboard, the curl scripts, the systemd units (with
# ExecStart pointing at $(PREFIX)/bin) and, if there is none yet, an example config.
install: build
	install -d $(BINDIR) $(SHAREDIR) $(UNITDIR) $(CONFDIR)
	install -m 0755 $(BIN) $(BINDIR)/jobrunnerd
	install -m 0755 $(SUPERVISOR) $(BINDIR)/jobrunner-supervisor
	for s in $(SCRIPTS); do install -m 0755 scripts/$$s $(BINDIR)/$$s; done
	install -m 0644 scripts/jr-lib.sh $(SHAREDIR)/jr-lib.sh
	rm -rf $(SHAREDIR)/www
	cp -R www $(SHAREDIR)/www
	sed 's|/usr/bin/jobrunnerd|$(PREFIX)/bin/jobrunnerd|' deploy/jobrunnerd.service > $(UNITDIR)/jobrunnerd.service
	install -m 0644 deploy/jobrunnerd.socket $(UNITDIR)/jobrunnerd.socket
	chmod 0644 $(UNITDIR)/jobrunnerd.service
	[ -e $(CONFDIR)/jobrunner.json ] || install -m 0644 deploy/jobrunner.json $(CONFDIR)/jobrunner.json
	install -d $(CONFDIR)/jobs.d
	for f in deploy/jobs.d/*.json; do [ -e $(CONFDIR)/jobs.d/$$(basename $$f) ] || install -m 0644 $$f $(CONFDIR)/jobs.d/; done

uninstall:
	rm -f $(BINDIR)/jobrunnerd $(BINDIR)/jobrunner-supervisor $(UNITDIR)/jobrunnerd.service $(UNITDIR)/jobrunnerd.socket
	for s in $(SCRIPTS); do rm -f $(BINDIR)/$$s; done
	rm -rf $(SHAREDIR)
	@echo "kept $(CONFDIR) and /var/lib/jobrunner (remove them by hand if you wish)"

# Benchmarks (not tests): prints a table and writes bench-results/results.json.
# BENCH_QUICK=1 for a short run; `make bench SECTIONS="http engine"` for some.
bench: apt-deps build
	$(RELEASE) --product jobrunner-bench
	python3 scripts/bench/run.py $(SECTIONS)

# libFuzzer over the WebSocket frame parser, the router with its pre-check and
# query parsing, and the JSON parser (Tests/fuzz): FUZZ_SECONDS each (60 s in
# all by default), starting from the seeds in Tests/fuzz/corpus; what the fuzzer
# learns stays in .build-fuzz/corpus, a failing input in .build-fuzz/crash-*.
# Not part of `make test`.
FUZZ_SECONDS ?= 20
FUZZ_TARGETS := websocket router json
fuzz: build-deps
	JOBRUNNER_FUZZ=1 $(SWIFT) build -c debug --scratch-path .build-fuzz --product jobrunner-fuzz -Xswiftc -sanitize=fuzzer,address
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p .build-fuzz/corpus/$$t; \
		echo "fuzzing $$t for $(FUZZ_SECONDS) s"; \
		SWIFT_BACKTRACE=enable=no JOBRUNNER_FUZZ_TARGET=$$t .build-fuzz/debug/jobrunner-fuzz \
			-max_total_time=$(FUZZ_SECONDS) -max_len=8192 -timeout=10 -print_final_stats=1 \
			-artifact_prefix=.build-fuzz/crash-$$t- .build-fuzz/corpus/$$t Tests/fuzz/corpus/$$t || exit 1; \
	done

# The Swift tests under ThreadSanitizer, then AddressSanitizer, each in its own
# scratch path (a full build each). Not part of `make test`; docs/sanitizers.md.
# Under TSan no report is suppressed: Tests/sanitizers/tsan_mutex_slow_paths.c,
# preloaded into the test run, shows TSan the lock and unlock that Swift's Mutex
# does inside the uninstrumented libswiftSynchronization.so (the file says how
# and why); it is built with the toolchain's clang, whose `swiftcall` can stand
# in for a Swift function. Under ASan leak detection is on; LeakSanitizer skips
# only what Tests/sanitizers/lsan.supp names (XCTest's own objects), with why.
SWIFT_CLANG ?= $(dir $(realpath $(shell command -v $(SWIFT))))clang
TSAN_MUTEX_SHIM := .build-tsan/tsan-mutex-slow-paths.so
test-sanitized: build-deps
	$(SWIFT) build --build-tests --sanitize=thread --scratch-path .build-tsan
	$(SWIFT_CLANG) -shared -fPIC -O2 -Wall -Wextra -Werror -o $(TSAN_MUTEX_SHIM) Tests/sanitizers/tsan_mutex_slow_paths.c -ldl
	LD_PRELOAD=$(CURDIR)/$(TSAN_MUTEX_SHIM) \
		$(SWIFT) test --skip-build --sanitize=thread --scratch-path .build-tsan
	$(SWIFT) build --build-tests --sanitize=address --scratch-path .build-asan
	ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/Tests/sanitizers/lsan.supp \
		$(SWIFT) test --skip-build --sanitize=address --scratch-path .build-asan

clean:
	rm -rf .build .build-fuzz .build-tsan .build-asan $(VENV) Tests/e2e/output bench-results
