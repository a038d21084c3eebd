#!/usr/bin/env bash
# Runs a command with one local AWS emulator for its whole run: starts moto, exports the
# endpoint, a region and dummy credentials, and stops moto by PID when the command ends,
# whether it passed or failed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/.local/moto-$$"
trap '"$root/scripts/moto.sh" stop "$dir"; rm -rf "$dir"' EXIT
# Ctrl-C or a kill: exit, so the EXIT trap above stops the emulator.
trap 'exit 130' INT TERM
AWS_ENDPOINT_URL="$("$root/scripts/moto.sh" start "$dir")"
export AWS_ENDPOINT_URL
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
unset AWS_PROFILE AWS_SESSION_TOKEN
# Tests that need the emulator fail (never skip) when this is set and it is missing.
export DRIFTLINE_REQUIRE_AWS_EMULATOR=1
echo "local AWS emulator at $AWS_ENDPOINT_URL" >&2
"$@"
