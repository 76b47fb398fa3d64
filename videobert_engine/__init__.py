"""VideoBERT engine: video + text -> one fused embedding, and text queries into the same space.

Pure PyTorch (plus PyAV for decoding); it imports nothing from Django.

    decode.py  PyAV clip sampling          c3d.py     C3D video tower
    text.py    WordPiece + BERT tower      joint.py   cross-modal transformer + fusion
    losses.py  self-supervised objectives  data.py    datasets / worker DataLoaders
    train.py   trainer + checkpoints       embed.py   batched inference (Embedder)
    bench.py   throughput benchmark        config.py  dataclass configs + presets
"""

from videobert_engine.errors import CheckpointError, EngineError, ModelVersionMismatch, UnreadableVideo

__version__ = "0.1.0"

__all__ = ["CheckpointError", "EngineError", "ModelVersionMismatch", "UnreadableVideo", "__version__"]
