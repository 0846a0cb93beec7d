#!/usr/bin/env bash
# The command-line frame: help, version, unknown commands and flags, exit codes.
. "$(dirname "$0")/lib.sh"

run_ok "kiln --help" kiln --help
expect_contains "--help lists commands" "$OUT" "Commands:"
run_ok "kiln version" kiln version
expect_contains "version names kiln" "$OUT" "kiln version"
run_ok "kiln --version" kiln --version
run_ok "kiln help version" kiln help version
expect_contains "help shows usage" "$OUT" "Usage:  kiln version"
run_ok "kiln version --help" kiln version --help
run_fail "unknown command exits 1" 1 kiln frobnicate
expect_contains "unknown command is named" "$OUT" "'frobnicate' is not a kiln command"
# docker's words: "docker: 'x' is not a docker command.\nSee 'docker --help'"
expect_eq "unknown command points at --help" "$OUT" "kiln: 'frobnicate' is not a kiln command.
See 'kiln --help'"
run_fail "unknown flag exits 125" 125 kiln version --frob
expect_contains "unknown flag is named" "$OUT" "unknown flag: --frob"
expect_contains "unknown flag points at --help" "$OUT" "See 'kiln version --help'."
run_fail "unknown global flag exits 125" 125 kiln --frob version
run_fail "extra argument exits 1" 1 kiln version extra
run_fail "unknown help topic" nonzero kiln help frobnicate
