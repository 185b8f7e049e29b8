#!/bin/sh
# make demo: hookd end to end in a few seconds, the README's walk-through
# ("Five minutes with curl") step by step. Starts hookd and the sample
# receiver (tests/demo_receiver.py) on free loopback ports with a temporary
# data directory, registers a client and its callback URL, posts an event
# that the receiver acknowledges and one that fails with 500 before it
# succeeds, prints the delivery logs, puts hookd in front of an API (a
# route, reloaded with SIGHUP; the receiver plays the API too), and stops
# everything.
# Needs sh, curl and python3. HOOKD_BIN picks the binary (default ./hookd).
# Commands are printed, and eval'ed, with their variables unexpanded:
# shellcheck disable=SC2016,SC2020
set -eu

cd "$(dirname "$0")/.."
HOOKD=${HOOKD_BIN:-./hookd}
# The walk-through tells people to type ./hookd; show what they would type.
SHOWN_HOOKD=./hookd

TMP=$(mktemp -d "${TMPDIR:-/tmp}/hookd-demo.XXXXXX")
HOOKD_PID=
RECV_PID=

cleanup() {
	# Only the processes this script started, by their pid.
	if [ -n "$HOOKD_PID" ]; then kill "$HOOKD_PID" 2>/dev/null || :; fi
	if [ -n "$RECV_PID" ]; then kill "$RECV_PID" 2>/dev/null || :; fi
	wait 2>/dev/null || :
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

fail() {
	echo "demo: $*" >&2
	if [ -s "$TMP/hookd.log" ]; then
		echo "demo: hookd's log:" >&2
		cat "$TMP/hookd.log" >&2
	fi
	exit 1
}

step() {
	printf '\n==> %s\n' "$*"
}

# run 'COMMAND': print it as typed (variables unexpanded), run it, print
# its output and keep it in $OUT.
run() {
	printf '$ %s\n' "$1"
	OUT=$(eval "$1") || fail "command failed: $1"
	printf '%s\n' "$OUT"
}

# jget KEY [JSON]: the first string member KEY in hookd's compact JSON answer
# (default $OUT), e.g. jget token; hookd writes no spaces between tokens.
jget() {
	v=$(printf '%s\n' "${2-$OUT}" | tr ',{' '\n\n' |
	    sed -n 's/^"'"$1"'":"\([^"]*\)".*/\1/p' | head -n 1)
	[ -n "$v" ] || fail "no $1 in the answer: ${2-$OUT}"
	printf '%s\n' "$v"
}

# wait_for SECONDS 'SHELL TEST': poll until it succeeds.
wait_for() {
	n=$(($1 * 10))
	while ! eval "$2" >/dev/null 2>&1; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || fail "timed out waiting for: $2"
		sleep 0.1
	done
}

# The receiver's lines since the last call.
RECV_SHOWN=0
show_receiver() {
	total=$(wc -l < "$TMP/receiver.log")
	if [ "$total" -gt "$RECV_SHOWN" ]; then
		tail -n "+$((RECV_SHOWN + 1))" "$TMP/receiver.log" |
		    head -n "$((total - RECV_SHOWN))"
	fi
	RECV_SHOWN=$total
}

# wait_delivered EVENT_ID: until every delivery of the event is delivered
# (a failed one ends the demo). Leaves the list in $LIST.
wait_delivered() {
	n=200
	while :; do
		LIST=$(curl -sS "$H/v1/deliveries?event=$1" \
		    -H "Authorization: Bearer $ADMIN") || fail "curl failed"
		case $LIST in
		*'"status":"failed"'*) fail "a delivery of $1 failed: $LIST" ;;
		*'"status":"pending"'*) ;;
		*'"status":"delivered"'*) break ;;
		esac
		n=$((n - 1))
		[ "$n" -gt 0 ] || fail "event $1 not delivered within 20 s"
		sleep 0.1
	done
}

[ -x "$HOOKD" ] || fail "$HOOKD is not built (make hookd)"
command -v curl >/dev/null || fail "curl is needed"
command -v python3 >/dev/null || fail "python3 is needed"

step "1. Start hookd and a sample receiver"
# Receivers on this machine are refused by default (contract §8, SSRF);
# the demo allows loopback and retries after 1 s instead of 5 s.
cat > "$TMP/demo.conf" <<'EOF'
allow_destinations 127.0.0.0/8
retry_schedule 1s 1s
EOF
printf '$ cat demo.conf\n'
cat "$TMP/demo.conf"
python3 tests/demo_receiver.py --port 0 --port-file "$TMP/receiver.port" \
    --dump "$TMP" > "$TMP/receiver.log" 2>&1 &
RECV_PID=$!
# Port 0: the kernel picks a free port and hookd logs which.
(unset HOOKD_ADMIN_TOKEN; exec "$HOOKD" -c "$TMP/demo.conf" \
    -l 127.0.0.1:0 -d "$TMP/hookd-data" 2> "$TMP/hookd.log") &
HOOKD_PID=$!
wait_for 10 'grep -q "msg=listening" "$TMP/hookd.log"'
wait_for 10 'test -s "$TMP/receiver.port"'
wait_for 10 'test -s "$TMP/hookd-data/admin.token"'
PORT=$(sed -n 's/.*msg=listening addr=127\.0\.0\.1:\([0-9]*\).*/\1/p' \
    "$TMP/hookd.log")
