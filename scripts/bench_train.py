"""Benchmark the trainer on a tiny Qwen2: real (non-padding) token share of packed CPT against a padded baseline
(target >= 99%), and RPO steps/s with precomputed reference log-probs against computing them each step (target
>= 1.3x), with peak memory. Prints a table, then one JSON line of figures."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def peak_memory_mib() -> float:
    """This process's peak: allocated CUDA memory, or resident memory (ru_maxrss) on CPU."""
    import resource

    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # KiB on Linux


def build_model(folder: Path, hidden: int, layers: int) -> Path:
    from medprefs.sample_data import corpus_texts
    from medprefs.tinymodel import TinyModelConfig, build_tiny_model

    texts = corpus_texts() + ["問題: 解説: 答え: a,b,c,d,e 必ずちょうど個選んでください。"] * 20
    config = TinyModelConfig(vocab_size=1200, hidden_size=hidden, intermediate_size=3 * hidden,
                             num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2)
    return build_tiny_model(folder, texts, config)


def token_counts(model_dir: Path, documents: list[str], max_length: int, batch: int) -> dict[str, dict[str, float]]:
    """Per packing mode, over one epoch of the trainer's own dataloader: real tokens / tokens processed, and real
    tokens / tokens of the documents (what truncation threw away)."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    in_documents = sum(len(tokenizer(doc + tokenizer.eos_token)["input_ids"]) for doc in documents)
    modes = {"padded (baseline)": {"packing": False}, "bfd (truncates)": {"packing": True, "packing_strategy": "bfd"},
             "bfd_split": {"packing": True, "packing_strategy": "bfd_split"},
             "wrapped": {"packing": True, "packing_strategy": "wrapped"}}
    results = {}
    for name, packing in modes.items():
        args = SFTConfig(output_dir=tempfile.mkdtemp(), max_length=max_length, per_device_train_batch_size=batch,
                         use_cpu=True, bf16=False, report_to=[], completion_only_loss=False, **packing)
        trainer = SFTTrainer(model=AutoModelForCausalLM.from_pretrained(model_dir), args=args,
                             train_dataset=Dataset.from_dict({"text": documents}), processing_class=tokenizer)
        real = processed = 0
        for inputs in trainer.get_train_dataloader():
            processed += inputs["input_ids"].numel()
            # pad == EOS in the tiny tokenizer: count the mask, not input_ids != pad (padding-free batches have none)
            real += int(inputs["attention_mask"].sum()) if "attention_mask" in inputs else inputs["input_ids"].numel()
        results[name] = {"real_share": real / processed, "kept_share": real / in_documents}
    return results


VARIANTS = {"reference each step (baseline)": False, "precomputed reference": True}


def prepare_rpo(model_dir: Path, work: Path) -> tuple[Path, Path]:
    """A (barely trained) CPT adapter to start from, and the pairs folder of the sample."""
    from test_train_fixtures import corpus_lineage, sample_questions, write_pairs

    from medprefs.train import CPTConfig, question_documents, train_cpt

    questions = sample_questions()
    cpt = train_cpt(CPTConfig(output_dir=str(work / "cpt"), max_steps=2, max_length=128, use_cpu=True,
                              gradient_checkpointing=False, eval_fraction=0.0, logging_steps=1),
                    base_model=str(model_dir), documents=question_documents(questions), lineage=corpus_lineage())
    return cpt.output_dir, write_pairs(work / "pairs", questions)


def run_rpo(model_dir: Path, work: Path, precompute: bool, tag: str, steps: int, max_length: int) -> dict[str, float]:
    """One RPO run: training steps/s, and the seconds outside the training loop (loading, tokenising, the precompute
    pass, final evaluation and save)."""
    from medprefs.train import RPOConfig, train_rpo

    config = RPOConfig(output_dir=str(work / f"rpo-{tag}"), max_steps=steps, use_cpu=True,
                       cpt_adapter=str(work / "cpt"), per_device_batch_size=2, max_length=max_length,
                       gradient_checkpointing=False, precompute_ref_log_probs=precompute, logging_steps=1,
                       save_steps=10_000, learning_rate=1e-3)
    start = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # the trainer's log lines: stdout stays the table and the JSON
        result = train_rpo(config, base_model=str(model_dir), dataset_dir=work / "pairs")
    runtime = result.metrics["train_runtime"]
    return {"steps_per_s": steps / runtime, "setup_s": time.perf_counter() - start - runtime}


def rpo_speed(model_dir: Path, work: Path, args: argparse.Namespace) -> dict[str, dict]:
    """Median steps/s over `repeats` runs per variant (alternating, so drifting machine load hits both), and each
    variant's peak memory measured alone in a fresh process (one process's peak would mix the variants)."""
    with contextlib.redirect_stdout(sys.stderr):
        prepare_rpo(model_dir, work)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    for repeat in range(args.repeats):
        for name, precompute in VARIANTS.items():
            runs[name].append(run_rpo(model_dir, work, precompute, f"{precompute}-{repeat}", args.rpo_steps,
                                      2 * args.max_length))
    results = {}
    for name, precompute in VARIANTS.items():
        probe = subprocess.run(
            [sys.executable, __file__, "--probe", str(work), "--probe-precompute", str(int(precompute)),
             "--rpo-steps", str(args.rpo_steps), "--max-length", str(args.max_length), "--threads", str(args.threads)],
            capture_output=True, text=True, check=True)
        results[name] = {
            "steps_per_s": statistics.median(run["steps_per_s"] for run in runs[name]),
            "setup_s": statistics.median(run["setup_s"] for run in runs[name]),
            "peak_mib": json.loads(probe.stdout.strip().splitlines()[-1])["peak_mib"],
            "runs": [round(run["steps_per_s"], 3) for run in runs[name]],
        }
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hidden", type=int, default=256, help="tiny model width (bigger = steadier timings)")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--rpo-steps", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: two threads spin against other processes on shared small machines)")
    parser.add_argument("--probe", type=Path, help=argparse.SUPPRESS)  # internal: one RPO run in a fresh process
    parser.add_argument("--probe-precompute", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()

    import torch
    import transformers

    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    if args.probe:
        run_rpo(args.probe / "model", args.probe, bool(args.probe_precompute), f"probe-{args.probe_precompute}",
                args.rpo_steps, 2 * args.max_length)
        print(json.dumps({"peak_mib": round(peak_memory_mib())}))
        return 0
    from test_train_fixtures import sample_questions

    from medprefs.console import console as stderr_console
    from medprefs.train import question_documents

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model_dir = build_model(work / "model", args.hidden, args.layers)
        documents = question_documents(sample_questions())
        stderr_console.print(f"{len(documents)} documents, tiny Qwen2 hidden {args.hidden} x {args.layers} layers")
        with contextlib.redirect_stdout(sys.stderr):
            tokens = token_counts(model_dir, documents, args.max_length, args.batch)
        speed = rpo_speed(model_dir, work, args)

    out = Console()
    table = Table(title=f"CPT tokens (max_length {args.max_length}, batch {args.batch})")
    for column in ("packing", "real / processed", "ratio vs padded", "kept / document tokens"):
        table.add_column(column, justify="left" if column == "packing" else "right")
    base = tokens["padded (baseline)"]["real_share"]
    for name, row in tokens.items():
        table.add_row(name, f"{row['real_share']:.2%}", f"{row['real_share'] / base:.2f}x", f"{row['kept_share']:.2%}")
    out.print(table)
    table = Table(title=f"RPO from a CPT adapter ({args.rpo_steps} steps, median of {args.repeats})")
    for column in ("reference log-probs", "steps/s", "ratio", "setup s (incl. precompute)", "peak MiB (own process)"):
        table.add_column(column, justify="left" if column == "reference log-probs" else "right")
    slow = speed["reference each step (baseline)"]["steps_per_s"]
    for name, row in speed.items():
        table.add_row(name, f"{row['steps_per_s']:.2f}", f"{row['steps_per_s'] / slow:.2f}x", f"{row['setup_s']:.1f}",
                      f"{row['peak_mib']:.0f}")
    out.print(table)

    fast = speed["precomputed reference"]
    figures = {
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "model": {"hidden": args.hidden, "layers": args.layers},
        "cpt_real_share": {name: round(row["real_share"], 4) for name, row in tokens.items()},
        "cpt_kept_share": {name: round(row["kept_share"], 4) for name, row in tokens.items()},
        "rpo_steps_per_s": round(slow, 3),
        "rpo_precomputed_steps_per_s": round(fast["steps_per_s"], 3),
        "rpo_precompute_speedup": round(fast["steps_per_s"] / slow, 3),
        "rpo_setup_s": {"baseline": round(speed["reference each step (baseline)"]["setup_s"], 2),
                        "precomputed": round(fast["setup_s"], 2)},
        "peak_mib": {"baseline": round(speed["reference each step (baseline)"]["peak_mib"]),
                     "precomputed": round(fast["peak_mib"])},
        "targets_met": {"packed_real_share_ge_0.99": tokens["bfd_split"]["real_share"] >= 0.99,
                        "precompute_speedup_ge_1.3": fast["steps_per_s"] / slow >= 1.3},
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
