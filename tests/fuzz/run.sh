#!/bin/sh
# SPDX-License-Identifier: MIT
# run.sh: run libFuzzer targets one after the other, each for SECONDS on a copy of its
# seed corpus in BUILD/fuzz-corpus/TARGET; one line of stats per target; exit 1 at the
# first target that crashes (its reproducer is left in BUILD/fuzz/, named in the log),
# or after all of them with FUZZ_KEEP_GOING=1. FUZZ_FLAGS adds libFuzzer options;
# dict/TARGET.dict, when present, is the target's dictionary.
# Usage: tests/fuzz/run.sh BUILD SECONDS [TARGET...]   (default: every built target)
# One process at a time: libFuzzer runs in-process (no -jobs/-workers, which fork a
# worker and leave fuzz-N.log files in the current directory).
set -eu
build=$1
secs=$2
shift 2
[ $# -gt 0 ] || set -- $(cd "$build/fuzz" && ls fuzz_* | grep -v '[.-]')
src=$(cd "$(dirname "$0")" && pwd)
# ASan's default 256 MB quarantine hands every allocation fresh pages, and page faults
# are costly under nested virtualisation: 2-4x fewer exec/s. One run frees far less
# than 16 MB, so use-after-free within a run is still caught.
export ASAN_OPTIONS="${ASAN_OPTIONS:-quarantine_size_mb=16}"
failed=0
for t in "$@"; do
	corpus=$build/fuzz-corpus/$t
	log=$build/fuzz/$t.log
	mkdir -p "$corpus"
	[ -d "$src/corpus/$t" ] && cp -n "$src/corpus/$t"/* "$corpus"/ 2>/dev/null || true
	dict=
	[ -f "$src/dict/$t.dict" ] && dict=-dict=$src/dict/$t.dict
	rc=0
	"$build/fuzz/$t" $dict -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 \
		-max_total_time="$secs" -artifact_prefix="$build/fuzz/$t-" ${FUZZ_FLAGS:-} "$corpus" >"$log" 2>&1 || rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	echo "FUZZ $t seconds=$secs execs=${execs:-?} exec_per_s=${rate:-?} corpus=$(ls "$corpus" | wc -l) rc=$rc"
	if [ "$rc" -ne 0 ]; then
		grep -E 'ERROR|SUMMARY|Test unit written|assert' "$log" | head -n 20 >&2
		echo "run.sh: $t failed (rc $rc), log: $log" >&2
		[ -n "${FUZZ_KEEP_GOING:-}" ] || exit 1
		failed=1
	fi
done
exit $failed
