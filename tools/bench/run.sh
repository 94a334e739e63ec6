#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make bench / make bench-smoke: boot the VM once, run every benchmark
# (build/bench/bench_*) in that one run, and collect the results.
#   run.sh [-q] [BENCH...]     -q: BENCH_QUICK=1, the short smoke version
# Results: build/bench/results/<UTC stamp>/ (build/bench/results/latest
# points at the newest): per program NAME.log, its CSVs, p<N>.gp and the
# PNGs gnuplot draws from them, summary.csv (one row per metric), vm.txt,
# console.log, serial.log and dmesg.txt. Exit status: 0 when every
# program measured; non-zero when one failed, the VM died or timed out
# (then no table is printed: a hung run reports nothing).
#
# The VM runs multi-threaded TCG with two CPUs (bench-method.md: hand-offs
# between CPUs would otherwise cost a timer tick) and BENCH_MEM of RAM.
set -uo pipefail
. "$(dirname "$0")/../rig/common.sh"

quick=0
if [ "${1:-}" = -q ]; then
	quick=1
	shift
fi
benches=$(IFS=,; echo "$*")

command -v gnuplot >/dev/null || die "gnuplot missing: make deps"
compgen -G "$BUILD/bench/bench_*" >/dev/null || die "no benchmark built"

stamp=$(date -u +%Y%m%dT%H%M%SZ)
res=$BUILD/bench/results/$stamp
mkdir -p "$res"
ln -sfn "$stamp" "$BUILD/bench/results/latest"

append=${VM_APPEND:-}
if [ $quick = 1 ]; then
	append="BENCH_QUICK=1 $append"
	vmtmo=${VM_TIMEOUT:-900} ptmo=${TEST_TIMEOUT:-240}
else
	vmtmo=${VM_TIMEOUT:-5400} ptmo=${TEST_TIMEOUT:-2400}
fi

log "bench: results in $res"
rc=0
VM_ACCEL=${BENCH_ACCEL:-tcg,thread=multi} VM_SMP=2 \
	VM_MEM=${BENCH_MEM:-8G} VM_APPEND="$append" TEST_TIMEOUT=$ptmo \
	"$RIG_DIR/vm.sh" -t "$vmtmo" -c "$res/console.log" \
	-r "$res/serial.log" -w "$res" bench "$benches" || rc=$?

SPLAT='WARNING:|BUG:|Oops|Kernel panic|general protection fault|KASAN|UBSAN|kernel BUG|possible circular locking|INFO: task .* blocked|watchdog: BUG|Call Trace:'
case $rc in
0 | 1) ;;
124)
	echo "bench: TIMED OUT after ${vmtmo}s (multi-threaded TCG can hang" \
		"during KVM VM create/destroy, see test-rig.md): no result" \
		"reported; see $res/console.log" >&2
	exit 124
	;;
*)
	echo "bench: the VM died without reporting (status $rc): no result" \
		"reported; see $res/console.log" >&2
	exit "$rc"
	;;
esac

fail=0
while read -r line; do
	case $line in
	"### end "*" rc=0") ;;
	"### end "*) echo "bench: ${line#\#\#\# end } (failed)" >&2; fail=1 ;;
	esac
done < <(tr -d '\r' <"$res/serial.log")
grep -q '^### done' "$res/serial.log" || { echo "bench: the run did not finish" >&2; fail=1; }
if grep -aEq "$SPLAT" "$res/console.log"; then
	echo "bench: kernel splat: $(grep -aEm1 "$SPLAT" "$res/console.log")" >&2
	fail=1
fi

# Plots: each p<N>.gp draws its PNGs from its CSVs, with cwd = results.
for gp in "$res"/p*.gp; do
	[ -e "$gp" ] || continue
	(cd "$res" && gnuplot "${gp##*/}") >"${gp%.gp}.gnuplot.log" 2>&1 ||
		{ echo "bench: gnuplot ${gp##*/} failed:" >&2; cat "${gp%.gp}.gnuplot.log" >&2; fail=1; }
done

{
	echo "metric,ours,baseline,ratio,goal,met"
	cat "$res"/p*.summary 2>/dev/null | sed '/^$/d' | sort -t, -k1,1V -s
} >"$res/summary.csv"

echo
echo "coIOMMU benchmarks, $stamp$([ $quick = 1 ] && echo ' (BENCH_QUICK: smoke run, numbers not meaningful)')"
echo "VM: $(grep -E '^cpus|^MemTotal' "$res/vm.txt" 2>/dev/null | tr '\n' ' ')accel ${BENCH_ACCEL:-tcg,thread=multi}"
echo "Absolute times are TCG, not hardware: read the ratios and the shapes."
column -t -s, "$res/summary.csv"
echo
echo "results: $res"
ls "$res"/*.png 2>/dev/null | sed 's/^/plot: /'
exit $fail
