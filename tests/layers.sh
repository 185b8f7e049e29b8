#!/bin/sh
# layers: the layer table of hookd, in one place, and the check that a file
# only includes headers of its own layer or below (README, Design).
#   tests/layers.sh [DIR]      check the .c and .h files at the top of DIR
#                              (default: the directory above this script)
#   tests/layers.sh --self-test  check that the check fails on a planted
#                              violation and an unlisted file, and passes on
#                              a clean tree
# Exit 0 when every file is in the table and includes nothing above its
# layer; 1 with one line per problem otherwise. A file listed in the table
# but not present is skipped (the table names the layout being built).

# The table: "LAYER NAME..." (NAME is a file without .c/.h). One line on what
# each layer is; a file uses only what is on its own line or above it.
TABLE='
0 util log loop metrics version
1 http json url sign sign_x86 sign_impl config config_regs config_impl
2 store store_file store_replay store_registry store_idem store_journal store_jreplay store_index store_compact store_copy store_drop store_check store_move store_impl
3 webhook gateway outbound resolve tls
4 deliver deliver_attempt deliver_ops deliver_policy deliver_queue deliver_impl deliver_tail
5 api api_check api_registry api_static api_events api_gateway api_shard api_ops api_attempts api_web web web_assets api_impl
6 server server_conn server_impl
7 main cli cli_api cli_http cli_out cli_move cli_listen token
'
# 0 base: buffers, clocks, numbers, hex; logfmt lines and the one quoter;
#   the poll loop and its watches; the /metrics counters; the version.
# 1 formats: parsers and encoders that neither allocate behind your back
#   nor do I/O (HTTP/1.1, JSON, URLs and CIDRs, signatures, the config file).
# 2 store: the in-memory model and its files (records, journal, registry,
#   replay, compaction, check).
# 3 outbound: building one attempt's request (a delivery's, a gateway
#   request's call of its upstream), one outbound exchange and the
#   keep-alive pools, the resolver thread.
# 4 engine: due queue, slots, outcome rules, retry schedule, disabling.
# 5 API: routing, authentication, error answers, handlers by resource.
# 6 inbound: accepted connections and the group commit their answers await.
# 7 top: main (options, start-up order, signals, reload, drain, exit codes)
#   and the subcommands. Nothing includes main.h.

layers_check() {
	dir=$1
	fail=0
	for f in "$dir"/*.c "$dir"/*.h; do
		[ -e "$f" ] || continue
		base=${f##*/}
		name=${base%.*}
		mine=$(layer_of "$name")
		if [ -z "$mine" ]; then
			echo "layers: $base is not in the layer table of tests/layers.sh: add it to the line of its layer"
			fail=1
			continue
		fi
		# Every quoted #include of a header in this directory.
		incs=$(sed -n 's/^[ 	]*#[ 	]*include[ 	]*"\([^"/]*\)\.h".*/\1/p' "$f")
		for inc in $incs; do
			[ "$inc" = "$name" ] && continue
			theirs=$(layer_of "$inc")
			if [ -z "$theirs" ]; then
				echo "layers: $base includes $inc.h, which is not in the layer table"
				fail=1
			elif [ "$theirs" -gt "$mine" ]; then
				echo "layers: $base (layer $mine) includes $inc.h (layer $theirs): a file only uses layers below it; pass a callback down instead"
				fail=1
			fi
			if [ "$inc" = main ]; then
				echo "layers: $base includes main.h: nothing includes main's header"
				fail=1
			fi
			case $inc in
			*_impl)
				mod=${inc%_impl}
				case $name in
				"$mod"|"$mod"_*) ;;
				*)
					echo "layers: $base includes $inc.h, private to the files of $mod"
					fail=1
					;;
				esac
				;;
			esac
		done
	done
	return $fail
}

# The layer of a name, or nothing when it is not in the table.
layer_of() {
	printf '%s\n' "$TABLE" | awk -v n="$1" '
		NF > 1 { for (i = 2; i <= NF; i++) if ($i == n) { print $1; exit } }'
}

self_test() {
	t=$(mktemp -d "${TMPDIR:-/tmp}/hookd-layers.XXXXXX") || exit 1
	trap 'rm -rf "$t"' EXIT
	ok=0
	printf '#include "util.h"\n' > "$t/log.c"
	printf '#include "log.h"\n#include "util.h"\n' > "$t/server.c"
	printf '#include "store_impl.h"\n' > "$t/store_file.c"
	: > "$t/util.h"; : > "$t/log.h"; : > "$t/store_impl.h"
	if ! layers_check "$t" > "$t/out"; then
		echo "layers: self-test: a clean tree failed:"; cat "$t/out"; ok=1
	fi
	# A layer-0 file reaching up to layer 6.
	printf '#include "server.h"\n' >> "$t/log.c"; : > "$t/server.h"
	if layers_check "$t" > "$t/out" || ! grep -q 'log.c (layer 0) includes server.h (layer 6)' "$t/out"; then
		echo "layers: self-test: an upward include passed"; ok=1
	fi
	printf '#include "util.h"\n' > "$t/log.c"
	# A file missing from the table.
	: > "$t/stray.c"
	if layers_check "$t" > "$t/out" || ! grep -q 'stray.c is not in the layer table' "$t/out"; then
		echo "layers: self-test: an unlisted file passed"; ok=1
	fi
	rm -f "$t/stray.c"
	# Another module's private header.
	printf '#include "store_impl.h"\n' >> "$t/server.c"
	if layers_check "$t" > "$t/out" || ! grep -q 'private to the files of store' "$t/out"; then
		echo "layers: self-test: a foreign _impl.h passed"; ok=1
	fi
	printf '#include "log.h"\n' > "$t/server.c"
	# main's header, even from the same layer.
	: > "$t/main.h"; printf '#include "main.h"\n' > "$t/cli.c"
	if layers_check "$t" > "$t/out" || ! grep -q "nothing includes main's header" "$t/out"; then
		echo "layers: self-test: an include of main.h passed"; ok=1
	fi
	[ $ok -eq 0 ] && echo "layers: self-test ok"
	return $ok
}

if [ "$1" = "--self-test" ]; then
	self_test
	exit $?
fi
dir=${1:-$(dirname "$0")/..}
if layers_check "$dir"; then
	echo "layers: ok"
	exit 0
fi
exit 1
