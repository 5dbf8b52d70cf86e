#!/usr/bin/env bash
# What `make gpu-check` needs on a lent GPU machine that has PyTorch but not persam's other dependencies, packed
# into .gpu/ (ignored) to be carried there: the pure-Python packages it imports (copied from .venv), the
# MobileSAM checkpoint (xz: the whole tree that travels must stay under 64 MiB) and one DAVIS sequence.
# Then, on that machine, from the repository root:
#   export PYTHONPATH=$PWD/.gpu/site:$PWD PERSAM_CHECKPOINT=/tmp/mobile_sam.pt
#   python3 -c "import lzma, shutil; shutil.copyfileobj(lzma.open('.gpu/mobile_sam.pt.xz'), open('/tmp/mobile_sam.pt', 'wb'))"
#   make gpu-check PY=python3 DAVIS=.gpu/davis GPU_ARGS="--commit <the commit sent>"
set -euo pipefail
cd "$(dirname "$0")/.."
SEQUENCE=${1:-car-shadow}
DAVIS=${DAVIS:-../shared/data/davis2017}
site=$(.venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
rm -rf .gpu && mkdir -p .gpu/site .gpu/davis/JPEGImages/480p .gpu/davis/Annotations/480p
for package in hydra omegaconf antlr4 segment_anything mobile_sam; do cp -r "$site/$package" .gpu/site/; done
find .gpu/site -name __pycache__ -prune -exec rm -rf {} +
checkpoint=$(.venv/bin/python -c "from persam.models.checkpoints import resolve_checkpoint; print(resolve_checkpoint('vit_t', download=False)[0])")
xz -9 -T0 -c "$checkpoint" > .gpu/mobile_sam.pt.xz
cp -r "$DAVIS/JPEGImages/480p/$SEQUENCE" .gpu/davis/JPEGImages/480p/
cp -r "$DAVIS/Annotations/480p/$SEQUENCE" .gpu/davis/Annotations/480p/
du -sh .gpu
