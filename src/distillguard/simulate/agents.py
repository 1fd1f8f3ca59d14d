"""Coding-agent tool sets, and what calling each tool looks like.

Each tool has a role (shell, read, edit, ...) that decides its arguments and the result the
harness sends back. Results are short, like the output an agent harness truncates to:
files are real code blocks from the corpus, shell runs are test and build output.
"""

from __future__ import annotations

import random
from typing import Any, Final

from .corpus import Corpus

JSON = dict[str, Any]
_STR: Final = {"type": "string"}


def _tool(name: str, doc: str, required: tuple[str, ...], /, **props: JSON) -> JSON:
    return {
        "name": name,
        "description": doc,
        "parameters": {"type": "object", "properties": props, "required": list(required)},
    }


# (tool, role) pairs per tool set: the role drives arguments and results.
TOOLSETS: Final[dict[str, tuple[tuple[JSON, str], ...]]] = {
    "cli": (
        (
            _tool(
                "Bash",
                "Executes a bash command in a persistent shell session.",
                ("command",),
                command=_STR,
                description=_STR,
                timeout={"type": "number"},
            ),
            "shell",
        ),
        (
            _tool(
                "Read",
                "Reads a file from the local filesystem.",
                ("file_path",),
                file_path=_STR,
                offset={"type": "number"},
                limit={"type": "number"},
            ),
            "read",
        ),
        (
            _tool(
                "Edit",
                "Performs exact string replacements in files.",
                ("file_path", "old_string", "new_string"),
                file_path=_STR,
                old_string=_STR,
                new_string=_STR,
            ),
            "edit",
        ),
        (
            _tool(
                "Write",
                "Writes a file to the local filesystem.",
                ("file_path", "content"),
                file_path=_STR,
                content=_STR,
            ),
            "write",
        ),
        (
            _tool(
                "Grep",
                "Searches file contents with ripgrep.",
                ("pattern",),
                pattern=_STR,
                path=_STR,
                glob=_STR,
            ),
            "search",
        ),
        (_tool("Glob", "Finds files by glob pattern.", ("pattern",), pattern=_STR), "list"),
    ),
    "ide": (
        (
            _tool(
                "execute_command",
                "Execute a CLI command on the system.",
                ("command", "requires_approval"),
                command=_STR,
                requires_approval={"type": "boolean"},
            ),
            "shell",
        ),
        (
            _tool(
                "read_file",
                "Read the contents of a file at the specified path.",
                ("path",),
                path=_STR,
            ),
            "read",
        ),
        (
            _tool(
                "replace_in_file",
                "Replace sections of content in an existing file.",
                ("path", "diff"),
                path=_STR,
                diff=_STR,
            ),
            "edit",
        ),
        (
            _tool(
                "write_to_file",
                "Write content to a file at the specified path.",
                ("path", "content"),
                path=_STR,
                content=_STR,
            ),
            "write",
        ),
        (
            _tool(
                "search_files",
                "Regex search across files in a directory.",
                ("path", "regex"),
                path=_STR,
                regex=_STR,
            ),
            "search",
        ),
        (
            _tool(
                "list_files",
                "List files and directories.",
                ("path",),
                path=_STR,
                recursive={"type": "boolean"},
            ),
            "list",
        ),
    ),
    "codex": (
        (
            _tool(
                "shell",
                "Runs a shell command and returns its output.",
                ("command",),
                command={"type": "array", "items": _STR},
                workdir=_STR,
                timeout_ms={"type": "number"},
            ),
            "shell",
        ),
        (
            _tool(
                "apply_patch", "Apply a patch to files in the workspace.", ("input",), input=_STR
            ),
            "edit",
        ),
        (
            _tool(
                "update_plan",
                "Update the task plan.",
                ("plan",),
                plan={"type": "array", "items": {"type": "object"}},
            ),
            "plan",
        ),
    ),
    "inhouse": (
        (_tool("run", "Run a command in the dev container.", ("cmd",), cmd=_STR), "shell"),
        (_tool("open", "Open a file.", ("path",), path=_STR), "read"),
        (
            _tool(
                "patch", "Apply a unified diff to a file.", ("path", "diff"), path=_STR, diff=_STR
            ),
            "edit",
        ),
        (_tool("tests", "Run the test suite.", (), target=_STR), "tests"),
    ),
    "sandbox": (
        (
            _tool(
                "run_shell",
                "Run a shell command in the sandbox and return stdout/stderr.",
                ("command",),
                command=_STR,
            ),
            "shell",
        ),
        (
            _tool(
                "read_file",
                "Return the contents of a file in the repository.",
                ("path",),
                path=_STR,
            ),
            "read",
        ),
        (
            _tool(
                "write_file",
                "Create or overwrite a file in the repository.",
                ("path", "content"),
                path=_STR,
                content=_STR,
            ),
            "write",
        ),
        (
            _tool(
                "search_code",
                "Search the repository for a string or regex.",
                ("query",),
                query=_STR,
            ),
            "search",
        ),
        (
            _tool(
                "run_tests", "Run the repository's tests, optionally one target.", (), target=_STR
            ),
            "tests",
        ),
    ),
}

