#!/usr/bin/env bash
# The GPU figures (NVDEC decode, fused / bare at the c3d preset, end to end), in one run on the GPU machine.
#
#   bash lab/benchmarks/gpu_check.sh            # from the repository root, on the GPU machine
#
# It installs nothing from a network (the GPU machine reaches none): only the wheels in var/gpu-wheels/,
# into var/gpu-site/, and only what the machine's python lacks. Prepare both carried folders here first:
#
#   pip download --no-deps --only-binary=:all: --python-version 3.11 --platform manylinux_2_28_x86_64 \
#       pynvvideocodec==2.2.4 -d var/gpu-wheels        # and --python-version 3.12
#   pip download --no-deps pytest pluggy iniconfig packaging -d var/gpu-wheels
#   cp -r /work/media-corpus/real var/media-corpus/    # real-world videos for the decode figures
#
# and carry var/gpu-wheels and var/media-corpus with the working tree. Sections: see lab/benchmarks/gpu_check.py.
set -u
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
SITE="$PWD/var/gpu-site"
need() { ! $PY -c "import $1" >/dev/null 2>&1; }
wheels=()
if need PyNvVideoCodec; then
  tag=$($PY -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
  wheels+=(var/gpu-wheels/pynvvideocodec-*-"$tag"-*.whl)
fi
if need pytest; then
  wheels+=(var/gpu-wheels/pytest-*.whl var/gpu-wheels/pluggy-*.whl var/gpu-wheels/iniconfig-*.whl var/gpu-wheels/packaging-*.whl)
fi
if [ ${#wheels[@]} -gt 0 ]; then
  $PY -m pip install --quiet --no-index --no-deps --target "$SITE" "${wheels[@]}" \
    || echo "some carried wheels did not install ($($PY -V)): ${wheels[*]}"
fi
export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
date -u +"date: %Y-%m-%d %H:%M UTC"
exec timeout "${GPU_CHECK_TIMEOUT:-560}" $PY -m lab.benchmarks.gpu_check --files var/media-corpus/*/* "$@"
