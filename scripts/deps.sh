#!/usr/bin/env bash
# Installs what kiln needs to build and test on Debian 12 (run as root).
# Only missing packages are installed; apt-get update runs only then.
set -euo pipefail
pkgs=(build-essential cmake pkg-config
      libarchive-dev libxxhash-dev libcurl4-openssl-dev libjansson-dev libssl-dev libseccomp-dev
      libdeflate-dev libzstd-dev liblz4-dev libacl1-dev lld # libarchive.a linked into kiln (see CMakeLists.txt)
      busybox-static skopeo umoci clang-format zstd bzip2 xz-utils
      slirp4netns passt # the runtime's default network (pasta is in passt)
      python3-jsonschema docker.io # e2e peers: OCI schema checks; a private dockerd (never started as a service by kiln's tests)
      docker-registry openssl # registry tests: the CNCF distribution registry on 127.0.0.1, test CAs
      mmdebstrap openssh-client # build tests: a Debian base image made locally; ssh-agent for RUN --mount=type=ssh
      strace) # test_build_copy_once: how often a COPY opens each file
[ "${1:-}" = --bench ] && pkgs+=(hyperfine clang crun time) # crun: bench/run_bench.sh's peer; time: GNU time (peak RSS)
[ "${1:-}" = --fuzz ] && pkgs+=(clang)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
