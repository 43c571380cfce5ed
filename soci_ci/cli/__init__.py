"""The command line: the only place that reads argv, sets up logging and exits.

Each sub-command lives in its own module here (``ztoc.py``, ``index.py`` ...) and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable taking the
parsed namespace and returning an exit code. The work itself is done by ``soci_ci.app`` and
the pure packages; command modules only translate arguments.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from importlib import import_module

from soci_ci import __version__
from soci_ci.cli.environment import (
    GITHUB_ACTIONS,
    RUNNER_DEBUG,
    ci_environment,
    process_environment,
    read_environment,
)
from soci_ci.errors import ExitCode, SociCiError
from soci_ci.redaction import redact

# Order is the order shown in `soci-ci --help`.
COMMAND_MODULES = (
    "ztoc",
    "index",
    "verify",
    "example",
    "build",
    "probe",
    "gate",
    "startup",
    "run",
)

log = logging.getLogger("soci_ci")


class _Version(argparse.Action):
    """`--version`: also names the inflate library in use (loaded only when asked)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from soci_ci.soci.zlib_binding import load_inflater  # noqa: PLC0415

        try:
            library = load_inflater(read_environment(process_environment()).inflate).name
        except SociCiError as exc:
            library = f"unavailable: {exc}"
        sys.stdout.write(f"soci-ci {__version__} (inflate: {library})\n")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="soci-ci",
        description="Build SOCI indexes natively, push them, probe Fargate cold starts, gate PRs.",
    )
    parser.add_argument(
        "--version", action=_Version, nargs=0, help="show the version and the inflate library"
    )
    parser.add_argument("--debug", action="store_true", help="verbose logs and tracebacks")
    parser.add_argument("--quiet", "-q", action="store_true", help="only warnings and errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        module = import_module(f"soci_ci.cli.{name}")
        module.register(subparsers)
    return parser


def _setup_logging(*, debug: bool, quiet: bool) -> None:
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    from soci_ci.ci.workflow_commands import CommandSafeFormatter  # noqa: PLC0415

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(CommandSafeFormatter("%(message)s"))
    root = logging.getLogger("soci_ci")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def report_error(exc: SociCiError, *, debug: bool, annotate: bool = True) -> None:
    """One line on stderr (plus a hint line); a GitHub annotation when running in Actions."""
    from soci_ci.ci.github_output import config_annotations, format_command  # noqa: PLC0415
    from soci_ci.ci.workflow_commands import neutralize, one_line  # noqa: PLC0415

    if debug:
        print(neutralize("".join(traceback.format_exception(exc))), file=sys.stderr, end="")
    message = one_line(str(exc), limit=2000)
    print(f"error: {message}", file=sys.stderr)
    problems = getattr(exc, "problems", ())
    for problem in problems[1:]:
        print(f"error: {one_line(str(problem))}", file=sys.stderr)
    if exc.hint:
        print(f"hint: {one_line(exc.hint)}", file=sys.stderr)
    if process_environment().get(GITHUB_ACTIONS) == "true":
        # `run` annotates its report's verdict itself (annotate=False); a config file's
        # problems are always annotated at their file and line.
        if problems:
            for line in config_annotations(problems):
                print(line, file=sys.stderr)
        elif annotate:
            title = f"soci-ci {type(exc).__name__}"
            print(format_command("error", message, {"title": title}), file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args_list or process_environment().get(RUNNER_DEBUG) == "1"
    environment_error: SociCiError | None = None
    try:
        environment = read_environment(process_environment())
    except SociCiError as exc:
        command = next((a for a in args_list if not a.startswith("-")), None)
        if command != "run":
            report_error(exc, debug=debug)
            return int(exc.exit_code)
        environment = ci_environment(process_environment())  # `run` reports it
        environment_error = exc
    parser = build_parser()
    args = parser.parse_args(args_list)
    args.environment, args.environment_error = environment, environment_error
    _setup_logging(debug=debug, quiet=args.quiet)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return int(func(args))
    except SociCiError as exc:
        report_error(exc, debug=debug)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        return int(ExitCode.OK)
    except Exception as exc:  # a bug: say so clearly, keep the traceback for --debug
        from soci_ci.ci.workflow_commands import neutralize, one_line  # noqa: PLC0415

        if debug:
            lines = "".join(traceback.format_exception(exc)).splitlines()
            kept = (line[: len(line) - len(line.lstrip())] + redact(line) for line in lines)
            print(neutralize("\n".join(kept)), file=sys.stderr)
        text = one_line(redact(f"{type(exc).__name__}: {exc}"))
        print(f"error: internal error: {text}", file=sys.stderr)
        print("hint: rerun with --debug and report the traceback", file=sys.stderr)
        return int(ExitCode.INTERNAL)
