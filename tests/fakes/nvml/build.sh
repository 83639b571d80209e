#!/bin/sh
# Builds the fake libnvidia-ml variants into the directory given as $1:
#   libnvidia-ml.so.1        every entry point, like a current driver
#   libnvidia-ml-no-v3.so.1  no _v3 entry points, like an R470 driver
#   libnvidia-ml-old.so.1    no _v2/_v3 entry points, like a pre-R450 driver
set -eu
out=${1:?usage: build.sh OUTPUT_DIRECTORY}
src=$(dirname "$0")/fake_nvml.c
mkdir -p "$out"
flags="-shared -fPIC -O1 -Wall -Wextra -fvisibility=hidden"
gcc $flags -o "$out/libnvidia-ml.so.1" "$src" -ldl
gcc $flags -DFAKE_NVML_NO_V3 -o "$out/libnvidia-ml-no-v3.so.1" "$src" -ldl
gcc $flags -DFAKE_NVML_OLD_DRIVER -o "$out/libnvidia-ml-old.so.1" "$src" -ldl
