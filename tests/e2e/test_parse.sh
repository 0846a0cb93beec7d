#!/usr/bin/env bash
# kiln parse: text and JSON output, --target, --build-arg, -f -, errors.
. "$(dirname "$0")/lib.sh"

EX="$KILN_SRC/testdata/example"

run_ok "parse the example" kiln parse "$EX"
expect_contains "stage site listed" "$OUT" "site"
expect_contains "meta ARG listed" "$OUT" "ARG BASE=busybox:latest"
expect_contains "base expanded" "$OUT" "FROM busybox:latest"
expect_contains "numbered step with line" "$OUT" "[site 2/3] COPY www/ ./www/  (line 6)"
expect_contains "WORKDIR expanded with ENV" "$OUT" "WORKDIR /srv/www"
expect_contains "EXPOSE expanded" "$OUT" "EXPOSE 80/tcp"
expect_contains "COPY --from kept" "$OUT" "COPY --from=site /out/ ./"
expect_contains "CMD not expanded" "$OUT" 'echo serving $SITE on port $PORT'
expect_contains "dependency listed" "$OUT" "stage-1 -> stage site (COPY --from, line 15)"

run_ok "parse --json" kiln parse --json "$EX"
JSON=$OUT
if command -v python3 >/dev/null; then
	check=$(printf '%s' "$JSON" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["version"] == 1, d["version"]
assert d["file"] == "Dockerfile"
assert d["escape"] == "\\"
assert d["meta_args"][0]["name"] == "BASE" and d["meta_args"][0]["value"] == "busybox:latest"
s0, s1 = d["stages"]
assert s0["name"] == "site" and s0["index"] == 0
assert s0["base"] == {"image": "busybox:latest", "as_written": "${BASE}"}, s0["base"]
assert s1["name"] is None and s1["needed"]
ins = s1["instructions"]
copy = [i for i in ins if i["command"] == "COPY"][0]
assert copy["from"] == "site" and copy["from_stage"] == 0 and copy["line"] == 15
assert copy["flags"] == ["--from=site"]
env = [i for i in ins if i["command"] == "ENV"][0]
assert env["pairs"] == [{"key": "PORT", "value": "80"}, {"key": "SITE", "value": "/srv/www"}]
hc = [i for i in ins if i["command"] == "HEALTHCHECK"][0]
assert hc["interval_ns"] == 30 * 10**9 and hc["test"][0] == "CMD-SHELL"
lab = [i for i in ins if i["command"] == "LABEL"][0]
assert lab["end_line"] == lab["line"] + 1
assert d["target"] == {"index": 1, "name": None}
deps = [x for x in d["dependencies"] if x["kind"] == "copy"]
assert deps == [{"kind": "copy", "stage": 1, "line": 15, "on": {"stage": 0}}], deps
print("ok")
' 2>&1)
	expect_eq "--json matches the schema" "$check" "ok"
elif command -v jq >/dev/null; then
	expect_eq "--json version" "$(printf '%s' "$JSON" | jq .version)" "1"
else
	ok "# skip JSON validation: neither python3 nor jq"
fi

run_ok "--build-arg changes the base" kiln parse --build-arg BASE=alpine:3 "$EX"
expect_contains "build arg used in FROM" "$OUT" "FROM alpine:3"

cat >"$T/Dockerfile" <<'DF'
FROM alpine AS base
RUN echo base
FROM base AS build
ARG VERSION=1.0
RUN --mount=type=cache,target=/root/.cache make
FROM scratch AS final
COPY --from=build /out /app-$VERSION
FROM alpine AS unrelated
RUN true
DF
run_ok "--target final" kiln parse --target final "$T"
expect_contains "target marked" "$OUT" "final        FROM scratch  (line 6)  [target]"
expect_contains "unrelated stage skipped" "$OUT" "unrelated    FROM alpine  (line 8)  [skipped]"
expect_not_contains "steps of skipped stage not shown" "$OUT" "[unrelated"
expect_contains "VERSION not visible in another stage" "$OUT" "COPY --from=build /out /app-  (line 7)"

run_ok "-f - reads stdin" bash -c "printf 'FROM busybox\nUSER nobody\n' | \"$KILN\" parse -f - --json"
expect_contains "stdin parsed" "$OUT" '"value": "nobody"'

run_fail "unknown target exits 1" 1 kiln parse --target nope "$T"
expect_contains "unknown target lists names" "$OUT" 'target stage "nope" could not be found (valid stage names: base, build, final, unrelated)'

printf 'FROM busybox\nRUN true\nENV PATH\n' >"$T/bad.Dockerfile"
run_fail "parse error exits 1" 1 kiln parse -f "$T/bad.Dockerfile" "$T"
expect_contains "error names file and line" "$OUT" "bad.Dockerfile:3:"
expect_contains "offending line shown" "$OUT" "    3 | >>> ENV PATH"

printf 'FROM busybox\nCOPY --chwon=1 a b\n' >"$T/Dockerfile"
run_fail "unknown flag exits 1" 1 kiln parse "$T"
expect_contains "unknown flag message" "$OUT" "Error: Dockerfile:2: unknown flag: chwon"
expect_contains "unknown flag line" "$OUT" "    2 | >>> COPY --chwon=1 a b"

printf 'FROM busybox\nRUNN true\n' >"$T/Dockerfile"
run_fail "unknown instruction exits 1" 1 kiln parse --json "$T"
expect_contains "did you mean" "$OUT" "Dockerfile:2: unknown instruction: RUNN (did you mean RUN?)"

printf 'ARG S=build\nFROM busybox AS build\nFROM busybox\nCOPY --from=$S /x /y\n' >"$T/Dockerfile"
run_fail "COPY --from with a variable exits 1" 1 kiln parse "$T"
expect_contains "--from variable refused like BuildKit" "$OUT" \
	"Dockerfile:4: variable expansion is not supported for --from"

printf 'FROM busybox\nCMD ["a\\u0000b"]\n' >"$T/Dockerfile"
run_fail "NUL in a JSON argument exits 1" 1 kiln parse "$T"
expect_contains "NUL refused with the line" "$OUT" \
	"Dockerfile:2: CMD argument 1 contains a NUL character"

cat >"$T/Dockerfile" <<'DF'
FROM --platform=$TARGETPLATFORM busybox AS t
ARG TARGETARCH
ARG TARGETVARIANT
LABEL arch=$TARGETARCH variant=$TARGETVARIANT
FROM --platform=$BUILDPLATFORM busybox
COPY --from=t /x /y
DF
run_ok "parse --platform" kiln parse --platform linux/arm/v7 --json "$T"
expect_contains "FROM --platform gets TARGETPLATFORM" "$OUT" '"platform": "linux/arm/v7"'
expect_contains "target_platform reported" "$OUT" '"target_platform": "linux/arm/v7"'
run_ok "parse --platform (text)" kiln parse --platform linux/arm64 "$T"
expect_contains "TARGETARCH inside the stage" "$OUT" "LABEL arch=arm64 variant=\"\""
run_fail "bad --platform exits 1" 1 kiln parse --platform linux "$T"
expect_contains "bad platform message" "$OUT" "invalid platform \`linux\`: expected os/arch[/variant]"

run_fail "missing Dockerfile exits 1" 1 kiln parse "$T/nowhere"
run_ok "parse --help" kiln parse --help
expect_contains "help lists --target" "$OUT" "--target"

# The excerpt frames the offending line with context, BuildKit-style, after the error.
printf 'FROM busybox\nRUN a\nFOOBAR x\nRUN b\n' >"$T/Dexc"
run_fail "unknown instruction fails" 1 kiln parse -f "$T/Dexc" "$T"
expect_eq "error comes first" "$(printf '%s\n' "$OUT" | head -1)" "Error: Dexc:3: unknown instruction: FOOBAR"
expect_contains "context before" "$OUT" "    2 |     RUN a"
expect_contains "marked line" "$OUT" "    3 | >>> FOOBAR x"
expect_contains "context after" "$OUT" "    4 |     RUN b"
