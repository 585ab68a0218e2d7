"""The `medprefs corpus` commands end to end: exit codes, --json shapes, one-line errors, help for every option."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medprefs.cli import build_parser, main

FIXTURES = Path(__file__).parent / "fixtures" / "corpus"
IGAKUQA = str(FIXTURES / "igakuqa")
MESSY = str(FIXTURES / "messy" / "messy.jsonl")


def cli_json(capsys, *argv: str) -> tuple[int, object]:
    status = main(list(argv))
    out = capsys.readouterr().out
    return status, json.loads(out) if out.strip() else None


def test_ingest_json_summary(tmp_path, capsys):
    status, summary = cli_json(
        capsys, "corpus", "ingest", IGAKUQA, "--store", str(tmp_path), "--name", "igakuqa", "--json"
    )
    assert status == 0
    assert {"version", "name", "accepted", "rejected", "per_year", "rejects_file"} <= set(summary)
    assert (summary["name"], summary["accepted"], summary["rejected"]) == ("igakuqa", 10, 0)
    assert summary["per_year"] == {"2017": 6, "2018": 4} and summary["rejects_file"] is None


def test_ingest_prints_read_equals_accepted_plus_rejected(tmp_path, capsys):
    assert main(["corpus", "ingest", MESSY, "--store", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "read 16 = accepted 3 + rejected 13" in err and "messy.jsonl:2" in err


def test_strict_exits_2_with_one_line(tmp_path, capsys):
    assert main(["corpus", "ingest", MESSY, "--store", str(tmp_path), "--strict"]) == 2
    err = capsys.readouterr().err
    assert "medprefs: error: strict: 13 of 16 rows rejected" in err and "Traceback" not in err


def test_map_option_and_bad_map(tmp_path, capsys):
    path = tmp_path / "mine.jsonl"
    row = {"id": "111A1", "year": 2017, "q": "正しいのはどれか。", "choices": ["甲", "乙"], "answer": ["a"]}
    path.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    store = str(tmp_path / "store")
    status, summary = cli_json(
        capsys, "corpus", "ingest", str(path), "--store", store, "--map", "id=qid", "--map", "q=stem", "--json"
    )
    assert status == 0 and summary["accepted"] == 1
    assert main(["corpus", "ingest", str(path), "--store", store, "--map", "q"]) == 2
    assert "expected SRC=DST" in capsys.readouterr().err


def test_log_show_tag_diff_verify(tmp_path, capsys):
    store = str(tmp_path)
    _, first = cli_json(capsys, "corpus", "ingest", IGAKUQA, "--store", store, "--tag", "v1", "--json")
    edited = tmp_path / "edited.jsonl"
    rows = [json.loads(line) for line in (FIXTURES / "canonical" / "questions.jsonl").read_text("utf-8").splitlines()]
    rows[0]["stem"] += "。"
    edited.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    _, second = cli_json(capsys, "corpus", "ingest", str(edited), "--store", store, "--json")
    assert second["version"] != first["version"]

    status, log = cli_json(capsys, "corpus", "log", "jmle", "--store", store, "--json")
    assert status == 0 and [event["version"] for event in log["jmle"]["events"] if event["event"] == "ingest"] == [
        first["version"],
        second["version"],
    ]
    status, shown = cli_json(capsys, "corpus", "show", "jmle@v1", "--store", store, "--json")
    assert status == 0 and shown["manifest"]["id"] == first["version"] and shown["tags"] == ["v1"]
    assert main(["corpus", "tag", f"jmle@{second['version'][:8]}", "v2", "--store", store]) == 0
    capsys.readouterr()
    status, diff = cli_json(capsys, "corpus", "diff", "jmle@v1", "jmle@v2", "--store", store, "--json")
    assert status == 0 and [item["qid"] for item in diff["changed"]] == [rows[0]["qid"]]
    assert set(diff["changed"][0]["fields"]) == {"stem", "original_stem"}
    status, checks = cli_json(capsys, "corpus", "verify", "--store", store, "--json")
    assert status == 0 and all(check["ok"] for check in checks) and len(checks) == 2


def test_verify_exits_1_naming_the_damaged_file(tmp_path, capsys):
    _, summary = cli_json(capsys, "corpus", "ingest", IGAKUQA, "--store", str(tmp_path), "--json")
    manifest = Path(summary["version_dir"]) / "manifest.json"
    manifest.chmod(0o644)
    data = json.loads(manifest.read_text(encoding="utf-8"))
    data["counts"]["rows"] = 11
    manifest.write_text(json.dumps(data), encoding="utf-8")
    assert main(["corpus", "verify", "jmle", "--store", str(tmp_path)]) == 1
    assert str(manifest) in capsys.readouterr().err


def test_unknown_tag_is_one_line_listing_tags(tmp_path, capsys):
    main(["corpus", "ingest", IGAKUQA, "--store", str(tmp_path), "--tag", "v1"])
    capsys.readouterr()
    assert main(["corpus", "show", "jmle@v7", "--store", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no tag or version 'v7'; tags: v1 ->" in err[0]


def _subcommands():
    corpus = build_parser()._subparsers._group_actions[0].choices["corpus"]
    return corpus._subparsers._group_actions[0].choices


@pytest.mark.parametrize("command", ["ingest", "log", "show", "diff", "verify", "tag"])
def test_every_option_has_help(command):
    parser = _subcommands()[command]
    for action in parser._actions:
        assert action.help, f"corpus {command}: {action.dest} has no help"
