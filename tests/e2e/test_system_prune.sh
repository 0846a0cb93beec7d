#!/usr/bin/env bash
# system prune as docker 20.10's: its prompt (with -a, --volumes and
# filters), then stopped containers, unused volumes (--volumes only: named
# and anonymous), dangling images (-a: every unused one) and the build
# cache (without -a only what no image uses), each in its "Deleted ...:"
# section, and the total. What a running container uses stays.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/containers.sh"

ids() { kiln ps -aq --no-trunc | sort | tr '\n' ' '; }
vols() { kiln volume ls -q | sort | tr '\n' ' '; }
tags() { kiln images --format '{{.Repository}}:{{.Tag}}' | sort | tr '\n' ' '; }

C="$T/ctx"
mkdir -p "$C" && echo data >"$C/f"
printf 'FROM busybox\nCOPY f /f\n' >"$C/Dockerfile"
run_ok "build" kiln build -q -t built:1 "$C"
run_ok "build cache holds a record" kiln builder du
CACHE_IDS=$(kiln builder du | awk 'NR > 1 && $1 != "Reclaimable:" && $1 != "Total:" {print $1}')
[ -n "$CACHE_IDS" ] && ok "a cache record to prune" || not_ok "no build cache record: $OUT"
run_ok "untag the build (its cache becomes dangling)" kiln rmi built:1
run_ok "an image to be dangling" kiln import "$BB" old:1
run_ok "replace its tag" kiln import -m again "$BB" old:1
DANGLING=$(kiln images -q --filter dangling=true)
DANGLING_ID=$(kiln images -q --no-trunc --filter dangling=true)
[ -n "$DANGLING" ] && ok "a dangling image" || not_ok "no dangling image"
run_ok "an unused image" kiln import -m unused "$BB" unused:1
run_ok "a running container with a volume" kiln run -d --name live -v used:/u busybox sleep 1000
LIVE=$(kiln inspect -f '{{.Id}}' live)
run_ok "a stopped container" kiln create --name stopped -v /anon busybox true
STOPPED=$(kiln inspect -f '{{.Id}}' stopped)
ANON=$(kiln inspect -f '{{range .Mounts}}{{.Name}}{{end}}' stopped)
run_ok "an unused named volume" kiln volume create spare
run_ok "an exited container" kiln run --name exited busybox true
EXITED=$(kiln inspect -f '{{.Id}}' exited)

# the prompt; no answer cancels
OUT=$(kiln system prune -a --volumes --filter until=1h --filter label=a </dev/null 2>&1)
expect_eq "until with --volumes is refused" "$OUT" 'ERROR: The "until" filter is not supported with "--volumes"'
OUT=$(echo n | kiln system prune -a --volumes --filter 'label!=x' --filter label=a=b)
expect_eq "prompt with -a, --volumes and filters" "$OUT" "WARNING! This will remove:
  - all stopped containers
  - all networks not used by at least one container
  - all volumes not used by at least one container
  - all images without at least one container associated to them
  - all build cache

  Items to be pruned will be filtered with:
  - label!=x
  - label=a=b

Are you sure you want to continue? [y/N] "
OUT=$(kiln system prune </dev/null)
expect_eq "prompt without flags" "$OUT" "WARNING! This will remove:
  - all stopped containers
  - all networks not used by at least one container
  - all dangling images
  - all dangling build cache

Are you sure you want to continue? [y/N] "
expect_eq "a cancelled prune keeps every container" "$(ids)" "$(printf '%s\n' "$LIVE" "$STOPPED" "$EXITED" | sort | tr '\n' ' ')"

# a label filter no container carries removes no container
run_ok "system prune --filter label=nope" kiln system prune -f --filter label=nope
expect_eq "label filter: containers kept" "$(kiln ps -aq | wc -l)" 3
expect_eq "label filter: dangling image kept" "$(kiln images -q --filter dangling=true)" "$DANGLING"

run_ok "system prune -f" kiln system prune -f
expect_eq "stopped containers removed, the running one kept" "$(ids)" "$LIVE "
expect_contains "containers section" "$OUT" "Deleted Containers:"
expect_contains "lists the created one" "$OUT" "$STOPPED"
expect_contains "lists the exited one" "$OUT" "$EXITED"
expect_contains "images section" "$OUT" "Deleted Images:
deleted: $DANGLING_ID"
expect_eq "the dangling image is gone" "$(kiln images -q --filter dangling=true)" ""
expect_contains "build cache section" "$OUT" "Deleted build cache objects:
$(echo "$CACHE_IDS" | head -1)"
expect_eq "the cache is empty" "$(kiln builder du | awk 'NR > 1 && $1 != "Reclaimable:" && $1 != "Total:"' | wc -l)" 0
expect_eq "ends with the total" "$(printf '%s\n' "$OUT" | tail -1 | sed 's/[0-9.]*[kMG]*B$/N/')" "Total reclaimed space: N"
case $OUT in *"Deleted Volumes:"*) not_ok "volumes pruned without --volumes" ;; *) ok "no volume section without --volumes" ;; esac
expect_eq "volumes all kept without --volumes" "$(vols)" "$(printf '%s\n' "$ANON" spare used | sort | tr '\n' ' ')"
expect_eq "tagged images kept without -a" "$(tags)" "busybox:latest old:1 unused:1 "

run_ok "system prune -f --volumes" kiln system prune -f --volumes
expect_contains "volumes section" "$OUT" "Deleted Volumes:"
expect_eq "unused volumes removed (named and anonymous), the used one kept" "$(vols)" "used "

run_ok "system prune -a -f" kiln system prune -a -f
expect_eq "-a: unused images removed, the running container's kept" "$(tags)" "busybox:latest "
expect_eq "the running container is kept" "$(ids)" "$LIVE "
run_ok "system check" kiln system check
