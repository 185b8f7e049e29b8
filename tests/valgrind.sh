#!/bin/sh
# Run the unit tests under valgrind (issue 5 §8): any memory error or
# definite leak fails. Skipped, with a line saying so, where valgrind is not
# installed. Run from anywhere; builds tests/unit first when missing.
set -eu
cd "$(dirname "$0")/.."

if ! command -v valgrind >/dev/null 2>&1; then
	echo "valgrind.sh: valgrind not installed, skipping"
	exit 0
fi
[ -x tests/unit ] || make tests/unit

# --errors-for-leak-kinds=definite: a block still reachable at exit (a
# static cache) is not a leak; a block nothing points to is.
exec valgrind --quiet --leak-check=full --show-leak-kinds=definite \
	--errors-for-leak-kinds=definite --error-exitcode=1 \
	--track-origins=yes ./tests/unit
