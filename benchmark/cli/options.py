"""Option declarations shared by several commands (``--plugin``, the job options, ...)."""
from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from typing import Any

import click
from click.core import ParameterSource

from benchmark.cli.common import DEFAULT_RESULTS, parse_hp, split_csv
from benchmark.errors import BenchError, ConfigError
from benchmark.run.executor import EXECUTORS


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


def deprecated_alias(old: str, new: str, dest: str, **option: Any):
    """``old``, a hidden option that stands for ``new`` (stored in the parameter ``dest``): giving it
    says once on stderr that it is deprecated; it may not contradict ``new`` given as well."""
    alias_dest = f"deprecated_{dest}"

    def decorate(func: Any) -> Any:
        @functools.wraps(func)
        def resolve(**params: Any) -> Any:
            value = params.pop(alias_dest)
            if value is not None:
                click.echo(f"bench: {old} is deprecated; use {new}", err=True)
                ctx = click.get_current_context()
                if ctx.get_parameter_source(dest) == ParameterSource.COMMANDLINE and params[dest] != value:
                    raise ConfigError(f"{old} {value} contradicts {new} {params[dest]}: give {new} alone")
                params[dest] = ctx.params[dest] = value  # ctx.params: what later command lines repeat
            return func(**params)
        return click.option(old, alias_dest, hidden=True, default=None, **option)(resolve)
    return decorate


def scale_options(default: str):
    """``--scale paper|smoke`` (``--profile``, its former name, still accepted): the paper's data and
    model sizes, or small subsets and tiny models. Stored in each job as ``profile``."""
    choice = click.Choice(["paper", "smoke"])

    def decorate(func: Any) -> Any:
        func = deprecated_alias("--profile", "--scale", "scale", type=choice)(func)
        return click.option("--scale", type=choice, default=default, show_default=True,
                            help="paper: the paper's data and model sizes; smoke: small subsets and tiny "
                                 "models (for regression checks, not comparable to the paper).")(func)
    return decorate


def corpus_options(deprecated: bool = False):
    """``--corpus NAME`` and ``--label-map TYPE=TYPE``: validate, stats and the job options
    (``deprecated``: ``--data-kind``, the former spelling of ``--corpus``, still accepted)."""
    def decorate(func: Any) -> Any:
        if deprecated:
            func = deprecated_alias("--data-kind", "--corpus", "corpus_name")(func)
        func = click.option("--label-map", "label_map", multiple=True,
                            help="Read an entity type as another, e.g. OTHER=MISC (target O drops it); "
                                 "repeatable.")(func)
        return click.option("--corpus", "corpus_name", default="mmnerd", show_default=True,
                            help="Registered corpus (layout, types, tag scheme): mmnerd, twitter2017, ... "
                                 "Without --data-dir and $MMNERD_DIR the built-in corpus is used.")(func)
    return decorate


