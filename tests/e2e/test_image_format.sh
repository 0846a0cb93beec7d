#!/usr/bin/env bash
# Go templates (--format), history, rmi, prune and images filters, checked
# against docker's behaviour and wording.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip_all "python3 is needed for the image fixture"
mk() { python3 "$KILN_SRC/tests/e2e/mkimage.py" "$ROOT" "$@"; }

A=$(mk docker.io/library/alpine:3 a 2023-01-01T00:00:00Z)
B=$(mk docker.io/library/busybox:latest b 2024-01-01T00:00:00Z)
C=$(mk - c 2025-01-01T00:00:00Z)
kiln tag busybox busybox:old && kiln tag busybox me/tool:1

# --- templates: Go's printing of values ---------------------------------------
f() { run_ok "inspect -f $1" kiln inspect -f "$1" busybox; expect_eq "$1" "$OUT" "$2"; }
f '{{.RootFS}}' "{layers [$(kiln inspect -f '{{index .RootFS.Layers 0}}' busybox)]}"
f '{{.Config.Labels}}' 'map[fixture:yes]'
f '{{.Config}}' '{   false false false map[] false false false [PATH=/usr/bin:/bin] [/bin/sh] <nil> false  map[]  [] false  [] map[fixture:yes]  <nil> []}'
f '{{.Config.ExposedPorts}}' 'map[]'
f '{{.Config.Healthcheck}}' '<nil>'
f '{{.Config.Entrypoint}}' '[]'
f '{{.Config.Labels.nope}}' '<no value>'
f '{{.Size}}' '1' # the bytes of its files, as docker counts them
f '{{json .Config.Labels}}' '{"fixture":"yes"}'
f '{{index .Config.Labels "fixture"}}' 'yes'
f '{{join .RepoTags ","}}' 'busybox:latest,busybox:old,me/tool:1'
f '{{range .RepoTags}}{{.}} {{end}}' 'busybox:latest busybox:old me/tool:1 '
f '{{range $i, $t := .RepoTags}}{{$i}}={{$t}};{{end}}' '0=busybox:latest;1=busybox:old;2=me/tool:1;'
f '{{range $k, $v := .Config.Labels}}{{$k}}={{$v}}{{end}}' 'fixture=yes'
f '{{if .Config.Labels}}yes{{else}}no{{end}}' 'yes'
f '{{if .Config.Entrypoint}}a{{else if eq .Os "linux"}}b{{else}}c{{end}}' 'b'
f '{{with .Config}}{{.Cmd}}{{end}}' '[/bin/sh]'
f '{{printf "%s|%5d|%-6s|%q" .Os .Size .Os .Architecture}}' 'linux|    1|linux |"amd64"'
f '{{upper .Os}} {{lower "AB"}} {{title "hello world"}} {{truncate .Id 12}}' 'LINUX ab Hello World sha256:7d8f0'
f '{{.Os | upper | printf "<%s>"}} {{len .RepoTags}} {{eq .Os "linux"}} {{not true}}' '<LINUX> 3 true false'
f '{{$x := .Os}}{{range .RepoTags}}{{$x}}{{end}}' 'linuxlinuxlinux'
f '{{split "a:b" ":"}} [{{pad "x" 1 2}}]' '[a b] [ x  ]'
f '{{- .Os -}}   {{/* comment */}} x' 'linux x'
f ' {{- .Os -}} ' 'linux'
# tagged above: LastTagTime is a Go time.Time, printed as Go prints one
run_ok "inspect -f {{.Metadata}}" kiln inspect -f '{{.Metadata}}' busybox
[[ $OUT =~ ^\{20[0-9][0-9]-[01][0-9]-[0-3][0-9]\ [0-2][0-9]:[0-5][0-9]:[0-5][0-9](\.[0-9]+)?\ [+-][0-9]{4}\ [A-Z]+\}$ ]] &&
	ok "{{.Metadata}} holds the last tag time" || not_ok "{{.Metadata}}: got \"$OUT\""
expect_eq "an image never tagged has Go's zero time" "$(kiln inspect -f '{{.Metadata.LastTagTime}}' "$(kiln images -q -f dangling=true | head -1)")" "0001-01-01 00:00:00 +0000 UTC"

