#!/usr/bin/env bash
# The local AWS emulator: moto (pinned in scripts/requirements.txt) through
# scripts/moto_server.py, which serializes DynamoDB requests as DynamoDB does per item.
#   scripts/moto.sh start DIR   start on a free 127.0.0.1 port, wait until it answers, write
#                               DIR/moto.pid and DIR/moto.endpoint, print the endpoint URL
#   scripts/moto.sh stop DIR    stop the server of DIR/moto.pid (by that PID only)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cmd="${1:-}"
dir="${2:-$root/.local/moto}"
mkdir -p "$dir"
pidfile="$dir/moto.pid"

stop() {
  if [[ -f "$pidfile" ]]; then
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile" "$dir/moto.endpoint"
  fi
}

case "$cmd" in
  start)
    venv="$("$root/scripts/ensure-venv.sh")"
    py="$venv/bin/python"
    stop
    # A port can be taken between choosing it and binding it: try a few.
    for _ in 1 2 3; do
      port="$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
      "$py" "$root/scripts/moto_server.py" 127.0.0.1 "$port" >"$dir/moto.log" 2>&1 &
      echo $! >"$pidfile"
      endpoint="http://127.0.0.1:$port"
      for _ in $(seq 100); do
        if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then break; fi
        if "$py" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/moto-api/", timeout=1)' "$endpoint" 2>/dev/null; then
          echo "$endpoint" >"$dir/moto.endpoint"
          echo "$endpoint"
          exit 0
        fi
        sleep 0.1
      done
      stop
    done
    echo "moto did not start; log: $dir/moto.log" >&2
    cat "$dir/moto.log" >&2 || true
    exit 1
    ;;
  stop)
    stop
    ;;
  *)
    echo "usage: $0 start|stop [DIR]" >&2
    exit 2
    ;;
esac
