"""The ``persam`` command, for people who just want masks.

    persam segment --ref-image dog.jpg --ref-mask dog.png --images photos/ --out masks/
    persam segment ... --method persam_f --model vit_b --checkpoint ~/sam_vit_b_01ec64.pth
    persam segment --ref-image dog.jpg --ref-point 410,220 --images photos/ --out masks/   # one click, no mask file
    persam segment --ref-image a.jpg --ref-mask a.png --ref-image b.jpg --ref-mask b.png --max-instances 3 ...
    persam track --frames video_frames/ --ref-mask frame0.png --out tracked/
    persam app                                  # the web page (http://127.0.0.1:7860)
    persam dreambooth-masks --subject-dir dog_photos/ --ref-point 410,300 --out dog_masks/
    persam compare method=my_persam "hydra.searchpath=[file://my_configs]"   # verdicts against every baseline

``segment`` writes ``<out>/masks/<name>.png`` (palette PNG, 1..n the instances, all 0 where the object is
absent), ``<out>/overlays/<name>.jpg`` and ``<out>/scores.csv`` (see :mod:`persam.segment.folder`);
``<name>`` keeps the image's path relative to the folder given (:mod:`persam.segment.output_paths`); ``--coco``
adds ``<out>/masks_coco.json``; with clicks instead of ``--ref-mask``, ``<out>/reference_mask.png`` and
``<out>/reference_overlay.jpg`` too (:mod:`persam.cli.clicks`);
``track`` writes ``<out>/masks/<frame>.png`` (palette PNGs with the reference mask's object indices) and
``<out>/overlay.gif`` (:mod:`persam.segment.track`); ``dreambooth-masks`` writes ``<out>/<photo stem>.png``,
``<out>/contact_sheet.png``, ``<out>/overlays/`` and ``<out>/scores.csv`` (see
:mod:`persam.dreambooth.subject_masks`); ``compare`` writes ``<out>/runs/<dataset>/`` (the variant's runs),
``<out>/verdicts.csv``, ``<out>/README.md`` and ``<out>/forest.png`` (see :mod:`persam.compare`).

:mod:`persam.cli.parser` reads the arguments (light: no torch), :mod:`persam.cli.handlers` calls the library.
"""

from __future__ import annotations

import sys

from persam.cli.clicks import check_reference_source
from persam.cli.parser import build_parser, overrides_first


def main(argv: list[str] | None = None) -> int:
    parser, commands = build_parser()
    args = parser.parse_args(overrides_first(sys.argv[1:] if argv is None else argv))
    if args.command in ("segment", "track"):
        check_reference_source(commands[args.command], args)
    if args.command == "app":
        # Gradio only: torch and SAM load in the background once the page is up.
        from persam.app.ui import serve

        return serve(args.host, args.port)
    from persam.cli.handlers import run  # torch and SAM

    return run(args)