f '{{len .Config.Entrypoint}}|{{index .Config.Volumes "x"}}|{{range .Config.OnBuild}}x{{else}}none{{end}}' '0||none'
run_fail "unknown field" 1 kiln inspect -f '{{.Foo}}' busybox
expect_contains "docker's missing key error" "$OUT" 'template parsing error: template: :1:2: executing "" at <.Foo>: map has no entry for key "Foo"'
run_fail "unknown nested field" 1 kiln inspect -f '{{json .Config.Nope}}' busybox
expect_contains "position and context" "$OUT" 'template: :1:7: executing "" at <.Config.Nope>: map has no entry for key "Nope"'
run_fail "bad template" 64 kiln inspect -f '{{if .Os}}' busybox
expect_contains "parse error" "$OUT" "template parsing error: template: :1: unexpected EOF"
run_fail "unknown function" 64 kiln inspect -f '{{foo .Os}}' busybox
expect_contains "function not defined" "$OUT" 'function "foo" not defined'
run_fail "index out of range" 1 kiln inspect -f '{{index .RepoTags 9}}' busybox
expect_contains "call error" "$OUT" "error calling index: index out of range: 9"
run_fail "images unknown field" 1 kiln images --format '{{.Foo}}'
expect_contains "typed error" "$OUT" "can't evaluate field Foo in type *formatter.imageContext"
run_fail "images bad template" 1 kiln images --format '{{.ID'
expect_contains "images parse error" "$OUT" "template parsing error: template: :1: unclosed action"
run_ok "images table format" kiln images --format 'table {{.Repository}}\t{{.ID}}\t{{upper .Tag}}' busybox
expect_eq "table header and rows" "$OUT" "REPOSITORY   IMAGE ID       TAG
busybox      ${B:7:12}   LATEST
busybox      ${B:7:12}   OLD"

# --- history --------------------------------------------------------------------
run_ok "history -H=false" kiln history -H=false busybox
expect_contains "non-human header" "$OUT" "IMAGE          CREATED AT             CREATED BY"
expect_contains "RFC 3339 and byte sizes" "$OUT" "2024-01-01T00:00:00Z"
run_ok "history --format" kiln history --format '{{.ID}}|{{.Size}}|{{.CreatedAt}}' busybox
expect_eq "history template" "$(printf '%s\n' "$OUT" | head -1)" "${B:7:12}|0B|2024-01-01T00:00:00Z"
run_ok "history --no-trunc --format" kiln history --no-trunc --format '{{.ID}}' busybox
expect_eq "full id, <missing> below" "$OUT" "$B
<missing>"
run_ok "history --format json" kiln history --format json busybox
expect_contains "json keys" "$OUT" '"Comment":"","CreatedAt":"2024-01-01T00:00:00Z"'
run_ok "history table format" kiln history --format 'table {{.ID}}\t{{.Size}}' busybox
expect_contains "history headers" "$OUT" "IMAGE          SIZE"

# --- images filters ---------------------------------------------------------------
q() { run_ok "images $*" kiln images -q "$@"; expect_eq "images $*" "$(printf '%s\n' "$OUT" | tr '\n' ' ')" "$R"; }
R="${C:7:12} " q -f dangling=true
# -q prints a line per tag, as docker: B has three tags
R="${B:7:12} ${B:7:12} ${B:7:12} ${A:7:12} " q -f dangling=false
R="${C:7:12} ${B:7:12} ${B:7:12} ${B:7:12} " q -f since=alpine:3
R="${A:7:12} " q -f before=busybox
R="${C:7:12} ${B:7:12} ${B:7:12} ${B:7:12} ${A:7:12} " q -f label=fixture
R=" " q -f label=fixture=no
R="${B:7:12} ${B:7:12} " q -f 'reference=busy*'
R="${B:7:12} " q 'me/*'
run_ok "reference keeps only matching tags" kiln images --filter 'reference=*:old'
expect_contains "old tag" "$OUT" "busybox      old"
expect_not_contains "no latest row" "$OUT" "latest"
run_fail "bad dangling value" 1 kiln images -f dangling=maybe
expect_contains "invalid filter" "$OUT" "Invalid filter 'dangling=maybe'"
run_fail "unknown filter" 1 kiln images -f color=red
expect_contains "invalid filter name" "$OUT" "Invalid filter 'color'"
run_fail "filter without =" 125 kiln images -f dangling
expect_contains "bad format" "$OUT" "bad format of filter (expected name=value)"