def at_least_one(name: str):
    def check(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ConfigError(f"{name} must be >= 1, got {value}")
        return value
    return check


@dataclass(frozen=True)
class JobSelection:
    """The options that decide a job list (``--table`` ... ``--allow-missing-images``), as given."""

    table_no: int | None
    model_names: str | None
    languages: str | None
    scale: str
    seeds: int | None
    hp: tuple[str, ...]
    data_dir: str | None
    image_dir: str | None
    corpus_name: str
    label_map: tuple[str, ...]
    allow_missing_images: bool

    def plan_options(self, execution: "Execution | None" = None, extend: tuple[str, ...] = ()):
        """The planner's options; ``execution`` (precision, compile) contributes the trainer keys that
        change numbers (never the executor or the machine: the same options give the same ids)."""
        from benchmark.corpora.labels import parse_label_map
        from benchmark.hparams import trainer_overrides
        from benchmark.run.plan import PlanOptions

        names = split_csv(self.model_names)
        langs = split_csv(self.languages)
        trainer = trainer_overrides(execution.precision if execution else "fp32",
                                    bool(execution and execution.compile_model))
        return PlanOptions(table=self.table_no, models=tuple(names) if names else None,
                           languages=tuple(langs) if langs else None, scale=self.scale, seeds=self.seeds,
                           hp=tuple({**trainer, **parse_hp(self.hp)}.items()), data_dir=self.data_dir,
                           image_dir=self.image_dir, allow_missing_images=self.allow_missing_images,
                           corpus=self.corpus_name, label_map=tuple(sorted(parse_label_map(self.label_map).items())),
                           extend=extend)


@dataclass(frozen=True)
class Execution:
    """How ``bench run`` executes the jobs (``--device`` ... ``--slurm-extra``); of these only
    ``--precision`` and ``--compile`` enter the job id (through ``JobSelection.plan_options``)."""

    device: str
    threads: int | None
    overwrite: str
    executor: str
    devices: str | None
    precision: str
    compile_model: bool
    slurm: dict[str, Any]  # the --slurm-* options, keyed as the Slurm executor takes them


SLURM_KEYS = ("partition", "gpus", "cpus", "time", "mem", "account", "extra", "max_requeues")


def _table_option(required: bool) -> Any:
    return click.option("--table", "table_no", type=int, required=required,
                        help="Paper table number (5-9)." + ("" if required else " Default: every table."))


# The job options after --table, in --help order: what decides the jobs, then how they run. Declared
# once; `job_options` applies them to run, plan, status, report and plot.
JOB_OPTIONS: tuple[Any, ...] = (
    click.option("--models", "model_names", help="Comma-separated registry names, or hf:<hub id or folder>[+crf] "
                 "for any encoder AutoModel loads (default: all rows)."),
    click.option("--languages", help="Comma-separated test languages: all,en,fr,es,de."),
    scale_options(default="paper"),
    click.option("--seeds", type=int, callback=at_least_one("--seeds"),
                 help="Runs per row, seeds 1..N (default: the table's own repeats)."),
    click.option("--hp", multiple=True, help="Hyperparameter override KEY=VALUE (JSON values), repeatable."),
    click.option("--data-dir", type=click.Path(file_okay=False),
                 help="MMNERD root (default: $MMNERD_DIR; the built-in corpus only when neither is given)."),
    click.option("--image-dir", type=click.Path(file_okay=False),
                 help="Image folder (default: $MMNERD_IMAGE_DIR, else <data-dir>/images). A named folder must "
                      "exist, and needs a corpus (--data-dir or $MMNERD_DIR): the built-in one has its own."),
    corpus_options(deprecated=True),
    click.option("--allow-missing-images", is_flag=True,
                 help="Run multimodal rows even when no image folder is found (images substituted, flagged)."),
    click.option("--results", default=DEFAULT_RESULTS, show_default=True, type=click.Path(file_okay=False)),
    click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N or auto (run only)."),
    click.option("--threads", type=int, envvar="BENCH_THREADS", callback=at_least_one("--threads"),
                 help="CPU threads for torch (run only; default: torch's choice). 1 is often as fast for "
                      "the LSTM models and avoids slow-downs when other processes share the cores."),
    click.option("--overwrite", type=click.Choice(["never", "always"]), default="never", show_default=True,
                 help="never: skip jobs already stored (resume); always: re-run them (run only)."),
    click.option("--executor", type=click.Choice(list(EXECUTORS)), default=next(iter(EXECUTORS)), show_default=True),
    click.option("--devices", help="Local executor device slots, one job per slot in parallel, each in its "
                 "own process: e.g. cuda:0,cuda:1 (or 0,1), cpu,cpu. Default: every visible GPU with "
                 "--device cuda/auto, else one CPU job after another in this process."),
    click.option("--precision", type=click.Choice(["fp32", "bf16"]), default="fp32", show_default=True,
                 help="bf16 = autocast (part of the job id, the same under every executor: never "
                      "inferred from the machine)."),
    click.option("--compile", "compile_model", is_flag=True, help="torch.compile the models (part of the job id)."),
    click.option("--slurm-partition", help="Slurm partition (with --executor slurm)."),
    click.option("--slurm-gpus", type=int, help="GPUs per Slurm task (default: 1 with --device cuda, "
                 "0 with cpu; auto: 1 for paper-scale jobs on a partition with GPUs)."),
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
)


def job_options(table_required: bool = True):
    """The options that decide a job list (shared by run, plan, status and report), plus the
    execution options of ``run`` (accepted everywhere so a run's command line can be reused;
    they never change which jobs are meant). The command receives them as ``job_opts``
    (``JobSelection``), ``execution`` (``Execution``) and ``results``."""
    def decorate(command: Any) -> Any:
        @functools.wraps(command)
        def collect(**params: Any) -> Any:
            job = JobSelection(**{f.name: params.pop(f.name) for f in fields(JobSelection)})
            slurm = {key: params.pop(f"slurm_{key}") for key in SLURM_KEYS}
            execution = Execution(**{f.name: params.pop(f.name) for f in fields(Execution) if f.name != "slurm"},
                                  slurm=slurm)
            return command(job_opts=job, execution=execution, **params)

        for opt in reversed((_table_option(table_required), *JOB_OPTIONS)):
            collect = opt(collect)
        return collect
    return decorate


def strict_code_option(func: Any) -> Any:
    """``--strict-code``: exit 2 when a row's runs are mixed or stale in their code digest (for CI)."""
    return click.option("--strict-code", is_flag=True,
                        help="Exit 2 when a row's runs ran at more than one code version (mixed) or at another "
                             "version than this checkout's (stale); see `bench code`.")(func)
