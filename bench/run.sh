#!/bin/sh
# make bench: hookd against nginx on this machine (see bench/bench.py).
# Installs what it needs from Debian's packages when missing, builds the
# load helper, then runs every figure; the table goes to stdout and to
# bench/results.txt.
set -e
cd "$(dirname "$0")/.."

need=""
command -v nginx >/dev/null 2>&1 || need="$need nginx-light"
[ -f /usr/lib/nginx/modules/ngx_http_echo_module.so ] ||
	need="$need libnginx-mod-http-echo"
command -v wrk >/dev/null 2>&1 || need="$need wrk"
command -v strip >/dev/null 2>&1 || need="$need binutils"
# The tls group builds both programs (plain and TLS=openssl) to size them.
if ./hookd -V 2>/dev/null | grep -q OpenSSL; then
	[ -f /usr/include/openssl/ssl.h ] || need="$need libssl-dev"
fi
if [ -n "$need" ]; then
	echo "bench: installing$need" >&2
	# The packages' own service is never started: the benchmark runs its
	# nginx instances itself, on free loopback ports.
	made=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		made=1
	fi
	apt-get update >/dev/null || true
	DEBIAN_FRONTEND=noninteractive apt-get install -y \
		--no-install-recommends $need >&2 || status=$?
	[ -z "$made" ] || rm -f /usr/sbin/policy-rc.d
	[ -z "${status:-}" ] || exit "$status"
fi

${CC:-cc} -std=c11 -O2 -Wall -Wextra -Werror -o bench/hbench bench/hbench.c
# On a shared machine other work steals CPU from the servers under test: as
# root, everything here (nginx and hookd alike) runs at a higher priority.
if [ "$(id -u)" = 0 ]; then
	exec nice -n -10 python3 bench/bench.py
fi
exec python3 bench/bench.py
