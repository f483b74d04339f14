"""What the driver needs of ``hwmoe build``'s output: ``DIR/image.bin`` and ``DIR/layout.json`` (the image, the
program's offset, the input and output regions and formats), and the one thing a host does with them per
image: write the quantised input's patches, run, read and dequantise the output.  The packing is the image
module's (the same code the Python model of the accelerator uses), never re-derived here."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..accel.image import ImageLayout, Region, input_words
from ..errors import UserError
from ..numerics.fixed import Fmt, to_float
from .core import Driver


@dataclass(frozen=True)
class Build:
    """A build directory, read and checked."""
    name: str
    image: bytes
    program: int
    layout: ImageLayout
    input: Region
    input_fmt: Fmt
    input_shape: tuple
    patch: int
    output: Region
    output_fmt: Fmt
    output_shape: tuple

    @classmethod
    def load(cls, directory) -> "Build":
        d = Path(directory)
        if not d.is_dir():
            raise UserError(f"{d}: no such build directory (hwmoe build -o {d} writes one)")
        try:
            image = (d / "image.bin").read_bytes()
            spec = json.loads((d / "layout.json").read_text())
        except (OSError, ValueError) as e:
            raise UserError(f"{d}: not a readable build ({e.__class__.__name__}: {getattr(e, 'filename', '') or e})"
                            ) from None
        return cls.from_json(str(d), image, spec)

    @classmethod
    def from_json(cls, name: str, image: bytes, spec: dict) -> "Build":
        """``image`` and the content of its layout.json (``hwmoe.accel.build.layout_json``)."""
        try:
            regions = {n: Region(n, r["offset"], r["rows"], r["cols"], r["container"], r["stride"],
                              bool(r.get("scratch", False)))
                       for n, r in spec["regions"].items()}
            layout = ImageLayout(regions, spec["size"])
            i, o = spec["input"], spec["output"]
            build = cls(name, bytes(image), int(spec["program"]), layout, regions[i["region"]],
                        Fmt.from_dict(i["fmt"]), tuple(i["shape"]), int(i["patch"]), regions[o["region"]],
                        Fmt.from_dict(o["fmt"]), tuple(o["shape"]))
        except (KeyError, TypeError, ValueError) as e:
            raise UserError(f"{name}: layout.json is not one hwmoe build writes ({e.__class__.__name__}: {e})"
                            ) from None
        if len(image) != layout.size:
            raise UserError(f"{name}: image.bin has {len(image)} bytes, layout.json says {layout.size}")
        return build

    def driver(self, top: str = "rtl") -> Driver:
        """The driver of this build's image on a device holding its ``top`` (``rtl`` or ``hls``: DIR/rtl/ or
        DIR/hls/ of the same build; one register map, the counters only on the RTL top)."""
        return Driver(self.image, self.program, top)

    def input_bytes(self, x: np.ndarray) -> bytes:
        """One float image -> the input region's bytes."""
        if tuple(np.shape(x)) != self.input_shape:
            raise UserError(f"input of shape {tuple(np.shape(x))}, the build {self.name} takes {self.input_shape}")
        return self.layout.pack(self.input, input_words(x, self.input_fmt, self.patch))

    def output_words(self, data: bytes) -> np.ndarray:
        """The output region's bytes -> the raw output words in the model's output shape."""
        return self.layout.unpack(self.output, data).reshape(self.output_shape)

    def infer(self, driver: Driver, x: np.ndarray):
        """Driver steps for one image on a loaded accelerator: returns (raw output words, Result); a run that
        ends in ERROR is refused."""
        result = yield from driver.run([(self.input.offset, self.input_bytes(x))],
                                       [(self.output.offset, self.output.size)])
        result.check(self.name)
        return self.output_words(result.data[0]), result

    def dequantize(self, raw: np.ndarray) -> np.ndarray:
        """Raw output words -> floats (what ``hwmoe run --precision P`` prints for the same model)."""
        return to_float(raw, self.output_fmt)
