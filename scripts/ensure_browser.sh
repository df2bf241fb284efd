#!/usr/bin/env bash
# Install what the headless browser test (tests/browser) needs (Debian): Chromium and its
# chromedriver, which Selenium drives (no browser download at run time).
set -euo pipefail
packages=(chromium chromium-driver)
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure_browser: run as root (apt-get install ${packages[*]})" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends "${packages[@]}" \
  || { apt-get update && apt-get install -y --no-install-recommends "${packages[@]}"; }
