#!/usr/bin/env bash
# cli_devices.sh — `evoke devices` lists the device, --json is valid JSON, no driver gives one
# clear line and a non-zero exit, and bad options are rejected with exit code 2.
set -u
evoke=$1
fail() { echo "FAIL: $*"; exit 1; }

out=$("$evoke" devices) || fail "evoke devices exited $?"
grep -q "features:" <<<"$out" || fail "no features line in: $out"
grep -q "^\* 0:\|^\* [0-9]*:" <<<"$out" || fail "no default device marked"

json=$("$evoke" devices --json) || fail "evoke devices --json exited $?"
printf '%s' "$json" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["devices"] and "features" in d["devices"][0], d' \
  || fail "--json is not the expected JSON"

err=$(VK_ICD_FILENAMES=/nonexistent VK_DRIVER_FILES=/nonexistent "$evoke" devices 2>&1 >/dev/null); rc=$?
[ "$rc" -ne 0 ] || fail "no driver: exit code 0"
[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "no driver: expected one line, got: $err"
grep -qi "no Vulkan device" <<<"$err" || fail "no driver: message does not say so: $err"

"$evoke" devices --bogus >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown option not rejected with 2"
"$evoke" frobnicate >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown command not rejected with 2"
"$evoke" devices --help | grep -q "usage: evoke devices" || fail "--help"
"$evoke" --help | grep -q "devices" || fail "evoke --help"
echo "cli_devices: ok"