# --- rmi ------------------------------------------------------------------------------
run_fail "rmi missing images" 1 kiln rmi nothing1 me/tool:1 nothing2
expect_contains "first missing" "$OUT" "Error: No such image: nothing1"
expect_contains "second missing" "$OUT" "Error: No such image: nothing2"
expect_contains "the others still go" "$OUT" "Untagged: me/tool:1"
run_ok "rmi -f with only missing images exits 0" kiln rmi -f nothing
expect_contains "still reported" "$OUT" "Error: No such image: nothing"
run_fail "rmi by id with several tags" 1 kiln rmi "${B:7:12}"
expect_contains "docker's conflict" "$OUT" "Error: conflict: unable to delete ${B:7:12} (must be forced) - image is referenced in multiple repositories"
# a name@digest entry (as a pull by digest records it)
MD=$(python3 - "$ROOT/images/index.json" <<'EOF'
import json, sys
p = sys.argv[1]; x = json.load(open(p))
e = next(m for m in x["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == "docker.io/library/busybox:old")
d = json.loads(json.dumps(e)); d["annotations"]["org.opencontainers.image.ref.name"] = "docker.io/library/busybox@" + e["digest"]
x["manifests"].append(d); json.dump(x, open(p, "w")); print(e["digest"])
EOF
)
run_ok "rmi name@digest" kiln rmi "busybox@$MD"
expect_eq "untags only the digest reference" "$OUT" "Untagged: busybox@$MD"
run_ok "tags survive" kiln inspect -f '{{join .RepoTags ","}}' busybox
expect_eq "both tags kept" "$OUT" "busybox:latest,busybox:old"

# --- prune prompts ------------------------------------------------------------------
run_ok "image prune, no answer" bash -c "'$KILN' image prune </dev/null"
expect_eq "prompt only" "$OUT" "WARNING! This will remove all dangling images.
Are you sure you want to continue? [y/N] "
run_ok "image prune, answer yes (not y)" bash -c "echo yes | '$KILN' image prune"
run_ok "dangling image kept" kiln inspect "$C"
run_ok "system prune prompt" bash -c "echo n | '$KILN' system prune"
expect_eq "docker's system prune text" "$OUT" "WARNING! This will remove:
  - all stopped containers
  - all networks not used by at least one container
  - all dangling images
  - all dangling build cache

Are you sure you want to continue? [y/N] "
run_ok "image prune, answer ' Y '" bash -c "echo ' Y ' | '$KILN' image prune"
expect_contains "pruned" "$OUT" "deleted: $C"

# --- an image known only by name@digest: dangling=true and dangling=false both list it
D=$(mk - d 2025-06-01T00:00:00Z)
python3 - "$ROOT/images/index.json" <<'PY'
import json, sys
p = sys.argv[1]; x = json.load(open(p))
for m in x["manifests"]:
    if not m.get("annotations", {}).get("org.opencontainers.image.ref.name"):
        m.setdefault("annotations", {})["org.opencontainers.image.ref.name"] = "docker.io/library/dee@" + m["digest"]
json.dump(x, open(p, "w"))
PY
run_ok "digest-only image, dangling=true" kiln images -q -f dangling=true
expect_contains "listed as dangling" "$OUT" "${D:7:12}"
run_ok "digest-only image, dangling=false" kiln images -q -f dangling=false
expect_contains "listed as referenced" "$OUT" "${D:7:12}"
run_ok "rmi by name@digest deletes the last reference" kiln rmi "dee@$(kiln inspect -f '{{index .RepoDigests 0}}' "$D" | cut -d@ -f2)"
expect_contains "deleted with its last reference" "$OUT" "Deleted: $D"
