"""The tiny Qwen2 builder: a real model and tokenizer that load back with the Auto classes, ids unchanged."""

from __future__ import annotations

from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM, AutoTokenizer


def test_tokenizer_ids_survive_save_and_load(tiny_model_dir):
    loaded = AutoTokenizer.from_pretrained(tiny_model_dir)
    raw = Tokenizer.from_file(str(tiny_model_dir / "tokenizer.json"))
    text = "問題: ６５歳の男性。発熱を主訴に来院した。\n解説: 肺炎である。\n答え: a,c"
    assert type(loaded).__name__ == "Qwen2Tokenizer"
    assert loaded(text)["input_ids"] == raw.encode(text).ids
    assert loaded.decode(loaded(text)["input_ids"]) == text


def test_model_is_a_small_qwen2_that_generates(tiny_model_dir):
    import torch

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert model.config.model_type == "qwen2"
    assert sum(p.numel() for p in model.parameters()) < 2_000_000
    ids = tokenizer("問題:", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=5, do_sample=False)
    assert out.shape[1] == ids["input_ids"].shape[1] + 5
    assert torch.equal(out, model.generate(**ids, max_new_tokens=5, do_sample=False))
