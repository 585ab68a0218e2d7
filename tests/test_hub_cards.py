"""Dataset and model cards: Hub metadata, provenance body, leakage overrides, lineage with shas."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import DatasetCard, ModelCard

from medprefs.errors import MedprefsError
from medprefs.hub import PublishConfig, render_dataset_card, render_model_card, resolve_dataset
from medprefs.hub.cards import size_category
from medprefs.hub.release import read_layout
from medprefs.hub.testing import leakage_record, write_corpus_version, write_pairs_dataset


@pytest.fixture()
def pairs_dir(tmp_path: Path) -> Path:
    return write_pairs_dataset(tmp_path / "pairs", variant="v1")


def test_dataset_card_metadata_is_hub_ready(pairs_dir: Path) -> None:
    layout = read_layout(pairs_dir)
    card = render_dataset_card(layout, PublishConfig(repo="org/prefs", tag="v1", license="cc-by-4.0"), leakage_record())
    data = DatasetCard(str(card)).data.to_dict()  # what the Hub parses back from README.md
    assert data["license"] == "cc-by-4.0"
    assert data["language"] == ["ja"]
    assert "text-generation" in data["task_categories"]
    assert data["size_categories"] == ["n<1K"]
    assert data["source_datasets"] == ["extended"]
    assert {"medprefs", "preference", "dpo"} <= set(data["tags"])
    assert data["configs"] == [
        {
            "config_name": "default",
            "data_files": [
                {"split": "train", "path": "data/train.parquet"},
                {"split": "validation", "path": "data/validation.parquet"},
            ],
        }
    ]


def test_dataset_card_body_carries_provenance_and_counts(pairs_dir: Path) -> None:
    layout = read_layout(pairs_dir)
    leakage = leakage_record(flagged=0)
    text = str(render_dataset_card(layout, PublishConfig(repo="org/prefs", tag="v1"), leakage))
    assert 'load_dataset("org/prefs", revision="v1")' in text
    assert "hf://org/prefs@v1" in text
    assert "| Leakage verdict | `pass` |" in text
    assert leakage["report_sha256"] in text
    assert "| sources.corpus.name | `sample` |" in text and "| sources.corpus.version_id |" in text
    assert "| sources.responses.manifest_sha256 |" in text and "| sources.labels.sha256 |" in text
    # the generator comes from the responses manifest the pairs were built from (its sha256 checked)
    assert "| generator.model.path | `tiny-qwen2` |" in text
    assert "| generator.sampling.temperature | `0.8` |" in text
    # counts come from the data: 12 rows over 3 years, 4 per year, the validation split holds the *A01 questions
    assert "| 2016 | 3 | 1 |" in text
    assert "| gt>chosen | 3 | 3 |" in text
    assert "> [!WARNING]" not in text


def test_generator_is_not_claimed_when_the_responses_manifest_changed(pairs_dir: Path) -> None:
    responses = pairs_dir.parent / "pairs-responses" / "manifest.json"
    responses.write_text(responses.read_text(encoding="utf-8").replace("0.8", "1.3"), encoding="utf-8")
    text = str(render_dataset_card(read_layout(pairs_dir), PublishConfig(to_dir="out"), leakage_record()))
    assert "generator." not in text


def test_override_reason_is_on_the_card(pairs_dir: Path) -> None:
    layout = read_layout(pairs_dir)
    record = {**leakage_record("fail", flagged=3), "override": "manual review found paraphrases only"}
    text = str(render_dataset_card(layout, PublishConfig(to_dir="out", allow_leakage="x"), record))
    assert "Published without a passing leakage verdict" in text
    assert "manual review found paraphrases only" in text
    assert "| Items flagged by the leakage guard | 3 |" in text
    assert 'load_dataset("parquet", data_files={"train": "out/data/train.parquet"' in text


def test_corpus_card_has_year_counts_and_original_source(tmp_path: Path) -> None:
    layout = read_layout(write_corpus_version(tmp_path / "corpus"))
    card = render_dataset_card(layout, PublishConfig(repo="org/corpus"), leakage_record())
    assert card.data.source_datasets == ["original"]
    assert card.data.configs[0]["data_files"] == [{"split": "train", "path": "data/train.parquet"}]
    assert "| 2017 | 2 |" in str(card)
    assert "Per pair type" not in str(card)


def test_custom_template_replaces_the_packaged_one(pairs_dir: Path, tmp_path: Path) -> None:
    template = tmp_path / "card.md"
    template.write_text("---\n{{ card_data }}\n---\n# Custom {{ kind }} {{ content_id[:8] }}\n", encoding="utf-8")
    card = render_dataset_card(
        read_layout(pairs_dir), PublishConfig(to_dir="x", card_template=str(template)), leakage_record()
    )
    assert card.text.strip().startswith("# Custom pairs ")
    with pytest.raises(MedprefsError, match="card template not found"):
        render_dataset_card(
            read_layout(pairs_dir), PublishConfig(to_dir="x", card_template=str(tmp_path / "no.md")), leakage_record()
        )


def test_size_categories() -> None:
    assert [size_category(n) for n in (0, 999, 1000, 50_000, 999_999)] == [
        "n<1K",
        "n<1K",
        "1K<n<10K",
        "10K<n<100K",
        "100K<n<1M",
    ]


def test_model_card_lists_every_dataset_with_its_sha(pairs_dir: Path, tmp_path: Path) -> None:
    local = resolve_dataset(pairs_dir)
    hub_entry = {
        "kind": "pairs",
        "repo": "org/prefs",
        "revision": "v1",
        "role": "rpo-pairs",
        "sha": "a" * 40,
        "leakage": {"verdict": "fail", "override": "reviewed"},
    }
    card = render_model_card(
        "Qwen/Qwen2.5-0.5B",
        [local, hub_entry],
        {"rpo": {"alpha": 1.0}},
        {"loss": 0.25},
        extra="## Notes\nSmoke run.",
        allow_leakage=None,
    )
    parsed = ModelCard(str(card))
    assert parsed.data.base_model == "Qwen/Qwen2.5-0.5B"
    assert parsed.data.datasets == ["org/prefs"]
    assert f"medprefs-lineage:org/prefs@{'a' * 40}" in parsed.data.tags
    text = parsed.text
    assert f"| org/prefs | pairs | rpo-pairs | `v1` | `{'a' * 40}` | `fail` | reviewed |" in text
    assert f"`{local.content_id}`" in text and str(pairs_dir) in text
    assert f"hf://org/prefs@{'a' * 40}" in text
    assert "Dataset org/prefs was published or trained on with a leakage override: reviewed" in text
    assert "| loss | 0.2500 |" in text and '"alpha": 1.0' in text and "Smoke run." in text


def test_model_card_of_a_local_base_model(pairs_dir: Path, tmp_path: Path) -> None:
    card = render_model_card(
        str(tmp_path / "tiny-model"), [resolve_dataset(pairs_dir)], {}, {}, allow_leakage="demo on the sample corpus"
    )
    assert card.data.base_model is None  # a folder is not a Hub model id; the body names it instead
    assert card.data.datasets is None
    assert str(tmp_path / "tiny-model") in card.text and "(a local model folder)" in card.text
    assert "Trained without a passing leakage verdict; reason given: demo on the sample corpus" in card.text
    with pytest.raises(MedprefsError, match="no training dataset"):
        render_model_card("Qwen/Qwen2.5-0.5B", [], {}, {})


def test_model_card_of_fully_fine_tuned_weights_is_not_an_adapter_card(pairs_dir: Path) -> None:
    card = render_model_card("Qwen/Qwen2.5-0.5B", [resolve_dataset(pairs_dir)], {}, {}, full_model=True)
    assert card.data.library_name == "transformers" and "lora" not in card.data.tags
    assert "LoRA adapter" not in card.text and "A model fully fine-tuned with medprefs on" in card.text
    adapter = render_model_card("Qwen/Qwen2.5-0.5B", [resolve_dataset(pairs_dir)], {}, {})
    assert adapter.data.library_name == "peft" and "A LoRA adapter trained with medprefs on" in adapter.text
