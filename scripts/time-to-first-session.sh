#!/usr/bin/env bash
# time-to-first-session.sh — how long a new user waits, from `git clone` to
# the first session on screen in `make demo`, and to Jaeger being ready.
#
#   scripts/time-to-first-session.sh [warm|cold] [source]
#
# It clones source (default: this checkout, so it measures what is
# committed) into a temporary directory, runs `make demo` there on free
# ports, and times from the start of the clone:
#   - the first session on screen (the first row `crewtrace sessions tail`
#     prints), then
#   - Jaeger showing the crew's traces (built in the background, started,
#     and sent the traces the collector held), unless
#     TTFS_JAEGER=0; then it stops the demo (as Ctrl-C would).
# warm: Go's module and build caches as they are (a second clone on this
# machine). cold: empty module and build caches in the temporary directory
# (a fresh machine; modules come from the module proxy in GOPROXY).
# TTFS_KEEP=1 keeps the temporary directory. Output: the demo's lines, each
# with the seconds since the clone began, then the figures.
set -euo pipefail

mode=${1:-warm}
src=${2:-$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)}
case $mode in warm | cold) ;; *)
	echo "usage: $0 [warm|cold] [source]" >&2
	exit 2
	;;
esac
timeout_s=${TTFS_TIMEOUT:-1800}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/crewtrace-ttfs-XXXXXX")
pid=
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -INT -- "-$pid" 2>/dev/null || true
		for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
		kill -KILL -- "-$pid" 2>/dev/null || true
	fi
	if [ "${TTFS_KEEP:-0}" = 1 ]; then
		echo "kept $tmp"
	else
		chmod -R u+w "$tmp" 2>/dev/null || true
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT

unset CREWTRACE_BUILD_DIR
if [ "$mode" = cold ]; then
	export GOMODCACHE=$tmp/gomodcache GOCACHE=$tmp/gocache
	# Module cache files are read-only by default: make them removable.
	export GOFLAGS="${GOFLAGS:+$GOFLAGS }-modcacherw"
fi

echo "== $mode: git clone $src; make demo (GOMODCACHE=$(go env GOMODCACHE), GOCACHE=$(go env GOCACHE)); $(nproc) CPUs"
t0=$EPOCHREALTIME
git clone -q "$src" "$tmp/crewtrace"
elapsed() { awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
echo "[$(elapsed)s] cloned"

out=$tmp/demo.out
: >"$out"
# Its own process group, so that stopping it stops the collector, the
# viewer, Jaeger and the build too.
(cd "$tmp/crewtrace" && exec setsid make demo DEMO_ARGS="-free-ports") >"$out" 2>&1 &
pid=$!

first= jaeger= shown=0
session_row='^  [0-9]{2}:[0-9]{2}:[0-9]{2}  [0-9a-f]{8}-[0-9a-f]{4}-'
while :; do
	# Print the lines that arrived, with the time they were seen.
	n=$(wc -l <"$out")
	if [ "$n" -gt "$shown" ]; then
		now=$(elapsed)
		sed -n "$((shown + 1)),${n}p" "$out" | while IFS= read -r line; do printf '[%6ss] %s\n' "$now" "$line"; done
		if [ -z "$first" ] && sed -n "$((shown + 1)),${n}p" "$out" | grep -qE "$session_row"; then
			first=$now
		fi
		if [ -z "$jaeger" ] && sed -n "$((shown + 1)),${n}p" "$out" | grep -qE '^jaeger: has the crew|^starting Jaeger and the collector'; then
			jaeger=$now
		fi
		shown=$n
	fi
	if [ -n "$first" ] && { [ -n "$jaeger" ] || [ "${TTFS_JAEGER:-1}" = 0 ]; }; then
		break
	fi
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "make demo exited before the measurement ended" >&2
		exit 1
	fi
	if awk -v e="$(elapsed)" -v t="$timeout_s" 'BEGIN { exit !(e > t) }'; then
		echo "timed out after ${timeout_s}s" >&2
		exit 1
	fi
	sleep 0.2
done
echo
echo "time from git clone to the first session on screen ($mode): ${first}s"
if [ -n "$jaeger" ]; then
	echo "time from git clone to Jaeger showing the crew's traces ($mode): ${jaeger}s"
fi
