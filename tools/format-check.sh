#!/usr/bin/env bash
# Fail if any C source or header differs from .clang-format's layout.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.c' '*.h')
bad=0
for f in $files; do
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
    echo "format: $f differs (run: clang-format -i $f)"
    bad=1
  fi
done
[ $bad -eq 0 ] && echo "format: all $(echo "$files" | wc -w) files clean"
exit $bad
