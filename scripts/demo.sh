#!/usr/bin/env bash
# vcmon's demo: the simulated Quảng Ngãi province with realistic problems, vcmon watching it
# from the NOC, and a first readiness report. Run as root after scripts/setup.sh.
#
#   bash scripts/demo.sh          bring it all up (about 2 minutes), print where to look
#   bash scripts/demo.sh down     stop vcmon and the relay, tear the lab down
set -euo pipefail
cd "$(dirname "$0")/.."

INVENTORY=inventory/quang-ngai.yaml
SCENARIO=inventory/scenarios/quang-ngai.yaml
OUT=${VCMON_DEMO_OUT:-$PWD/out/demo}
PORT=${VCMON_DEMO_PORT:-9874}
export VCMON_LAB_DIR=${VCMON_LAB_DIR:-/run/vcmon-lab}
vcmon() { python3 -m vcmon "$@"; }

stop_pid() {  # end only what this script started, by its recorded PID
  local f="$OUT/$1.pid"
  if [[ -f $f ]]; then
    kill "$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
  fi
}

if [[ ${1:-up} == down ]]; then
  stop_pid relay
  stop_pid vcmon
  vcmon lab down
  echo "demo stopped"
  exit 0
fi

mkdir -p "$OUT"
# Lab-only SNMP secrets: random unless you set them; never printed, never written but to the
# lab agents' 0600 configs.
secret() { python3 -c 'import secrets; print(secrets.token_hex(12))'; }
export VCMON_SNMP_COMMUNITY=${VCMON_SNMP_COMMUNITY:-$(secret)}
export VCMON_SNMP_AUTH_KEY=${VCMON_SNMP_AUTH_KEY:-$(secret)}
export VCMON_SNMP_PRIV_KEY=${VCMON_SNMP_PRIV_KEY:-$(secret)}

stop_pid relay
stop_pid vcmon
vcmon lab up "$INVENTORY" --scenario "$SCENARIO"

echo "assessing every site for 60 s from the NOC ..."
vcmon lab exec -- python3 -m vcmon assess "$INVENTORY" --duration 60s --out "$OUT/measurements.json"
vcmon report "$INVENTORY" --measurements "$OUT/measurements.json" --lang vi --out "$OUT/report"

# The always-on agent, probing from the NOC namespace; its HTTP port relayed to the host.
# (ip netns exec execs the agent, so the recorded PID is the agent's own.)
NOC=$(python3 -c 'import os; from vcmon.lab.lab import read_state; print(read_state(os.environ["VCMON_LAB_DIR"])["noc"])')
nohup ip netns exec "$NOC" python3 -m vcmon run "$INVENTORY" \
  --listen "127.0.0.1:$PORT" >"$OUT/vcmon.log" 2>&1 &
echo $! >"$OUT/vcmon.pid"
nohup python3 -m vcmon lab forward --listen "127.0.0.1:$PORT" --to "127.0.0.1:$PORT" \
  >"$OUT/relay.log" 2>&1 &
echo $! >"$OUT/relay.pid"

for _ in $(seq 60); do
  curl -fsS "http://127.0.0.1:$PORT/-/ready" >/dev/null 2>&1 && break
  sleep 1
done

cat <<TXT

vcmon demo is running.
  metrics:   http://127.0.0.1:$PORT/metrics
  verdicts:  http://127.0.0.1:$PORT/api/v1/sites
  report:    $OUT/report/report.html   (from a 60 s assessment; CSV and JSON beside it)
  agent log: $OUT/vcmon.log
  lab:       python3 -m vcmon lab status   (ground truth: $VCMON_LAB_DIR/truth.json)
Stop it all with: bash scripts/demo.sh down
TXT
