"""PyTorch -> ONNX: a whole model or one encoder block, with either of torch's exporters."""
from __future__ import annotations

import contextlib
import io
import logging
import warnings

import onnx
import torch

from ..errors import UserError
from ..outputs import output_file
from .model import ModelConfig, MoEViT, build_model, sample_input

MIN_OPSET = 17
DYNAMO_MIN_OPSET = 18   # the dynamo exporter has no implementations below 18


def export_module(module: torch.nn.Module, example: torch.Tensor, path: str, opset: int = 17,
                  dynamo: bool = False) -> onnx.ModelProto:
    """Export ``module`` at batch 1 with static shapes, check the file with onnx.checker and return it.
    The file is written to a temporary name and renamed, so a failure leaves nothing half-written."""
    if opset < MIN_OPSET:
        raise UserError(f"opset {opset} is below the supported minimum {MIN_OPSET}")
    if dynamo:
        opset = max(opset, DYNAMO_MIN_OPSET)
    quiet = io.StringIO()
    with output_file(path) as tmp:
        with warnings.catch_warnings(), contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            warnings.simplefilter("ignore")
            logging.getLogger("torch.onnx").setLevel(logging.ERROR)
            torch.onnx.export(module, (example,), str(tmp), opset_version=opset, dynamo=dynamo,
                              input_names=["input"], output_names=["output"], external_data=False)
        model = onnx.load(str(tmp))
        onnx.checker.check_model(model, full_check=True)
    return model


def block_input(cfg: ModelConfig, seed: int = 0) -> torch.Tensor:
    """A token tensor [1, tokens, dim] with the statistics of the residual stream."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(1, cfg.tokens, cfg.dim, generator=gen)


def export_model(cfg: ModelConfig, path: str, seed: int = 0, weights: str | None = None,
                 block: int | None = None, opset: int = 17, dynamo: bool = False):
    """Export the whole model, or encoder block ``block``; returns (torch module, example input)."""
    model: MoEViT = build_model(cfg, seed, weights)
    if block is None:
        module, example = model, sample_input(cfg, seed)
    else:
        if not 0 <= block < cfg.depth:
            raise UserError(f"block {block} out of range 0..{cfg.depth - 1}")
        module, example = model.blocks[block], block_input(cfg, seed)
    export_module(module, example, path, opset, dynamo)
    return module, example
