"""PerSAM+: a training-free PerSAM that finds whole objects made of parts, checks masks against the reference,
and mines its negative points from the similarity map.

The rule (written down before any evaluation; no setting below was chosen by its score):

1. **Reference.** The object cells of every reference mask (PerSAM's cell-centre pooling) are pooled over all
   references: their mean is the target embedding (as PerSAM), and their L2-normalised features are clustered
   into ``k`` parts by spherical k-means (deterministic farthest-point initialisation from the cell closest to
   the mean, 20 iterations). ``k = clip(floor(sqrt(N / 16)), 1, max_parts=5)`` for N object cells: a part needs
   about 16 cells (a 4 x 4 patch of the 64 x 64 grid) for a stable mean, and an object's part count grows with
   the square root of its area rather than with the area (bigger objects show the same parts, larger).
2. **Location priors.** The global map is the cosine similarity of the target embedding to every target cell
   (PerSAM's); each part has its own map (similarity to the part's prototype), and the part map is their
   cell-wise maximum ("looks like some part of the object").
3. **First decoding: candidates from two prompt sets, decoded in one batched call** (multimask, 3 masks each):
   (a) PerSAM's prompts: the global map's most similar pixel (+) and least similar pixel (-), with PerSAM's
   target-guided attention from the global map and target-semantic prompting; (b) the part prompts: that
   positive point plus one positive per part at its part map's most similar pixel, the same negative, with the
   attention bias from the part map (so attention covers every part) and the same semantic prompt. A rider and
   their bike give two parts, hence two positives, and (b)'s masks can cover both.
4. **Mask-level check.** Each candidate mask is scored by the cosine similarity between its pooled features (the
   mean of the target's feature cells weighted by the mask's coverage of each cell, from the decoder's
   low-resolution logits) and the target embedding. The mean of a whole object's cells matches the mean of the
   reference's cells; a single part's mean is pulled toward that part, and a mask that leaks into the
   background is diluted by it, so the check prefers the whole object over a part and over a leak. The
   candidate with the best check is the first mask.
5. **Negative mining.** Distractors are things outside the object that look like it (another cow, another
   car): cells outside the first mask's box (enlarged by 10% of its size on each side, so that parts adjacent
   to the object are never negatives) whose global similarity is at least the median similarity of the first
   mask's own cells, taken greedily from the most similar with non-maximum suppression (radius 4 cells), at
   most 2. They are added as negative points to every refinement step.
6. **Refinement.** PerSAM's cascaded post-refinement, two steps, on the chosen set's points plus the mined
   negatives: step 1 with the first mask's logits as the mask prompt, step 2 also with its box; each step keeps
   SAM's best-IoU mask (refinement sharpens the boundary of the chosen object, which the 64 x 64 check cannot
   see) unless it is empty.
7. **Presence score.** The mask-level check of the final mask (cosine similarity of its pooled features to the
   target embedding; -1 for an empty mask): it asks whether what was segmented looks like the reference, the
   question presence needs. SAM's predicted IoU rates a mask's quality, not its identity (a crisp mask of the
   wrong object scores high), and the maximum similarity is one cell, which a single look-alike patch can win.
8. **Video.** Extra points from a tracker are appended to every prompt set and refinement step, and its box
   is given to the first decoding, as PerSAM does.
"""
