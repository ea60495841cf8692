#!/usr/bin/env bash
# Install what is missing, start RabbitMQ and MongoDB if they are not running,
# then run the whole test suite (extra arguments go to pytest).
source "$(dirname "$0")/lib.sh"
setup_all
log "running the tests"
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: treating that as a failure" >&2
  exit 1
fi
exit "$rc"