_MODULES: Final = (
    "parser",
    "utils",
    "config",
    "handlers",
    "models",
    "api",
    "cli",
    "store",
    "auth",
    "cache",
    "routes",
    "schema",
    "worker",
    "client",
    "views",
)
_EXT: Final = {
    "python": "py",
    "py": "py",
    "javascript": "js",
    "js": "js",
    "typescript": "ts",
    "ts": "ts",
    "rust": "rs",
    "go": "go",
    "java": "java",
    "cpp": "cpp",
    "c": "c",
    "bash": "sh",
    "sql": "sql",
}
_COMMANDS: Final = (
    "pytest -q",
    "npm test",
    "ls -la",
    "git status",
    "git diff --stat",
    "python -m mypy src",
    "cargo build",
    "go test ./...",
    "make lint",
    "rg -n TODO src",
    "cat package.json",
    "pip install -e .",
)


def _path(rng: random.Random, lang: str) -> str:
    ext = _EXT.get(lang, "py")
    return f"src/{rng.choice(_MODULES)}/{rng.choice(_MODULES)}.{ext}"


def call_args(tool: JSON, role: str, corpus: Corpus, rng: random.Random) -> JSON:
    """Arguments an agent would pass to ``tool``."""
    props = tool["parameters"]["properties"]
    snippet = corpus.snippets[rng.randrange(len(corpus.snippets))]
    path = _path(rng, snippet.lang)
    key = next(iter(props), "input")
    if role == "shell":
        command = rng.choice(_COMMANDS)
        if props.get(key, {}).get("type") == "array":
            return {key: ["bash", "-lc", command], "workdir": "/workspace"}
        args: JSON = {key: command}
        if "description" in props:
            args["description"] = "Run " + command.split()[0]
        if "requires_approval" in props:
            args["requires_approval"] = False
        return args
    if role in ("read", "list"):
        return {key: path if role == "read" else "src/**/*." + path.rsplit(".", 1)[-1]}
    if role in ("edit", "write"):
        lines = snippet.code.splitlines() or [""]
        old = lines[rng.randrange(len(lines))]
        if role == "write":
            return {key: path, next(reversed(props)): snippet.code[:600]}
        if len(props) == 1:
            return {
                key: f"*** Begin Patch\n*** Update File: {path}\n-{old}\n+{old.strip()}"
                "\n*** End Patch"
            }
        if "old_string" in props:
            return {key: path, "old_string": old, "new_string": old.rstrip() + "  # fixed"}
        return {key: path, "diff": f"--- a/{path}\n+++ b/{path}\n-{old}\n+{old.strip()}"}
    if role == "search":
        word = rng.choice(_MODULES)
        return {key: word} if len(props) == 1 or "pattern" in props else {key: "src", "regex": word}
    if role == "plan":
        return {
            key: [
                {"step": "Reproduce the failure", "status": "completed"},
                {"step": "Fix and run tests", "status": "in_progress"},
            ]
        }
    return {"target": f"tests/test_{rng.choice(_MODULES)}.py"} if rng.random() < 0.5 else {}


def call_result(role: str, corpus: Corpus, rng: random.Random, numbered: bool) -> str:
    """The output the harness returns for a call in ``role``."""
    if role == "read":
        code = corpus.snippets[rng.randrange(len(corpus.snippets))].code[:900]
        if numbered:
            return "\n".join(f"{i:>6}\t{line}" for i, line in enumerate(code.splitlines(), 1))
        return code
    if role in ("shell", "tests"):
        passed, failed = rng.randint(3, 60), rng.choice((0, 0, 1, 2))
        if rng.random() < 0.35:
            return "\n".join(
                f"{rng.choice(_MODULES)}.{rng.choice(('py', 'ts', 'rs'))}"
                for _ in range(rng.randint(3, 9))
            )
        status = f"{failed} failed, {passed} passed" if failed else f"{passed} passed"
        test = f"tests/test_{rng.choice(_MODULES)}.py::test_{rng.choice(_MODULES)}"
        head = f"FAILED {test} - AssertionError\n" if failed else ""
        return f"{head}{'=' * 20} {status} in {rng.uniform(0.2, 9):.2f}s {'=' * 20}"
    if role in ("edit", "write"):
        return rng.choice(
            (
                "The file has been updated successfully.",
                "Success. Updated the following files:\nM src/" + rng.choice(_MODULES) + ".py",
                "ok",
            )
        )
    if role in ("search", "list"):
        return "\n".join(
            f"src/{rng.choice(_MODULES)}.py:{rng.randint(1, 400)}: def {rng.choice(_MODULES)}("
            for _ in range(rng.randint(1, 6))
        )
    return "Plan updated"
