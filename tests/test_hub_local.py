"""Publishing to a local release folder and resolving local references: same layout, gate, immutability, config."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from medprefs.cli import main
from medprefs.config import from_dict
from medprefs.corpus import CorpusStore
from medprefs.errors import LeakageError, MedprefsError
from medprefs.hub import PublishConfig, lineage_entry, parse_hub_ref, publish, resolve_dataset
from medprefs.hub.testing import leakage_record, write_corpus_version, write_pairs_dataset
from medprefs.manifest import read_manifest


def test_release_folder_has_the_hub_layout_and_resolves_to_the_same_rows(tmp_path: Path) -> None:
    source = write_pairs_dataset(tmp_path / "pairs")
    result = publish(source, PublishConfig(to_dir=str(tmp_path / "release"), tag="v1"))
    release = tmp_path / "release"
    assert sorted(p.relative_to(release).as_posix() for p in release.rglob("*") if p.is_file()) == [
        "README.md",
        "data/train.parquet",
        "data/validation.parquet",
        "manifest.json",
    ]
    assert result.card_path == str(release / "README.md") and result.ref == str(release)
    resolved = resolve_dataset(release)
    assert resolved.sha == result.sha == resolved.content_id == resolve_dataset(source).content_id
    assert resolved.repo is None and resolved.kind == "pairs" and resolved.revision == "local"
    for split in ("train", "validation"):
        assert resolved.frame(split).equals(pl.read_parquet(source / "data" / f"{split}.parquet"))
    manifest = read_manifest(release)
    assert manifest["kind"] == "pairs" and manifest["leakage"]["verdict"] == "pass"
    assert manifest["release"]["tag"] == "v1" and manifest["release"]["content_id"] == result.content_id
    assert manifest["release"]["files"]["data/train.parquet"]["rows"] == 9
    entry = lineage_entry(resolved)
    assert entry["sha"] == result.sha and entry["path"] == str(release)
    assert entry["corpus_version"].startswith("sample@") and entry["leakage"]["verdict"] == "pass"
    assert manifest["generator"]["sampling"]["temperature"] == 0.8  # carried into the release from the responses run


@pytest.mark.parametrize("record", [None, leakage_record("fail", flagged=2)], ids=["missing", "failing"])
def test_publish_refuses_without_a_passing_verdict(tmp_path: Path, record: dict | None) -> None:
    source = write_pairs_dataset(tmp_path / "pairs", leakage=record or {})
    if record is None:
        manifest = read_manifest(source)
        del manifest["leakage"]
        (source / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(LeakageError, match="--allow-leakage"):
        publish(source, PublishConfig(to_dir=str(tmp_path / "release")))
    assert not (tmp_path / "release").exists()


def test_publish_refuses_evaluation_years_behind_a_passing_verdict(tmp_path: Path) -> None:
    # pairs built from the unfiltered corpus with a passing report: the verdict passes, the rows are eval questions
    source = write_pairs_dataset(tmp_path / "pairs", years=(2016, 2017, 2019))
    with pytest.raises(LeakageError, match="4 row.* after the leakage cutoff 2017"):
        publish(source, PublishConfig(to_dir=str(tmp_path / "release")))
    assert not (tmp_path / "release").exists()
    reason = "2019 kept on purpose for an ablation"
    publish(source, PublishConfig(to_dir=str(tmp_path / "release"), allow_leakage=reason))
    recorded = read_manifest(tmp_path / "release")["leakage"]
    assert (recorded["verdict"], recorded["override"], recorded["rows_after_cutoff"]) == ("pass", reason, 4)
    assert reason in (tmp_path / "release" / "README.md").read_text(encoding="utf-8")


def test_override_reason_goes_into_card_and_manifest(tmp_path: Path) -> None:
    source = write_pairs_dataset(tmp_path / "pairs", leakage=leakage_record("fail", flagged=2))
    reason = "flagged items are shared boilerplate, reviewed by hand"
    publish(source, PublishConfig(to_dir=str(tmp_path / "release"), allow_leakage=reason))
    assert read_manifest(tmp_path / "release")["leakage"]["override"] == reason
    assert reason in (tmp_path / "release" / "README.md").read_text(encoding="utf-8")
    assert read_manifest(source)["leakage"]["override"] is None  # the source folder is never modified
    # training on the release is gated again, and the refusal says how many items the guard flagged
    from medprefs.train.run import gate_inputs

    entry = lineage_entry(resolve_dataset(tmp_path / "release"))
    assert entry["leakage"]["flagged"] == 2
    with pytest.raises(LeakageError, match=r"\(2 training item\(s\) flagged"):
        gate_inputs([entry], None)


def test_release_folders_are_immutable(tmp_path: Path) -> None:
    target = str(tmp_path / "release")
    first = publish(write_pairs_dataset(tmp_path / "a", variant="v1"), PublishConfig(to_dir=target, tag="v1"))
    again = publish(write_pairs_dataset(tmp_path / "b", variant="v1"), PublishConfig(to_dir=target))
    assert again.sha == first.sha and again.tag == "v1"  # same rows: nothing to do
    assert publish(write_pairs_dataset(tmp_path / "b", variant="v1"), PublishConfig(to_dir=target, tag="v1")).tag == "v1"
    with pytest.raises(MedprefsError, match="already there, tagged v1; a local release cannot be re-tagged v2"):
        publish(write_pairs_dataset(tmp_path / "b", variant="v1"), PublishConfig(to_dir=target, tag="v2"))
    with pytest.raises(MedprefsError, match="already holds a different release"):
        publish(write_pairs_dataset(tmp_path / "c", variant="v2"), PublishConfig(to_dir=target))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(MedprefsError, match="already holds other files"):
        publish(tmp_path / "a", PublishConfig(to_dir=str(tmp_path / "other")))
    assert not list(tmp_path.glob(".*staging*"))


def test_corpus_version_is_released_as_a_train_split(tmp_path: Path) -> None:
    corpus = write_corpus_version(tmp_path / "corpus")  # the leakage filter's version: 3 questions up to 2017
    publish(corpus, PublishConfig(to_dir=str(tmp_path / "release")))
    resolved = resolve_dataset(tmp_path / "release")
    assert resolved.kind == "corpus" and list(resolved.files) == ["train"]
    assert resolved.files["train"] == tmp_path / "release" / "data" / "train.parquet"
    assert resolved.frame().equals(pl.read_parquet(corpus / "questions.parquet")) and resolved.frame().height == 3
    assert resolve_dataset(corpus).content_id == resolved.content_id
    entry = lineage_entry(resolved)
    assert entry["corpus_version"] == f"sample@{corpus.name}" and entry["leakage"]["verdict"] == "pass"
    # the passing rescan's report names the stored content, so the pairs stage can check it belongs to this corpus
    rescan = json.loads((corpus.parents[1] / "leakage" / corpus.name / "rescan" / "report.json").read_text())
    assert rescan["sources"]["train"]["content_sha256"] == read_manifest(corpus)["content_sha256"]
    assert rescan["sources"]["train"]["version"] == corpus.name


def test_an_unchecked_corpus_version_is_refused_and_a_clean_one_passes_once_filtered(tmp_path: Path) -> None:
    from medprefs.corpus import IngestConfig, ingest, load_corpus
    from medprefs.leakage import LeakageConfig, filter_and_store, split_by_year

    unchecked = write_corpus_version(tmp_path / "corpus", checked=False)
    with pytest.raises(LeakageError, match="has no leakage verdict"):
        publish(unchecked, PublishConfig(to_dir=str(tmp_path / "r1")))
    # a corpus of training years only, with nothing near the evaluation set: the filter drops nothing, so the
    # passing version is the ingested one itself (same content, same id) and its gate record is kept beside it
    train_only = pl.read_parquet(unchecked / "questions.parquet").filter(pl.col("year") <= 2017)
    source = tmp_path / "train.parquet"
    train_only.write_parquet(source)
    store = tmp_path / "corpus" / "store"
    version = ingest(IngestConfig(paths=[str(source)], name="clean", store=str(store)))
    evaluation = split_by_year(load_corpus(f"sample@{unchecked.name}", store).questions, LeakageConfig())[1]
    with pytest.raises(LeakageError, match="has no leakage verdict"):
        publish(version.version_dir, PublishConfig(to_dir=str(tmp_path / "r2")))
    outcome = filter_and_store(f"clean@{version.version_id}", evaluation, LeakageConfig(), store=store, tag="checked")
    assert outcome.version_id == version.version_id and not outcome.filtered.dropped
    assert load_corpus("clean@checked", store).version_id == version.version_id
    assert [e["event"] for e in CorpusStore(store).history("clean")][-2:] == ["leakage-filter", "tag"]
    publish(version.version_dir, PublishConfig(to_dir=str(tmp_path / "r3")))
    released = resolve_dataset(tmp_path / "r3")
    assert released.manifest["leakage"]["report_sha256"] == outcome.rescan.report_sha256
    # the record names this content: copied onto another version's folder it says nothing about that version
    gate_file = store / "clean" / "leakage" / version.version_id / "gate.json"
    other = store / "sample" / "leakage" / unchecked.name / "gate.json"
    other.parent.mkdir(parents=True, exist_ok=True)
    other.write_bytes(gate_file.read_bytes())
    with pytest.raises(LeakageError, match="has no leakage verdict"):
        publish(unchecked, PublishConfig(to_dir=str(tmp_path / "r4")))


def test_tampered_release_is_detected(tmp_path: Path) -> None:
    publish(write_pairs_dataset(tmp_path / "pairs"), PublishConfig(to_dir=str(tmp_path / "release")))
    path = tmp_path / "release" / "data" / "train.parquet"
    pl.read_parquet(path).head(3).write_parquet(path)
    with pytest.raises(MedprefsError, match="does not match the release manifest"):
        resolve_dataset(tmp_path / "release")
    publish(write_pairs_dataset(tmp_path / "pairs2"), PublishConfig(to_dir=str(tmp_path / "partial")))
    (tmp_path / "partial" / "data" / "validation.parquet").unlink()  # a partial copy: one split gone
    with pytest.raises(MedprefsError, match="data/validation.parquet missing, though the release manifest lists it"):
        resolve_dataset(tmp_path / "partial")


def test_bad_inputs_are_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(MedprefsError, match="no such dataset folder"):
        resolve_dataset(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MedprefsError, match="not a dataset folder"):
        resolve_dataset(tmp_path / "empty")
    (tmp_path / "empty" / "manifest.json").write_text('{"kind": "responses"}', encoding="utf-8")
    with pytest.raises(MedprefsError, match="kind 'responses' is not a dataset medprefs publishes or trains on"):
        resolve_dataset(tmp_path / "empty")  # pull and training get here too: not a word about publishing only
    source = write_pairs_dataset(tmp_path / "pairs")
    pl.read_parquet(source / "data" / "train.parquet").drop("rejected").write_parquet(source / "data" / "train.parquet")
    with pytest.raises(MedprefsError, match="field 'rejected': missing column"):
        resolve_dataset(source)


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("hf://org/prefs@v1", ("org/prefs", "v1")),
        ("hf://datasets/org/prefs@" + "a" * 40, ("org/prefs", "a" * 40)),
        ("hf://org/prefs", ("org/prefs", "main")),
        ("hf://org/prefs@refs/pr/1", ("org/prefs", "refs/pr/1")),
    ],
)
def test_parse_hub_ref(ref: str, expected: tuple[str, str]) -> None:
    assert parse_hub_ref(ref) == expected


@pytest.mark.parametrize("ref", ["hf://prefs@v1", "hf://org/pre fs", "hf://org/a--b@v1", "hf://"])
def test_parse_hub_ref_rejects(ref: str) -> None:
    with pytest.raises(MedprefsError, match="expected hf://ORG/NAME@REVISION"):
        parse_hub_ref(ref)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({}, "exactly one of repo"),
        ({"repo": "org/x", "to_dir": "out"}, "exactly one of repo"),
        ({"repo": "noslash"}, "expected ORG/NAME"),
        ({"to_dir": "out", "tag": "v 1"}, "not a valid tag name"),
        ({"to_dir": "out", "tag": "a" * 40}, "not a valid tag name"),
        ({"to_dir": "out", "revision": "main..x"}, "not a valid branch name"),
        ({"to_dir": "out", "allow_leakage": "  "}, "needs a reason"),
        ({"to_dir": "out", "licence": "mit"}, "unknown key"),
    ],
)
def test_publish_config_validation(section: dict, message: str) -> None:
    with pytest.raises(MedprefsError, match=message):
        from_dict(PublishConfig, section, "publish")


def test_pipeline_section_loads() -> None:
    config = from_dict(PublishConfig, {"to_dir": "runs/demo/release", "tag": "demo", "tags": ["sample"]}, "publish")
    assert config.to_dir == "runs/demo/release" and config.revision == "main" and config.license == "other"


def test_cli_publish_to_dir_and_pull(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_pairs_dataset(tmp_path / "pairs")
    assert main(["publish", str(source), "--to-dir", str(tmp_path / "release"), "--tag", "v1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["tag"] == "v1" and result["ref"] == str(tmp_path / "release")
    assert main(["pull", str(tmp_path / "release"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sha"] == result["sha"]
    source_fail = write_pairs_dataset(tmp_path / "bad", leakage=leakage_record("fail", flagged=1))
    assert main(["publish", str(source_fail), "--to-dir", str(tmp_path / "r2")]) == 2
    assert "failed the leakage check" in capsys.readouterr().err


def test_redact_masks_the_token_and_token_like_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    from medprefs.hub.client import redact

    monkeypatch.setenv("HF_TOKEN", "plain-secret-value")
    text = redact("sent plain-secret-value, hf_abcdefghijkl0 and Authorization: Bearer xyz.123 to the Hub")
    assert "plain-secret" not in text and "hf_abcdefghijkl0" not in text and "xyz.123" not in text
    assert text.endswith("to the Hub")


@pytest.mark.parametrize(("options", "message"), [({"revision": "dev"}, "publish.revision names a Hub branch"),
                                                  ({"private": True}, "publish.private applies to a Hub repo")])
def test_hub_only_options_with_a_local_release_folder_are_refused(tmp_path: Path, options, message) -> None:
    with pytest.raises(MedprefsError, match=message):
        PublishConfig(to_dir=str(tmp_path / "release"), **options)
    assert PublishConfig(repo="org/prefs", **options).repo == "org/prefs"  # where they mean something
