# hookd: plain make, no configure. libc and POSIX only.
CC ?= cc
PREFIX ?= /usr/local
VERSION = 0.1.0

CSTD = -std=c11 -D_POSIX_C_SOURCE=200809L -DHOOKD_VERSION='"$(VERSION)"'
WARN = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wwrite-strings \
	-Wformat=2 -Wundef -fno-common
CFLAGS ?= -O2 -g
ALL_CFLAGS = $(CSTD) $(WARN) $(CFLAGS)
LDLIBS = -pthread

MODULES = util json http sign url store deliver api server
SRCS = $(MODULES:=.c)
HDRS = $(MODULES:=.h)
UNIT_SRCS = tests/unit.c $(wildcard tests/test_*.c)

all: hookd

hookd: $(SRCS) $(HDRS)
	$(CC) $(ALL_CFLAGS) -o $@ $(SRCS) $(LDLIBS)

tests/unit: $(UNIT_SRCS) tests/unit.h $(SRCS) $(HDRS)
	$(CC) $(ALL_CFLAGS) -o $@ $(UNIT_SRCS) $(LDLIBS)

unit: tests/unit
	./tests/unit

test: hookd tests/unit
	./tests/unit
	python3 tests/run_integration.py

.PHONY: all unit test check clean run install
clean:
	rm -f hookd tests/unit tests/unit-san hookd-san
