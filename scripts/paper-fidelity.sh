#!/usr/bin/env bash
# Runs each third-party client check in tools/paper-exchange/fidelity against its own fresh
# paper exchange (the binary, on a free loopback port), stopping each server by PID. A check
# names the venue file it runs against in a line `# paper-venue: <file>` (default venue.toml),
# which sets the dialect, and may name its own virtualenv in a line `# paper-venv: <name>`
# (scripts/ensure-venv.sh <name>) when its pins cannot share the default one.
# Usage: scripts/paper-fidelity.sh <paper-exchange binary> <python>
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$1"
python="$2"
out="$root/.local/paper-fidelity.out"
mkdir -p "$root/.local"
pid=""
trap '[[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true' EXIT
for check in "$root"/tools/paper-exchange/fidelity/*_check.py; do
  venue="$(sed -n 's/^# paper-venue: *//p' "$check" | head -1)"
  own_venv="$(sed -n 's/^# paper-venv: *//p' "$check" | head -1)"
  check_python="$python"
  if [[ -n "$own_venv" ]]; then
    check_python="$("$root/scripts/ensure-venv.sh" "$own_venv")/bin/python"
  fi
  "$bin" --config "$root/tools/paper-exchange/fidelity/${venue:-venue.toml}" > "$out" 2>&1 &
  pid=$!
  url=""
  for _ in $(seq 100); do
    url="$(sed -n 's/^listening on //p' "$out")"
    [[ -n "$url" ]] && break
    sleep 0.1
  done
  [[ -n "$url" ]] || { cat "$out" >&2; exit 1; }
  echo "== $(basename "$check") against $url"
  "$check_python" "$check" "$url"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=""
done
