"""Image lookup with the paper's 'image not found' convention.

``<image_dir>/<IMGID>.jpg``; a missing or unreadable file falls back to the dataset's default image
(``17_06_4705.jpg``, footnote 5 of the paper) or, when that is absent too, to a generated blank
image. Every fallback is counted so a run can report how many images were replaced.
"""
from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

from PIL import Image, ImageFile

from benchmark.corpora.reader import image_id_problem
from benchmark.errors import ConfigError

DEFAULT_IMAGE_ID = "17_06_4705"
ImageFile.LOAD_TRUNCATED_IMAGES = True  # as the authors' loader: accept truncated JPEGs


class ImageStore:
    """Resolves image ids to RGB PIL images and counts substitutions.

    ``stats`` has keys ``loaded``, ``missing`` (file absent), ``unreadable`` (file broken),
    ``default_used`` and ``blank_used``. Counts are per process (DataLoader workers keep their own).
    """

    def __init__(self, image_dir: str | Path | None, default_id: str = DEFAULT_IMAGE_ID,
                 blank_size: int = 224) -> None:
        self.image_dir = Path(image_dir) if image_dir else None
        self.default_id = default_id
        self.blank_size = blank_size
        self.stats: Counter[str] = Counter()
        self._lock = threading.Lock()

    def path(self, image_id: str | None) -> Path | None:
        """``<image_dir>/<image_id>.jpg``; an id that would leave the folder raises ``ConfigError``."""
        if not image_id or self.image_dir is None:
            return None
        problem = image_id_problem(image_id)
        path = self.image_dir / f"{image_id}.jpg"
        if problem or path.parent != self.image_dir:
            raise ConfigError(f"image id {image_id!r} {problem or 'would leave the image folder'}: refused")
        return path

    def _open(self, path: Path | None) -> Image.Image | None:
        if path is None or not path.is_file():
            return None
        try:
            with Image.open(path) as img:
                return img.convert("RGB")
        except Exception:  # noqa: BLE001 - any decoder error means "unreadable"
            return None

    def load(self, image_id: str | None) -> Image.Image:
        """The image for ``image_id``, or the default image, or a blank one.

        Raises only for an id that is a path (``../x``, ``/x``): the reader rejects those at their line.
        """
        path = self.path(image_id)
        img = self._open(path)
        with self._lock:
            if img is not None:
                self.stats["loaded"] += 1
                return img
            self.stats["missing" if path is None or not path.is_file() else "unreadable"] += 1
        img = self._open(self.path(self.default_id))
        with self._lock:
            if img is not None:
                self.stats["default_used"] += 1
                return img
            self.stats["blank_used"] += 1
        return Image.new("RGB", (self.blank_size, self.blank_size), (0, 0, 0))

    def content_key(self, image_id: str | None) -> str:
        """A cache key that changes when the file's content changes (path, size, mtime)."""
        path = self.path(image_id)
        if path is None or not path.is_file():
            return f"fallback:{self.default_id}"
        st = path.stat()
        return f"{path.resolve()}:{st.st_size}:{int(st.st_mtime_ns)}"

    def summary(self) -> dict[str, int]:
        return dict(self.stats)
