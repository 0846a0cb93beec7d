#!/usr/bin/env bash
# `kiln save` output loads into a real dockerd (docker.io 20.10 from Debian),
# `docker save` output loads into kiln, with the same image IDs both ways.
# dockerd runs privately: own --data-root/--exec-root/socket under $T, its
# own managed containerd, no iptables, no bridge; both are stopped by PID and
# nothing stays mounted. A system dockerd and /var/lib/docker are never used.
. "$(dirname "$0")/lib.sh"

need_busybox
# a private dockerd (own roots, socket and /run; stopped by PID at exit)
source "$(dirname "$0")/dockerd.sh"

export SOURCE_DATE_EPOCH=1700000000
run_ok "make busybox with make-busybox.sh --import" env KILN="$KILN" KILN_TEST_TMP="$T" \
	"$KILN_SRC/testdata/make-busybox.sh" --import "$T/bb2.tar"
ID=$("$KILN" inspect -f '{{.Id}}' busybox:latest)
expect_contains "kiln has busybox:latest" "$ID" "sha256:"

# kiln save -> docker load
run_ok "kiln save busybox" kiln save -o "$T/k1.tar" busybox:latest
run_ok "docker load -i kiln's archive" dk load -i "$T/k1.tar"
expect_contains "docker reports the tag" "$OUT" "Loaded image: busybox:latest"
run_ok "docker image inspect" dk image inspect -f '{{.Id}} {{json .RepoTags}} {{json .Config.Cmd}}' busybox:latest
expect_eq "docker sees kiln's image ID, tag and Cmd" "$OUT" "$ID [\"busybox:latest\"] [\"sh\"]"
expect_eq "docker sees one layer" "$(dk image inspect -f '{{len .RootFS.Layers}}' busybox:latest)" \
	"$("$KILN" inspect -f '{{len .RootFS.Layers}}' busybox:latest 2>/dev/null || echo 1)"
# the layer docker unpacked has the same files as the rootfs tarball
run_ok "docker create" dk create --network none --name c1 busybox:latest
run_ok "docker export" sh -c "timeout 120 /usr/bin/docker export c1 >'$T/export.tar'"
list() { tar -tf "$1" | sed 's|^\./||; s|/$||' | grep -v '^\.\?$' | grep -Ev '^(\.dockerenv|dev/.*|etc/(hostname|hosts|resolv.conf|mtab)|proc|sys)$' | LC_ALL=C sort; }
if diff <(list "$BB") <(list "$T/export.tar") >"$T/diff"; then ok "docker's container rootfs lists the same files as the tarball"
else not_ok "docker's rootfs differs"; head -20 "$T/diff" | sed 's/^/#   /'; fi
mkdir -p "$T/exp" && tar -xf "$T/export.tar" -C "$T/exp" bin/busybox 2>/dev/null
if cmp -s /bin/busybox "$T/exp/bin/busybox"; then ok "busybox binary intact in docker's copy"; else not_ok "busybox binary differs"; fi
run_ok "docker run kiln's image" dk run --rm --network none busybox:latest sh -c 'echo hi from $(busybox | head -1 | cut -d" " -f1-2)'
expect_contains "the container ran busybox" "$OUT" "hi from BusyBox"
dk rm c1 >/dev/null 2>&1

# docker save -> kiln load (fresh root) -> same ID, and it saves back identically
run_ok "docker save" dk save -o "$T/d1.tar" busybox:latest
R2="$T/r2"
run_ok "kiln load docker's archive" env KILN_ROOT="$R2" "$KILN" load -i "$T/d1.tar"
expect_eq "kiln reports the tag" "$OUT" "Loaded image: busybox:latest"
run_ok "kiln inspect the loaded image" env KILN_ROOT="$R2" "$KILN" inspect -f '{{.Id}}' busybox:latest
expect_eq "same image ID after docker save -> kiln load" "$OUT" "$ID"
run_ok "system check on the loaded store" env KILN_ROOT="$R2" "$KILN" system check
run_ok "kiln save of the image docker gave us" env KILN_ROOT="$R2" "$KILN" save -o "$T/k2.tar" busybox:latest
if cmp -s "$T/k1.tar" "$T/k2.tar"; then ok "kiln save is byte-identical after the docker round trip"
else not_ok "kiln save differs after the docker round trip"; fi

# two images in one archive; docker loads both tags (and untagged ones by ID)
run_ok "import a second image" kiln import -c 'ENV K=v' -c 'CMD ["echo","two"]' -c 'LABEL a=b' "$BB" two/img:2
ID2=$OUT
run_ok "kiln tag busybox as a registry ref" kiln tag busybox 127.0.0.1:5000/x/bb:v9
run_ok "kiln save two images" kiln save -o "$T/k3.tar" busybox:latest two/img:2 127.0.0.1:5000/x/bb:v9
run_ok "docker rmi busybox" dk rmi busybox:latest
run_ok "docker load the two-image archive" dk load -i "$T/k3.tar"
expect_contains "docker loads busybox" "$OUT" "Loaded image: busybox:latest"
expect_contains "docker loads two/img:2" "$OUT" "Loaded image: two/img:2"
expect_contains "docker loads the registry ref" "$OUT" "Loaded image: 127.0.0.1:5000/x/bb:v9"
expect_eq "two/img:2 has kiln's ID" "$(dk image inspect -f '{{.Id}}' two/img:2)" "$ID2"
expect_eq "two/img:2 config" "$(dk image inspect -f '{{json .Config.Env}} {{json .Config.Cmd}} {{json .Config.Labels}}' two/img:2)" \
	'["K=v"] ["echo","two"] {"a":"b"}'