RPORT=$(cat "$TMP/receiver.port")
[ -n "$PORT" ] || fail "no port in hookd's log"
printf '$ %s -c demo.conf 2> hookd.log &\n' "$SHOWN_HOOKD"
printf '$ python3 tests/demo_receiver.py --port %s --dump . &\n' "$RPORT"
show_receiver
printf '%s\n' "(hookd listens on 127.0.0.1:$PORT here; the default is 8080)"
H=http://127.0.0.1:$PORT
printf '$ H=%s\n' "$H"
JSON='Content-Type: application/json'
printf "\$ JSON='%s'\n" "$JSON"
# hookd wrote a fresh admin token into its data directory at first start.
ADMIN=$(cat "$TMP/hookd-data/admin.token")
printf '$ ADMIN=$(cat hookd-data/admin.token)\n'

step "2. Is it up?"
run 'curl -sS $H/healthz'

step "3. The service creates a client account (admin token)"
run 'curl -sS $H/v1/clients -H "Authorization: Bearer $ADMIN" -H "$JSON" \
    -d '\''{"id": "acme", "name": "Acme Store"}'\'''
TOKEN=$(jget token)
printf '$ TOKEN=%s\n' "$TOKEN"

step "4. The client registers its callback URL (its own token)"
run 'curl -sS $H/v1/endpoints -H "Authorization: Bearer $TOKEN" -H "$JSON" \
    -d '\''{"url": "http://127.0.0.1:'"$RPORT"'/callback/{refId}", "events": ["order.paid"]}'\'''
SECRET=$(jget secret)
printf '$ SECRET=%s\n' "$SECRET"

step "5. The service posts an event; the receiver acknowledges it"
run 'curl -sS $H/v1/events -H "Authorization: Bearer $ADMIN" -H "$JSON" \
    -d '\''{"client": "acme", "type": "order.paid", "data": {"success": true, "refId": "3283191"}}'\'''
EVT1=$(jget id)
wait_delivered "$EVT1"
DLV1=$(jget id "$LIST")
show_receiver

step "6. A one-off callback URL that fails with 500 once, then succeeds"
run 'curl -sS "$H/v1/events?callbackURL=http://127.0.0.1:'"$RPORT"'/flaky/3283192" \
    -H "Authorization: Bearer $ADMIN" -H "$JSON" \
    -d '\''{"client": "acme", "type": "order.refunded", "data": {"success": true, "refId": "3283192"}}'\'''
EVT2=$(jget id)
printf '%s\n' "(hookd retries after 1 s, as demo.conf says)"
wait_delivered "$EVT2"
DLV2=$(jget id "$LIST")
show_receiver

step "7. The client lists its deliveries"
run 'curl -sS $H/v1/deliveries -H "Authorization: Bearer $TOKEN"'

step "8. The first delivery: one attempt, the receiver's acknowledgement kept"
run 'curl -sS $H/v1/deliveries/'"$DLV1"' -H "Authorization: Bearer $TOKEN"'

step "9. The second delivery: its log shows the 500, then the 200"
run 'curl -sS $H/v1/deliveries/'"$DLV2"' -H "Authorization: Bearer $TOKEN"'

step "10. Check a signature as a receiver would (Standard Webhooks)"
# The receiver (--dump) kept the last request to /callback/.
printf '$ cat callback.head\n'
cat "$TMP/callback.head"
printf '$ %s verify --secret $SECRET --headers callback.head < callback.body\n' \
    "$SHOWN_HOOKD"
"$HOOKD" verify --secret "$SECRET" --headers "$TMP/callback.head" \
    < "$TMP/callback.body" || fail "signature not valid"

step "11. hookd in front of your API: a route, reloaded with SIGHUP"
# The sample receiver plays the slow API too: its /callback/ answers.
printf '$ echo "route /api.example.com/ http://127.0.0.1:%s/callback/" >> demo.conf\n' "$RPORT"
echo "route /api.example.com/ http://127.0.0.1:$RPORT/callback/" >> "$TMP/demo.conf"
printf '$ kill -HUP %%1\n'
kill -HUP "$HOOKD_PID"
wait_for 10 'grep -q "changed=.*route" "$TMP/hookd.log"'
printf '%s\n' "(the caller gets 202 at once; hookd calls the API, then the callback URL)"
run 'curl -sS -X POST "$H/api.example.com/777?callbackURL=http://127.0.0.1:'"$RPORT"'/callback/3283193" \
    -H "Authorization: Bearer $TOKEN" -H "$JSON" -d '\''{"order": 777}'\'''
REQ=$(jget reqRefId)
wait_for 20 'curl -sS "$H/v1/events/$REQ" -H "Authorization: Bearer $TOKEN" | grep -q "\"state\":\"completed\".*\"status\":\"delivered\""'
show_receiver
run 'curl -sS $H/v1/events/'"$REQ"' -H "Authorization: Bearer $TOKEN"'

step "12. Metrics"
run 'curl -sS $H/metrics | grep -E "^hookd_(events|deliveries|attempts)_total"'

step "13. Stop: SIGTERM drains and exits 0; the log"
printf '$ kill -TERM %%1\n'
kill -TERM "$HOOKD_PID"
# drain_timeout is 5 s: a hookd that has not stopped after 15 s is stuck.
wait_for 15 'grep -q "msg=stopped" "$TMP/hookd.log"'
rc=0
wait "$HOOKD_PID" || rc=$?
HOOKD_PID=
[ "$rc" -eq 0 ] || fail "hookd exited with $rc"
printf '$ kill %%2    # the receiver\n'
kill "$RECV_PID" 2>/dev/null || :
wait "$RECV_PID" 2>/dev/null || :
RECV_PID=
printf '$ cat hookd.log\n'
cat "$TMP/hookd.log"
printf '\ndemo: done\n'
