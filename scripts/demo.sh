#!/usr/bin/env bash
# The main job: install everything, start the whole stack on this machine, feed
# it the sample stream and show what it produced; keeps running until Ctrl-C.
source "$(dirname "$0")/lib.sh"
setup_all

SMTP_PORT="${SMTP_PORT:-8025}"
GATEWAY_PORT="${GATEWAY_PORT:-8000}"
export SMTP_PORT
export GATEWAY_ADDRESS="${GATEWAY_ADDRESS:-127.0.0.1:$GATEWAY_PORT}"
export CONSOLE_URL="${CONSOLE_URL:-http://127.0.0.1:$GATEWAY_PORT}"
CX=".venv/bin/cxctl"
PIDS=()

stop_all() {
  log "stopping the services"
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop_all EXIT
trap 'exit 0' INT TERM

log "starting a local SMTP server on 127.0.0.1:$SMTP_PORT (mail kept in var/mail)"
.venv/bin/python -c "import mailbox; mailbox.Maildir('var/mail', create=True)"
.venv/bin/python -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" -c aiosmtpd.handlers.Mailbox var/mail \
  > var/log/smtp.log 2>&1 &
PIDS+=($!)

for service in alerts cases profiles notify gateway; do
  log "starting the $service service (log: var/log/$service.log)"
  .venv/bin/nameko run --config deploy/config.yaml "services.$service.service" \
    > "var/log/$service.log" 2>&1 &
  PIDS+=($!)
done

# Demo-only credentials, printed at the end; never reuse them.
export DEMO_AGENT_PASSWORD=demo-agent-pass DEMO_OWNER_PASSWORD=demo-owner-pass DEMO_ADMIN_PASSWORD=demo-admin-pass

log "waiting for the services to answer"
for _ in $(seq 1 60); do
  $CX --timeout 2 stats >/dev/null 2>&1 && $CX --timeout 2 users list >/dev/null 2>&1 && break
  sleep 1
done

log "creating the demo users (demo-only passwords: see docs/api.md)"
$CX users add chen.jie --role agent --team cx-care --name 陈杰 --password-env DEMO_AGENT_PASSWORD
$CX users add zhao.min --role owner --name 赵敏 --password-env DEMO_OWNER_PASSWORD
$CX users add admin --role admin --name Admin --language en --password-env DEMO_ADMIN_PASSWORD
$CX users add survey-app --role integration
$CX users revoke survey-app >/dev/null
SURVEY_TOKEN=$($CX users token survey-app --name demo)

log "applying the sample rules, the people directory (agents, teams, recipients, sign-in), SLA and escalation policies"
$CX rules apply samples/rules.yaml
$CX people apply samples/people.yaml
# without an SLA policy cases open without clocks and the console's SLA column reads "no SLA"
$CX cases sla apply samples/sla.yaml
$CX cases escalation apply samples/escalation.yaml

log "publishing the sample stream ($(wc -l < samples/feedback.jsonl) events) and $(wc -l < samples/malformed.jsonl) malformed messages"
$CX publish samples/feedback.jsonl
$CX publish samples/malformed.jsonl
$CX wait-idle --timeout 600

log "summary"
$CX stats
echo
$CX alerts list --limit 8
echo
$CX cases list --limit 8
echo
busiest=$(.venv/bin/python -c "
import collections, json
c = collections.Counter(json.loads(l)['customer']['id'] for l in open('samples/feedback.jsonl'))
print(c.most_common(1)[0][0])")
$CX profile show "$busiest" --timeline 8
echo
echo "emails delivered to the local SMTP server: $(ls var/mail/new | wc -l) (in var/mail/new)"
echo "try:"
echo "  $CX alerts list --json"
echo "  $CX cases show <CASE-ID>"
echo "  $CX profile show $busiest --json"
echo
echo "console: $CONSOLE_URL  (API: $CONSOLE_URL/api/v1, OpenAPI: $CONSOLE_URL/api/v1/openapi.json)"
echo "demo-only credentials:"
echo "  agent  chen.jie / demo-agent-pass   (team cx-care)"
echo "  owner  zhao.min / demo-owner-pass"
echo "  admin  admin    / demo-admin-pass"
echo "  integration token (survey-app): $SURVEY_TOKEN"
echo "  curl -H 'Authorization: Bearer $SURVEY_TOKEN' -H 'Content-Type: application/json' \\"
echo "       --data @event.json $CONSOLE_URL/api/v1/feedback"
log "running; press Ctrl-C to stop"
wait
