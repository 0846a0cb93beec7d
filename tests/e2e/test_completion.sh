#!/usr/bin/env bash
# kiln completion: the bash script, sourced in bash, completes commands,
# subcommands, a command's flags (from its option table) and image, volume
# names from the store (kiln __complete); zsh and fish scripts parse.
. "$(dirname "$0")/lib.sh"
mkdir -p "$T/src" && echo hi >"$T/src/f" && tar -C "$T/src" -cf "$T/l.tar" .
run_ok "import an image" kiln import "$T/l.tar" comp:1
run_ok "tag it" kiln tag comp:1 compose/x:2
run_ok "completion bash" kiln completion bash
# shellcheck disable=SC1090
source <(kiln completion bash)
expect_eq "registered for kiln" "$(complete -p kiln)" "complete -o default -o nosort -F _kiln kiln"
comp() { # WORDS...: the candidates for the last word, sorted, on one line
	COMP_WORDS=("$KILN" "$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_kiln
	[ ${#COMPREPLY[@]} -eq 0 ] || printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '
}
expect_eq "commands" "$(comp ima)" "image images "
expect_eq "subcommands" "$(comp image t)" "tag "
expect_eq "aliases too" "$(comp image re)" "remove "
expect_eq "flags from the command's option table" "$(comp images --fi)" "--filter "
expect_eq "short flags" "$(comp history -)" "--format --help --human --no-trunc --quiet --root -H -h -q "
# completing reads the store and never writes it: no directory made again,
# no layer size remembered, no temp swept
rm -rf "$ROOT/tmp" "$ROOT/layers"
state() { find "$ROOT" -printf '%p %s %T@\n' | sort; }
before=$(state)
expect_eq "image names from the store" "$(comp rmi comp)" "comp:1 compose/x:2 "
expect_eq "the store is left as it was" "$(state)" "$before"
expect_eq "after other arguments" "$(comp tag comp:1 compo)" "compose/x:2 "
expect_eq "a flag's value is left to the shell" "$(comp images --format '')" ""
expect_eq "--root picks the store" "$(comp --root "$T/none" rmi '')" ""
expect_eq "no store is created for it" "$(ls "$T/none" 2>&1 | grep -c .)" 1
if [ "$(id -u)" = 0 ]; then
	run_ok "create a volume" kiln volume create compvol
	expect_eq "volume names" "$(comp volume rm compv)" "compvol "
fi
run_fail "unknown shell" 125 kiln completion tcsh
expect_contains "names the shell" "$OUT" "unsupported shell \`tcsh\`"
if command -v zsh >/dev/null; then
	run_ok "zsh script parses" zsh -n <(kiln completion zsh)
fi
if command -v fish >/dev/null; then
	run_ok "fish script parses" fish -n <(kiln completion fish)
fi
