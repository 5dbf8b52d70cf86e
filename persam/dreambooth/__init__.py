"""PerSAM-assisted DreamBooth (the paper's Section 3.4 / 4.3): the subject segmented in every instance photo
from one mask (:mod:`persam.dreambooth.instance_masks`), and Stable Diffusion fine-tuned with the instance loss
restricted to the subject (:mod:`persam.dreambooth.masked_loss`, :mod:`persam.dreambooth.train`).

Needs the ``dreambooth`` extra (diffusers, transformers, accelerate): ``pip install 'persam[dreambooth]'``.
"""
