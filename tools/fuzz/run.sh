#!/usr/bin/env bash
# Runs every Go fuzz target of the product (answer parsers, masks, the store's scanner) for
# FUZZTIME each, one at a time (the fuzzer uses every core). A failure keeps its input under the
# package's testdata/fuzz/, which then runs as a normal test case.
#
# Go 1.26's fuzz coordinator can end a duration-bounded run with a bare "context deadline
# exceeded" and no failing input (go.dev/issue/75804, fixed in Go 1.27): a race at the
# -fuzztime boundary, not a finding. Such a run is reported and not counted as a failure; any
# other failure, and every run that wrote a failing input, fails with the fuzzer's output.
set -euo pipefail
FUZZTIME=${FUZZTIME:-5s}
GO=${GO:-go}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# count is how many inputs a target's corpus directory holds (0 when it has none).
count() { if [ -d "$1" ]; then find "$1" -type f | wc -l; else echo 0; fi; }
pkgs=$(grep -rl --include='*_test.go' '^func Fuzz' hub spoke api | xargs -n1 dirname | sort -u)
for dir in $pkgs; do
	for target in $($GO test -list '^Fuzz' "./$dir" | grep '^Fuzz'); do
		echo "fuzz: $dir $target for $FUZZTIME"
		corpus="$dir/testdata/fuzz/$target"
		before=$(count "$corpus")
		if $GO test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "./$dir" >"$out" 2>&1; then
			continue
		fi
		after=$(count "$corpus")
		if [ "$after" -eq "$before" ] && grep -q 'context deadline exceeded' "$out" && ! grep -q 'Failing input written' "$out"; then
			echo "fuzz: $dir $target: the toolchain's fuzztime race (go.dev/issue/75804), no failing input: not a finding"
			continue
		fi
		cat "$out"
		echo "fuzz: $dir $target failed; its input is under $corpus" >&2
		exit 1
	done
done
