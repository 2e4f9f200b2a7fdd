"""A folder of images as a data source: `images("pics", size=[32, 32], color="gray")`.

Each subfolder is a class (classes are the sorted subfolder names, ids 0, 1, ...); its image
files (.png .jpg .jpeg .bmp .gif .webp; other files and hidden names are skipped) are its
examples. Every image is converted to grayscale (`gray`, 1 channel) or RGB (`rgb`, 3),
resized to `size` (height, width) and scaled to [0, 1]: the field `x` is f32[B, H, W, C] and
`y` the class ids, i32[B].

The folder is read under the file-access policy (nndsl.paths): it and every image must lie
under the spec's read roots; the count, each file's size, each image's pixel count and the
total array size are checked before any pixel is decoded. Pillow is imported only here, and
only when images are loaded (`check` needs only the folder's listing).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nndsl import paths
from nndsl.data.catalog import B
from nndsl.data.encoding import Encoding
from nndsl.data.table import DataError
from nndsl.ir import TensorType

SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
CHANNELS = {"gray": 1, "rgb": 3}
MAX_IMAGES = 200_000
IMAGE_MAX_BYTES = 64 * 2**20
MAX_PIXELS = 40_000_000  # one image's width x height before resizing
MAX_ARRAY_BYTES = 2**31  # the decoded, resized data set
MAX_SIDE = 4096
FOLDER, PILLOW, OPTION = "E135", "E136", "E134"


def check_options(options: dict) -> None:
    """`size` two whole numbers in [1, 4096], `color` gray or rgb (E134)."""
    size, color = options["size"], options["color"]
    if not (isinstance(size, (list, tuple)) and len(size) == 2 and
            all(isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= MAX_SIDE
                for s in size)):
        raise DataError(OPTION, f"images: `size` must be [height, width], two whole numbers "
                        f"from 1 to {MAX_SIDE}", "e.g. size=[32, 32]")
    if color not in CHANNELS:
        raise DataError(OPTION, f"images: `color` must be \"gray\" or \"rgb\", got {color!r}")


def fields(options: dict) -> dict[str, TensorType]:
    """x: f32[B, H, W, C], y: i32[B]: known from the options alone."""
    height, width = options["size"]
    return {"x": TensorType((B, height, width, CHANNELS[options["color"]]), "f32"),
            "y": TensorType((B,), "i32")}


def listing(folder: Path, name: str, from_spec: bool = True) -> dict[str, list[Path]]:
    """The image files of each class subfolder, by class name in sorted order; refuses a
    folder outside the read roots, without classes or images, or with too many images."""
    root = paths.inside_roots(folder, "image folder") if from_spec else Path(folder)
    if not root.is_dir():
        raise DataError(FOLDER, f"{name} is not a folder", "images(...) takes a folder with "
                        "one subfolder of images per class")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(FOLDER, f"{name} has no class subfolders", "put each class's images "
                        "in a subfolder named after the class: pics/cat/1.png, pics/dog/2.png")
    found = {c: image_files(root / c) for c in classes}
    count = sum(len(v) for v in found.values())
    empty = [c for c, files in found.items() if not files]
    if empty:
        raise DataError(FOLDER, f"{name}/{empty[0]} holds no images ({', '.join(SUFFIXES)})")
    if count > MAX_IMAGES:
        raise DataError(FOLDER, f"{name} holds {count:,} images, over the limit of "
                        f"{MAX_IMAGES:,}")
    return found


def image_files(folder: Path) -> list[Path]:
    """The image files directly in `folder`, sorted by name."""
    return sorted(p for p in folder.iterdir()
                  if p.suffix.lower() in SUFFIXES and not p.name.startswith("."))


def load(folder: Path, name: str, options: dict, from_spec: bool = True,
         ) -> tuple[dict[str, np.ndarray], Encoding]:
    """Every image as x in [0, 1] and its class id as y, and the encoding (class names)."""
    check_options(options)
    found = listing(folder, name, from_spec)
    x = decode([p for files in found.values() for p in files], options, from_spec)
    y = np.concatenate([np.full(len(files), i, np.int32)
                        for i, files in enumerate(found.values())])
    enc = Encoding("images", labels={"y": list(found)},
                   options={"size": list(options["size"]), "color": options["color"]})
    return {"x": x, "y": y}, enc


def decode(files: list[Path], options: dict, from_spec: bool = True) -> np.ndarray:
    """The images, converted, resized and scaled to [0, 1]: f32[N, H, W, C]."""
    try:
        from PIL import Image
    except ImportError:
        raise DataError(PILLOW, "images(...) needs Pillow, which is not installed",
                        "pip install 'nndsl[images]'") from None
    height, width = options["size"]
    channels = CHANNELS[options["color"]]
    if len(files) * height * width * channels * 4 > MAX_ARRAY_BYTES:
        raise DataError(FOLDER, f"{len(files):,} images of {height}x{width}x{channels} make "
                        f"more than {paths.human_size(MAX_ARRAY_BYTES)}", "use a smaller size")
    out = np.empty((len(files), height, width, channels), np.float32)
    for i, path in enumerate(files):
        out[i] = _decode_one(Image, path, options["color"], (width, height), from_spec)
    return out


def _decode_one(image_module, path: Path, color: str, size, from_spec: bool) -> np.ndarray:
    checked = paths.inside_roots(path, "image") if from_spec else path
    with paths.open_regular(checked, IMAGE_MAX_BYTES, "image") as raw:
        try:
            with image_module.open(raw) as img:
                too_big = img.width * img.height > MAX_PIXELS
                if not too_big:
                    img = img.convert("L" if color == "gray" else "RGB").resize(
                        size, image_module.Resampling.BICUBIC)
                    array = np.asarray(img, np.float32) / 255.0
        except (OSError, SyntaxError, ValueError, image_module.DecompressionBombError):
            raise DataError(FOLDER, f"{path} is not an image Pillow can read") from None
    if too_big:
        raise DataError(FOLDER, f"{path} has more than {MAX_PIXELS:,} pixels")
    return array.reshape(size[1], size[0], -1)
