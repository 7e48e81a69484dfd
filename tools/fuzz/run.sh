#!/usr/bin/env bash
# Runs every Go fuzz target of the product (answer parsers, masks, the store's scanner) for
# FUZZTIME each, one at a time (the fuzzer uses every core). A failure keeps its input under the
# package's testdata/fuzz/, which then runs as a normal test case.
set -euo pipefail
FUZZTIME=${FUZZTIME:-5s}
GO=${GO:-go}
pkgs=$(grep -rl --include='*_test.go' '^func Fuzz' hub spoke api | xargs -n1 dirname | sort -u)
for dir in $pkgs; do
	for target in $($GO test -list '^Fuzz' "./$dir" | grep '^Fuzz'); do
		echo "fuzz: $dir $target for $FUZZTIME"
		$GO test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "./$dir" >/dev/null
	done
done
