"""Saving what the reader's training scripts train, in the form rag/read/ loads it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rag.models.weights import file_sha256
from rag.read.adapter import ADAPTER_INFO, ADAPTER_WEIGHTS


def save_adapter(model: Any, folder: Path, scale: float, info: dict[str, Any]) -> None:
    """Save the LoRA matrices peft trained in a sentence-transformers model (only them, in
    fp16, named by the layer they change) with their scale and sha256, as
    rag.read.adapter.ReaderEmbedder loads them."""
    from safetensors.torch import save_file

    state = {}
    for name, tensor in model.state_dict().items():
        if ".lora_A." in name or ".lora_B." in name:
            layer = name.split("base_model.model.", 1)[1].replace(".default.weight", "")
            state[layer] = tensor.detach().half().contiguous()  # e.g. encoder.layer.0.attention.self.query.lora_A
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / ADAPTER_WEIGHTS
    save_file(state, str(weights))
    info = {"sha256": file_sha256(weights), "scale": scale, **info}
    (folder / ADAPTER_INFO).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")


def trained_state(model: Any) -> dict[str, Any]:
    """The cross-encoder weights the training changes (everything but the frozen embeddings), in
    fp16, as rag.read.cross_encoder.Reader loads them."""
    return {
        name: tensor.detach().to("cpu").half().contiguous()
        for name, tensor in model.state_dict().items()
        if ".embeddings." not in name and ".pooler." not in name  # the pooler is unused
    }
