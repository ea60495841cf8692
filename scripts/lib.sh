# Shared set-up steps for scripts/demo.sh and scripts/test.sh. Every step is
# idempotent: it checks first and only installs or starts what is missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export MONGO_URI="${MONGO_URI:-mongodb://127.0.0.1:27017/}"
export AMQP_URI="${AMQP_URI:-pyamqp://guest:guest@127.0.0.1:5672/}"
export PYTHONWARNINGS="${PYTHONWARNINGS:-ignore::DeprecationWarning}"
mkdir -p var/log var/run

SCHEMATHESIS_VERSION=4.32.5

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

install_os_packages() {
  local missing=()
  command -v rabbitmq-server >/dev/null 2>&1 || missing+=(rabbitmq-server)
  python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv python3-pip)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  # the console's browser test drives Debian's headless Chromium through chromedriver
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
  # a CJK font, so the console's screenshots show Chinese text instead of boxes
  [ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  fi
}

start_rabbitmq() {
  if ! as_root rabbitmqctl -q status >/dev/null 2>&1; then
    log "starting RabbitMQ"
    as_root rabbitmq-server -detached
    as_root rabbitmqctl -q await_startup --timeout 120 >/dev/null 2>&1 || as_root rabbitmqctl wait --timeout 120 "$(as_root ls /var/lib/rabbitmq/mnesia/*.pid 2>/dev/null | head -1)"
  fi
  # nameko's test fixtures create a vhost per test through the management API
  # consistent-hash: the partitioned feedback topology (services/common/partitions.py)
  as_root rabbitmq-plugins -q enable rabbitmq_management rabbitmq_consistent_hash_exchange >/dev/null
  for _ in $(seq 1 60); do
    curl -fsS -u guest:guest http://127.0.0.1:15672/api/overview >/dev/null 2>&1 && return 0
    sleep 1
  done
  log "RabbitMQ management API did not answer on :15672"; return 1
}

install_python() {
  local stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    log "installing the Python environment (.venv)"
    [ -x .venv/bin/python ] || python3 -m venv .venv
    .venv/bin/pip install -q --upgrade pip >var/log/pip.log 2>&1
    .venv/bin/pip install -q -e '.[test]' >>var/log/pip.log 2>&1 || { cat var/log/pip.log; return 1; }
    rm -f .venv/.installed-*; touch "$stamp"
  fi
  if [ ! -x .venv-mongo/bin/nx-27017 ]; then
    # The embedded MongoDB wire-protocol server needs pymongo>=4.18: its own venv
    # keeps the services' pymongo pin independent (docs/store.md).
    log "installing the embedded MongoDB server (.venv-mongo, nx-27017 0.8.1)"
    python3 -m venv .venv-mongo
    .venv-mongo/bin/pip install -q nx-27017==0.8.1 >>var/log/pip.log 2>&1 || { cat var/log/pip.log; return 1; }
  fi
  if [ "$(.venv-schemathesis/bin/st --version 2>/dev/null)" != "st, version $SCHEMATHESIS_VERSION" ]; then
    # The API fuzz test (tests/e2e/test_api_fuzz.py) runs schemathesis's CLI out of
    # process; its own venv keeps its dependencies clear of the services' pins.
    log "installing schemathesis $SCHEMATHESIS_VERSION (.venv-schemathesis)"
    [ -x .venv-schemathesis/bin/python ] || python3 -m venv .venv-schemathesis
    .venv-schemathesis/bin/pip install -q "schemathesis==$SCHEMATHESIS_VERSION" >>var/log/pip.log 2>&1 \
      || { cat var/log/pip.log; return 1; }
  fi
}

mongo_answers() {
  .venv/bin/python - <<'PY' >/dev/null 2>&1
import os, pymongo
pymongo.MongoClient(os.environ["MONGO_URI"], serverSelectionTimeoutMS=1500).admin.command("ping")
PY
}

start_mongo() {
  mongo_answers && return 0
  log "starting the embedded MongoDB server on 127.0.0.1:27017 (data in var/mongo)"
  mkdir -p var/mongo
  if [ -f var/run/mongo.pid ] && ! kill -0 "$(cat var/run/mongo.pid)" 2>/dev/null; then
    rm -f var/run/mongo.pid  # stale after a kill -9
  fi
  .venv-mongo/bin/nx-27017 -d --data-dir var/mongo -p 27017 \
    --log-file var/log/mongo.log --pid-file var/run/mongo.pid
  for _ in $(seq 1 60); do mongo_answers && return 0; sleep 0.5; done
  log "MongoDB did not answer at $MONGO_URI (see var/log/mongo.log)"; return 1
}

setup_all() {
  install_os_packages
  install_python
  start_rabbitmq
  start_mongo
}
