#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Run tests in the VM, one boot per test, JOBS (default 2) at a time, and
# report. Usage: run-tests.sh [TEST...]   (default: every built test)
#
# A test counts once per TAP result line its binary prints. On top of
# those, each of these counts as one failure of the test: the binary
# exited non-zero without a failed result, printed no result at all, the
# VM did not leave through isa-debug-exit (panic, oops, hang, timeout), or
# the kernel log shows a splat (WARNING, BUG, Oops, lockdep, KASAN...).
# The last line reads "N passed, M failed, K skipped"; the exit status is
# non-zero when anything failed or nothing ran.
set -uo pipefail
. "$(dirname "$0")/common.sh"

RES=${RESULTS:-$BUILD/results}
JOBS=${JOBS:-2}
mkdir -p "$RES"

tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
	read -ra tests <<<"$(make -s --no-print-directory -C "$TOP/selftests/coiommu" list)"
fi
[ ${#tests[@]} -gt 0 ] || die "no tests"

# The emulator, resolved (and built, the first time) once for every VM.
QEMU=${QEMU:-$("$RIG_DIR/qemu.sh")} || die "no QEMU"
export QEMU
echo "rig: $("$QEMU" -version | head -n 1) ($QEMU)"
# The QEMU 10 bundle that the qemu_* tests run inside the VM (vm.sh).
[ -z "${QEMU_BUNDLE:-}" ] ||
	echo "rig: in the VM: $("$QEMU_BUNDLE/qemu-system-x86_64" -version | head -n 1) ($QEMU_BUNDLE)"

SPLAT='WARNING:|BUG:|Oops|Kernel panic|general protection fault|KASAN|UBSAN|kernel BUG|possible circular locking|possible recursive locking|inconsistent lock state|suspicious RCU|INFO: task .* blocked|watchdog: BUG|unreferenced object|list_(add|del) corruption|Call Trace:'

boot_one() {
	local t=$1 rc
	rm -f "$RES/$t".{tap,console,qemu-rc}
	"$RIG_DIR/vm.sh" -t "${VM_TIMEOUT:-900}" -c "$RES/$t.console" \
		-r "$RES/$t.tap" test "$t" >"$RES/$t.qemu" 2>&1
	rc=$?
	echo $rc >"$RES/$t.qemu-rc"
}

# Boot JOBS VMs at a time.
running=0
for t in "${tests[@]}"; do
	boot_one "$t" &
	running=$((running + 1))
	if [ $running -ge "$JOBS" ]; then
		wait -n
		running=$((running - 1))
	fi
done
wait

pass=0 fail=0 skip=0
for t in "${tests[@]}"; do
	tap=$RES/$t.tap con=$RES/$t.console
	qrc=$(cat "$RES/$t.qemu-rc" 2>/dev/null || echo none)
	tr -d '\r' <"$tap" >"$tap.clean" 2>/dev/null || : >"$tap.clean"
	p=0 f=0 s=0 extra=()
	while IFS= read -r line; do
		case $line in
		"ok "*"# SKIP"*) s=$((s + 1)); echo "SKIP $t: ${line#ok }" ;;
		"ok "*) p=$((p + 1)); echo "PASS $t: ${line#ok }" ;;
		"not ok "*) f=$((f + 1)); echo "FAIL $t: ${line#not ok }" ;;
		esac
	done < <(grep -E '^(not )?ok [0-9]+ ' "$tap.clean")
	brc=$(sed -n "s/^### end $t rc=\([0-9]*\)$/\1/p" "$tap.clean")
	if [ -z "$brc" ]; then
		extra+=("did not finish")
	elif [ "$brc" != 0 ] && [ $f -eq 0 ]; then
		extra+=("exited with status $brc")
	fi
	[ $((p + f + s)) -gt 0 ] || extra+=("printed no result")
	case $qrc in
	0 | 1) ;;
	124) extra+=("VM timed out") ;;
	*) extra+=("VM died without reporting") ;;
	esac
	if grep -aEq "$SPLAT" "$con" 2>/dev/null; then
		extra+=("kernel splat: $(grep -aEm1 "$SPLAT" "$con")")
	fi
	for e in "${extra[@]}"; do
		f=$((f + 1))
		echo "FAIL $t: $e"
	done
	if [ $f -gt 0 ]; then
		echo "---- $t: results port (last 40 lines)"
		tail -n 40 "$tap.clean"
		echo "---- $t: console (last 40 lines)"
		tr -d '\r' <"$con" 2>/dev/null | tail -n 40
		echo "----"
	fi
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
done

echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ] && [ $((pass + skip)) -gt 0 ]
