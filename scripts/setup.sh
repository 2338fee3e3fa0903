#!/usr/bin/env bash
# Install everything vcmon and its tests need on a fresh Debian 12 machine (run as root).
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  iproute2 iputils-ping iputils-tracepath traceroute fping iperf3  # lab + ICMP anchors
  snmpd snmp                                                       # real SNMP agents + tools
  prometheus prometheus-alertmanager prometheus-snmp-exporter     # promtool, amtool, anchors
  chromium fonts-dejavu-core                                       # report rendering checks
  curl util-linux                                                  # demo readiness wait; nsenter
)
missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts the packaged daemons; vcmon's tests and lab run their own instances.
for svc in snmpd prometheus prometheus-alertmanager prometheus-snmp-exporter prometheus-node-exporter; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done

python3 -m pip install -q --disable-pip-version-check -e '.[dev]'
