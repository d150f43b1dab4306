#!/usr/bin/env bash
# Install the third-party peers that interop tests talk to: ffmpeg, GStreamer, tshark, tcpdump,
# Chromium (with Node's playwright-core to drive it), and the OpenSSL headers the optional C
# accelerator builds against.
# Installs only what is missing, and only as root on a Debian-like system; otherwise it prints
# what is missing and the tests that need it skip, saying why.
set -u
cd "$(dirname "$0")/.."
need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
command -v tshark >/dev/null 2>&1 || need+=(tshark)
command -v gst-launch-1.0 >/dev/null 2>&1 || need+=(gstreamer1.0-tools gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav)
command -v chromium >/dev/null 2>&1 || need+=(chromium chromium-driver)
[ -f /usr/include/openssl/evp.h ] || need+=(libssl-dev)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-peers: missing ${need[*]} (not root or no apt-get): tests that need them will skip"
  else
    echo "install-peers: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi
# playwright-core drives the system Chromium; it never downloads a browser of its own.
if [ -f tests/browser/package.json ] && [ ! -d tests/browser/node_modules/playwright-core ]; then
  if command -v npm >/dev/null 2>&1; then
    echo "install-peers: npm install (tests/browser)"
    npm install --prefix tests/browser --no-audit --no-fund --loglevel=error >/dev/null
  else
    echo "install-peers: npm not found: browser tests will skip"
  fi
fi
exit 0
