#!/usr/bin/env bash
# Install headless Chromium for the browser tests (tests/test_report_browser.py) and the report benchmark.
# Idempotent: does nothing when a Chromium is already on PATH (or $RAINIER_CHROMIUM is set).
# Debian/Ubuntu: apt-get, non-interactive. Exits 0 when Chromium is available afterwards, 1 with the
# reason otherwise (the browser tests then skip with a message rather than fail).
set -uo pipefail

found() {
  for b in "${RAINIER_CHROMIUM:-}" chromium chromium-browser google-chrome google-chrome-stable; do
    [ -n "$b" ] || continue
    if p=$(command -v "$b" 2>/dev/null) && [ -n "$p" ]; then echo "$p"; return 0; fi
  done
  return 1
}

if p=$(found); then
  echo "chromium: already installed at $p ($("$p" --version 2>/dev/null | head -n1))"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium: not installed and apt-get is not available; install Chromium and put it on PATH" \
       "(or set RAINIER_CHROMIUM=/path/to/chromium)" >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "chromium: not installed; need root (or passwordless sudo) to apt-get install chromium" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
echo "chromium: installing with apt-get (Debian package 'chromium')..."
if ! $SUDO apt-get update -qq >"$log" 2>&1; then
  echo "chromium: apt-get update failed:" >&2; tail -n 5 "$log" >&2; rm -f "$log"; exit 1
fi
# Debian names it 'chromium'; older Ubuntu images 'chromium-browser' (a snap shim on newer ones).
# Recommends are skipped (printing, audio) except the fonts, so screenshots show real glyphs.
if ! $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-liberation >"$log" 2>&1; then
  if ! $SUDO apt-get install -y -qq --no-install-recommends chromium-browser >>"$log" 2>&1; then
    echo "chromium: apt-get install failed:" >&2; tail -n 5 "$log" >&2; rm -f "$log"; exit 1
  fi
fi
rm -f "$log"

if p=$(found); then
  echo "chromium: installed at $p ($("$p" --version 2>/dev/null | head -n1))"
  exit 0
fi
echo "chromium: apt-get succeeded but no chromium binary is on PATH" >&2
exit 1
