"""``make bench``'s sections on images (1 and 2): the quality of each encoder path on PerSeg and on DAVIS frames,
the stages of PerSAM, PerSAM-F and the successors after the encoder, end to end per target image, and real runs
(``python -m persam.run``) with their stage times."""

from __future__ import annotations

from pathlib import Path

from common import REPO, davis_root, perseg_root
from session import Bench, cosine
from speed_checks import run_breakdown
from targets import QUALITY_NAMES

from persam.data.io import read_image, read_mask
from persam.data.perseg import load_perseg
from persam.methods.protocol import Shot
from persam.metrics import ObjectScore, mean_scores


def perseg(bench: Bench) -> None:
    """Sections 1 and 2 on PerSeg: embeddings and mIoU per encoder path, the stages of the fast path and the
    end-to-end time per target image."""
    print("PerSeg: encoders, quality, stages", flush=True)
    objects = load_perseg(perseg_root())
    scores = {(m, e): {} for m in ("persam", "persam_f") for e in bench.checked}
    repeats = 2 if bench.quick else 3
    for obj in objects:
        ref_image = read_image(obj.ref_image)
        ref_mask = read_mask(obj.ref_mask, ref_image.shape[:2])
        ref_emb = {e: p.embed(ref_image) for e, p in bench.checked.items()}
        bench.cosines["perseg"].append(cosine(ref_emb["fp32"].features, ref_emb["fast"].features))
        if bench.bf16:
            bench.cosines["bf16"].append(cosine(ref_emb["fp32"].features, ref_emb["bf16"].features))
        refs = {}
        for e in bench.checked:
            refs[("persam", e)] = bench.persam[e].fit(Shot(ref_emb[e], ref_mask))
            refs[("persam_f", e)] = bench.persam_f[e].fit(Shot(ref_emb[e], ref_mask))
            for _ in range(repeats - 1 if e == "fast" else 0):  # more samples of the fit
                bench.timer.samples.setdefault("persam_f_fit", []).append(
                    bench.persam_f[e].fit(Shot(ref_emb[e], ref_mask)).fit_seconds)
            if e == "fast":
                bench.timer.samples.setdefault("persam_f_fit", []).append(refs[("persam_f", e)].fit_seconds)
        successor_refs = {n: m.fit([Shot(ref_emb["fast"], ref_mask)]) for n, m in bench.successors.items()}
        for key in scores:
            scores[key][obj.name] = ObjectScore()
        for _stem, image_path, gt_path in obj.targets:
            # fast path end to end: read, encode (uncached), predict
            with bench.timer("e2e_persam"):
                with bench.timer("read_and_embed_fast"):
                    image = read_image(image_path)
                    emb = bench.fast.embed(image)
                prediction = bench.persam["fast"].predict(emb, refs[("persam", "fast")])
            with bench.timer("persam_f_predict_first"):
                prediction_f = bench.persam_f["fast"].predict(emb, refs[("persam_f", "fast")])
            gt = read_mask(gt_path, image.shape[:2])
            scores[("persam", "fast")][obj.name].add(prediction.mask, gt)
            scores[("persam_f", "fast")][obj.name].add(prediction_f.mask, gt)
            for _ in range(repeats):  # stage medians, on the same embedding
                method, ref = bench.persam["fast"], refs[("persam", "fast")]
                with bench.timer("persam_prior"):
                    method._prompts(emb, ref.protos)
                with bench.timer("persam_predict"):
                    method.predict(emb, ref)
                with bench.timer("persam_f_predict"):
                    bench.persam_f["fast"].predict(emb, refs[("persam_f", "fast")])
                for name, successor in bench.successors.items():
                    with bench.timer(f"{name}_predict"):
                        successor.predict(emb, successor_refs[name])
                with bench.timer("decoder_pass"):  # one plain pass of SAM's mask decoder: PerSAM makes three
                    _ = bench.fast.decode(prediction.point_coords, prediction.point_labels, multimask=False).logits
            emb32 = bench.fp32.embed(image)
            bench.cosines["perseg"].append(cosine(emb32.features, emb.features))
            scores[("persam", "fp32")][obj.name].add(
                bench.persam["fp32"].predict(emb32, refs[("persam", "fp32")]).mask, gt)
            scores[("persam_f", "fp32")][obj.name].add(
                bench.persam_f["fp32"].predict(emb32, refs[("persam_f", "fp32")]).mask, gt)
            if bench.bf16:
                emb16 = bench.bf16.embed(image)
                bench.cosines["bf16"].append(cosine(emb32.features, emb16.features))
                for m, methods in (("persam", bench.persam), ("persam_f", bench.persam_f)):
                    scores[(m, "bf16")][obj.name].add(methods["bf16"].predict(emb16, refs[(m, "bf16")]).mask, gt)
    for (m, e), per_object in scores.items():
        bench.record("quality", f"perseg_{m}_miou_{QUALITY_NAMES[e]}", 100 * mean_scores(per_object)[0], "mIoU %",
                     len(per_object), f"{len(objects)} objects of {perseg_root().relative_to(REPO.parent)}")


