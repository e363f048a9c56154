#!/bin/sh
# Runs the dat GPU kit: needs no network, only sh and node (or gzip, to unpack the bundled node).
# Usage: sh run.sh [--allow-software-gpu] [--quick] [--samples N] [--threads-only] [--cpu-samples N]
#        sh run.sh --cli-threads [--threads N] [--cli-runs N] [--cli-samples N] [--torch [--python P]]
#        sh run.sh --learning [learning bench flags]   (kits built with --with-learning)
# A 2-core CPU figure on a bigger machine: taskset -c 0,1 sh run.sh --threads-only (or --cli-threads)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=${TMPDIR:-/tmp}/dat-gpu-kit.$$
mkdir -p "$work"

# Vulkan loader and GL dispatch: Dawn dlopens libvulkan.so.1, and NVIDIA's Vulkan driver
# (libGLX_nvidia.so.0) needs glvnd's libGLdispatch.so.0 and libGLX.so.0. Unpack the bundled .debs
# (into the work folder, never into /) for whichever of them the system lacks.
have_lib() { { /sbin/ldconfig -p 2>/dev/null || ldconfig -p 2>/dev/null; } | grep -q "$1 "; }
unpack_deb() {
  if command -v dpkg-deb >/dev/null 2>&1; then
    dpkg-deb -x "$1" "$work/libs"
  else
    (mkdir -p "$work/deb" && cd "$work/deb" && ar x "$1" && mkdir -p "$work/libs" && tar -xf data.tar.* -C "$work/libs" && rm -f data.tar.* control.tar.* debian-binary)
  fi
  echo "kit: using the bundled $(basename "$1")" >&2
}
unpacked=""
for pair in "libvulkan\\.so\\.1:libvulkan1" "libGLdispatch\\.so\\.0:libglvnd0" "libGLX\\.so\\.0:libglx0" "libEGL\\.so\\.1:libegl1"; do
  lib=${pair%%:*}
  pkg=${pair#*:}
  if ! have_lib "$lib"; then
    deb=$(ls "$here"/"$pkg"_*.deb 2>/dev/null | head -n 1 || true)
    if [ -n "$deb" ]; then
      unpack_deb "$deb"
      unpacked=yes
    else
      echo "kit: no $pkg on this machine and none bundled: webgpu may find no adapter" >&2
    fi
  fi
done
if [ -n "$unpacked" ]; then
  LD_LIBRARY_PATH="$work/libs/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export LD_LIBRARY_PATH
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
# Run from a copy: the runner unpacks Dawn next to itself, and the kit folder stays as built.
mkdir -p "$work/kit"
cp -R "$here/runner.mjs" "$here/worker.js" "$here/package.json" "$here/node_modules" "$here/fixtures" "$work/kit/"
if [ -f "$here/dat.mjs.gz" ]; then cp "$here/dat.mjs.gz" "$work/kit/"; fi
entry=runner.mjs
# `--learning <flags>`: the learning benchmark on the kit's Fashion-MNIST subset (--with-learning kits).
if [ "${1:-}" = "--learning" ]; then
  shift
  entry=learning.mjs
  cp -R "$here/learning.mjs" "$work/kit/" && ln -s "$here/data" "$work/kit/data"
fi
status=0
"$node_bin" "$work/kit/$entry" "$@" || status=$?
rm -rf "$work"
exit "$status"
