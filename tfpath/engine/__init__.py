"""The streaming, batched path engine (see :mod:`tfpath.engine.loop`) and its evaluators."""
from tfpath.engine.evaluators import CallbackEvaluator, ModelEvaluator
from tfpath.engine.loop import (AUTO_CHUNK_BYTES, AUTO_CHUNK_MAX_ROWS, LoopKey, PathResult,
                                auto_rows, evaluate_points, integrate)

__all__ = ["CallbackEvaluator", "ModelEvaluator", "AUTO_CHUNK_BYTES", "AUTO_CHUNK_MAX_ROWS",
           "LoopKey", "PathResult", "auto_rows", "evaluate_points", "integrate"]
