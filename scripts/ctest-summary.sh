#!/usr/bin/env bash
# Prints what a CTest run skipped, each with the reason the test printed, from
# the JUnit file of `ctest --output-junit FILE`. make test calls it after each
# of its suites; it never fails (ctest's own exit code is what counts).
#
# A test skips by exiting 77 (SKIP_RETURN_CODE in tests/CMakeLists.txt) after
# printing why: shell tests "name: SKIP: reason", and each skipped Criterion
# case "[SKIP] suite::name: reason" (tests/shim/criterion_main.c and
# tests/shim/criterion_shim.c). A Criterion binary exits 77 only when all its
# cases skipped; one whose cases partly skipped passes, and its skipped cases
# are listed as "partial". Without a reason line the last output line is shown.
#
# Usage: ctest-summary.sh JUNIT_FILE SUITE_NAME
set -euo pipefail

junit=${1:?usage: $0 JUNIT_FILE SUITE_NAME}
suite=${2:?usage: $0 JUNIT_FILE SUITE_NAME}

if [ ! -s "$junit" ]; then
	echo "$suite: no test results in $junit; skipped tests unknown"
	exit 0
fi

# CTest writes one <testcase ... status="..."> line per test, then
# <skipped message="SKIP_RETURN_CODE=77"/> for a skip (a missing executable is
# "notrun" with another message, and a failure), then the output inside
# <system-out> (whole: tests/CMakeLists.txt raises CTest's 1 KiB cut for passed
# tests).
awk -v suite="$suite" '
function unescape(s) {
	gsub(/&lt;/, "<", s); gsub(/&gt;/, ">", s); gsub(/&quot;/, "\"", s)
	gsub(/&apos;/, "\047", s); gsub(/&amp;/, "\\&", s)
	return s
}
# Appends one line per skipped Criterion case of the current test to list[];
# returns how many.
function case_skips(kind,   i, line, n) {
	n = 0
	for (i = 1; i <= nout; i++) {
		line = out[i]
		if (line ~ /^\[SKIP\] [^ ]+::[^ ]+: /) {
			sub(/^\[SKIP\] /, "", line)
			list[++nlist] = "  " kind " " name " " line
			n++
		}
	}
	return n
}
function shell_reason(   i, line, r) {
	r = ""
	for (i = 1; i <= nout; i++) {
		line = out[i]
		if (line ~ /SKIP: /) {
			sub(/^.*SKIP: /, "", line)
			r = line
		}
	}
	for (i = nout; r == "" && i >= 1; i--) {
		if (out[i] ~ /[^ \t]/) {
			r = "(no reason printed; last line: " out[i] ")"
		}
	}
	return r == "" ? "(no output)" : r
}
/<testcase name="/ {
	name = $0
	sub(/^.*<testcase name="/, "", name)
	sub(/".*$/, "", name)
	name = unescape(name)
	status = $0
	sub(/^.* status="/, "", status)
	sub(/".*$/, "", status)
	ntests++; skipped = 0; nout = 0; inout = 0
}
/<skipped message="SKIP_/ { skipped = 1 }
inout || /<system-out>/ {
	line = $0
	if (!inout) {
		sub(/^.*<system-out>/, "", line)
		inout = 1
	}
	if (line ~ /<\/system-out>/) {
		sub(/<\/system-out>.*$/, "", line)
		inout = 0
	}
	out[++nout] = unescape(line)
}
/<\/testcase>/ {
	if (skipped) {
		nskip++
		if (case_skips("skipped") == 0) {
			list[++nlist] = "  skipped " name ": " shell_reason()
		}
	} else if (status == "run") {
		n = case_skips("partial")
		if (n > 0) {
			npartial_tests++
			npartial_cases += n
		}
	}
}
END {
	head = sprintf("%s: %d of %d test%s skipped", suite, nskip, ntests, ntests == 1 ? "" : "s")
	if (npartial_cases > 0) {
		head = head sprintf("; %d case%s skipped in %d passing test%s", npartial_cases,
				    npartial_cases == 1 ? "" : "s", npartial_tests,
				    npartial_tests == 1 ? "" : "s")
	}
	print head (nlist > 0 ? ":" : "")
	for (i = 1; i <= nlist; i++) {
		print list[i]
	}
}' "$junit"
