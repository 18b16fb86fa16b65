"""Executors: where a sweep's units of work train (local worker processes by default, or a Ray cluster)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from initdash.config import ExperimentConfig
    from initdash.sweep import Executor


def connect(config: ExperimentConfig) -> Executor:
    """The executor the config asks for, connected (Ray's errors are one-line UserErrors)."""
    if config.executor == "ray":
        from initdash.executors.ray import RayExecutor

        return RayExecutor.connect(config.ray_address, gpu=config.device == "cuda")
    from initdash.executors.local import LocalExecutor

    return LocalExecutor()
