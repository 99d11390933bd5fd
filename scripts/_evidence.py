"""The shared command line of the evidence scripts: a table for people, ``--json`` for machines."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any


def evidence_main(
    doc: str | None,
    run: Callable[..., dict],
    render: Callable[[dict], None],
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
    run_kwargs: Callable[[argparse.Namespace], dict[str, Any]] | None = None,
) -> None:
    """Parse ``--json`` (and any extra flags), call ``run``, print JSON or ``render`` the report."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args()
    report = run(**(run_kwargs(args) if run_kwargs is not None else {}))
    if args.json:
        print(json.dumps(report))
    else:
        render(report)
