"""Segmenting a person's own photos (``persam segment``, ``persam track``, ``persam dreambooth-masks``, the app):

* :mod:`persam.segment.predictor`: the one predictor and method builder for those photos (oracles refused);
* :mod:`persam.segment.click_reference`: the reference mask from clicks;
* :mod:`persam.segment.output_paths`: where each input image's results go;
* :mod:`persam.segment.folder`: the one folder loop (masks, overlays, ``scores.csv``);
* :mod:`persam.segment.coco_export`: the masks as COCO JSON;
* :mod:`persam.segment.references`: the reference shots of ``persam segment``;
* :mod:`persam.segment.track`: a video's frames (``persam track``).
* :mod:`persam.segment.unreadable`: the photos and frames skipped because they cannot be read.

The command line that calls these is :mod:`persam.cli`.
"""
