"""merge_adapter: the merged model folder computes what base + LoRA adapter computes."""

from __future__ import annotations

import json

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

from medprefs.train import merge_adapter


def test_merged_folder_matches_base_plus_adapter(tiny_model_dir, tmp_path):
    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                           LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    model.save_pretrained(tmp_path / "adapter")

    merged_dir = merge_adapter(str(tiny_model_dir), tmp_path / "adapter", tmp_path / "merged")

    ids = AutoTokenizer.from_pretrained(merged_dir)("問題: 発熱の原因は", return_tensors="pt")["input_ids"]
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        plain = base(ids).logits
        with_adapter = PeftModel.from_pretrained(base, str(tmp_path / "adapter"))(ids).logits
        merged = AutoModelForCausalLM.from_pretrained(merged_dir)(ids).logits
    assert not torch.allclose(plain, with_adapter, atol=1e-4)  # the adapter really changes the model
    assert torch.allclose(merged, with_adapter, atol=1e-4)
    assert not (merged_dir / "adapter_config.json").exists()
    manifest = json.loads((merged_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["merged_from"] == {"base_weights": str(tiny_model_dir), "adapter": str(tmp_path / "adapter"),
                                       "adapter_manifest_sha256": None}  # a bare PEFT adapter has no medprefs manifest
