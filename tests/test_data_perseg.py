"""PerSeg layout: reference by stem, targets paired with masks by stem, errors that name the path."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import persam
from persam.data.io import DataError, read_image, read_mask
from persam.data.perseg import list_objects, load_object, load_perseg

SAMPLE = Path(persam.__file__).parent / "sample_data" / "perseg"


def _image(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 6), (10, 20, 30)).save(path)


def _mask(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (8, 6), 255).save(path)


def _object(root, name, image_stems=("00", "01", "02"), mask_stems=None):
    for stem in image_stems:
        _image(root / "Images" / name / f"{stem}.jpg")
    for stem in image_stems if mask_stems is None else mask_stems:
        _mask(root / "Annotations" / name / f"{stem}.png")


def test_targets_exclude_reference(tmp_path):
    """The reference is 00; 01 and 02 are the targets, each with its own mask."""
    _object(tmp_path, "cat")
    obj = load_object(tmp_path, "cat")
    assert obj.name == "cat"
    assert obj.ref_image == tmp_path / "Images/cat/00.jpg"
    assert obj.ref_mask == tmp_path / "Annotations/cat/00.png"
    assert [t[0] for t in obj.targets] == ["01", "02"]
    assert obj.targets[0] == ("01", tmp_path / "Images/cat/01.jpg", tmp_path / "Annotations/cat/01.png")


def test_targets_paired_by_stem_not_position(tmp_path):
    """An annotation with no image (05) shifts sorted positions; pairing must still go by stem."""
    # Sorted images: 00 01 10 2; sorted annotations: 00 01 05 10 2.
    # Pairing by sorted position would give 10.jpg <-> 05.png and 2.jpg <-> 10.png.
    _object(tmp_path, "dog", image_stems=("00", "01", "10", "2"), mask_stems=("00", "01", "05", "10", "2"))
    obj = load_object(tmp_path, "dog")
    assert {t[0] for t in obj.targets} == {"01", "10", "2"}
    for stem, image, mask in obj.targets:
        assert image.stem == mask.stem == stem
        assert image.parent.name == mask.parent.name == "dog"


def test_ref_stem_is_configurable(tmp_path):
    """ref_stem='01' makes 01 the reference and 00 a target."""
    _object(tmp_path, "cat")
    obj = load_object(tmp_path, "cat", ref_stems=["01"])
    assert obj.ref_image.name == "01.jpg" and obj.ref_mask.name == "01.png"
    assert [t[0] for t in obj.targets] == ["00", "02"]
    assert load_perseg(tmp_path, ref_stems=["01"])[0] == obj


def test_missing_reference_stem_raises(tmp_path):
    """A ref_stem with no image is an error naming the object folder."""
    _object(tmp_path, "cat")
    with pytest.raises(DataError) as info:
        load_object(tmp_path, "cat", ref_stems=["99"])
    assert str(tmp_path / "Images" / "cat") in str(info.value)


def test_load_perseg_lists_all_objects_sorted(tmp_path):
    """All object folders, in name order; hidden folders are ignored."""
    _object(tmp_path, "zebra")
    _object(tmp_path, "apple")
    (tmp_path / "Images" / ".hidden").mkdir()
    assert list_objects(tmp_path) == ["apple", "zebra"]
    assert [o.name for o in load_perseg(tmp_path)] == ["apple", "zebra"]
    assert [o.name for o in load_perseg(tmp_path, ["zebra"])] == ["zebra"]


def test_missing_target_mask_raises(tmp_path):
    """A target image with no ground-truth mask is an error naming the image and the expected mask."""
    _object(tmp_path, "cat", mask_stems=("00", "01"))
    with pytest.raises(DataError) as info:
        load_object(tmp_path, "cat")
    message = str(info.value)
    assert str(tmp_path / "Images" / "cat" / "02.jpg") in message
    assert str(tmp_path / "Annotations" / "cat" / "02.png") in message


def test_object_folder_without_images_raises(tmp_path):
    """An empty object folder is an error naming it."""
    (tmp_path / "Images" / "empty").mkdir(parents=True)
    (tmp_path / "Annotations" / "empty").mkdir(parents=True)
    with pytest.raises(DataError, match="no images") as info:
        load_perseg(tmp_path)
    assert str(tmp_path / "Images" / "empty") in str(info.value)


def test_non_image_file_in_image_folder_raises(tmp_path):
    """A notes.txt among the images is an error naming it."""
    _object(tmp_path, "cat")
    notes = tmp_path / "Images" / "cat" / "notes.txt"
    notes.write_text("shot on a phone\n")
    with pytest.raises(DataError) as info:
        load_object(tmp_path, "cat")
    assert str(notes) in str(info.value)


def test_named_object_missing_raises(tmp_path):
    """Asking for an object that is not there names it and the Images folder."""
    _object(tmp_path, "cat")
    with pytest.raises(DataError, match="ghost") as info:
        load_perseg(tmp_path, ["cat", "ghost"])
    assert str(tmp_path / "Images") in str(info.value)
    with pytest.raises(DataError) as info:
        load_object(tmp_path, "ghost")
    assert str(tmp_path / "Images" / "ghost") in str(info.value)


def test_missing_images_folder_raises(tmp_path):
    """A root with no Images/ folder is an error naming the path it looked for."""
    (tmp_path / "Annotations").mkdir()
    with pytest.raises(DataError) as info:
        load_perseg(tmp_path)
    assert str(tmp_path / "Images") in str(info.value)


def test_bundled_sample():
    """The sample has cat, colorful_sneaker and duck_toy, each with reference 00 and targets 01, 02."""
    objects = load_perseg(SAMPLE)
    assert [o.name for o in objects] == ["cat", "colorful_sneaker", "duck_toy"]
    for obj in objects:
        assert obj.ref_image.stem == obj.ref_mask.stem == "00"
        assert [t[0] for t in obj.targets] == ["01", "02"]
        for _, image_path, mask_path in ((None, obj.ref_image, obj.ref_mask),) + obj.targets:
            image = read_image(image_path)
            mask = read_mask(mask_path, size=image.shape[:2])
            assert 0 < mask.mean() < 1  # a real object, not an empty or full mask
            assert np.issubdtype(image.dtype, np.uint8)


def test_target_with_empty_ground_truth_is_accepted(tmp_path):
    """A target whose object has left the view has an all-zero mask: a target like any other, not an error."""
    _object(tmp_path, "bike", mask_stems=("00", "01"))
    Image.new("L", (8, 6), 0).save(tmp_path / "Annotations/bike/02.png")
    obj = load_object(tmp_path, "bike")
    assert [t[0] for t in obj.targets] == ["01", "02"]
    assert not read_mask(obj.targets[1][2]).any()


DAVIS16 = Path(__file__).resolve().parents[2] / "shared" / "data" / "davis16_train20_perseg"


@pytest.mark.skipif(not DAVIS16.is_dir(), reason="needs ../shared/data/davis16_train20_perseg")
def test_davis16_perseg_loads_with_its_empty_target():
    """The real davis16_perseg: 20 objects of 5 targets; bmx-bumps/04's ground truth is empty."""
    objects = load_perseg(DAVIS16)
    assert len(objects) == 20 and all(len(o.targets) == 5 for o in objects)
    bmx = {o.name: o for o in objects}["bmx-bumps"]
    empty = [stem for stem, image, gt in bmx.targets if not read_mask(gt, read_image(image).shape[:2]).any()]
    assert empty == ["04"]
