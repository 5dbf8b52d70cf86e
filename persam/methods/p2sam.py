"""P2SAM (Zhao & Shen, "Part-aware Personalized Segment Anything Model", arXiv 2403.05433): PerSAM with one
positive point per part of the object, and the part count chosen per target image by a distribution distance.

Definitions follow the authors' PerSeg code (Zch0414/P2SAM, ``testing/p2sam/p2sam_perseg.py`` and
``testing/test_utils/utils.py`` at 588cfc7):

* **Reference cells**: the reference mask is resized with the image, padded, sampled bilinearly at the 64 x 64
  cell centres, and a cell is the object's where the sample exceeds half the mask's value
  (``center_threshold`` 0.5; PerSAM's own code has 123.675 / 128 there, see :mod:`persam.methods.target`).
  Their SAM features (N x 256, not normalised) are the reference distribution.
* **Parts**, for each k = ``min_num_pos`` .. ``max_num_pos``: k = 1 is the cells' mean; k > 1 clusters the cells
  with scikit-learn's ``KMeans(k, n_init=10, random_state=0)`` and takes each cluster's mean feature
  (normalised). A k larger than the number of cells is skipped (their PerSeg script would crash there).
* **Points** for k: each part's cosine-similarity map is brought to image resolution (as PerSAM's location
  prior); the most similar pixel of each part is a positive point, the least similar pixel of the parts' mean
  map the one negative point (for k = 1 exactly PerSAM's two points).
* **Decoding** for k: PerSAM's target-guided attention computed from the parts' mean map as the original code
  computes it (:func:`persam.methods.guidance.stretched_attention_bias`) and target-semantic prompting with the
  reference's mean feature, one single-mask decoding, then PerSAM's two cascaded refinement steps (three masks,
  highest predicted IoU; the second with the first's box).
* **Selection of k**: the final low-resolution logits resized bilinearly to 64 x 64; the target cells where they
  are positive give the prediction's feature distribution. Its exact Wasserstein distance to the reference's
  (POT: ``ot.emd2`` with uniform weights, squared Euclidean cost ``ot.dist``) is computed for each k and the
  smallest kept (the first on ties; an empty prediction never wins). ``patch_weights`` weighs the target cells
  by the sigmoid of their logits instead (their ``--reg-patch-weight``, off by default).

Batched decoding (``batched``, default on): each of the three steps decodes the candidates of all k in one call
(:meth:`GuidedPredictor.decode_batch`). Their point sets differ in length (k + 1), so they are padded with SAM's
not-a-point label; padding tokens take part in the decoder's attention and at first moved the numbers: with
MobileSAM, davis_perseg mIoU 81.43 padded against 81.42 one call per k, but per object up to 6.6 points apart
(breakdance 81.53 against 74.91: a different k chosen on one image). Since that is a change of the method, not
rounding, the padding tokens are now masked out as keys of the decoder's attentions over tokens
(``DecoderGuidance.ignoring``): batched candidates equal the per-k decodings to about 1e-4 in the logits, the
same masks and the same k (tested; with MobileSAM every object of PerSeg and davis_perseg scores what the
authors' code scores, to two decimals, batched or not), still in one decoder call per step. On a CPU the decoder's work grows
with the batch, so batching saves only per-call overhead there (measured: the same seconds per image either
way); on a GPU the candidates run in parallel. ``batched=false`` decodes one call per k, as the original.

Several references pool their cells (one reference distribution, parts clustered over all of them); with one
reference this is the authors' method. P2SAM has no presence score (``score`` is NaN); ``extra`` holds the
chosen part count and every candidate's distance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import ot
import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans
from torch import Tensor

from persam.methods.grid import GRID, mask_on_grid
from persam.methods.guidance import stretched_attention_bias
from persam.methods.location_prior import select_points
from persam.methods.protocol import Method, Prediction, Prompts, Shot, as_shots
from persam.methods.refinement import Stage, refine, refine_batch
from persam.methods.target import object_cells
from persam.models.guided_decoder import Guidance
from persam.models.predictor import GuidedPredictor, ImageEmbedding

# The authors' reference cells: the resized mask sampled at the cell centres above half the mask's value.
P2SAM_CENTER_THRESHOLD = 0.5


@dataclass
class PartReference:
    """What P2SAM keeps from the reference(s).

    cells: N x C features of the reference cells (the reference distribution).
    embedding: C, their mean (the target-semantic prompt, and the single part of k = 1).
    parts: {k: k x C normalised part features} for every candidate part count.
    """

    cells: Tensor
    embedding: Tensor
    parts: dict[int, Tensor]


@dataclass
class Candidate:
    """One part count's answer: its points (k + 1 x 2 XY pixels, labels k ones and a zero) and refined mask."""

    parts: int
    point_coords: np.ndarray
    point_labels: np.ndarray
    stage: Stage


