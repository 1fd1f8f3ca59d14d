"""``distillguard marks ...``: make the master secret, print key ids, detect, investigate.

Mounted by the main command with ``app.add_typer(marks_app, name="marks")``. The master
secret comes from ``--secret-file`` or ``$DISTILLGUARD_MARK_SECRET`` and is never printed.
Texts are read from files: ``*.jsonl`` as one JSON object per line (field ``--field``),
anything else as one UTF-8 text per file.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final

import orjson
import typer
from rich.console import Console

from ..errors import DistillguardError, InputError
from .canaries import CanarySet, probe
from .detect import ALPHA, Detector
from .errors import MarkError
from .evidence import render
from .forensics import Emitted, hf_predict, investigate, investigate_predictions
from .keys import ACTIVE_EPOCHS, EPOCH_DAYS, Keyring, MarkKey, MasterSecret
from .tokens import ByteTokenizer, HFTokenizer, TiktokenTokenizer, Tokenizer
from .types import CONTEXT_WIDTH

EXIT_USAGE: Final = 2

marks_app = typer.Typer(
    name="marks",
    help="Watermark keys, detection of watermarked text, and training forensics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console()

SecretFile = Annotated[
    Path | None,
    typer.Option(help="File holding the master secret (default: $DISTILLGUARD_MARK_SECRET)."),
]
Scopes = Annotated[
    list[str] | None,
    typer.Option("--scope", help="cluster:<id> or account:<id> to test (repeatable)."),
]
KeyIds = Annotated[
    list[str] | None,
    typer.Option("--key-id", help="A key id the guard sent upstream (repeatable)."),
]
TokenizerFile = Annotated[
    Path | None,
    typer.Option(
        help="The model's tokenizer.json, or tiktoken:NAME for a tiktoken encoding "
        "(default: UTF-8 bytes)."
    ),
]
Width = Annotated[int, typer.Option(help="Context width h the watermark used.")]
Field = Annotated[str, typer.Option(help="Text field of *.jsonl inputs.")]


def _fail(error: DistillguardError) -> typer.Exit:
    console.print(f"[red]error:[/red] {error}")
    return typer.Exit(EXIT_USAGE)


def _master(secret_file: Path | None) -> MasterSecret:
    return MasterSecret.from_file(secret_file) if secret_file else MasterSecret.from_env()


def _keyring(secret_file: Path | None, epoch_days: int, active_epochs: int) -> Keyring:
    master = _master(secret_file)
    return Keyring(master, epoch_days=epoch_days, active_epochs=active_epochs)


def _keys(ring: Keyring, scopes: list[str] | None, key_ids: list[str] | None) -> list[MarkKey]:
    keys = ring.candidates(scopes) if scopes else []
    return keys + [ring.for_id(key_id) for key_id in key_ids or ()]


def _tokenizer(path: Path | None) -> Tokenizer:
    if path is None:
        return ByteTokenizer()
    if str(path).startswith("tiktoken:"):
        return TiktokenTokenizer.named(str(path).removeprefix("tiktoken:"))
    return HFTokenizer.from_file(path)


def read_texts(path: Path, field: str) -> list[str]:
    """The texts of one input file (see the module docstring)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(f"{path}: {error.strerror or error}") from None
    if path.suffix != ".jsonl":
        return [data.decode("utf-8", "replace")]
    texts: list[str] = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)[field]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise InputError(f"{path}:{number}: not a JSON object with a {field!r} field") from None
        if not isinstance(value, str):
            raise InputError(f"{path}:{number}: field {field!r} is not a string")
        texts.append(value)
    return texts


