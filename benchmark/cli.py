"""The ``bench`` command line: validate, stats, models, run, report (and more subcommands below).

Every user-facing error is one line on stderr with exit code 2 (``BenchError``); results already
stored are never touched by a failure.
"""
from __future__ import annotations

import json
import os
import shlex
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import click

from benchmark.errors import BenchError, ConfigError
from benchmark.util.command import bench_command

DEFAULT_RESULTS = "results/local"  # the user's own runs (git-ignored); committed runs: results/reference
REFERENCE_RESULTS = "results/reference"


class OneLineUsageError(click.ClickException):
    """A click usage error (bad option value, unknown option, ...) shown as one ``bench: ...`` line."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"bench: {self.format_message()}", err=True)


class BenchGroup(click.Group):
    """Turns ``BenchError`` and click's usage errors into ``bench: <message>`` + exit 2, no traceback."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:  # options of `bench` itself
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise OneLineUsageError(exc.format_message()) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # a subcommand's options are parsed inside Group.invoke
            raise OneLineUsageError(exc.format_message()) from None
        except BenchError as exc:
            click.echo(f"bench: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except OSError as exc:  # disk full, read-only folder, no permission: one line, exit 2
            from benchmark.util.io import DISK_ERRNOS, write_error
            if exc.errno not in DISK_ERRNOS:
                raise
            click.echo(f"bench: {write_error(exc)}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("bench: interrupted (finished jobs are stored; unfinished ones resume next time)", err=True)
            ctx.exit(130)


def _load_plugins(ctx: click.Context, param: click.Parameter, refs: tuple[str, ...]) -> None:
    """Option callback: register the models of each ``--plugin module:attribute``."""
    from benchmark.registry import load_plugin

    if ctx.resilient_parsing:
        return
    try:
        for ref in refs:
            load_plugin(ref)
    except BenchError as exc:  # raised while parsing options, outside BenchGroup.invoke
        click.echo(f"bench: {exc}", err=True)
        ctx.exit(exc.exit_code)


def plugin_option(func: Any) -> Any:
    """``--plugin module:attribute`` (repeatable): register a model from your own package."""
    return click.option("--plugin", "plugins", multiple=True, expose_value=False, callback=_load_plugins,
                        metavar="MODULE:ATTR",
                        help="Register model(s) from your package: a ModelSpec, a list of them or a "
                             "callable returning them (repeatable).")(func)


@click.group(cls=BenchGroup, epilog="""\b
Examples:
  bench run --table 5 --models bilstm-crf --languages en --threads 1
  bench report --table 5 --compare-paper
  bench --plugin my_tagger:SPEC models""")
@click.version_option(package_name="mmner-bench")
@plugin_option
def main() -> None:
    """mmner-bench: reproduce Tables 2 and 5-9 of the 2M-NER paper on MMNERD."""
    # OpenMP threads that spin while waiting make small CPU models many times slower when another
    # process shares the cores; passive waiting costs nothing measurable otherwise. Set before
    # torch is imported (subcommands import it lazily); an explicit user setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from benchmark.registry import load_entry_points
    load_entry_points()  # models that installed packages advertise (group mmner_bench.models)


def _parse_hp(items: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--hp expects KEY=VALUE, got {item!r}")
        key, raw = item.split("=", 1)
        if key.strip() in out:
            raise ConfigError(f"--hp {key.strip()} given twice ({key.strip()}={json.dumps(out[key.strip()])} "
                              f"and {item}); give each key once")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def _split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _check_device_name(name: str) -> str:
    """``--device``: auto, cpu, cuda or cuda:N; anything else is one line, exit 2."""
    if name not in ("auto", "cpu", "cuda") and not (name.startswith("cuda:") and name[5:].isdigit()):
        raise ConfigError(f"--device {name}: not a device (use cpu, cuda, cuda:N or auto)")
    return name


def _device(name: str) -> str:
    _check_device_name(name)
    if name == "auto":
        import torch
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        import torch
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {name}: no CUDA device is visible (use --device cpu)")
    return name


def _set_threads(threads: int | None) -> None:
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {threads}")
    if threads:
        import torch
        torch.set_num_threads(threads)


def _corpus_options(func: Any) -> Any:
    """``--corpus NAME`` and ``--label-map TYPE=TYPE`` (shared by run, stats and validate)."""
    func = click.option("--label-map", "label_map", multiple=True,
                        help="Read an entity type as another, e.g. OTHER=MISC (target O drops it); repeatable.")(func)
    return click.option("--corpus", "corpus_name", default="mmnerd", show_default=True,
                        help="Registered corpus (layout, types, tag scheme): mmnerd, twitter2017, ... "
                             "Without --data-dir and $MMNERD_DIR the built-in corpus is used.")(func)


@main.group(epilog="""\b
Example:
  bench data fetch mmnerd""")
def data() -> None:
    """Public corpora: `bench data fetch NAME` downloads one at its pinned revision."""


@data.command(name="fetch", epilog="""\b
Example:
  bench data fetch mmnerd     # the public English MMNERD text, checked by SHA-256""")
@click.argument("name")
@click.option("--dest", type=click.Path(file_okay=False), help="Corpus root (default: $MMNER_BENCH_CACHE/data/NAME).")
@click.option("--base-url", help="Download from this mirror instead of the registered source (same file paths).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True,
              help="Seconds a stalled connection may wait before the fetch fails.")
def data_fetch(name: str, dest: str | None, base_url: str | None, timeout: float) -> None:
    """Download a registered public corpus, check every file's SHA-256, lay it out for --data-dir."""
    from benchmark.corpora.fetch import default_data_root, fetch_corpus
    from benchmark.corpora.registry import get_corpus_entry

    entry = get_corpus_entry(name)
    root = Path(dest) if dest else default_data_root(entry.name)
    report = fetch_corpus(entry, root, base_url=base_url, timeout=timeout)
    for path in report.downloaded:
        click.echo(f"fetched {root / path} (SHA-256 checked)")
    if not report.downloaded:
        click.echo(f"{entry.display}: all {len(report.present)} file(s) already at {root} with the pinned "
                   "checksums; nothing to download")
    env = f"{entry.data_env}={root} " if entry.data_env else ""
    click.echo(f"Next: {env}bench run --corpus {entry.name} ...   (or --data-dir {root})")


def _cache_dir() -> Path:
    from benchmark.corpora.builtin import default_root
    return default_root().parent / "features"


# ---------------------------------------------------------------------------------------------
@main.command(epilog="""\b
Example:
  bench validate $MMNERD_DIR/train_valid_test_en/train_conll_format.txt""")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--max-warnings", default=10, show_default=True, help="Warnings printed per file.")
@click.option("--scheme", type=click.Choice(["iob2", "iob1", "bioes"]),
              help="Tag scheme of the files (default: the corpus's, IOB2 for MMNERD).")
@_corpus_options
def validate(files: tuple[str, ...], max_warnings: int, scheme: str | None, corpus_name: str,
             label_map: tuple[str, ...]) -> None:
    """Check MMNERD/CoNLL files: counts, or the first error as FILE:LINE: message (exit 2)."""
    from benchmark.corpora.labels import check_label_map, parse_label_map
    from benchmark.corpora.reader import ReadReport, iter_conll
    from benchmark.corpora.registry import get_corpus_entry

    entry = get_corpus_entry(corpus_name)
    labels = {**entry.label_map, **parse_label_map(label_map)}
    check_label_map(labels, entry.entity_types, entry.name)
    for path in files:
        report = ReadReport(path)
        for _ in iter_conll(path, report=report, scheme=scheme or entry.tag_scheme, label_map=labels,
                            entity_types=entry.entity_types):
            pass  # streamed: counts and warnings gather in `report`, no sentence is kept
        warn = f", {report.warning_count} warning(s)" if report.warning_count else ""
        click.echo(f"{path}: {report.sentences} sentences, {report.tokens} tokens, {report.entities} entities{warn}")
        for w in report.warnings[:max_warnings]:
            click.echo(f"  warning: {w}")
        if report.warning_count > max_warnings:
            click.echo(f"  ... {report.warning_count - max_warnings} more warning(s)")
        for note in report.notes:
            click.echo(f"  note: {note}")


@main.command(epilog="""\b
Example:
  bench stats --data-dir ../shared/data/MMNERD --format latex""")
@click.option("--data-dir", type=click.Path(file_okay=False), help="MMNERD root (default: $MMNERD_DIR).")
@click.option("--format", "fmt", type=click.Choice(["markdown", "latex", "csv"]), default="markdown")
@click.option("--output", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
@_corpus_options
def stats(data_dir: str | None, fmt: str, output: str | None, corpus_name: str, label_map: tuple[str, ...]) -> None:
    """Reproduce Table 2 (entities per type, sentences) from the files, beside the paper's values."""
    from benchmark.corpora.labels import parse_label_map
    from benchmark.corpora.resolve import resolve_corpus
    from benchmark.report.stats import dataset_stats, render_stats

    corpus = resolve_corpus(data_dir, echo=lambda m: click.echo(m, err=True), corpus=corpus_name,
                            label_map=parse_label_map(label_map))
    text = render_stats(dataset_stats(corpus), fmt, corpus.kind)
    _emit(text, output)


@main.command(epilog="""\b
Examples:
  bench models
  bench --plugin my_tagger:SPEC models    # your own model listed beside the nine""")
@click.option("--results", default="results", show_default=True, type=click.Path(file_okay=False),
              help="Where recorded parameter counts are looked up (RESULTS/benchmarks, RESULTS/reference).")
@plugin_option
def models(results: str) -> None:
    """List registered models: modality, recipe, variants, parameters, pretrained weights, source."""
    from tabulate import tabulate

    from benchmark.registry import HF_FORM, MODELS, PLUGIN_SOURCES, variant_base

    counts = recorded_parameters(Path(results))
    rows = []
    for s in MODELS.values():
        base = variant_base(s)
        rows.append([s.name, s.display, s.modality, s.recipe, base or "-", counts.get(s.name, "-"),
                     ", ".join(s.needs) or "-", PLUGIN_SOURCES.get(s.name, "built-in")])
    click.echo(tabulate(rows, headers=["name", "method", "modality", "recipe", "variant of", "parameters",
                                       "pretrained weights", "source"], tablefmt="github", disable_numparse=True))
    variants: dict[str, list[str]] = {}
    for s in MODELS.values():
        base = variant_base(s)
        if base:
            variants.setdefault(base, []).append(s.name + (f" ({s.recipe} recipe)" if s.recipe != "paper" else ""))
    for base, names in variants.items():
        click.echo(f"variants of {base}: {', '.join(names)}")
    click.echo(f"any Hugging Face encoder, without code: {HF_FORM}")
    click.echo("parameters: a recorded count (`bench profile --model NAME`, or a stored paper-profile run), "
               "with its profile; '-' when none is recorded. `bench weights` says which weights are present.")


def _human(n: int) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.0f}k" if n >= 1e3 else str(n)


def recorded_parameters(results: Path) -> dict[str, str]:
    """Model name -> recorded parameter count with its source; nothing is built to count them.

    Paper-size figures first: a paper-profile ``bench profile --model`` record in
    ``results/benchmarks``, then ``counts.parameters`` of a stored paper-profile run in
    ``results/reference``, then a smoke-profile ``bench profile`` record.
    """
    candidates: list[tuple[int, str, int, str]] = []  # (priority, model, count, source)
    for path in sorted((results / "benchmarks").glob("model_*.json")):
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
            paper = rec["profile"] == "paper"
            candidates.append((0 if paper else 2, rec["model"], int(rec["parameters"]["total"]),
                               f"{rec['profile']} profile, bench profile"))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    from benchmark.run.store import ResultStore
    for res in ResultStore(results / "reference").all():
        total = res.counts.get("parameters")
        if res.job.profile == "paper" and isinstance(total, int):
            candidates.append((1, res.job.model, total, f"paper run on {res.job.data_kind}"))
    found: dict[str, str] = {}
    for _, model, total, source in sorted(candidates):
        found.setdefault(model, f"{_human(total)} ({source})")
    return found


# ---------------------------------------------------------------------------------------------
# run / plan / status / report: the same options, expanded by one function (make_plan)
# ---------------------------------------------------------------------------------------------

def _at_least_one(name: str):
    def check(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ConfigError(f"{name} must be >= 1, got {value}")
        return value
    return check


def job_options(table_required: bool = True):
    """The options that decide a job list (shared by run, plan, status and report), plus the
    execution options of ``run`` (accepted everywhere so a run's command line can be reused;
    they never change which jobs are meant)."""
    def decorate(f):
        opts = [
            click.option("--table", "table_no", type=int, required=table_required,
                         help="Paper table number (5-9)." + ("" if table_required else " Default: every table.")),
            click.option("--models", "model_names", help="Comma-separated registry names, or hf:<hub id or folder>[+crf] "
                         "for any encoder AutoModel loads (default: all rows)."),
            click.option("--languages", help="Comma-separated test languages: all,en,fr,es,de."),
            click.option("--profile", type=click.Choice(["paper", "smoke"]), default="paper", show_default=True),
            click.option("--seeds", type=int, callback=_at_least_one("--seeds"),
                         help="Runs per row, seeds 1..N (default: the table's own repeats)."),
            click.option("--hp", multiple=True, help="Hyperparameter override KEY=VALUE (JSON values), repeatable."),
            click.option("--data-dir", type=click.Path(file_okay=False),
                         help="MMNERD root (default: $MMNERD_DIR; the built-in corpus only when neither is given)."),
            click.option("--image-dir", type=click.Path(file_okay=False),
                         help="Image folder (default: $MMNERD_IMAGE_DIR, else <data-dir>/images). A named folder must "
                              "exist, and needs a corpus (--data-dir or $MMNERD_DIR): the built-in one has its own."),
            click.option("--corpus", "--data-kind", "corpus_name", default="mmnerd", show_default=True,
                         help="Registered corpus (layout, types, tag scheme): mmnerd, twitter2017, ... "
                              "Without --data-dir and $MMNERD_DIR the built-in corpus is used."),
            click.option("--label-map", "label_map", multiple=True,
                         help="Read an entity type as another, e.g. OTHER=MISC (target O drops it); repeatable."),
            click.option("--allow-missing-images", is_flag=True,
                         help="Run multimodal rows even when no image folder is found (images substituted, flagged)."),
            click.option("--results", default=DEFAULT_RESULTS, show_default=True, type=click.Path(file_okay=False)),
            click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N or auto (run only)."),
            click.option("--threads", type=int, envvar="BENCH_THREADS", callback=_at_least_one("--threads"),
                         help="CPU threads for torch (run only; default: torch's choice). 1 is often as fast for "
                              "the LSTM models and avoids slow-downs when other processes share the cores."),
            click.option("--overwrite", type=click.Choice(["never", "always"]), default="never", show_default=True,
                         help="never: skip jobs already stored (resume); always: re-run them (run only)."),
            click.option("--executor", type=click.Choice(["local", "slurm"]), default="local", show_default=True),
            click.option("--devices", help="Local executor device slots, one job per slot in parallel, each in its "
                         "own process: e.g. cuda:0,cuda:1 (or 0,1), cpu,cpu. Default: every visible GPU with "
                         "--device cuda/auto, else one CPU job after another in this process."),
            click.option("--precision", type=click.Choice(["fp32", "bf16"]), default="fp32", show_default=True,
                         help="bf16 = autocast (part of the job id, the same under every executor: never "
                              "inferred from the machine)."),
            click.option("--compile", "compile_model", is_flag=True, help="torch.compile the models (part of the job id)."),
            click.option("--slurm-partition", help="Slurm partition (with --executor slurm)."),
            click.option("--slurm-gpus", type=int, help="GPUs per Slurm task (default: 1 with --device cuda, "
                         "0 with cpu; auto: 1 for paper-profile jobs on a partition with GPUs)."),
            click.option("--slurm-cpus", type=int, help="CPUs per Slurm task (default: --threads, else 4 with a "
                         "GPU, 1 without)."),
            click.option("--slurm-time", default="4:00:00", show_default=True,
                         help="Time limit per task (minutes, H:MM:SS, D-HH:MM:SS)."),
            click.option("--slurm-mem", help="Memory per task, e.g. 32G (default: from the jobs' estimated peak, "
                         "at least 2G; 8G with a GPU)."),
            click.option("--slurm-max-requeues", type=int, default=3, show_default=True,
                         help="Requeues after a time-limit signal before a task is let time out "
                         "(submitit's max_num_timeout; preemptions do not count)."),
            click.option("--slurm-account", help="Slurm account to charge."),
            click.option("--slurm-extra", help='Extra sbatch options, e.g. "--qos=high --constraint=a100".'),
            plugin_option,
        ]
        for opt in reversed(opts):
            f = opt(f)
        return f
    return decorate


def _plan_options(table_no: int, model_names: str | None, languages: str | None, profile: str,
                  seeds: int | None, hp: tuple[str, ...], data_dir: str | None, image_dir: str | None,
                  allow_missing_images: bool, corpus_name: str, label_map: tuple[str, ...],
                  execution: dict[str, Any] | None = None, extend: tuple[str, ...] = ()):
    """The job-deciding options; ``execution`` (precision, compile) contributes the trainer keys that
    change numbers (never the executor or the machine: the same options give the same ids)."""
    from benchmark.corpora.labels import parse_label_map
    from benchmark.run.executors import trainer_overrides
    from benchmark.run.plan import PlanOptions

    names = _split(model_names)
    langs = _split(languages)
    ex = execution or {}
    trainer = trainer_overrides(ex.get("precision") or "fp32", bool(ex.get("compile_model")))
    return PlanOptions(table=table_no, models=tuple(names) if names else None,
                       languages=tuple(langs) if langs else None, profile=profile, seeds=seeds,
                       hp=tuple({**trainer, **_parse_hp(hp)}.items()), data_dir=data_dir, image_dir=image_dir,
                       allow_missing_images=allow_missing_images, corpus=corpus_name,
                       label_map=tuple(sorted(parse_label_map(label_map).items())), extend=extend)


def strict_code_option(func: Any) -> Any:
    """``--strict-code``: exit 2 when a row's runs are mixed or stale in their code digest (for CI)."""
    return click.option("--strict-code", is_flag=True,
                        help="Exit 2 when a row's runs ran at more than one code version (mixed) or at another "
                             "version than this checkout's (stale); see `bench code`.")(func)


def _warn(message: str) -> None:
    click.echo(f"bench: warning: {message}", err=True)


def _check_executor(executor: str) -> None:
    if executor != "slurm":
        return
    from benchmark.run.executors import slurm_available
    if not slurm_available():
        raise ConfigError("--executor slurm: no Slurm on this machine (sbatch is not on PATH); "
                          "run on a Slurm login node or use --executor local")
    try:
        import submitit  # noqa: F401
    except ImportError:
        raise ConfigError("--executor slurm needs submitit: pip install 'mmner-bench[slurm]'") from None


def _plan_header(plan) -> str:
    return plan.header()


@main.command(epilog="""\b
Examples:
  bench run --table 5 --models bilstm-crf --languages en --threads 1   # ~13 min on one CPU thread
  bench run --table 5 --profile smoke --dry-run                        # the plan only
  bench --plugin my_tagger:SPEC run --table 5 --models my-tagger --languages en""")
@job_options()
@click.option("--dry-run", is_flag=True, help="Only print the plan.")
def run(table_no: int, model_names: str | None, languages: str | None, profile: str, seeds: int | None,
        hp: tuple[str, ...], data_dir: str | None, image_dir: str | None, corpus_name: str,
        label_map: tuple[str, ...], allow_missing_images: bool, results: str, device: str, threads: int | None,
        overwrite: str, executor: str, devices: str | None, precision: str, compile_model: bool,
        slurm_partition: str | None, slurm_gpus: int | None, slurm_cpus: int | None, slurm_time: str,
        slurm_mem: str | None, slurm_max_requeues: int, slurm_account: str | None, slurm_extra: str | None,
        dry_run: bool) -> None:
    """Run the jobs of a table; finished jobs are skipped, interrupted ones resume."""
    from benchmark.run.executors import make_executor
    from benchmark.run.plan import make_plan
    from benchmark.run.specs import Result
    from benchmark.run.store import BadResult, ResultStore

    if table_no == 2:
        raise ConfigError("Table 2 has no jobs: it is counted from the data files "
                          "(`bench stats` or `bench report --table 2`)")
    _check_executor(executor)
    device = _device(device) if executor == "local" else _check_device_name(device)
    _set_threads(threads)
    execution = dict(precision=precision, compile_model=compile_model)
    plan = make_plan(_plan_options(table_no, model_names, languages, profile, seeds, hp, data_dir, image_dir,
                                   allow_missing_images, corpus_name, label_map, execution),
                     echo=lambda m: click.echo(m, err=True))
    for w in plan.warnings:
        _warn(w)
    if not plan.ready:
        raise ConfigError(f"Table {plan.table.number}: 0 jobs can run ({plan.why_nothing()})")
    store = ResultStore(results)
    todo, stored, bad = [], 0, []
    for job in plan.ready:
        found = store.read(job)
        if isinstance(found, Result) and overwrite == "never":
            stored += 1
            continue
        if isinstance(found, BadResult):
            bad.append(found)
        todo.append(job)
    click.echo(f"Table {plan.table.number}: {len(plan.jobs)} planned, {stored} already stored, {len(todo)} to run "
               f"({_plan_header(plan)})")
    for reason, rows in plan.blocked().items():
        click.echo(f"  skipped {len(rows)} row(s): {reason}")
    for b in bad:
        if dry_run:
            _warn(f"bad stored result {b.message()}; a run moves it aside and re-runs the job")
        else:
            _warn(f"bad stored result {b.message()}; moved aside to {store.quarantine(b)}, the job re-runs")
    if executor == "local":
        from benchmark.run.executors import parse_devices
        from benchmark.run.precision import refuse_unsupported_precision

        refuse_unsupported_precision(todo, parse_devices(devices, device) if devices else [device])
    if dry_run:
        for job in todo:
            click.echo(f"  would run {job.job_id} {job.model} {job.setting.label()} seed {job.seed}")
        return
    summary, started = None, time.perf_counter()
    if todo:
        from benchmark.util.io import ensure_dir
        ensure_dir(store.root)
        slurm = dict(partition=slurm_partition, gpus=slurm_gpus, cpus=slurm_cpus, time=slurm_time, mem=slurm_mem,
                     account=slurm_account, extra=slurm_extra, max_requeues=slurm_max_requeues)
        runner = make_executor(executor, results, device, devices, _cache_dir(), slurm,
                               overwrite=overwrite == "always", threads=threads)
        summary = runner.run(todo, plan.corpus, store, echo=click.echo)
        if executor == "local":  # whatever the reason, a planned job not stored now is counted
            accounted = {job_id for job_id, _ in summary.failed + summary.not_stored}
            summary.not_stored += [(job.job_id, "not stored by this run (`bench status` says why)")
                                   for job in todo if job.job_id not in accounted and not store.has(job)]
    click.echo(render_selected_rows(plan, store))
    report_cmd = f"bench report --table {plan.table.number} --compare-paper" + (
        f" --results {results}" if results != DEFAULT_RESULTS else "") + (
        f" --profile {profile}" if profile != "paper" else "") + (
        f" --models {model_names}" if model_names and any(r.extension for r in plan.table.rows) else "")
    status_cmd = "bench status " + _job_args(click.get_current_context().params)
    for line in run_summary_lines(plan.jobs, stored, summary, report_cmd, executor, time.perf_counter() - started,
                                  status_cmd):
        click.echo(line)
    if summary is not None and (summary.failed or summary.not_stored):
        missing = len(summary.failed) + len(summary.not_stored)
        click.echo(f"{missing} planned job(s) not stored ({len(summary.failed)} failed)"
                   + ("; the others are stored." if missing < len(plan.ready) else "."), err=True)
        sys.exit(1)


def _job_args(params: dict[str, Any]) -> str:
    """The job-deciding options of a command line (``--table`` ... ``--precision``), for the command
    that follows the same jobs (``bench status``)."""
    flags = [("table_no", "--table"), ("model_names", "--models"), ("languages", "--languages"),
             ("seeds", "--seeds"), ("data_dir", "--data-dir"), ("image_dir", "--image-dir")]
    out = [f"{flag} {shlex.quote(str(params[key]))}" for key, flag in flags if params.get(key) is not None]
    if params.get("profile", "paper") != "paper":
        out.append(f"--profile {params['profile']}")
    out += [f"--hp {shlex.quote(v)}" for v in params.get("hp") or ()]
    if params.get("corpus_name", "mmnerd") != "mmnerd":
        out.append(f"--corpus {params['corpus_name']}")
    out += [f"--label-map {shlex.quote(v)}" for v in params.get("label_map") or ()]
    if params.get("allow_missing_images"):
        out.append("--allow-missing-images")
    if params.get("results", DEFAULT_RESULTS) != DEFAULT_RESULTS:
        out.append(f"--results {shlex.quote(str(params['results']))}")
    if params.get("precision", "fp32") != "fp32":
        out.append(f"--precision {params['precision']}")
    if params.get("compile_model"):
        out.append("--compile")
    return " ".join(out)


# Why a planned row could not run, as the end-of-run summary words it (status -> short reason).
SKIP_LABELS: dict[str, str] = {
    "no-data": "language absent", "no-weights": "no weights", "no-images": "no images",
    "no-gpu": "no GPU", "not-implemented": "not implemented",
}


def render_selected_rows(plan: Any, store: Any) -> str:
    """The rows a run touched (``rows_to_show``) with their stored results, beside the paper's (Markdown)."""
    from dataclasses import replace

    from benchmark.report.render import build_frame, render
    from benchmark.run.store import lookup

    rows = rows_to_show(plan.table, plan.jobs)
    found, _ = lookup(store, [p.job for p in plan.known])
    if not rows or not found:
        return ""
    keep = set(rows)
    frame = build_frame(replace(plan.table, rows=tuple(rows)), [(p.row, p.job) for p in plan.known if p.row in keep],
                        found, plan.options.profile, plan.corpus.kind)
    return render(frame, "markdown", compare_paper=True)


def rows_to_show(table: Any, planned: list[Any]) -> list[Any]:
    """The rows a run renders: those it could run, plus the paper's rows of the settings where it ran
    a model that is not a paper row (so such a model is seen beside the paper's values)."""
    ready = {p.row for p in planned if p.status == "ready"}
    paper_models = {r.model for r in table.rows if not r.extension}
    settings = {(r.group, r.train_languages, r.test_language, r.fold) for r in ready if r.model not in paper_models}
    return [r for r in table.rows
            if r in ready or (r.model in paper_models and (r.group, r.train_languages, r.test_language, r.fold) in settings)]


def run_summary_lines(planned: list[Any], reused: int, summary: Any, report_cmd: str,
                      executor: str = "local", seconds: float | None = None,
                      status_cmd: str = "bench status") -> list[str]:
    """The end of ``bench run``: jobs run, reused, failed, skipped (grouped by why) and what to do next."""
    done = len(summary.done) if summary is not None else 0
    failed = list(summary.failed) if summary is not None else []
    skipped: dict[tuple[str, str], int] = {}
    for p in planned:
        if p.status != "ready":
            key = (SKIP_LABELS.get(p.status, p.status), p.reason)
            skipped[key] = skipped.get(key, 0) + 1
    submitted = len(getattr(summary, "submitted", ())) if summary is not None else 0
    if executor == "slurm":
        queued = len(summary.skipped) if summary is not None else 0
        head = (f"  submitted {submitted} job(s) to Slurm"
                + (f", {queued} already pending or running there (not submitted again)" if queued else ""))
    else:
        head = f"  ran {done} job(s)" + (f" in {seconds / 60:.1f} min" if done and seconds is not None else "")
    lines = ["", "Summary:", f"{head}, reused {reused} already stored, {len(failed)} failed, "
             + (f"{len(summary.not_stored)} not stored, " if getattr(summary, "not_stored", None) else "")
             + f"skipped {sum(skipped.values())} row(s)"]
    for (label, reason), n in sorted(skipped.items()):
        lines.append(f"  skipped {n} row(s) ({label}): {reason}")
    for job_id, error in failed:
        lines.append(f"  failed {job_id}: {error} (bench show {job_id[:8]})")
    not_stored = list(getattr(summary, "not_stored", []))
    for job_id, why in not_stored:
        lines.append(f"  not stored {job_id}: {why}")
    statuses = {p.status for p in planned if p.status != "ready"}
    if failed or not_stored:
        from benchmark.util.command import bench_command
        typed = bench_command(sys.argv)
        again, states = ((typed, "`" + typed.replace("bench run", "bench plan", 1) + "`")
                         if typed.startswith("bench run ") else ("the same `bench run`", "`bench plan` with its options"))
        lines.append(f"Next: {again}    (again: stored jobs are reused, the {len(failed) + len(not_stored)} "
                     f"missing one(s) run; {states} shows each job's state)")
    if executor == "slurm" and (submitted or (summary is not None and summary.skipped)):
        lines.append(f"Next: {status_cmd}    (what Slurm says of each job), then {report_cmd}")
    elif done or reused:
        lines.append(f"Next: {report_cmd}    (the whole table beside the paper)")
    elif failed or not_stored:
        pass  # the next command is the one above
    elif "no-weights" in statuses:
        lines.append("Next: bench weights    (what is missing and where it is looked for)")
    elif "no-data" in statuses:
        lines.append("Next: bench stats    (which languages your data has), then --languages with one of them")
    else:
        lines.append("Next: bench models    (the registered models), then --models with one of them")
    return lines


def _job_states(plan, store):
    """``(planned job, state, detail)`` for every job of ``plan`` whose identity is known.

    States: done / running / queued / failed / bad / missing (see ``ResultStore.state``), refined by
    what Slurm says of a submitted job (queued = pending, with Slurm's reason; running; failed,
    cancelled, timeout, out-of-memory), and blocked for a job that cannot run here (no weights, no
    images) and has no result.
    """
    from benchmark.run.executors import submitted_states

    found = [(p, *store.state(p.job)) for p in plan.known]
    slurm = submitted_states([store.work_path(p.job) for p, state, _ in found if state in ("queued", "running", "failed")])
    for p, state, detail in found:
        told = slurm.get(store.work_path(p.job))
        if told and (state != "running" or told[0] in ("queued", "running")):  # a local run outlives a dead task
            state, detail = told
        if p.status != "ready" and state == "missing":
            state, detail = "blocked", p.reason
        yield p, state, detail


@main.command(name="plan", epilog="""\b
Examples:
  bench plan --table 5 --models bilstm-crf --languages en
  bench plan --table 8 --results results/reference
  bench plan --table 5 --price --device cuda --wall-time 8   # GPU-hours, GPUs for 8 h""")
@job_options()
@click.option("--price", is_flag=True, help="Estimated time and peak memory of each job on --device (from "
              "`bench profile` records in results/benchmarks, else a FLOP model), the total device-hours.")
@click.option("--wall-time", type=click.FloatRange(min=0, min_open=True),
              help="With --price: hours you can wait; prints how many devices finish the jobs within it.")
@strict_code_option
def plan_cmd(table_no: int, model_names: str | None, languages: str | None, profile: str, seeds: int | None,
             hp: tuple[str, ...], data_dir: str | None, image_dir: str | None, corpus_name: str,
             label_map: tuple[str, ...], allow_missing_images: bool, results: str, price: bool,
             wall_time: float | None, strict_code: bool, **_execution: Any) -> None:
    """List a table's jobs with their state: done, running, queued, failed, bad, missing (and --price)."""
    from tabulate import tabulate

    from benchmark.run.plan import make_plan
    from benchmark.run.store import ResultStore

    plan = make_plan(_plan_options(table_no, model_names, languages, profile, seeds, hp, data_dir, image_dir,
                                   allow_missing_images, corpus_name, label_map, _execution),
                     echo=lambda m: click.echo(m, err=True))
    for w in plan.warnings:
        _warn(w)
    from benchmark.report.breakdown import code_frame, strict_code as check_code
    from benchmark.report.render import CODE_MARK, code_rows

    store = ResultStore(results)
    rows, counts = [], {}
    states = list(_job_states(plan, store))
    coded = code_frame(plan, store).rows
    code_of = {job_id: fr.code for fr in coded if fr.code for job_id in fr.job_ids}
    for p, state, detail in states:
        counts[state] = counts.get(state, 0) + 1
        if p.job.job_id in code_of:
            detail = f"{CODE_MARK} code {code_of[p.job.job_id]}" + (f"; {detail}" if detail else "")
        rows.append([state, p.job.job_id, p.job.model, p.job.setting.label(), p.job.seed, detail])
    headers = ["state", "job", "model", "setting", "seed", "detail"]
    total = None
    if price:
        from benchmark.run.cost import price_jobs

        device = _execution.get("device") or "auto"
        device = "cuda" if device == "auto" else device
        estimates, total = price_jobs([p.job for p, _, _ in states], device,
                                      wall_time * 3600 if wall_time else None, Path("results") / "benchmarks")
        for row, est in zip(rows, estimates):
            row += [f"{est.seconds / 3600:.2f}", f"{est.peak_mem_bytes / 2**30:.1f}",
                    "profile" if est.source.startswith("profile") else "FLOP model"]
        headers += [f"hours ({device})", "peak GiB", "estimate from"]
    click.echo(f"Table {plan.table.number} ({_plan_header(plan)}), results {store.root}:")
    if rows:
        click.echo(tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True))
    if total is not None:
        click.echo("price: " + total.summary("GPU" if device.startswith("cuda") else "CPU"))
    unknown = [(reason, rws) for reason, rws in plan.blocked().items()
               if any(p.job is None and p.reason == reason for p in plan.jobs)]
    for reason, rws in unknown:
        click.echo(f"  not planned, {len(rws)} row(s): {reason}")
    flagged = code_rows(coded)
    if flagged:
        click.echo(f"{CODE_MARK} code changed, {len(flagged)} row(s): " + "; ".join(flagged))
    click.echo(", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "0 jobs planned")
    if strict_code:
        check_code(flagged, f"Table {plan.table.number}")


@main.command(epilog="""\b
Examples:
  bench status                                   # every table, results/local
  bench status --results results/reference --table 5""")
@job_options(table_required=False)
@strict_code_option
def status(table_no: int | None, model_names: str | None, languages: str | None, profile: str,
           seeds: int | None, hp: tuple[str, ...], data_dir: str | None, image_dir: str | None, corpus_name: str,
           label_map: tuple[str, ...], allow_missing_images: bool, results: str, strict_code: bool,
           **_execution: Any) -> None:
    """Summarise a results folder per table for the given options (and what else it holds)."""
    from benchmark.registry import get_model
    from benchmark.report.breakdown import code_frame, strict_code as check_code
    from benchmark.report.render import CODE_MARK, code_rows, describe_other_results
    from benchmark.tables import TABLES, extend_with, get_table
    from benchmark.run.plan import make_plan
    from benchmark.run.store import JOB_STATES, ResultStore

    store = ResultStore(results)
    if not store.root.is_dir():
        raise ConfigError(f"results folder {store.root} does not exist")
    wanted = {get_model(n).name if n not in {r.model for t in TABLES for r in get_table(t).rows} else n
              for n in _split(model_names) or []}
    numbers = [table_no] if table_no is not None else list(TABLES)
    echo_err = lambda m: click.echo(m, err=True)  # noqa: E731
    planned_ids: set[str] = set()
    all_jobs = []
    flagged: list[str] = []
    for number in numbers:
        table = get_table(number)
        names = [n for n in wanted if n in {r.model for r in extend_with(table, wanted).rows}] if wanted else None
        if wanted and not names:
            continue
        plan = make_plan(_plan_options(number, ",".join(names) if names else None, languages, profile, seeds, hp,
                                       data_dir, image_dir, allow_missing_images, corpus_name, label_map, _execution),
                         echo=echo_err)
        echo_err = lambda m: None  # noqa: E731 - announce the corpus once
        counts = dict.fromkeys((*JOB_STATES, "blocked"), 0)
        for p, state, _ in _job_states(plan, store):
            counts[state] = counts.get(state, 0) + 1
            planned_ids.add(p.job.job_id)
            all_jobs.append(p.job)
        unplanned = len({(p.row.group, p.row.method) for p in plan.jobs if p.job is None})
        coded = code_rows(code_frame(plan, store).rows)
        flagged += [f"Table {number} {row}" for row in coded]
        click.echo(f"Table {number}: {len(plan.known)} job(s): " + ", ".join(f"{n} {s}" for s, n in counts.items())
                   + (f"; {unplanned} row(s) not planned (not implemented or no data)" if unplanned else "")
                   + (f"; {CODE_MARK} code changed in {len(coded)} row(s): " + "; ".join(coded) if coded else ""))
    stored = list(store.scan())
    others = [(path, job) for path, job in stored if path.name not in planned_ids]
    click.echo(f"{store.root}: {len(stored)} stored result folder(s), {len(others)} outside these plans"
               + (f" ({describe_other_results(all_jobs, others)})" if others else ""))
    if strict_code:
        check_code(flagged, "these tables")


@main.command(epilog="""\b
Examples:
  bench report --table 5 --compare-paper                 # your runs (results/local)
  bench report --table 5 --results results/reference      # the committed reference runs
  bench report --table 5 --format latex --output tables/table5.tex""")
@job_options()
@click.option("--format", "fmt", type=click.Choice(["markdown", "latex", "csv"]), default="markdown")
@click.option("--compare-paper", is_flag=True, help="Print the paper's value and the difference beside ours.")
@click.option("--mode", type=click.Choice(["conlleval", "strict"]), default="conlleval", show_default=True,
              help="conlleval = seqeval mode=None (the paper); strict = IOB2 strict.")
@click.option("--selection", type=click.Choice(["dev", "test_max"]), default="dev", show_default=True,
              help="Epoch selection: best dev (paper) or best test (authors' code; every value marked †).")
@click.option("--significance", is_flag=True,
              help="Test every row against its block's reference row (2M-NER) on the stored test predictions.")
@click.option("--test", "sig_test", type=click.Choice(["bootstrap", "randomisation"]), default="bootstrap",
              show_default=True, help="With --significance: paired bootstrap or approximate randomisation.")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05,
              show_default=True, help="With --significance: p-value threshold for the * mark.")
@click.option("--samples", type=click.IntRange(min=1), default=1000, show_default=True,
              help="With --significance: bootstrap resamples / randomisation shuffles.")
@click.option("--by-source", is_flag=True, help="Split each row's test metrics into Twitter-2017 and CC12M sentences.")
@click.option("--allow-empty", is_flag=True,
              help="Render the table even when no stored result matches (our cells '–', the paper's beside).")
@click.option("--all-blocks", is_flag=True,
              help="Also render the blocks the plan has no job for (a language the corpus lacks or --languages "
                   "leaves out) as rows of dashes beside the paper's values (what tables/ holds).")
@click.option("--output", type=click.Path(dir_okay=False), help="Write here (atomically) instead of stdout.")
@strict_code_option
def report(table_no: int, model_names: str | None, languages: str | None, profile: str, seeds: int | None,
           hp: tuple[str, ...], data_dir: str | None, image_dir: str | None, corpus_name: str,
           label_map: tuple[str, ...], allow_missing_images: bool, results: str, fmt: str, compare_paper: bool,
           mode: str, selection: str, significance: bool, sig_test: str, alpha: float, samples: int,
           by_source: bool, allow_empty: bool, all_blocks: bool, output: str | None, strict_code: bool,
           **_execution: Any) -> None:
    """Render a table from the stored results of exactly the jobs `bench run` plans with these options
    (Table 2: counted from the data files)."""
    if table_no == 2:
        from benchmark.corpora.resolve import resolve_corpus
        from benchmark.report.stats import dataset_stats, render_stats

        corpus = resolve_corpus(data_dir, echo=lambda m: click.echo(m, err=True), corpus=corpus_name)
        _emit(render_stats(dataset_stats(corpus), fmt, corpus.kind, compare_paper), output)
        return
    from benchmark.report.breakdown import report_frame, strict_code as check_code
    from benchmark.report.render import code_rows, render

    plan, store = _report_plan(table_no, model_names, languages, profile, seeds, hp, data_dir, image_dir,
                               allow_missing_images, corpus_name, label_map, results, _execution)
    frame, _bad = report_frame(plan, store, mode, selection, sig_test if significance else None, alpha, samples,
                               by_source, allow_empty, warn=_warn, all_blocks=all_blocks)
    if strict_code:  # before anything is written
        check_code(code_rows(frame.rows), f"Table {table_no}")
    _emit(render(frame, fmt, compare_paper), output)


@main.command(epilog="""\b
Example:
  bench plot --table 5 --results results/reference --curves""")
@job_options()
@click.option("--output-dir", default="plots", show_default=True, type=click.Path(file_okay=False))
@click.option("--mode", type=click.Choice(["conlleval", "strict"]), default="conlleval", show_default=True)
@click.option("--selection", type=click.Choice(["dev", "test_max"]), default="dev", show_default=True)
@click.option("--curves", is_flag=True, help="Also a learning-curve figure (F1 and loss by epoch) per stored job.")
def plot(table_no: int, model_names: str | None, languages: str | None, profile: str, seeds: int | None,
         hp: tuple[str, ...], data_dir: str | None, image_dir: str | None, corpus_name: str,
         label_map: tuple[str, ...], allow_missing_images: bool, results: str, output_dir: str, mode: str,
         selection: str, curves: bool, **_execution: Any) -> None:
    """Figures (PNG and PDF) of a table's stored results: bars, heat map (6), per-subset spread (8)."""
    from benchmark.report.breakdown import report_frame
    from benchmark.report.plots import plot_table

    plan, store = _report_plan(table_no, model_names, languages, profile, seeds, hp, data_dir, image_dir,
                               allow_missing_images, corpus_name, label_map, results, _execution)
    frame, _ = report_frame(plan, store, mode, selection)
    from benchmark.run.store import lookup

    found, _ = lookup(store, [p.job for p in plan.known])
    for path in plot_table(frame, list(found.values()), Path(output_dir), curves):
        click.echo(f"wrote {path}")


def _stored_hf_models(jobs: list[dict[str, Any]]) -> list[str]:
    """The ``hf:`` forms of the stored ``hf:`` jobs whose encoder is still here (one warning per
    encoder that is not: its rows need ``--models`` with where it is now)."""
    from benchmark.errors import MissingArtifactError
    from benchmark.registry import get_model, hf_ref_of_job

    found = []
    for ref in dict.fromkeys(filter(None, map(hf_ref_of_job, jobs))):
        try:
            found.append(get_model(ref).name)
        except MissingArtifactError:
            _warn(f"stored results of {ref}: that encoder is not found now; give --models hf:<where it is> "
                  "to show them")
    return found


def _report_plan(table_no: int, model_names: str | None, languages: str | None, profile: str, seeds: int | None,
                 hp: tuple[str, ...], data_dir: str | None, image_dir: str | None, allow_missing_images: bool,
                 corpus_name: str, label_map: tuple[str, ...], results: str, execution: dict[str, Any]):
    """The plan a report renders and its store. Without --models, registered models outside the paper
    that have results in the folder get rows of their own (the cells still come from planned jobs only)."""
    from benchmark.registry import MODELS
    from benchmark.tables import paper_models
    from benchmark.run.plan import make_plan
    from benchmark.run.store import ResultStore

    store = ResultStore(results)
    if not store.root.is_dir():
        raise ConfigError(f"results folder {store.root} does not exist (run `bench run` with the same options first)")
    extend: tuple[str, ...] = ()
    if not model_names:
        paper = paper_models()
        jobs = [job for _, job in store.scan() if job]
        extend = tuple(dict.fromkeys(job["model"] for job in jobs
                                     if job.get("model") in MODELS and job["model"] not in paper))
        extend += tuple(_stored_hf_models(jobs))
    plan = make_plan(_plan_options(table_no, model_names, languages, profile, seeds, hp, data_dir, image_dir,
                                   allow_missing_images, corpus_name, label_map, execution, extend),
                     echo=lambda m: click.echo(m, err=True))
    return plan, store


@main.command(epilog="""\b
Example:
  bench readme           # refresh README.md from results/reference""")
@click.option("--results", default=REFERENCE_RESULTS, show_default=True, type=click.Path(file_okay=False))
@click.option("--readme", default="README.md", show_default=True, type=click.Path(dir_okay=False))
@click.option("--data-dir", type=click.Path(file_okay=False), help="MMNERD root (default: $MMNERD_DIR).")
@strict_code_option
def readme(results: str, readme: str, data_dir: str | None, strict_code: bool) -> None:
    """Regenerate the README's results section from the stored paper-profile results."""
    from benchmark.report.readme import update_readme
    from benchmark.run.store import ResultStore

    changed = update_readme(Path(readme), ResultStore(results), data_dir, strict_code=strict_code)
    click.echo(f"{readme}: results section {'updated' if changed else 'already up to date'}")


@main.command(epilog="""\b
Examples:
  bench rank bilstm-crf --results results/experiments --languages en
  bench rank hbilstm-crf --results results/experiments --min-seeds 3 --format csv""")
@click.argument("model")
@click.option("--results", default=DEFAULT_RESULTS, show_default=True, type=click.Path(file_okay=False))
@click.option("--profile", type=click.Choice(["paper", "smoke"]), default="paper", show_default=True)
@click.option("--languages", help="Comma-separated test languages to keep (default: every stored setting).")
@click.option("--mode", type=click.Choice(["conlleval", "strict"]), default="conlleval", show_default=True)
@click.option("--min-seeds", type=int, default=1, show_default=True, callback=_at_least_one("--min-seeds"),
              help="Leave out configurations with fewer stored seeds.")
@click.option("--include-dirty", is_flag=True, help="Also runs from a tree with uncommitted changes.")
@click.option("--format", "fmt", type=click.Choice(["markdown", "csv"]), default="markdown")
@click.option("--output", type=click.Path(dir_okay=False), help="Write here (atomically) instead of stdout.")
@plugin_option
def rank(model: str, results: str, profile: str, languages: str | None, mode: str, min_seeds: int,
         include_dirty: bool, fmt: str, output: str | None) -> None:
    """Every stored configuration of MODEL (runs differing in --hp), ranked by mean dev F1 over seeds.

    Choose recipes, schemes and caps from this ranking (dev decides); the test column is shown
    for the record and is read for the chosen configuration only."""
    from benchmark.registry import get_model
    from benchmark.report.rank import rank as rank_configurations, render_ranking
    from benchmark.run.store import ResultStore

    spec = get_model(model)
    store = ResultStore(results)
    if not store.root.is_dir():
        raise ConfigError(f"results folder {store.root} does not exist")
    langs = set(_split(languages) or ())
    stored = [r for r in store.all() if r.job.profile == profile
              and (not langs or r.job.setting.test_language in langs)]
    blocks = rank_configurations(stored, spec, mode, clean_only=not include_dirty, min_seeds=min_seeds)
    if not blocks:
        raise ConfigError(f"no stored {profile}-profile run of {model} in {store.root}"
                          + (f" tested on {','.join(sorted(langs))}" if langs else "")
                          + ("" if include_dirty else " from a clean committed tree (--include-dirty counts the others)")
                          + (f" with >= {min_seeds} seeds" if min_seeds > 1 else ""))
    _emit(render_ranking(blocks, spec, mode, fmt), output)


@main.command(epilog="""\b
Examples:
  bench code --results results/reference              # each run's code digest vs this checkout's
  bench code --results results/reference --backfill   # add the digest to runs that predate it""")
@click.option("--results", default=DEFAULT_RESULTS, show_default=True, type=click.Path(file_okay=False))
@click.option("--models", "model_names", help="Comma-separated registry names (default: every stored model).")
@click.option("--backfill", is_flag=True, help="Write the digest, computed from the recorded clean git commit "
              "(`git show COMMIT:path`), into each stored result that predates it.")
@plugin_option
def code(results: str, model_names: str | None, backfill: bool) -> None:
    """Each stored run's code digest (benchmark/run/code.py: the model's modules and the layers,
    trainer, reader and metric it runs through) beside this checkout's: current, stale or unknown."""
    from tabulate import tabulate

    from benchmark.registry import get_model
    from benchmark.run.code import backfill as code_of, current_digest
    from benchmark.run.store import ResultStore

    store = ResultStore(results)
    if not store.root.is_dir():
        raise ConfigError(f"results folder {store.root} does not exist")
    wanted = {get_model(n).name for n in _split(model_names) or []}
    rows, counts, readers = [], {}, {}
    for res in store.all():
        if wanted and res.job.model not in wanted:
            continue
        digest, source = code_of(store.run_dir(res.job), res.job.model, res.environment, backfill, readers)
        current = current_digest(res.job.model)
        state = "unknown" if digest is None else "current" if digest == current else "stale"
        counts[state] = counts.get(state, 0) + 1
        rows.append([res.job.model, res.job.job_id, res.job.setting.label(), res.job.seed,
                     str(res.environment.get("commit") or "-")[:7], digest or "-", current or "-", state, source])
    if not rows:
        raise ConfigError(f"no stored result in {store.root}" + (f" for {', '.join(sorted(wanted))}" if wanted else ""))
    click.echo(tabulate(rows, headers=["model", "job", "setting", "seed", "commit", "code", "current", "state",
                                       "source"], tablefmt="github", disable_numparse=True))
    click.echo(", ".join(f"{n} {s}" for s, n in sorted(counts.items())))


SHOW_SEARCH = (DEFAULT_RESULTS, REFERENCE_RESULTS, "results/experiments")


@main.command(epilog="""\b
Examples:
  bench show 886bdf61                      # a prefix of the job id is enough
  bench show 886b --results results/reference --log-lines 30""")
@click.argument("job_id")
@click.option("--results", "results_dirs", multiple=True, type=click.Path(file_okay=False),
              help=f"Results folder(s) to search (default: {', '.join(SHOW_SEARCH)}).")
@click.option("--log-lines", default=12, show_default=True, help="Lines of train.log to print.")
def show(job_id: str, results_dirs: tuple[str, ...], log_lines: int) -> None:
    """A job's settings, metrics per epoch and the tail of its log (finished or unfinished)."""
    folder = find_job(job_id, results_dirs or SHOW_SEARCH)
    click.echo(terminal_safe(describe_job(folder, log_lines)))


def terminal_safe(text: str) -> str:
    """``text`` with control characters other than newline and tab shown as ``\\xNN`` escapes, so a
    stored string (a command, a log line) cannot move the cursor, recolour or retitle the terminal."""
    return "".join(c if c in "\n\t" or not (ord(c) < 32 or 127 <= ord(c) < 160) else f"\\x{ord(c):02x}"
                   for c in text)


def find_job(prefix: str, roots: "tuple[str, ...] | list[str]") -> Path:
    """The one job folder whose id starts with ``prefix`` (finished runs and unfinished work folders)."""
    prefix = prefix.strip().lower()
    if len(prefix) < 4 or any(c not in "0123456789abcdef" for c in prefix):
        raise ConfigError(f"bench show: {prefix!r} is not a job id prefix (at least 4 hex digits)")
    hits: list[Path] = []
    for root in roots:
        base = Path(root)
        hits += sorted(p for p in base.glob(f"runs/*/{prefix}*") if (p / "job.json").is_file())
        hits += sorted(p for p in base.glob(f".work/{prefix}*") if (p / "job.json").is_file())
    if not hits:
        raise ConfigError(f"bench show: no job {prefix}* in {', '.join(map(str, roots))}")
    ids = sorted({p.name for p in hits})
    if len(ids) > 1:
        raise ConfigError(f"bench show: {prefix} is ambiguous: {', '.join(ids[:8])}{' ...' if len(ids) > 8 else ''}")
    return hits[0]  # a finished run is listed before the same job's work folder


def describe_job(folder: Path, log_lines: int = 12) -> str:
    """Settings, per-epoch metrics and the log tail of the job stored in ``folder``."""
    from tabulate import tabulate

    from benchmark.run.specs import JobSpec

    try:
        job = JobSpec.from_json(json.loads((folder / "job.json").read_text(encoding="utf-8")))
        result_file = folder / "result.json"
        res = json.loads(result_file.read_text(encoding="utf-8")) if result_file.is_file() else None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BenchError(f"{folder}: unreadable job record ({exc})") from None
    out = [f"job {job.job_id}  {'finished' if res else 'UNFINISHED (resumes on the next bench run)'}  {folder}",
           f"  model      {job.model}",
           f"  setting    {job.setting.label()}",
           f"  seed       {job.seed}    profile {job.profile}    data {job.data_kind} ({job.data_fingerprint[:12]})",
           textwrap.fill(", ".join(f"{k}={v}" for k, v in sorted(job.hparams.items())), width=100,
                         initial_indent="  hparams    ", subsequent_indent=" " * 13)]
    history: list[dict[str, Any]] = []
    if res:
        from benchmark.util.machine import cpu_label

        env, test = res.get("environment", {}), res["test"]["conlleval"]
        dirty = " (uncommitted changes)" if env.get("dirty") else ""
        out += [f"  command    {env.get('command', '?')}",
                f"  commit     {str(env.get('commit', '?'))[:12]}{dirty}    finished {env.get('finished_at', '?')}",
                f"  machine    {env.get('device', '?')}"
                + (f" ({env['gpu']})" if env.get("gpu") else "")
                + (f", cpu {cpu_label(env)}" if env.get("cpu_model") else "")
                + f", {env.get('torch_threads', '?')} thread(s), "
                f"{res.get('wall_time_s', 0) / 60:.1f} min, peak {res.get('peak_memory_mb', 0):.0f} MB",
                f"  test       F1 {100 * test['f1']:.2f}  P {100 * test['precision']:.2f}  R {100 * test['recall']:.2f}"
                f"  (epoch {res['selected_epoch']} of {res['epochs_run']}, best {job.hparams.get('select_on', 'dev')})"
                f"; strict F1 {100 * res['test']['strict']['f1']:.2f}",
                "  counts     " + ", ".join(f"{k}={v}" for k, v in res.get("counts", {}).items())]
        history = res.get("history", [])
        selected = res["selected_epoch"]
    else:
        selected = None
    if history:
        rows = [[("* " if h["epoch"] == selected else "  ") + str(h["epoch"]), f"{h['loss']:.4f}",
                 f"{100 * h['dev']['conlleval']['f1']:.2f}", f"{100 * h['test']['conlleval']['f1']:.2f}",
                 f"{h.get('train_time_s', 0):.1f}"] for h in history]
        out += ["", "metrics per epoch (* = selected):",
                tabulate(rows, headers=["epoch", "loss", "dev F1", "test F1", "train s"], tablefmt="simple",
                         disable_numparse=True)]
    log = folder / "train.log"
    if log.is_file() and log_lines > 0:
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-log_lines:]
        out += ["", f"{log} (last {len(tail)} lines):", *("  " + line for line in tail)]
    error = folder / "error.txt"
    if error.is_file():
        out += ["", f"{error} (last lines):",
                *("  " + line for line in error.read_text(encoding="utf-8", errors="replace").splitlines()[-6:])]
    return "\n".join(out)


def _emit(text: str, output: str | None) -> None:
    if output:
        from benchmark.util.io import write_text
        write_text(output, text)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


@main.command(epilog="""\b
Examples:
  bench check --threads 1
  bench check --models bilstm-crf --tolerance test_f1=1""")
@click.option("--suite", type=click.Choice(["smoke"]), default="smoke", show_default=True)
@click.option("--baseline", type=click.Path(dir_okay=False),
              help="Baseline JSON (default: results/baselines/<suite>.json).")
@click.option("--tolerance", help="Override the measured allowed drop per metric, e.g. test_f1=0.5,final_loss=0.1 "
                                  "or all=2 (default: the tolerances stored in the baseline).")
@click.option("--models", "model_names", help="Comma-separated registry names (default: every registered model).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="MMNERD root (default: $MMNERD_DIR).")
@click.option("--update", is_flag=True,
              help="Re-measure the baseline: seeds 1-3 at one thread and seed 1 at two threads per model; "
                   "stores seed 1's metrics, the spread and the tolerances derived from it (shows what changed).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes training models side by side (each pinned to its own thread count, "
                   "so the figures do not change; 2 halves the wall time on a 2-core machine).")
@click.option("--show-all", is_flag=True, help="List unchanged metrics too.")
@plugin_option
def check(suite: str, baseline: str | None, tolerance: str | None, model_names: str | None, data_dir: str | None,
          update: bool, workers: int, show_all: bool) -> None:
    """Regression check: every model on a fixed subset vs the committed baseline (exit 1 on regression).

    The check always trains with one torch thread and deterministic algorithms (the baseline's
    conditions), whatever --threads / BENCH_THREADS say elsewhere.

    \b
    Examples:
      bench check                               # what CI runs
      bench check --models bilstm-crf,2m-ner    # a subset
      bench check --update                      # re-measure; commit results/baselines/smoke.json alone
    """
    from benchmark.corpora.resolve import resolve_corpus
    from benchmark.registry import get_model
    from benchmark.run.check import (FAILING, baseline_path, compare, load_baseline, measure, measure_baseline,
                                     merge_baseline, parse_tolerances, render_findings, save_baseline)

    tolerances = parse_tolerances(tolerance)
    corpus = resolve_corpus(data_dir, echo=lambda m: click.echo(m, err=True))
    path = Path(baseline) if baseline else baseline_path("results", suite)
    names = [get_model(n).name for n in _split(model_names) or []] or None
    full = load_baseline(path, corpus.kind)
    if full is None and not update:
        raise BenchError(f"no baseline for data '{corpus.kind}' in {path}; create it with `bench check --update`")
    base = full
    if base is not None and names:
        base = {**base, "models": {k: v for k, v in base["models"].items() if k in names}}
    what = f"{len(names)} model(s)" if names else "every model"
    if update:
        click.echo(f"bench check --update ({suite}, data {corpus.kind}): measuring {what} over seeds and threads...")
        measured = measure_baseline(corpus, suite, names, echo=click.echo, command=bench_command(sys.argv),
                                    workers=workers)
        if base is not None:
            click.echo(render_findings(compare(base, measured, tolerances), show_all=True))
        save_baseline(path, corpus.kind, merge_baseline(full, measured) if names else measured)
        click.echo(f"baseline written: {path} [{corpus.kind}]")
        return
    click.echo(f"bench check ({suite}, data {corpus.kind}): training {what}...")
    current = measure(corpus, suite, names, echo=click.echo, workers=workers)
    findings = compare(base, current, tolerances)
    click.echo(render_findings(findings, show_all))
    failed = [f for f in findings if f.status in FAILING]
    if failed:
        click.echo(f"REGRESSION: {len(failed)} metric(s) outside tolerance "
                   f"({', '.join(sorted({f.model for f in failed}))})", err=True)
        sys.exit(1)
    click.echo("OK: no regression")


@main.command(epilog="""\b
Examples:
  bench profile --model 2m-ner --threads 1
  bench profile --grid 5 --fallback --threads 1
  bench profile --reader                 # bench validate: peak memory and time vs file size""")
@click.option("--grid", "grid_table", type=int, help="Time a table's whole grid (every job, one seed).")
@click.option("--profile", "run_profile", type=click.Choice(["paper", "smoke"]), default="smoke", show_default=True)
@click.option("--data-dir", type=click.Path(file_okay=False),
              help="Corpus root (default: $MMNERD_DIR; --fallback forces the built-in corpus).")
@click.option("--fallback", is_flag=True, help="Use the built-in fallback corpus (all four languages).")
@click.option("--device", default="auto", show_default=True)
@click.option("--threads", type=int, envvar="BENCH_THREADS")
@click.option("--results", default="results", show_default=True, type=click.Path(file_okay=False),
              help="Records go to RESULTS/benchmarks/.")
@click.option("--name", help="Record name under results/benchmarks/ (default derived from the options).")
@click.option("--viterbi", is_flag=True, help="Time CRF decoding + scoring of the English test set (both decoders).")
@click.option("--reader", is_flag=True, help="Peak memory and time of `bench validate` on generated files of "
              "one-token sentences (12.5, 25 and 50 MB), one fresh process each.")
@click.option("--model", "model_name", help="Parameters, sentences/s and peak memory of a model (e.g. 2m-ner).")
@plugin_option
@click.option("--fit-steps", type=int, help="With --model: time N steps per epoch through the real trainer "
              "(2 epochs: cold, then warm feature cache; checkpoints written; stand-in weights when absent).")
@click.option("--hp", "profile_hp", multiple=True, help="With --fit-steps: hyperparameter override KEY=VALUE.")
@click.option("--random-weights", is_flag=True,
              help="With --model and --profile paper: when pretrained weights are absent, profile the paper "
                   "architectures with random weights of the real shapes (paper-size parameter counts).")
def profile(grid_table: int | None, run_profile: str, data_dir: str | None, fallback: bool, device: str,
            threads: int | None, results: str, name: str | None, viterbi: bool, reader: bool,
            model_name: str | None, fit_steps: int | None, profile_hp: tuple[str, ...], random_weights: bool) -> None:
    """Measure and record performance figures in results/benchmarks/ (no timed tests)."""
    from benchmark.corpora.resolve import resolve_corpus
    from benchmark.corpora.builtin import ensure_fallback_corpus
    from benchmark.run.timing import record, time_table_grid
    from benchmark.util.io import dumps

    _set_threads(threads)
    if sum(x is not None and x is not False for x in (grid_table, viterbi or None, reader or None, model_name)) != 1:
        raise ConfigError("bench profile: choose exactly one of --grid N, --viterbi, --reader, --model NAME")
    if reader:
        from benchmark.profiling.reader import format_reader_profile, profile_reader
        out = profile_reader()
        click.echo(format_reader_profile(out))
        path = record(results, name or "reader_validate", out)
        click.echo(f"-> {path}")
        return
    corpus = ensure_fallback_corpus() if fallback else resolve_corpus(data_dir, echo=lambda m: click.echo(m, err=True))
    if viterbi:
        from benchmark.profiling.viterbi import format_profile, profile_viterbi
        lang = "en" if corpus.has_language("en") else corpus.available_languages()[0]
        out = profile_viterbi(corpus.load([lang], "test"), threads=threads)
        click.echo(format_profile(out))
        path = record(results, name or f"viterbi_{corpus.kind}_{lang}", {"data_kind": corpus.kind, **out})
        click.echo(f"-> {path}")
        return
    if model_name and fit_steps:
        from benchmark.profiling.fit import profile_fit
        out = profile_fit(model_name, run_profile, _device(device), fit_steps, overrides=_parse_hp(profile_hp))
        click.echo(dumps(out))
        path = record(results, name or f"fit_{out['model']}_{run_profile}_{out['device']}", out)
        click.echo(f"-> {path}")
        return
    if model_name:
        from benchmark.registry import get_model
        from benchmark.profiling.model import profile_model
        spec = get_model(model_name)
        out = profile_model(spec.name, run_profile, _device(device), random_weights=random_weights)
        click.echo(dumps(out))
        path = record(results, name or f"model_{spec.name}_{run_profile}_{out.get('device', device)}", out)
        click.echo(f"-> {path}")
        return
    click.echo(f"timing Table {grid_table} grid, profile {run_profile}, data {corpus.kind}")
    payload = time_table_grid(grid_table, corpus, run_profile, _device(device), echo=click.echo)
    path = record(results, name or f"grid_table{grid_table}_{run_profile}_{corpus.kind}", payload)
    click.echo(f"{payload['jobs']} jobs in {payload['total_seconds']:.1f}s -> {path}")
    for reason in payload["not_run"]:
        click.echo(f"  not run: {reason}")


@main.command(epilog="""\b
Examples:
  bench weights
  bench weights --models hf:xlm-roberta-base              # where an encoder is found (HF cache)
  bench weights --download bert-base-multilingual-cased   # where a network exists""")
@click.option("--models", "model_names", help="Comma-separated registry names or hf:<hub id or folder>[+crf] (default: all).")
@click.option("--download", is_flag=True, help="Fetch what is missing (needs network; e.g. on a login node).")
@click.argument("artifacts", nargs=-1)
@plugin_option
def weights(model_names: str | None, download: bool, artifacts: tuple[str, ...]) -> None:
    """What pretrained artefacts each model needs, and whether they are present (or --download them)."""
    from tabulate import tabulate

    from benchmark import weights as w
    from benchmark.registry import HF_FORM, HF_PREFIX

    if download:
        ids = list(artifacts) or None
        if ids is None and model_names:
            from benchmark.registry import get_model
            ids = list(dict.fromkeys(a for n in _split(model_names) or [] for a in get_model(n).needs))
        w.download(ids, log=click.echo)
        return
    rows = w.status(_split(model_names))
    click.echo(tabulate([[r.model, r.artifact, "yes" if r.present else "NO", r.where] for r in rows],
                        headers=["model", "artefact", "present", "where"], tablefmt="github"))
    for art_id in dict.fromkeys(r.artifact for r in rows
                                if r.artifact in w.ARTIFACTS and w.ARTIFACTS[r.artifact].kind == "embeddings"):
        click.echo(f"{art_id} sources: {w.ARTIFACTS[art_id].provide}")
    if not any(r.artifact.startswith(HF_PREFIX) for r in rows):
        click.echo(f"any other encoder: --models {HF_FORM}; `bench weights --models hf:REF` says where it is found")
    if any(not r.present for r in rows):
        click.echo(f"weights folder: {w.weights_dir()} (set MMNER_WEIGHTS_DIR); "
                   "`bench weights --download` fetches missing ones where a network exists")


if __name__ == "__main__":  # pragma: no cover
    main()
    os._exit(0)
