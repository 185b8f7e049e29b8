# hookd: plain make, no configure. libc and POSIX only.
#   make            build ./hookd
#   make run        build and start hookd with the defaults
#   make test       the layer check, unit tests and integration tests
#   make check      the same under AddressSanitizer + UBSan
#   make TLS=openssl  the same program with https:// delivery (OpenSSL 3,
#                   libssl-dev); any target takes TLS=openssl
CC ?= cc
PREFIX ?= /usr/local
DESTDIR ?=
VERSION = 0.1.0

CSTD = -std=c11 -D_POSIX_C_SOURCE=200809L -DHOOKD_VERSION='"$(VERSION)"'
WARN = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wwrite-strings \
	-Wformat=2 -Wundef -fno-common
CFLAGS ?= -O2 -g
ALL_CFLAGS = $(CSTD) $(WARN) $(CFLAGS)
LDLIBS = -pthread $(TLS_LIBS)

# Outbound TLS (contract §13): none by default, so the program stays libc and
# POSIX only; TLS=openssl links OpenSSL 3 and compiles tls.c in.
TLS ?=
ifeq ($(TLS),openssl)
CSTD += -DHOOKD_TLS
TLS_LIBS = -lssl -lcrypto
else ifneq ($(TLS),)
$(error TLS=$(TLS) is not a TLS library hookd knows: use TLS=openssl, or no TLS=)
endif
# The TLS value the last build used: every binary depends on it, so that
# switching TLS= rebuilds them rather than mixing the two builds. Rewritten
# only when the value changes.
TLS_STAMP = .build-tls
SAN = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined

MODULES = util log loop metrics json http sign sign_x86 url config \
	config_regs store store_file store_replay store_registry store_idem \
	store_journal store_jreplay store_index store_compact store_copy store_drop store_check store_move \
	webhook gateway outbound tls resolve deliver_queue deliver \
	deliver_attempt deliver_ops deliver_policy deliver_tail api api_check \
	api_registry api_static api_events api_gateway api_shard api_ops \
	api_attempts api_web web_assets server server_conn cli token cli_http cli_out \
	cli_api cli_move cli_listen main
SRCS = $(MODULES:=.c)
HDRS = $(wildcard *.h)
UNIT_SRCS = tests/unit.c $(wildcard tests/test_*.c)

all: hookd

# The console and the OpenAPI document (contract §16), embedded at build
# time: web_assets.c is generated from the files under web/.
WEB_FILES = web/console/index.html web/console/console.css \
	web/console/console.js web/console/favicon.svg web/openapi.json
web_assets.c: web/embed.sh $(WEB_FILES)
	sh web/embed.sh $(WEB_FILES) > $@.tmp && mv $@.tmp $@

$(TLS_STAMP): FORCE
	@echo '$(TLS)' | cmp -s - $@ || echo '$(TLS)' > $@

hookd: $(SRCS) $(HDRS) $(TLS_STAMP)
	$(CC) $(ALL_CFLAGS) -o $@ $(SRCS) $(LDLIBS)

hookd-san: $(SRCS) $(HDRS) $(TLS_STAMP)
	$(CC) $(CSTD) $(WARN) $(SAN) -o $@ $(SRCS) $(LDLIBS)

# ThreadSanitizer (clang): a compaction copies on two threads beside the
# loop (store_copy.c); make check runs the compaction tests with this build,
# which exits at the first data race it sees (halt_on_error).
hookd-tsan: $(SRCS) $(HDRS) $(TLS_STAMP)
	command -v clang >/dev/null || apt-get install -y clang
	clang $(CSTD) $(WARN) -O1 -g -fsanitize=thread -o $@ $(SRCS) $(LDLIBS)

tests/unit: $(UNIT_SRCS) tests/unit.h tests/records.h tests/store_compact_cases.c $(SRCS) $(HDRS) $(TLS_STAMP)
	$(CC) $(ALL_CFLAGS) -o $@ $(UNIT_SRCS) $(LDLIBS)

tests/unit-san: $(UNIT_SRCS) tests/unit.h tests/records.h tests/store_compact_cases.c $(SRCS) $(HDRS) $(TLS_STAMP)
	$(CC) $(CSTD) $(WARN) $(SAN) -o $@ $(UNIT_SRCS) $(LDLIBS)

unit: tests/unit
	./tests/unit

# The layer table and its check (a file includes no header of a layer above
# its own), and the check's own test on a planted violation.
layers:
	sh tests/layers.sh --self-test
	sh tests/layers.sh

test: hookd tests/unit layers
	./tests/unit
	python3 tests/run_integration.py