class P2SAM(Method):
    """P2SAM over a :class:`GuidedPredictor` (see the module doc for every definition)."""

    def __init__(self, predictor: GuidedPredictor, min_num_pos: int = 1, max_num_pos: int = 5,
                 patch_weights: bool = False, batched: bool = True, kmeans_n_init: int = 10,
                 kmeans_seed: int = 0, center_threshold: float = P2SAM_CENTER_THRESHOLD) -> None:
        super().__init__(predictor)
        if not 1 <= min_num_pos <= max_num_pos:
            raise ValueError(f"p2sam needs 1 <= min_num_pos <= max_num_pos, got {min_num_pos} and {max_num_pos}")
        self.part_counts = range(min_num_pos, max_num_pos + 1)
        self.patch_weights = patch_weights
        self.batched = batched
        self.kmeans_n_init = kmeans_n_init
        self.kmeans_seed = kmeans_seed
        self.center_threshold = center_threshold

    # -- reference ------------------------------------------------------------------------------------
    def fit(self, references: Sequence[Shot], prompts: Prompts | None = None) -> PartReference:
        """Reference cells and parts from one or more references (``prompts`` are refused: P2SAM does not track)."""
        if prompts is not None:
            raise ValueError("p2sam takes no extra prompts (it does not track video)")
        cells = []
        for i, shot in enumerate(as_shots(references)):
            if not shot.mask.any():
                raise ValueError(f"reference {i}: the mask is empty, there is no object to personalise on")
            coverage = mask_on_grid(shot.mask, shot.embedding.input_size, "center")
            on = object_cells(coverage.to(shot.embedding.features.device), "center",
                              center_threshold=self.center_threshold)
            cells.append(shot.embedding.features[0].permute(1, 2, 0)[on])
        feats = torch.cat(cells)  # N x C
        mean = feats.mean(0)
        parts = {}
        for k in self.part_counts:
            if k == 1:
                parts[k] = F.normalize(mean, dim=0)[None]
            elif k <= len(feats):
                parts[k] = self._cluster(feats, k)
        return PartReference(feats, mean, parts)

    def _cluster(self, feats: Tensor, k: int) -> Tensor:
        """k x C: the normalised mean feature of each k-means cluster of ``feats`` (N x C)."""
        kmeans = KMeans(n_clusters=k, n_init=self.kmeans_n_init, random_state=self.kmeans_seed)
        labels = torch.from_numpy(kmeans.fit_predict(feats.cpu().numpy())).to(feats.device)
        return F.normalize(torch.stack([feats[labels == c].mean(0) for c in range(k)]), dim=1)

    # -- targets --------------------------------------------------------------------------------------
    def predict(self, embedding: ImageEmbedding, reference: PartReference, gt: np.ndarray | None = None,
                prompts: Prompts | None = None) -> Prediction:
        """The mask of the part count whose prediction is closest to the reference (``gt`` is ignored; P2SAM
        takes no extra prompts)."""
        if prompts is not None:
            raise ValueError("p2sam takes no extra prompts (it does not track video)")
        candidates = self.candidates(embedding, reference)
        low_res = torch.cat([c.stage.low_res for c in candidates])
        distances = cell_distances(reference.cells, embedding.features[0], low_res, self.patch_weights)
        best = candidates[int(np.argmin(distances))]  # the first of equal distances, as the original's strict "<"
        return Prediction(best.stage.mask.cpu().numpy(), best.point_coords, best.point_labels,
                          logits=best.stage.logits,
                          extra={"parts": best.parts, "distance": float(distances.min()),
                                 "distances": {c.parts: float(d) for c, d in zip(candidates, distances, strict=True)}})

    def candidates(self, embedding: ImageEmbedding, reference: PartReference) -> list[Candidate]:
        """Every part count's points and refined mask on the target (one decoder call per step if ``batched``)."""
        self.predictor.set_embedding(embedding)
        counts = list(reference.parts)
        coords, labels, guidance = self._prompts(embedding, reference, counts)
        if self.batched:
            firsts = self.predictor.decode_batch(coords, labels, multimask=False, guidance=guidance)
            stages = refine_batch(self.predictor, [Stage.of(out, 0) for out in firsts], coords, labels)
        else:
            stages = [refine(self.predictor, Stage.of(self.predictor.decode(c, lab, multimask=False, guidance=g), 0),
                             c, lab) for c, lab, g in zip(coords, labels, guidance, strict=True)]
        return [Candidate(*fields) for fields in zip(counts, coords, labels, stages, strict=True)]

    def _prompts(self, embedding: ImageEmbedding, reference: PartReference,
                 counts: list[int]) -> tuple[list[np.ndarray], list[np.ndarray], list[Guidance]]:
        """Points (k positives + 1 negative, XY pixels), labels and decoder guidance for each part count."""
        feats = F.normalize(embedding.features[0], dim=0).flatten(1)  # C x 4096
        all_parts = torch.cat([reference.parts[k] for k in counts])  # sum(k) x C
        grids = (all_parts @ feats).reshape(1, -1, GRID, GRID)
        # Every part's map at image resolution in one call, as PerSAM's location prior (bilinear x4, then SAM's
        # postprocess_masks).
        maps = self.predictor.model.postprocess_masks(F.interpolate(grids, scale_factor=4, mode="bilinear"),
                                                      embedding.input_size, embedding.original_size)[0]
        semantic = reference.embedding.reshape(1, 1, -1)
        coords, labels, guidance = [], [], []
        start = 0
        for k in counts:
            part_maps = maps[start:start + k]
            start += k
            mean_map = part_maps.mean(0)
            positives = [select_points(m, 1, negative=False)[0] for m in part_maps]
            negative = select_points(mean_map, 1, negative=True)[0][1:]
            coords.append(np.concatenate([*positives, negative]))
            labels.append(np.array([1] * k + [0], dtype=np.int64))
            guidance.append(Guidance(attn_bias=stretched_attention_bias(mean_map), target_embedding=semantic))
        return coords, labels, guidance