expect_eq "busybox and the registry ref are one image" "$(dk image inspect -f '{{.Id}}' 127.0.0.1:5000/x/bb:v9)" "$ID"
run_ok "kiln save by ID (untagged archive)" kiln save -o "$T/k4.tar" "$ID2"
run_ok "docker rmi two/img:2" dk rmi two/img:2
run_ok "docker loads an untagged kiln archive" dk load -i "$T/k4.tar"
expect_contains "by ID" "$OUT" "Loaded image ID: $ID2"

# docker save of two images -> kiln load gets both
run_ok "docker tag" dk tag "$ID2" two/img:3
run_ok "docker save two images" dk save -o "$T/d2.tar" busybox:latest two/img:3
run_ok "kiln load docker's two-image archive" env KILN_ROOT="$T/r3" "$KILN" load -i "$T/d2.tar"
expect_contains "kiln loads busybox" "$OUT" "Loaded image: busybox:latest"
expect_contains "kiln loads two/img:3" "$OUT" "Loaded image: two/img:3"
expect_eq "two/img:3 keeps its ID in kiln" "$(KILN_ROOT="$T/r3" "$KILN" inspect -f '{{.Id}}' two/img:3)" "$ID2"

# an image docker made with a Healthcheck and a docker-only config survives kiln load/save
run_ok "docker import with HEALTHCHECK" dk import -c 'HEALTHCHECK --interval=5s --retries=2 CMD true' \
	-c 'ENV H=1' -c 'EXPOSE 7/udp' "$BB" dhc:1
DID=$OUT
run_ok "docker save it" dk save -o "$T/d3.tar" dhc:1
run_ok "kiln load it" env KILN_ROOT="$T/r3" "$KILN" load -i "$T/d3.tar"
expect_eq "kiln keeps docker's ID" "$(KILN_ROOT="$T/r3" "$KILN" inspect -f '{{.Id}}' dhc:1)" "$DID"
expect_eq "kiln shows the Healthcheck" "$(KILN_ROOT="$T/r3" "$KILN" inspect -f '{{json .Config.Healthcheck}}' dhc:1)" \
	"$(dk image inspect -f '{{json .Config.Healthcheck}}' dhc:1)"
run_ok "kiln save it back" env KILN_ROOT="$T/r3" "$KILN" save -o "$T/k5.tar" dhc:1 two/img:3
run_ok "docker rmi dhc:1 two/img:3" dk rmi dhc:1 two/img:3
run_ok "docker load kiln's copy" dk load -i "$T/k5.tar"
expect_eq "same ID in docker again" "$(dk image inspect -f '{{.Id}}' dhc:1)" "$DID"
expect_eq "two/img:3 back in docker" "$(dk image inspect -f '{{.Id}}' two/img:3)" "$ID2"
# what kiln stored from docker's archives passes the OCI schemas too
SPEC="${KILN_CONFORMANCE:-/nonexistent}/oci/image-spec/schema"
for py in python3 /usr/bin/python3 ""; do [ -n "$py" ] && "$py" -c 'import jsonschema' 2>/dev/null && break; done
if [ -d "$SPEC" ] && [ -n "$py" ]; then
	for r in r2 r3; do
		run_ok "OCI schemas: kiln store loaded from docker ($r)" "$py" "$KILN_SRC/tests/e2e/oci_validate.py" "$SPEC" layout "$T/$r/images"
	done
else
	echo "# SKIP schema check of loaded stores (no KILN_CONFORMANCE or python3-jsonschema)"
fi

# a container still running when the test ends (as when a check fails
# before its removal): its containerd-shim outlives dockerd and containerd
run_ok "docker run -d a container left running" dk run -d --network none --name left busybox:latest sleep 1000
cpid=$(dk inspect -f '{{.State.Pid}}' left)
shim=$(awk '{ sub(/.*\) /, ""); split($0, f, " "); print f[2] }' "/proc/$cpid/stat" 2>/dev/null)
expect_contains "its parent is a containerd-shim naming our containerd" \
	"$(cat "/proc/$shim/comm" 2>/dev/null) $(tr '\0' ' ' <"/proc/$shim/cmdline" 2>/dev/null)" "$D/"

# stop dockerd and its containerd by PID; nothing may stay mounted or running
# (both KILLed first, as stop_docker does to daemons that hang: dockerd
# cannot stop the container then, and the shim keeps running)
kill -KILL "$DPID" "$CPID"
stop_docker
expect_eq "the shim and the container's process are ended too" "$(live "$shim" "$cpid")" ""
if kill -0 "$DPID" 2>/dev/null; then not_ok "dockerd $DPID still running"; else ok "dockerd stopped"; fi
if [ -n "$CPID" ] && kill -0 "$CPID" 2>/dev/null; then not_ok "containerd $CPID still running"; else ok "containerd stopped"; fi
expect_eq "no mounts left under the docker root" "$(awk -v d="$D" 'index($5, d) == 1' /proc/self/mountinfo)" ""
expect_eq "docker data root removed" "$(ls -A "$D" | grep -E '^(data|x)$')" ""