# Fuzz targets: libFuzzer with clang (make fuzz), or their corpora replayed
# under the sanitizers with any compiler (make check).
FUZZ_TARGETS = request response chunked json url journal records config cmdline
FUZZ_SRCS = util.c log.c json.c http.c sign.c sign_x86.c url.c config.c config_regs.c store.c \
	store_file.c store_replay.c store_registry.c store_idem.c \
	store_journal.c store_jreplay.c store_index.c store_compact.c store_copy.c store_drop.c \
	store_check.c store_move.c cli.c token.c cli_http.c cli_out.c \
	cli_api.c cli_move.c cli_listen.c
FUZZ_TIME ?= 60

tests/fuzz/replay-%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c tests/records.h $(FUZZ_SRCS) $(HDRS) $(TLS_STAMP)
	$(CC) $(CSTD) $(WARN) $(SAN) -o $@ tests/fuzz/replay.c $< $(FUZZ_SRCS) $(LDLIBS)

fuzz-replay: $(FUZZ_TARGETS:%=tests/fuzz/replay-%)
	for t in $(FUZZ_TARGETS); do \
		./tests/fuzz/replay-$$t tests/fuzz/corpus/$$t || exit 1; \
	done

fuzz:
	printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n)\n{ (void)d; (void)n; return 0; }\n' > /tmp/hookd-fuzz-probe.c
	clang -fsanitize=fuzzer -o /tmp/hookd-fuzz-probe /tmp/hookd-fuzz-probe.c 2>/dev/null || \
		{ apt-get update -qq && apt-get install -y -qq clang libclang-rt-14-dev || \
		  apt-get install -y -qq clang libclang-rt-dev; }
	mkdir -p tests/fuzz/bin
	for t in $(FUZZ_TARGETS); do \
		clang $(CSTD) -g -O1 -fsanitize=fuzzer,address,undefined \
			-fno-sanitize-recover=undefined \
			-o tests/fuzz/bin/fuzz-$$t tests/fuzz/fuzz_$$t.c \
			$(FUZZ_SRCS) $(LDLIBS) || exit 1; \
		mkdir -p fuzz-out/$$t; \
		./tests/fuzz/bin/fuzz-$$t -max_total_time=$(FUZZ_TIME) \
			-timeout=10 -artifact_prefix=fuzz-out/$$t- \
			-print_final_stats=1 fuzz-out/$$t tests/fuzz/corpus/$$t \
			|| exit 1; \
	done

# The other compiler of the two the build promises to be clean with.
check-clang:
	command -v clang >/dev/null || apt-get install -y clang
	clang $(ALL_CFLAGS) -o hookd-clang $(SRCS) $(LDLIBS)
	gcc $(ALL_CFLAGS) -o hookd-gcc $(SRCS) $(LDLIBS)
	rm -f hookd-clang hookd-gcc

check: check-clang hookd-san hookd-tsan tests/unit-san fuzz-replay
	ASAN_OPTIONS=detect_leaks=1 ./tests/unit-san
	HOOKD_BIN=./hookd-san python3 tests/run_integration.py
	TSAN_OPTIONS=halt_on_error=1 HOOKD_BIN=./hookd-tsan python3 \
		tests/run_integration.py test_compact test_drop_steps \
		test_loop.test_compaction
	$(MAKE) crash-check

# Issue 18: power loss. tests/crash/recorder.so records what hookd does to
# its files (LD_PRELOAD: the plain glibc build, not hookd-san or
# hookd-static); tests/crash/workloads.py records the workloads into
# CRASH_OUT; tests/crash/explore.py builds the crash states of each and
# checks hookd's recovery of them. make crash-check (in make check) checks
# CRASH_SAMPLE states of each recording, spread over crash points and
# kinds; make crash-explore checks them all.
CRASH_OUT ?= $(shell test -d /dev/shm && echo /dev/shm || echo /tmp)/hookd-crash-recordings
CRASH_SAMPLE ?= 2000
tests/crash/recorder.so: tests/crash/recorder.c tests/crash/recorder_log.c tests/crash/recorder.h
	$(CC) -std=c11 $(WARN) $(CFLAGS) -shared -fPIC -o $@ tests/crash/recorder.c tests/crash/recorder_log.c -ldl -pthread

crash-record: hookd tests/crash/recorder.so
	python3 tests/crash/test_explore.py
	rm -rf $(CRASH_OUT)
	python3 tests/crash/workloads.py $(CRASH_OUT)

crash-check: crash-record
	python3 tests/crash/explore.py --max-states $(CRASH_SAMPLE) $(CRASH_OUT)/*/

crash-explore: crash-record
	python3 tests/crash/explore.py $(CRASH_OUT)/*/

# Issue 16: the static build and the dev preset.
# make static       hookd-static: linked statically against musl libc
#                   (Debian's musl-tools, installed with apt-get when
#                   musl-gcc is missing), no TLS: one file that runs on any
#                   x86-64 Linux. The same flags as hookd, -Werror included.
# make static-test  the integration tests' smoke subset (start, API,
#                   delivery, signing, listen, kill -9 and restart) against
#                   it, and a check that it has no program interpreter.
# make dev          hookd with dev.conf (loopback callbacks allowed, retries
#                   after 1 s, 2 s, 5 s, data in ./dev-data) and what to do
#                   next; make dev PORT=18080 listens on another port.
STATIC_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L \
	-DHOOKD_VERSION='"$(VERSION)"' $(WARN) $(CFLAGS)