def cell_distances(reference_cells: Tensor, features: Tensor, low_res_logits: Tensor,
                   patch_weights: bool = False) -> np.ndarray:
    """Each candidate's Wasserstein distance to the reference distribution (B values; inf where a candidate's
    mask covers no cell).

    reference_cells: N x C reference features. features: C x 64 x 64 target features. low_res_logits: B x 256
    x 256 candidate logits, resized bilinearly to 64 x 64; the cells where they are positive are the candidate's
    distribution (weighted by their sigmoid with ``patch_weights``). Candidates with the same cells (and
    weights) share one computation.
    """
    ref = reference_cells.detach().cpu().numpy()  # float32, as the original
    grid = features.permute(1, 2, 0)  # 64 x 64 x C
    cell_logits = F.interpolate(low_res_logits[:, None], size=(GRID, GRID), mode="bilinear")[:, 0]
    known: dict[bytes, float] = {}
    distances = []
    for logits in cell_logits:
        on = logits > 0
        if not bool(on.any()):
            distances.append(np.inf)
            continue
        weights = torch.sigmoid(logits[on]).cpu().numpy() if patch_weights else None
        key = on.cpu().numpy().tobytes() + (weights.tobytes() if weights is not None else b"")
        if key not in known:
            known[key] = wasserstein(ref, grid[on].cpu().numpy(), weights)
        distances.append(known[key])
    return np.array(distances)


def wasserstein(a: np.ndarray, b: np.ndarray, b_weights: np.ndarray | None = None) -> float:
    """Exact optimal-transport cost between point sets a (N x C, uniform weights) and b (M x C, uniform or
    ``b_weights`` normalised), with the squared Euclidean cost (POT's ``emd2``, as the P2SAM code)."""
    wa = ot.unif(len(a))
    wb = ot.unif(len(b)) if b_weights is None else b_weights / b_weights.sum()
    return float(ot.emd2(wa, wb, ot.dist(a, b), numItermax=10_000_000))
