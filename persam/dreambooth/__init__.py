"""PerSAM-assisted DreamBooth (the paper's Section 3.4 / 4.3): the subject segmented in every one of its photos
from one mask (:mod:`persam.dreambooth.subject_masks`), and Stable Diffusion fine-tuned with the loss on those
photos restricted to the subject (:mod:`persam.dreambooth.masked_loss`, :mod:`persam.dreambooth.train`).

DreamBooth (and diffusers) call the subject's photos "instance" photos; persam's own names say "subject", since
"instances" are the several objects of ``--max-instances``. The config keeps DreamBooth's ``instance.dir`` and
``instance.prompt`` (diffusers' ``--instance_data_dir`` / ``--instance_prompt``) and the logged ``instance_loss``.

Needs the ``dreambooth`` extra (diffusers, transformers, accelerate): ``pip install 'persam[dreambooth]'``.
"""
