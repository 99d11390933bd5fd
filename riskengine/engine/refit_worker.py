"""The background refit worker: ``python -m riskengine.engine.refit_worker``.

Reads ``(function, job)`` messages from stdin and answers each with
``(True, function(job))`` or ``(False, "<error>")`` on stdout, until stdin
closes (:mod:`riskengine.engine.refit_runner` starts and feeds it). Anything
the libraries print goes to stderr: stdout carries only the messages.
"""

from __future__ import annotations

import os
import sys

from riskengine.engine.refit_runner import read_message, write_message


def main() -> None:
    requests = os.fdopen(os.dup(sys.stdin.fileno()), "rb")
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints cannot corrupt a message
    while True:
        try:
            function, job = read_message(requests)
        except EOFError:
            return
        try:
            answer = (True, function(job))
        except Exception as error:  # reported to the caller, who keeps its parameters
            answer = (False, f"{type(error).__name__}: {error}")
        write_message(answers, answer)


if __name__ == "__main__":
    main()
