"""The ``distillguard`` command: parse arguments, call the library, show progress.

Exit codes: 0 success; 1 the run finished but rejected records (see the quarantine);
2 a usage or input error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Final

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

from .errors import DistillguardError
from .exchange import IngestOptions, IngestSummary, ingest
from .hashing import key_from_env
from .signals import TextSignals
from .simulate import SimulationSummary, simulate

EXIT_REJECTED: Final = 1
EXIT_USAGE: Final = 2

app = typer.Typer(
    name="distillguard",
    help="Protect an LLM API from distillation attacks: simulate labelled traffic, "
    "ingest exchange logs, hunt campaigns.",
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
    """Simulate a small labelled traffic set, ingest it and print a summary."""
    traffic = out_dir / "traffic"
    store = out_dir / "store"
    simulation = run_simulation(traffic, scale=scale, days=days, seed=seed, evasion=evasion)
    _print_simulation(simulation)
    options = IngestOptions(hash_key=key_from_env(), overwrite=True, annotate=TextSignals())
    try:
        summary = run_ingest(
            [traffic / "exchanges"],
            store,
            accounts=traffic / "accounts.jsonl",
            models=traffic / "models.jsonl",
            options=options,
        )
    except DistillguardError as error:
        raise _fail(error) from error
    print_ingest(summary)
    out.print(f"traffic: {traffic}  (labels: {traffic / 'labels.csv'})")
    out.print(f"store:   {store}  (columns: docs/store.md)")
    if not summary.clean:
        raise typer.Exit(EXIT_REJECTED)


def main() -> None:
    app()
