"""The command line, and the only place errors become exit statuses.

    signals serve         [--config PATH]   run both ports until SIGINT/SIGTERM (exit 0)
    signals check-config  [--config PATH]   validate settings and exposure; exit 2 on problems
    signals keygen [--name N] [--scopes a,b]   print a new API key and its settings stanza
    signals replay        [--config PATH]   rebuild the store from the journal (service stopped)
    signals simulate --url U --rate R --duration S   realistic traffic against a running instance
    signals evaluate PATH [--config PATH]   sentiment accuracy, macro-F1, confusion matrix

Exit statuses: 0 done, 1 a failure `signals.errors` explains (a port taken, Redis unreachable,
the journal locked or damaged), 2 unusable settings or arguments. Nothing else is caught here: an
exception outside that tree is a bug, and its traceback is what a bug report needs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

import structlog

from signals import __version__, logs
from signals.errors import SettingsError, SignalsError, UsageError
from signals.settings import Settings, load
from signals.settings_sources import origin_of

EXIT_OK, EXIT_FAILURE, EXIT_SETTINGS = 0, 1, 2
log = structlog.get_logger("signals.cli")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="signals", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"signals {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(name: str, help_: str) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=help_)
        command.add_argument("--config", metavar="PATH", help="settings file (TOML)")
        return command

    with_config("serve", "run the service")
    with_config("check-config", "validate the settings and exit")
    with_config("replay", "rebuild the store from the journal (service stopped)")
    evaluate = with_config("evaluate", "score the sentiment classifier on a labelled JSONL file")
    evaluate.add_argument("path", type=Path, help="JSONL with text and label fields")

    keygen = commands.add_parser("keygen", help="print a new API key and its TOML stanza")
    keygen.add_argument(
        "--name", default=None, help="the key's name in logs and metrics (default: key-<random>)"
    )
    keygen.add_argument("--scopes", default="ingest,read", help="comma-separated scopes")

    simulate = commands.add_parser("simulate", help="send realistic traffic to an instance")
    simulate.add_argument("--url", default="http://127.0.0.1:8000")
    simulate.add_argument("--rate", type=float, default=20.0, help="events per second")
    simulate.add_argument("--duration", type=float, default=60.0, help="seconds")
    simulate.add_argument("--users", type=int, default=50)
    simulate.add_argument("--api-key", default=None)
    simulate.add_argument("--seed", type=int, default=None)
    return parser


def _settings(path: str | None) -> Settings:
    settings = load(path)
    from signals.auth.exposure import check_exposure

    problems = check_exposure(settings)
    if problems:
        raise SettingsError([f"{origin_of(key, path)}: {key}: {line}" for key, line in problems])
    return settings


def _check_config(settings: Settings) -> int:
    from signals.sentiment import Classifier, LexiconError

    try:
        Classifier(settings.sentiment)  # overrides are checked against the shipped lexicon
    except LexiconError as exc:
        raise SettingsError([f"sentiment: {exc}"]) from None
    sys.stdout.write("settings are valid\n")
    return EXIT_OK


def _serve(settings: Settings) -> int:
    from signals.auth.exposure import startup_warnings
    from signals.serve import serve

    for warning in startup_warnings(settings):
        log.warning(warning)
    try:
        import uvloop

        uvloop.run(serve(settings))
    except ImportError:
        asyncio.run(serve(settings))
    return EXIT_OK


def _replay(settings: Settings) -> int:
    from signals.replay import replay

    stored, total = asyncio.run(replay(settings))
    log.info("replay finished", journal_records=total, newly_stored=stored)
    return EXIT_OK


def _keygen(name: str | None, scopes: str) -> int:
    import secrets

    from signals.auth.keys import keygen

    name = name or f"key-{secrets.token_hex(4)}"  # names must be unique: a random one will be
    key, stanza = keygen(name, [scope.strip() for scope in scopes.split(",") if scope.strip()])
    sys.stdout.write(f"{key}\n\n{stanza}\n")
    return EXIT_OK


def _simulate(args: argparse.Namespace) -> int:
    from signals.progress import Progress
    from signals.simulate.run import simulate
    from signals.simulate.summary import delivered, format_summary

    with Progress("simulate", "events", transient=True) as progress:
        summary = asyncio.run(
            simulate(
                args.url,
                rate=args.rate,
                duration=args.duration,
                users=args.users,
                api_key=args.api_key,
                seed=args.seed,
                progress=progress,
            )
        )
    sys.stdout.write(format_summary(summary) + "\n")
    return EXIT_OK if delivered(summary) else EXIT_FAILURE


def _evaluate(path: Path, settings: Settings) -> int:
    from signals.sentiment import Classifier
    from signals.sentiment.evaluate import evaluate, format_report

    sys.stdout.write(format_report(evaluate(path, Classifier(settings.sentiment))) + "\n")
    return EXIT_OK


def run(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.configure()
    try:
        if args.command == "keygen":
            return _keygen(args.name, args.scopes)
        if args.command == "simulate":
            return _simulate(args)
        settings = _settings(args.config)
        logs.configure(settings.logging.level, settings.logging.format)
        if args.command == "check-config":
            return _check_config(settings)
        if args.command == "evaluate":
            return _evaluate(args.path, settings)
        if args.command == "replay":
            return _replay(settings)
        return _serve(settings)
    except SettingsError as exc:
        for problem in exc.problems:
            sys.stderr.write(problem + "\n")
        return EXIT_SETTINGS
    except UsageError as exc:
        sys.stderr.write(f"signals: {exc}\n")
        return EXIT_SETTINGS
    except SignalsError as exc:
        log.error("signals failed", error=str(exc))
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_OK


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
