# hookd: plain make, no configure. libc and POSIX only.
#   make            build ./hookd
#   make run        build and start hookd with the defaults
#   make test       unit tests and integration tests
#   make check      the same under AddressSanitizer + UBSan
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
LDLIBS = -pthread
SAN = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined

MODULES = util json http sign url config store deliver api server
SRCS = $(MODULES:=.c)
HDRS = $(MODULES:=.h)
UNIT_SRCS = tests/unit.c $(wildcard tests/test_*.c)

all: hookd

hookd: $(SRCS) $(HDRS)
	$(CC) $(ALL_CFLAGS) -o $@ $(SRCS) $(LDLIBS)

hookd-san: $(SRCS) $(HDRS)
	$(CC) $(CSTD) $(WARN) $(SAN) -o $@ $(SRCS) $(LDLIBS)

tests/unit: $(UNIT_SRCS) tests/unit.h $(SRCS) $(HDRS)
	$(CC) $(ALL_CFLAGS) -o $@ $(UNIT_SRCS) $(LDLIBS)

tests/unit-san: $(UNIT_SRCS) tests/unit.h $(SRCS) $(HDRS)
	$(CC) $(CSTD) $(WARN) $(SAN) -o $@ $(UNIT_SRCS) $(LDLIBS)

unit: tests/unit
	./tests/unit

test: hookd tests/unit
	./tests/unit
	python3 tests/run_integration.py

check: hookd-san tests/unit-san
	ASAN_OPTIONS=detect_leaks=1 ./tests/unit-san
	HOOKD_BIN=./hookd-san python3 tests/run_integration.py

run: hookd
	./hookd

clean:
	rm -f hookd hookd-san tests/unit tests/unit-san

.PHONY: all unit test check run clean
