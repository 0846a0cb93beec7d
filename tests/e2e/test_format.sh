#!/usr/bin/env bash
# One formatter config for all code: every tracked C file is clang-format clean.
. "$(dirname "$0")/lib.sh"
command -v clang-format >/dev/null || skip_all "clang-format is not installed"
cd "$KILN_SRC"
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build*')
bad=$(clang-format --dry-run $files 2>&1 | grep -o '^[^:]*:[0-9]*:[0-9]*: warning' | cut -d: -f1 | sort -u)
if [ -z "$bad" ]; then ok "all C files are clang-format clean"; else not_ok "not formatted: $(echo $bad)"; fi
