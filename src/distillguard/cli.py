"""The ``distillguard`` command: parse arguments, call the library, show progress.

Exit codes: 0 success; 1 the run finished but rejected records (see the quarantine);
2 a usage or input error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final

import orjson
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from .errors import DistillguardError, InputError
from .hashing import key_from_env

if TYPE_CHECKING:
    from .exchange import IngestOptions, IngestSummary, Store
    from .hunt import HuntOptions, HuntResult
    from .hunt.baselines import BaselineResult
    from .simulate import SimulationSummary

# The parts a command drives are imported inside the command, so that each command loads
# only what it uses (the hunt's and the store's libraries take seconds to import).

EXIT_REJECTED: Final = 1
EXIT_USAGE: Final = 2

app = typer.Typer(
    name="distillguard",
    help="Protect an LLM API from distillation attacks: simulate labelled traffic, "
    "ingest exchange logs, hunt campaigns, guard an API inline, mark outputs, triage cases.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """distillguard: find distillation campaigns in LLM API traffic."""


console = Console(stderr=True)
out = Console()


@contextmanager
def _progress(description: str, total: int | None = None) -> Iterator[Progress]:
    columns = [SpinnerColumn(), TextColumn("[bold]{task.description}")]
    if total is not None:
        columns += [BarColumn(), MofNCompleteColumn()]
    else:
        columns += [TextColumn("{task.completed:,.0f}")]
    columns += [TextColumn("exchanges"), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True) as bar:
        bar.add_task(description, total=total)
        yield bar


def _fail(error: DistillguardError) -> typer.Exit:
    console.print(f"[red]error:[/red] {error}")
    return typer.Exit(EXIT_USAGE)


def print_ingest(summary: IngestSummary) -> None:
    table = Table(title="ingest", show_header=False, box=None)
    table.add_row("files", f"{summary.files:,}")
    table.add_row("records read", f"{summary.records:,}")
    table.add_row("exchanges stored", f"{summary.exchanges:,}")
    table.add_row("duplicate ids", f"{summary.duplicates:,}")
    table.add_row("accounts", f"{summary.accounts:,}")
    table.add_row("days", f"{summary.days:,}")
    if summary.registry is not None:
        table.add_row("registry rows", f"{summary.registry.rows:,}")
    if summary.models is not None:
        table.add_row("model releases", f"{summary.models.rows:,}")
    table.add_row("rejected", f"{summary.rejected:,}")
    for reason, count in summary.rejected_by_reason.items():
        table.add_row(f"  {reason}", f"{count:,}")
    for reason, count in summary.warnings_by_reason.items():
        table.add_row(f"warning {reason}", f"{count:,}")
    table.add_row("seconds", f"{summary.seconds:.1f}")
    table.add_row("store", str(summary.store))
    if summary.rejected:
        table.add_row("quarantine", str(summary.quarantine))
    out.print(table)


def run_ingest(
    logs: list[Path],
    store: Path,
    *,
    accounts: Path | None,
    models: Path | None,
    options: IngestOptions,
) -> IngestSummary:
    from .exchange import ingest

    with _progress("ingest") as bar:
        task = bar.task_ids[0]
        return ingest(
            logs,
            store,
            accounts=accounts,
            models=models,
            options=options,
            progress=lambda n: bar.advance(task, n),
        )


@app.command("ingest")
def ingest_command(
    logs: Annotated[
        list[Path],
        typer.Argument(
            help="Exchange logs: .jsonl, .jsonl.gz, .json, .parquet, .csv, or folders of them."
        ),
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Store folder to create.")],
    accounts: Annotated[
        Path | None, typer.Option(help="Account registry (JSON Lines or CSV).")
    ] = None,
    models: Annotated[Path | None, typer.Option(help="Model releases (JSON Lines).")] = None,
    keep_text: Annotated[
        bool,
        typer.Option(
            help="Also store raw prompt, response and reasoning text (off: hashes and sizes only)."
        ),
    ] = False,
    fmt: Annotated[
        str, typer.Option("--format", help="auto, contract, otel, litellm or helicone.")
    ] = "auto",
    max_record_bytes: Annotated[int, typer.Option(help="Largest record accepted.")] = 8
    * 1024
    * 1024,
    workers: Annotated[int, typer.Option(help="Parser processes (0: one per core).")] = 0,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing store.")] = False,
) -> None:
    """Read exchange logs into a columnar store; rejected records go to its quarantine.

    Exit code 1 means the store was written but some records were rejected."""
    from .exchange import IngestOptions
    from .signals import TextSignals

    options = IngestOptions(
        keep_text=keep_text,
        limit=max_record_bytes,
        workers=workers,
        fmt=fmt,
        hash_key=key_from_env(),
        overwrite=overwrite,
        annotate=TextSignals(),
    )
    try:
        summary = run_ingest(logs, out_dir, accounts=accounts, models=models, options=options)
    except DistillguardError as error:
        raise _fail(error) from error
    print_ingest(summary)
    if not summary.clean:
        raise typer.Exit(EXIT_REJECTED)


def _print_simulation(summary: SimulationSummary) -> None:
    table = Table(title="simulated traffic", show_header=True, box=None)
    table.add_column("population")
    table.add_column("accounts", justify="right")
    table.add_column("exchanges", justify="right")
    for name, (accounts, exchanges) in sorted(summary.populations.items()):
        table.add_row(name, f"{accounts:,}", f"{exchanges:,}")
    table.add_row("all", f"{summary.accounts:,}", f"{summary.exchanges:,}")
    out.print(table)


def run_simulation(
    out_dir: Path, *, scale: float, days: int, seed: int, evasion: int
) -> SimulationSummary:
    from .simulate import simulate

    with _progress("simulate") as bar:
        task = bar.task_ids[0]
        return simulate(
            out_dir,
            scale=scale,
            days=days,
            seed=seed,
            evasion=evasion,
            progress=lambda n: bar.update(task, completed=n),
        )


@app.command("simulate")
def simulate_command(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the traffic to.")],
    scale: Annotated[
        float,
        typer.Option(
            help="1.0 = the reported volumes (about 16M campaign "
            "exchanges over 24,000 accounts); 0.01 = a demo."
        ),
    ] = 0.01,
    days: Annotated[int, typer.Option(help="Days of traffic.")] = 14,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same bytes.")] = 1,
    evasion: Annotated[
        int,
        typer.Option(
            min=0,
            max=3,
            help="0 none; 1 rotated residential IPs, "
            "unique payment, staggered sign-ups; 2 adds human-like "
            "timing and low per-account volume; 3 adds paraphrased "
            "instructions and benign chatter.",
        ),
    ] = 0,
) -> None:
    """Write labelled traffic: exchange log, account registry, model releases, labels.csv."""
    try:
        summary = run_simulation(out_dir, scale=scale, days=days, seed=seed, evasion=evasion)
    except (DistillguardError, ValueError) as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(EXIT_USAGE) from error
    _print_simulation(summary)
    out.print(f"written to {out_dir}")


@app.command("demo")
def demo_command(
    out_dir: Annotated[Path, typer.Option("--out", help="Working folder.")] = Path("demo"),
    scale: Annotated[float, typer.Option(help="Traffic scale (see simulate).")] = 0.002,
    days: Annotated[int, typer.Option(help="Days of traffic.")] = 7,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    evasion: Annotated[int, typer.Option(min=0, max=3, help="Evasion level (see simulate).")] = 1,
) -> None:
    """Simulate labelled traffic, ingest it, hunt it, score the hunt against the labels."""
    from .exchange import IngestOptions, Store
    from .hunt import HuntOptions
    from .hunt.evaluate import evaluate, render
    from .signals import TextSignals

    traffic = out_dir / "traffic"
    store_dir = out_dir / "store"
    results = out_dir / "hunt"
    try:
        simulation = run_simulation(traffic, scale=scale, days=days, seed=seed, evasion=evasion)
        _print_simulation(simulation)
        options = IngestOptions(hash_key=key_from_env(), overwrite=True, annotate=TextSignals())
        summary = run_ingest(
            [traffic / "exchanges"],
            store_dir,
            accounts=traffic / "accounts.jsonl",
            models=traffic / "models.jsonl",
            options=options,
        )
        print_ingest(summary)
        result = run_hunt(Store(store_dir), results, HuntOptions())
        evaluation = evaluate(results, traffic / "labels.csv")
    except DistillguardError as error:
        raise _fail(error) from error
    print_hunt(result)
    for table in render(evaluation):
        out.print(table)
    out.print(f"traffic: {traffic}  (labels: {traffic / 'labels.csv'})")
    out.print(f"store:   {store_dir}  (columns: docs/store.md)")
    out.print(f"report:  {results / 'report.html'}")
    if not summary.clean:
        raise typer.Exit(EXIT_REJECTED)


@app.command("evaluate")
def evaluate_command(
    hunt_dir: Annotated[Path, typer.Argument(help="A hunt's output folder.")],
    labels: Annotated[Path, typer.Option(help="labels.csv of labelled traffic.")],
    truth: Annotated[
        Path | None,
        typer.Option(help="The simulation's summary.json (default: next to labels.csv)."),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the figures as JSON here.")
    ] = None,
) -> None:
    """Score a hunt against labels: precision, recall, F1, PR-AUC, false positives by
    population, campaign ARI and per-campaign recall and capability."""
    from .hunt.evaluate import evaluate, render

    try:
        evaluation = evaluate(hunt_dir, labels, truth=truth)
    except DistillguardError as error:
        raise _fail(error) from error
    for table in render(evaluation):
        out.print(table)
    if json_out is not None:
        json_out.write_bytes(orjson.dumps(evaluation.to_json(), option=orjson.OPT_INDENT_2))


@app.command("baseline")
def baseline_command(
    name: Annotated[
        str,
        typer.Argument(
            help="rate (per-key rate limiting), cot (keywords) or dense (dense blocks alone)."
        ),
    ],
    store_dir: Annotated[Path, typer.Argument(help="An ingested store.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for accounts.csv.")],
) -> None:
    """Run a baseline the hunt must beat and write its accounts.csv (score it with evaluate)."""
    from .exchange import Store
    from .hunt.baselines import cot_share, dense_block, rate_limit

    runners: dict[str, Callable[[Store, Path], BaselineResult]] = {
        "rate": rate_limit,
        "cot": cot_share,
        "dense": dense_block,
    }
    try:
        if name not in runners:
            raise InputError(f"unknown baseline {name!r}: choose {', '.join(sorted(runners))}")
        result = runners[name](Store(store_dir), out_dir)
    except DistillguardError as error:
        raise _fail(error) from error
    out.print(f"{result.name}: {result.attack:,} of {result.accounts:,} accounts flagged")
    out.print(f"written to {out_dir}")


def _hunt_store(
    logs: list[Path], out_dir: Path, *, accounts: Path | None, models: Path | None
) -> Store:
    """The store to hunt: the one given, or one ingested from the logs into OUT/store."""
    from .exchange import IngestOptions, Store
    from .exchange.store import STORE_MARKER
    from .signals import TextSignals

    if len(logs) == 1 and (logs[0] / STORE_MARKER).is_file():
        if accounts or models:
            raise InputError(
                "--accounts and --models go with exchange logs; a store already holds them"
            )
        return Store(logs[0])
    options = IngestOptions(hash_key=key_from_env(), overwrite=True, annotate=TextSignals())
    summary = run_ingest(logs, out_dir / "store", accounts=accounts, models=models, options=options)
    if summary.rejected:
        console.print(
            f"[yellow]{summary.rejected:,} records rejected:[/yellow] see {summary.quarantine}"
        )
    return Store(out_dir / "store")


def run_hunt(store: Store, out_dir: Path, options: HuntOptions) -> HuntResult:
    from .hunt import hunt

    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]hunt[/bold] {task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("reading", total=None)
        result = hunt(store, out_dir, options, progress=lambda s: bar.update(task, description=s))
    from .hunt.report import render_report

    render_report(out_dir)
    return result


def print_hunt(result: HuntResult) -> None:
    table = Table(title="hunt", show_header=False, box=None)
    table.add_row("accounts", f"{result.accounts:,}")
    table.add_row("exchanges", f"{result.exchanges:,}")
    table.add_row("clusters", f"{result.clusters:,}")
    table.add_row("campaigns", f"{result.campaigns:,}")
    for verdict, count in result.verdicts.items():
        table.add_row(f"  {verdict}", f"{count:,}")
    table.add_row("report", str(result.out / "report.html"))
    out.print(table)


@app.command("hunt")
def hunt_command(
    logs: Annotated[
        list[Path],
        typer.Argument(help="Exchange logs (as for ingest), or one ingested store folder."),
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the results.")],
    accounts: Annotated[Path | None, typer.Option(help="Account registry.")] = None,
    models: Annotated[Path | None, typer.Option(help="Model releases.")] = None,
    config: Annotated[
        Path | None, typer.Option(help="Hunt settings (TOML): operating point, indicators.")
    ] = None,
    attack_score: Annotated[
        float | None,
        typer.Option(help="Operating point: cluster score (0-1) from which accounts are attack."),
    ] = None,
    target_fpr: Annotated[
        float | None,
        typer.Option(
            help="Operating point as the share of customers to flag, estimated on this traffic "
            "(replaces --attack-score)."
        ),
    ] = None,
    indicators: Annotated[
        Path | None, typer.Option(help="Known-actor indicator file (JSON) for attribution.")
    ] = None,
    intel: Annotated[
        Path | None,
        typer.Option(help="Intel store of partners' indicators (distillguard intel import)."),
    ] = None,
    previous: Annotated[
        Path | None,
        typer.Option(
            help="The last hunt's output folder (or accounts.csv): its attack accounts stay "
            "attack while they are still suspicious, clustered and at least halfway from the "
            "suspicious to the attack score, so verdicts do not flap."
        ),
    ] = None,
) -> None:
    """Find distillation campaigns: writes accounts.csv, campaigns.json and report.html."""
    from .hunt import HuntOptions, OperatingPoint
    from .hunt.config import load_config

    try:
        options = load_config(config) if config else HuntOptions()
        if attack_score is not None:
            if not 0 < attack_score < 1:
                raise InputError("--attack-score must be between 0 and 1")
            point = OperatingPoint(attack_score, min(attack_score, options.point.suspicious_score))
            options = replace(options, point=point)
        if target_fpr is not None:
            if not 0 < target_fpr < 1:
                raise InputError("--target-fpr must be between 0 and 1")
            options = replace(options, point=replace(options.point, target_fpr=target_fpr))
        if indicators is not None:
            options = replace(options, indicators=indicators)
        if previous is not None:
            from .hunt.hold import read_convicted

            read_convicted(previous)  # refuse a bad file before a long ingest, not after
            options = replace(options, previous=previous)
        if intel is not None:
            from .intel.cli import hunt_intel

            options = replace(options, intel=hunt_intel(intel))
        store = _hunt_store(logs, out_dir, accounts=accounts, models=models)
        result = run_hunt(store, out_dir, options)
    except DistillguardError as error:
        raise _fail(error) from error
    print_hunt(result)


ADMIN_TOKEN_ENV: Final = "DISTILLGUARD_ADMIN_TOKEN"


@app.command("guard")
def guard_command(
    upstream: Annotated[str, typer.Option(help="Base URL of the model server to protect.")],
    listen: Annotated[str, typer.Option(help="HOST:PORT to listen on.")] = "127.0.0.1:8787",
    policy: Annotated[
        Path | None, typer.Option(help="Policy file (YAML; default: the shipped policy).")
    ] = None,
    watchlist: Annotated[
        Path | None,
        typer.Option(help="Folder with a hunt's accounts.csv and/or watchlist.jsonl."),
    ] = None,
    log_dir: Annotated[
        Path, typer.Option(help="Folder for the exchange log the guard writes.")
    ] = Path("guard-log"),
    redis: Annotated[
        str | None, typer.Option(help="Redis URL for state shared between replicas.")
    ] = None,
) -> None:
    """Guard a model server inline: decide per request, act, and log every exchange.

    The admin endpoints (/_guard/...) need the token in $DISTILLGUARD_ADMIN_TOKEN;
    without it they are off.
    """
    import os

    from .guard.serve import make_guard, run

    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise _fail(InputError(f"--listen {listen!r} is not HOST:PORT"))
    try:
        guard = make_guard(
            policy=policy,
            watchlist=watchlist,
            log_dir=log_dir,
            redis_url=redis,
            hash_key=key_from_env(),
        )
    except DistillguardError as error:
        raise _fail(error) from error
    console.print(
        f"guarding {upstream} on http://{listen} (policy {guard.policy.source}, log {log_dir})"
    )
    run(guard, upstream, host, int(port), os.environ.get(ADMIN_TOKEN_ENV) or None)


@app.command("replay")
def replay_command(
    labelled: Annotated[Path, typer.Argument(help="A folder written by distillguard simulate.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Working folder for the replay.")],
    policy: Annotated[
        Path | None, typer.Option(help="Policy file (YAML; default: the shipped policy).")
    ] = None,
    refresh_hours: Annotated[
        float, typer.Option(help="Hours between hunts that refresh the guard's watchlist.")
    ] = 24.0,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the figures as JSON here.")
    ] = None,
    keep_hunts: Annotated[
        bool, typer.Option(help="Keep every hunt's output in OUT/hunts/ (the watchlist history).")
    ] = False,
    hold: Annotated[
        bool,
        typer.Option(
            help="Each hunt holds the last one's convictions while they stay near the attack "
            "score (hunt --previous)."
        ),
    ] = False,
) -> None:
    """Replay labelled traffic through the guard in time order, the hunt refreshing its
    watchlist on a schedule; report leakage, benign impact and time to first action."""
    from .guard.replay import replay

    if not (labelled / "labels.csv").is_file():
        raise _fail(InputError(f"{labelled}: no labels.csv (not a simulate folder)"))
    if refresh_hours <= 0:
        raise _fail(InputError("--refresh-hours must be positive"))
    try:
        with console.status("replaying") as status:
            result = replay(
                labelled,
                out_dir,
                policy=policy,
                refresh_hours=refresh_hours,
                hash_key=key_from_env(),
                progress=lambda message: status.update(message),
                keep_hunts=keep_hunts,
                hold=hold,
            )
    except DistillguardError as error:
        raise _fail(error) from error
    figures = result.to_json()
    if json_out is not None:
        json_out.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
    table = Table(title=f"replay: {result.exchanges:,} exchanges, {result.hunts} hunts")
    for column in ("who", "exchanges", "leakage", "benign impact", "hours to first action"):
        table.add_column(column, justify="left" if column == "who" else "right")
    rows = [*figures["campaigns"].items(), *figures["populations"].items()]
    rows.append(("all benign", figures["benign"]))
    campaigns = set(figures["campaigns"])
    for name, row in rows:
        hours = row["hours_to_first_action"]
        table.add_row(
            name,
            f"{row['exchanges']:,}",
            f"{row['leakage']:.2%}" if name in campaigns else "",
            "" if name in campaigns else f"{row['impact']:.3%}",
            "-" if hours is None else f"{hours:.1f}",
        )
    out.print(table)


def _mount() -> None:
    """The other parts' commands, each defined beside the part it drives."""
    from .console.cli import serve, user_add
    from .intel.cli import intel_app
    from .marks.cli import marks_app

    app.command("serve")(serve)
    app.command("user-add")(user_add)
    app.add_typer(marks_app, name="marks")
    app.add_typer(intel_app, name="intel")


_mount()


def main() -> None:
    app()
