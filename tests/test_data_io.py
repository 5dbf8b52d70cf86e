"""Reading images and masks: every mode becomes H x W x 3 uint8, and bad files name themselves."""

import numpy as np
import pytest
from PIL import Image

from persam.data.io import DEFAULT_PALETTE, DataError, read_image, read_label_map, read_mask, write_mask

LABELS = np.array([[0, 0, 1, 1], [0, 2, 2, 0], [1, 0, 0, 2]], dtype=np.uint8)  # 3 x 4


def _palette_png(path, labels, palette):
    image = Image.frombytes("P", (labels.shape[1], labels.shape[0]), labels.astype(np.uint8).tobytes())
    image.putpalette(palette)
    image.save(path)
    return path


# ---------------------------------------------------------------- masks


@pytest.mark.parametrize("index", [1, 2])
def test_palette_mask_is_read_by_index(tmp_path, index):
    """A palette PNG whose object is index 1 or 2 reads as that object, whatever the colours."""
    labels = np.zeros((3, 4), np.uint8)
    labels[1, 1:3] = index
    # Index 0 is white and the object index black: reading colours instead of indices would invert the mask.
    palette = [255, 255, 255] + [0, 0, 0] * 255
    path = _palette_png(tmp_path / "m.png", labels, palette)
    assert np.array_equal(read_label_map(path), labels)
    assert np.array_equal(read_mask(path), labels > 0)
    assert read_mask(path).dtype == bool


def test_grayscale_0_255_mask(tmp_path):
    """A 0/255 'L' mask: 255 is the object."""
    gray = np.where(LABELS > 0, 255, 0).astype(np.uint8)
    Image.fromarray(gray).save(tmp_path / "m.png")
    assert np.array_equal(read_mask(tmp_path / "m.png"), LABELS > 0)


def test_rgb_mask_any_nonzero_channel_is_object(tmp_path):
    """An RGB mask: a pixel with any non-zero channel is the object (red only, blue only, ...)."""
    rgb = np.zeros((3, 4, 3), np.uint8)
    rgb[0, 0] = (128, 0, 0)
    rgb[1, 2] = (0, 0, 5)
    rgb[2, 3] = (0, 1, 0)
    Image.fromarray(rgb).save(tmp_path / "m.png")
    expected = np.zeros((3, 4), bool)
    expected[0, 0] = expected[1, 2] = expected[2, 3] = True
    assert np.array_equal(read_mask(tmp_path / "m.png"), expected)


def test_read_mask_with_wrong_size_names_file(tmp_path):
    """A mask whose size differs from its image's is an error naming the mask."""
    path = _palette_png(tmp_path / "m.png", LABELS, DEFAULT_PALETTE)
    assert read_mask(path, size=(3, 4)).shape == (3, 4)
    with pytest.raises(DataError, match="m.png") as info:
        read_mask(path, size=(4, 3))
    assert str(path) in str(info.value)


def test_write_mask_round_trip_with_davis_palette(tmp_path):
    """write_mask writes a 'P' PNG with the DAVIS palette; labels 0, 1, 2 come back unchanged."""
    path = tmp_path / "sub" / "out.png"
    write_mask(path, LABELS)
    assert np.array_equal(read_label_map(path), LABELS)
    with Image.open(path) as image:
        assert image.mode == "P"
        assert image.getpalette()[:12] == [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0]
    assert not list(path.parent.glob(".*.tmp"))  # no temporary file left behind


def test_write_mask_bool(tmp_path):
    """A boolean mask is written as labels 0/1."""
    write_mask(tmp_path / "b.png", LABELS > 0)
    assert np.array_equal(read_label_map(tmp_path / "b.png"), (LABELS > 0).astype(int))


# ---------------------------------------------------------------- images


def _check_rgb(array, shape):
    assert array.shape == shape + (3,)
    assert array.dtype == np.uint8


def test_rgba_image_drops_alpha(tmp_path):
    """RGBA -> RGB with the colour channels kept."""
    rgba = np.zeros((5, 7, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 10
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png")
    _check_rgb(out, (5, 7))
    assert (out[..., 0] == 200).all() and (out[..., 1:] == 0).all()


def test_grayscale_image_becomes_three_equal_channels(tmp_path):
    """'L' -> RGB with R = G = B = the gray value."""
    gray = np.arange(35, dtype=np.uint8).reshape(5, 7) * 7
    Image.fromarray(gray).save(tmp_path / "g.png")
    out = read_image(tmp_path / "g.png")
    _check_rgb(out, (5, 7))
    for c in range(3):
        assert np.array_equal(out[..., c], gray)


def test_cmyk_jpeg(tmp_path):
    """A CMYK JPEG becomes RGB; pure cyan ink reads as roughly (0, 255, 255)."""
    Image.new("CMYK", (16, 8), (255, 0, 0, 0)).save(tmp_path / "c.jpg")
    out = read_image(tmp_path / "c.jpg")
    _check_rgb(out, (8, 16))
    assert out[..., 0].mean() < 30 and out[..., 1:].mean() > 225


def test_16_bit_png_scaled_to_8_bits(tmp_path):
    """An 'I;16' PNG is scaled so 65535 -> 255 and 0 -> 0."""
    deep = np.array([[0, 65535], [32768, 65535]], dtype=np.uint16)
    Image.fromarray(deep).save(tmp_path / "d.png")
    out = read_image(tmp_path / "d.png")
    _check_rgb(out, (2, 2))
    assert out[0, 0, 0] == 0 and out[0, 1, 0] == 255
    assert abs(int(out[1, 0, 0]) - 128) <= 1


def test_exif_rotated_jpeg_comes_back_upright(tmp_path):
    """Orientation 6 (rotate 90 degrees clockwise to view): a 40x20 stored image reads as 20 wide, 40 tall."""
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:10, :10] = (255, 0, 0)  # red block at the stored top-left
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[274] = 6
    image.save(tmp_path / "r.jpg", exif=exif, quality=95)
    out = read_image(tmp_path / "r.jpg")
    _check_rgb(out, (40, 20))
    # Rotating clockwise takes the stored top-left corner to the top-right.
    assert out[:8, -8:, 0].mean() > 200
    assert out[:8, :8, 0].mean() < 50


def test_truncated_jpeg_raises_naming_file(tmp_path):
    """A JPEG cut in half is a DataError naming the file."""
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    path = tmp_path / "cut.jpg"
    Image.fromarray(noise).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError) as info:
        read_image(path)
    assert str(path) in str(info.value)


def test_text_file_named_jpg_raises_naming_file(tmp_path):
    """A text file with a .jpg name is a DataError naming the file."""
    path = tmp_path / "fake.jpg"
    path.write_text("not an image\n")
    with pytest.raises(DataError) as info:
        read_image(path)
    assert str(path) in str(info.value)


def test_missing_file_raises_naming_file(tmp_path):
    """A missing file is a DataError (not FileNotFoundError) naming the file."""
    path = tmp_path / "absent.png"
    with pytest.raises(DataError, match="not found") as info:
        read_mask(path)
    assert str(path) in str(info.value)
