"""Tiny real Qwen2 model and byte-level BPE tokenizer, built locally from a config (demo and tests; nothing downloaded)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from medprefs.errors import require

EOS = "<|endoftext|>"
# Qwen2Tokenizer replaces the saved pre-tokenizer with this regex and NFC on load: training with the same pieces is
# what keeps token ids identical between the tokenizer we save and the one AutoTokenizer loads back.
QWEN2_PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)


@dataclass
class TinyModelConfig:
    """Shape of the tiny model; the defaults train in seconds on 2 CPU cores."""

    vocab_size: int = 3000
    hidden_size: int = 64
    intermediate_size: int = 192
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 4096
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.vocab_size >= 300, "tiny_model.vocab_size must be >= 300 (256 bytes + specials + merges)")
        require(self.hidden_size % self.num_attention_heads == 0, "tiny_model.hidden_size must divide by heads")
        require(
            self.num_attention_heads % self.num_key_value_heads == 0,
            "tiny_model.num_attention_heads must be a multiple of num_key_value_heads",
        )


def train_tokenizer(texts: Iterable[str], vocab_size: int):
    """Train a byte-level BPE with Qwen2's normaliser and pre-tokenizer; returns a PreTrainedTokenizerFast-compatible
    `tokenizers.Tokenizer`."""
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, trainers
    from tokenizers.models import BPE

    tokenizer = Tokenizer(BPE(unk_token=None, continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False))
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def build_tiny_model(out_dir: str | Path, texts: Iterable[str], config: TinyModelConfig | None = None) -> Path:
    """Train the tokenizer on `texts`, build a randomly initialised Qwen2 from a config, save both to `out_dir`."""
    import torch
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    config = config or TinyModelConfig()
    out_dir = Path(out_dir)
    raw = train_tokenizer(texts, config.vocab_size)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, eos_token=EOS, pad_token=EOS, unk_token=EOS)
    tokenizer.model_max_length = config.max_position_embeddings
    torch.manual_seed(config.seed)
    model_config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        num_key_value_heads=config.num_key_value_heads,
        max_position_embeddings=config.max_position_embeddings,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    model = Qwen2ForCausalLM(model_config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    _mark_as_qwen2_tokenizer(out_dir)
    return out_dir


def _mark_as_qwen2_tokenizer(out_dir: Path) -> None:
    """Name Qwen2Tokenizer in tokenizer_config.json so AutoTokenizer loads the same class a real Qwen2 checkpoint uses."""
    import json

    path = out_dir / "tokenizer_config.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["tokenizer_class"] = "Qwen2Tokenizer"
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
