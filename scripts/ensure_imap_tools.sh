#!/usr/bin/env bash
# Install what tests/mailbox needs (Debian): Dovecot's IMAP and POP3 servers, left unconfigured
# and stopped (the tests run a private instance of their own under a temporary folder).
# The tests do this themselves when they run as root; this is for CI and prebuilt images.
set -euo pipefail
packages=(dovecot-imapd dovecot-pop3d)
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure_imap_tools: run as root (apt-get install ${packages[*]})" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${packages[@]}" \
  || { apt-get update && apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${packages[@]}"; }