def davis(bench: Bench) -> None:
    """Section 1 on DAVIS frames (frame 0 the reference, the middle frame the target): quality per encoder path."""
    root = davis_root()
    if root is None:
        bench.notes.append("DAVIS quality and video sections skipped: ../shared/data/davis2017 not found.")
        return
    print("DAVIS: encoders, quality", flush=True)
    sequences = sorted(p.name for p in (root / "JPEGImages" / "480p").iterdir() if p.is_dir())
    if bench.quick:
        sequences = sequences[:3]
    scores = {(m, e): {} for m in ("persam", "persam_f") for e in bench.checked}
    for seq in sequences:
        frames = sorted((root / "JPEGImages" / "480p" / seq).glob("*.jpg"))
        pairs = []
        for frame in (frames[0], frames[len(frames) // 2]):
            image = read_image(frame)
            pairs.append((image, read_mask(root / "Annotations" / "480p" / seq / f"{frame.stem}.png", image.shape[:2])))
        (ref_image, ref_mask), (image, gt) = pairs
        for e, predictor in bench.checked.items():
            ref_emb, emb = predictor.embed(ref_image), predictor.embed(image)
            for m, methods in (("persam", bench.persam), ("persam_f", bench.persam_f)):
                score = scores[(m, e)][seq] = ObjectScore()
                score.add(methods[e].predict(emb, methods[e].fit(Shot(ref_emb, ref_mask))).mask, gt)
            if e == "fp32":
                fp32_feats = (ref_emb.features, emb.features)
            else:
                bench.cosines["davis" if e == "fast" else "bf16"] += [
                    cosine(fp32_feats[0], ref_emb.features), cosine(fp32_feats[1], emb.features)]
    for (m, e), per_object in scores.items():
        bench.record("quality", f"davis_{m}_miou_{QUALITY_NAMES[e]}", 100 * mean_scores(per_object)[0], "mIoU %",
                     len(per_object), f"{len(sequences)} DAVIS-2017 val sequences: frame 0 -> middle frame")


def run_stages(bench: Bench, tmp: Path, data: Path) -> None:
    """Real ``python -m persam.run`` runs on davis_perseg: the stages of a run and its time against its parts."""
    # --quick: 3 objects and no fp32 run (no davis_perseg mIoU comparison)
    encoders, extra = (("auto",), ["dataset.objects=[blackswan,camel,dog]"]) if bench.quick else (("auto", "fp32"), [])
    if bench.bf16:
        encoders += ("bf16",)  # the bf16 candidate's accuracy check on the same run (why auto takes it or not)
    print(f"real runs on {data}: encoder={' and '.join(encoders)}, empty caches", flush=True)
    # The fp32 run is the reference: upstream's eager encoder and decoder. The others take decoder=auto.
    bench.runs = {e: run_breakdown(data, tmp, e, "eager" if e == "fp32" else "auto", extra) for e in encoders}
    run = bench.runs["auto"]
    n = run["targets"]
    for stage, v in run["stages"].items():
        bench.record("run_stage", f"run_{stage}_s_per_image", v["seconds"] / n, "s", v["calls"],
                     f"stage total / {n} target images (references included), encoder=auto")
    parts = sum(run["stages"][k]["seconds"] for k in ("encoder", "method") if k in run["stages"]) / n
    bench.record("e2e", "run_s_per_image", run["sec_per_image"], "s", n,
                 f"python -m persam.run method=persam on {data.name}, empty cache, encoder=auto")
    bench.record("e2e", "run_encoder_plus_method_s_per_image", parts, "s", n, "encoder + method stages / targets")
    bench.record("ratio", "run_ratio_to_stages", run["sec_per_image"] / parts, "x", 1,
                 "run seconds per image / (encoder + method seconds per image)")
    bench.record("e2e", "run_process_overhead_s", run["wall_s"] - run["task_s"], "s", 1,
                 "process start, imports, model and encoder loading, logging: the run's wall time outside the task")
    for e, r in bench.runs.items():
        name = QUALITY_NAMES[{"auto": "fast"}.get(e, e)]
        bench.record("quality", f"davis_perseg_persam_miou_{name}", r["miou"], "mIoU %",
                     n // 5, f"{data.name} ({n // 5} objects, 5 targets each), real run, {r['encoder_id']}, "
                     f"decoder {r['decoder_id']}")
