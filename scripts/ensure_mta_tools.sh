#!/usr/bin/env bash
# Install what tests/mta needs (Debian): Postfix (left unconfigured: the tests run a private
# instance of their own), Cyrus SASL's saslpasswd2 and plugins, swaks and its TLS module.
# The tests do this themselves when they run as root; this is for images built ahead of time.
set -euo pipefail
packages=(postfix sasl2-bin libsasl2-modules swaks libnet-ssleay-perl)
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure_mta_tools: run as root (apt-get install ${packages[*]})" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get install -y --no-install-recommends "${packages[@]}" \
  || { apt-get update && apt-get install -y --no-install-recommends "${packages[@]}"; }