@marks_app.command("keygen")
def keygen_command(
    path: Annotated[Path, typer.Argument(help="File to write the new master secret to.")],
) -> None:
    """Write a new random master secret to a new file (readable by its owner only)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise _fail(InputError(f"{path} exists: a master secret is never overwritten")) from None
    except OSError as error:
        raise _fail(InputError(f"{path}: {error.strerror or error}")) from None
    with os.fdopen(fd, "wb") as file:
        file.write(MasterSecret.generate().exposed() + b"\n")
    console.print(f"wrote a new master secret to {path}")


@marks_app.command("key-id")
def key_id_command(
    scope: Annotated[str, typer.Argument(help="cluster:<id> or account:<id>.")],
    secret_file: SecretFile = None,
    at: Annotated[str | None, typer.Option(help="ISO time (default: now).")] = None,
    epoch_days: Annotated[int, typer.Option(help="Key lifetime in days.")] = EPOCH_DAYS,
) -> None:
    """Print the public key id the guard sends for SCOPE at a time."""
    try:
        when = datetime.fromisoformat(at) if at else datetime.now(UTC)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        out.print(_keyring(secret_file, epoch_days, 1).current_id(scope, when))
    except ValueError as error:
        raise _fail(InputError(f"--at {at!r}: {error}")) from None
    except DistillguardError as error:
        raise _fail(error) from error


@marks_app.command("detect")
def detect_command(
    files: Annotated[list[Path], typer.Argument(help="Text files (*.jsonl or plain text).")],
    scope: Scopes = None,
    key_id: KeyIds = None,
    secret_file: SecretFile = None,
    tokenizer: TokenizerFile = None,
    context_width: Width = CONTEXT_WIDTH,
    field: Field = "text",
    alpha: Annotated[float, typer.Option(help="Significance to call a text marked.")] = ALPHA,
    epoch_days: Annotated[int, typer.Option()] = EPOCH_DAYS,
    active_epochs: Annotated[int, typer.Option()] = ACTIVE_EPOCHS,
) -> None:
    """Test each text for the active keys of the scopes; one JSON line per text."""
    try:
        keys = _keys(_keyring(secret_file, epoch_days, active_epochs), scope, key_id)
        tok = _tokenizer(tokenizer)
        detector = Detector(keys, tok.vocab_size, context_width=context_width)
        for path in files:
            for index, text in enumerate(read_texts(path, field)):
                result = detector.test_text(text, tok).to_json(alpha)
                typer.echo(orjson.dumps({"file": str(path), "index": index, **result}))
    except DistillguardError as error:
        raise _fail(error) from error


@marks_app.command("forensics")
def forensics_command(
    suspect: Annotated[
        list[Path],
        typer.Argument(help="Text the suspect generated (with --model: our marked texts)."),
    ],
    scope: Scopes = None,
    key_id: KeyIds = None,
    emitted: Annotated[
        Path | None, typer.Option(help="Contexts we emitted (.npz from Emitted.save).")
    ] = None,
    prompts: Annotated[
        list[Path] | None, typer.Option("--prompts", help="Prompts given to the suspect.")
    ] = None,
    secret_file: SecretFile = None,
    tokenizer: TokenizerFile = None,
    context_width: Width = CONTEXT_WIDTH,
    field: Field = "text",
    alpha: Annotated[float, typer.Option()] = ALPHA,
    epoch_days: Annotated[int, typer.Option()] = EPOCH_DAYS,
    active_epochs: Annotated[int, typer.Option()] = ACTIVE_EPOCHS,
    model: Annotated[
        Path | None,
        typer.Option(help="Open weights: the suspect's transformers model directory."),
    ] = None,
    html: Annotated[Path | None, typer.Option(help="Also write the evidence page here.")] = None,
) -> None:
    """Was the suspect trained on our marked text? One JSON report, naming the key.

    Without --model the files hold text the suspect generated; with --model they hold our
    marked texts, and the suspect's next-token predictions on them are tested.
    """
    try:
        keys = _keys(_keyring(secret_file, epoch_days, active_epochs), scope, key_id)
        tok = _tokenizer(tokenizer)
        texts = [tok.encode(t) for path in suspect for t in read_texts(path, field)]
        given = [tok.encode(t) for path in prompts or () for t in read_texts(path, field)]
        record = Emitted.load(emitted) if emitted else None
        options: dict[str, Any] = {"context_width": context_width, "prompts": given}
        if model is None:
            finding = investigate(texts, keys, record, vocab_size=tok.vocab_size, **options)
        else:
            suspect_model = _load_model(model)
            vocab = max(tok.vocab_size, int(suspect_model.config.vocab_size))
            predict = hf_predict(suspect_model)
            finding = investigate_predictions(
                texts, predict, keys, record, vocab_size=vocab, **options
            )
        report = finding.to_json(alpha)
        if html is not None:
            try:
                html.write_text(render(report), encoding="utf-8")
            except OSError as error:
                raise InputError(f"{html}: {error.strerror or error}") from None
        typer.echo(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    except DistillguardError as error:
        raise _fail(error) from error


def _load_model(path: Path) -> Any:
    """A transformers causal LM from a local directory (never the network), in evaluation
    mode; needs the ``marks-hf`` extra."""
    if not path.is_dir():
        raise InputError(f"{path}: not a directory holding a transformers model")
    try:
        from transformers import AutoModelForCausalLM
    except ImportError:
        raise MarkError(
            "--model needs the marks-hf extra: pip install 'distillguard[marks-hf]'"
        ) from None
    try:
        loaded: Any = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as error:
        raise MarkError(f"{path}: not a transformers causal LM ({error})") from None
    return loaded.eval()


canaries_app = typer.Typer(
    help="Canary answers for attack clusters, and probing a suspect endpoint for them.",
    no_args_is_help=True,
)
marks_app.add_typer(canaries_app, name="canaries")


def _sets(secret_file: Path | None, scopes: list[str] | None) -> list[CanarySet]:
    if not scopes:
        raise InputError("give at least one --scope (a high-confidence attack cluster)")
    master = _master(secret_file)
    return [CanarySet.derive(master, name) for name in dict.fromkeys(scopes)]


@canaries_app.command("make")
def canaries_make_command(scope: Scopes = None, secret_file: SecretFile = None) -> None:
    """Print each scope's canary answers to the probe prompts (one JSON line per scope),
    for the guard to serve to that cluster only. Keep them from the cluster."""
    try:
        for canaries in _sets(secret_file, scope):
            typer.echo(orjson.dumps(canaries.to_json()))
    except DistillguardError as error:
        raise _fail(error) from error


@canaries_app.command("probe")
def canaries_probe_command(
    endpoint: Annotated[str, typer.Argument(help="OpenAI-compatible base URL, e.g. .../v1.")],
    model: Annotated[str, typer.Option(help="Model name to ask.")],
    scope: Scopes = None,
    secret_file: SecretFile = None,
    api_key_env: Annotated[
        str, typer.Option(help="Environment variable holding the endpoint's API key.")
    ] = "OPENAI_API_KEY",
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each reply.")] = 30.0,
    alpha: Annotated[float, typer.Option()] = ALPHA,
) -> None:
    """Ask the suspect every probe; did it learn a scope's canaries? One JSON report.

    Exits with status 1 when the endpoint answered no probe (no evidence either way)."""
    try:
        sets = _sets(secret_file, scope)
        found = probe(
            endpoint, sets, model=model, api_key=os.environ.get(api_key_env), timeout=timeout
        )
    except DistillguardError as error:
        raise _fail(error) from error
    report = found.to_json(alpha)
    typer.echo(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    if found.answered == 0:
        first = report["unanswered"][0]["error"] if report["unanswered"] else "no probe"
        console.print(f"[red]error:[/red] the endpoint answered no probe ({first})")
        raise typer.Exit(1)
