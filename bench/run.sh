#!/bin/sh
# puddle benchmark: bench/run.sh [BUILD_DIR] [options]   (as root; see bench/README.md)
# Everything happens in bench/run.py under Debian's python3 (the test
# harness needs it, not a pyenv one).
set -e
here=$(dirname "$(readlink -f "$0")")
exec /usr/bin/python3 "$here/run.py" "$@"
