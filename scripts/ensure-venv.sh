#!/usr/bin/env bash
# Creates (once) a Python virtualenv under .local and installs pinned tools into it;
# reinstalls only when the requirements file changes. Prints the venv's path.
#   scripts/ensure-venv.sh          .local/venv from scripts/requirements.txt (the tools)
#   scripts/ensure-venv.sh <name>   .local/venv-<name> from scripts/requirements-<name>.txt, for
#                                   a client whose pins cannot share the first (coinbase-advanced-py
#                                   wants websockets<14, python-kraken-sdk >=14.1)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
name="${1:-}"
venv="$root/.local/venv${name:+-$name}"
req="$root/scripts/requirements${name:+-$name}.txt"
[[ -f "$req" ]] || { echo "ensure-venv: no $req" >&2; exit 1; }
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv" >&2
fi
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
  echo "$want" > "$stamp"
fi
echo "$venv"
