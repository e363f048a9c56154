#!/bin/sh
# Runs the dat GPU kit: needs no network, only sh and node (or gzip, to unpack the bundled node).
# Usage: sh run.sh [--allow-software-gpu] [--quick] [--samples N]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=${TMPDIR:-/tmp}/dat-gpu-kit.$$
mkdir -p "$work"

# Vulkan loader: Dawn dlopens libvulkan.so.1. Unpack the bundled one (not into /) when the system has none.
if ! { /sbin/ldconfig -p 2>/dev/null || ldconfig -p 2>/dev/null; } | grep -q 'libvulkan\.so\.1 '; then
  deb=$(ls "$here"/libvulkan1_*.deb 2>/dev/null | head -n 1 || true)
  if [ -n "$deb" ]; then
    if command -v dpkg-deb >/dev/null 2>&1; then
      dpkg-deb -x "$deb" "$work/vulkan"
    else
      (mkdir -p "$work/vulkan" && cd "$work/vulkan" && ar x "$deb" && tar -xf data.tar.*)
    fi
    LD_LIBRARY_PATH="$work/vulkan/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export LD_LIBRARY_PATH
    echo "kit: using the bundled Vulkan loader ($(basename "$deb"))" >&2
  else
    echo "kit: no libvulkan.so.1 on this machine and none bundled: webgpu will find no adapter" >&2
  fi
fi
# NVIDIA's Vulkan driver manifest where container images mount the driver.
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -z "${VK_ICD_FILENAMES:-}" ] && [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  export VK_DRIVER_FILES
fi

node_bin=""
if command -v node >/dev/null 2>&1 && [ "$(node -p 'process.versions.node.split(".")[0] >= 20' 2>/dev/null)" = "true" ]; then
  node_bin=$(command -v node)
elif [ -f "$here/node.gz" ]; then
  gzip -dc "$here/node.gz" >"$work/node" && chmod +x "$work/node" && node_bin="$work/node"
  echo "kit: using the bundled node" >&2
else
  echo "kit: no node ≥ 20 here and none bundled (rebuild the kit without --no-node)" >&2
  exit 2
fi
status=0
"$node_bin" "$here/runner.mjs" "$@" || status=$?
rm -rf "$work"
exit "$status"