STATIC_SMOKE = test_api. test_delivery.test_post_body \
	test_delivery.test_get_delivery_query test_delivery.test_retry_500 \
	test_delivery.test_acks test_delivery.test_kill9_with_pending \
	test_delivery.test_sigterm test_signing.test_hookd_verify \
	test_cli_v2.test_long_help test_listen.

hookd-static: $(SRCS) $(HDRS)
	command -v musl-gcc >/dev/null || \
		{ apt-get update -qq && apt-get install -y -qq musl-tools; }
	musl-gcc -static $(STATIC_CFLAGS) -o $@ $(SRCS) -pthread

static: hookd-static
	ls -l hookd-static

static-test: hookd-static
	@if readelf -l hookd-static | grep -q INTERP; then \
		echo "static-test: hookd-static has a program interpreter (dynamically linked)"; \
		exit 1; fi
	ldd hookd-static 2>&1 | grep -Eq 'not a dynamic executable|statically linked'
	HOOKD_BIN=./hookd-static python3 tests/run_integration.py $(STATIC_SMOKE)

# The port of make dev: make dev PORT=18080 when 8080 is taken (hookd then
# gets -l 127.0.0.1:PORT over dev.conf's listen).
PORT ?= 8080
DEV_L = $(if $(filter 8080,$(PORT)),,-l 127.0.0.1:$(PORT))
dev: hookd
	@echo 'make dev: hookd -c dev.conf $(DEV_L), API and console on http://127.0.0.1:$(PORT) (Ctrl-C stops)'
	@echo '  console:  http://127.0.0.1:$(PORT)/console, sign in with the admin token'
	@echo '  token:    dev-data/admin.token, written at first start: ADMIN=$$(cat dev-data/admin.token)'
	@echo '  commands: take -c dev.conf $(DEV_L) to find it and its token (another terminal), e.g.'
	@echo '            ./hookd client ls -c dev.conf $(DEV_L)'
	@echo '  receiver: ./hookd listen -p 9000 --secret whsec_... (another terminal; the secret'
	@echo '            of the endpoint you register with url http://127.0.0.1:9000/...)'
	@echo '  another port: make dev PORT=18080; make clean removes ./dev-data'
	./hookd -c dev.conf $(DEV_L)

.PHONY: static static-test dev

bench: hookd
	sh bench/run.sh

# Issue 18: the soak run. make soak runs SOAK_MINUTES (default 30) of
# steady load against a fresh hookd and prints a row a minute (RSS, open
# descriptors, journal size, ingest latency, ...), then a verdict; it
# exits 1 when something was not flat (README, Soak). SOAK_SECONDS=N for
# a short run; SOAK_DIR for where its data directory goes (on disk).
SOAK_MINUTES ?= 30
soak: hookd
	SOAK_MINUTES=$(SOAK_MINUTES) python3 tests/soak/soak.py

demo: hookd
	sh tests/demo.sh

run: hookd
	./hookd

install: hookd
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man8 \
		$(DESTDIR)$(PREFIX)/share/hookd $(DESTDIR)$(PREFIX)/lib/systemd/system
	install -s -m 0755 hookd $(DESTDIR)$(PREFIX)/bin/hookd
	install -m 0644 hookd.8 $(DESTDIR)$(PREFIX)/share/man/man8/hookd.8
	install -m 0644 hookd.conf.example $(DESTDIR)$(PREFIX)/share/hookd/hookd.conf.example
	sed 's|@PREFIX@|$(PREFIX)|g' hookd.service > $(DESTDIR)$(PREFIX)/lib/systemd/system/hookd.service
	chmod 0644 $(DESTDIR)$(PREFIX)/lib/systemd/system/hookd.service

# Also what `make run` and the README's walk-through leave in the tree: the
# data directories (./hookd-data, and ./demo-data when the walk-through ran
# beside make run: their tokens and records go too), the demo's
# config and log, and the last requests the sample receiver saved.
clean:
	rm -f hookd hookd-san hookd-tsan web_assets.c tests/unit tests/unit-san tests/fuzz/replay-* bench/hbench \
		$(TLS_STAMP)
	rm -f hookd-clang hookd-gcc demo.conf hookd.log callback.head callback.body \
		flaky.head flaky.body
	rm -rf tests/fuzz/bin hookd-data demo-data
	rm -rf hookd-static dev-data
	rm -rf tests/crash/recorder.so crash-failures

FORCE:

.PHONY: FORCE all unit layers test check check-clang run clean fuzz fuzz-replay bench soak demo install \
	crash-record crash-check crash-explore
