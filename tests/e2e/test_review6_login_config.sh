#!/usr/bin/env bash
# Review 6: login and logout write docker's config.json through a symlink
# (dotfile managers such as stow link ~/.docker/config.json into a repo):
# the link stays a link and its target gets the credentials, as docker
# 20.10 does; kiln renamed a regular file over the link, so the linked
# file never saw the login and the link was gone. Keys kiln does not know
# are kept.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/registry_lib.sh"
start_registry a || { not_ok "registry starts"; exit 1; }
R=$REG_a
export DOCKER_CONFIG="$T/cfg"
mkdir -p "$T/dotfiles/docker" "$DOCKER_CONFIG"
printf '{"auths":{},"psFormat":"{{.ID}}"}\n' >"$T/dotfiles/docker/config.json"
ln -s ../dotfiles/docker/config.json "$DOCKER_CONFIG/config.json"
run_ok "login" sh -c "echo pw | '$KILN' login -u alice --password-stdin $R"
[ -L "$DOCKER_CONFIG/config.json" ] && ok "config.json is still a symlink" || not_ok "config.json is no longer a symlink"
expect_contains "the linked file has the credentials" "$(cat "$T/dotfiles/docker/config.json")" "\"$R\""
expect_contains "... and keeps the keys kiln does not use" "$(cat "$T/dotfiles/docker/config.json")" psFormat
expect_eq "no temp file left beside the link or the target" \
	"$(ls -A "$DOCKER_CONFIG" "$T/dotfiles/docker" | grep -vc -e '^config.json$' -e '^$' -e ':$')" 0
run_ok "logout" kiln logout "$R"
[ -L "$DOCKER_CONFIG/config.json" ] && ok "still a symlink after logout" || not_ok "not a symlink after logout"
expect_not_contains "the linked file lost the credentials" "$(cat "$T/dotfiles/docker/config.json")" "\"$R\""
