"""The fault-injecting server (tests/llm_fault_server.py) taught the one-token, logprob protocol of
the verdict (`prompts.verdict_messages`): a request with `logprobs` gets one letter back with its
`top_logprobs`, shaped by `logprobs=`:

  good       the letter of the option whose code block holds `pick_text` (else `fallback`), with
             probability `p`; the rest spread over the other letters
  missing    a one-letter answer with no `logprobs` at all (a server without the feature)
  garbage    `top_logprobs` that are not probabilities (positive, NaN-like strings, wrong shapes)
  nonletter  probabilities on tokens that are no option letter ("Sure", "{")
  position   whatever stands at A gets `p` (the measured position bias, with no content signal)

The check question ("Is the candidate A: the same code / B: different code") is answered with
`check_answer` ("the same code" or "different code").

Every other mode of FaultServer (429, 500, slow, badbody, empty, ...) applies unchanged.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from tests.llm_fault_server import FaultServer, _envelope, _last_user

LP_MODES = ("good", "missing", "garbage", "nonletter", "position")
_OPTION = re.compile(r"^([A-H]):(?: (none of these.*))?$", re.MULTILINE)
_CHECK_OPTION = re.compile(r"^([A-H]): (the same code|different code)", re.MULTILINE)


def options(prompt: str) -> list[tuple[str, str]]:
    """(letter, shown text) of each option of a verdict prompt ("" text for "none")."""
    found = list(_OPTION.finditer(prompt))
    out = []
    for i, m in enumerate(found):
        end = found[i + 1].start() if i + 1 < len(found) else prompt.find("Which option")
        body = "" if m.group(2) else prompt[m.end() : end]
        out.append((m.group(1), body))
    return out


class LogprobServer(FaultServer):
    def __init__(
        self,
        script: Sequence[str] = (),
        default: str = "ok",
        *,
        logprobs: str = "good",
        pick_text: str | None = None,
        p: float = 0.97,
        fallback: str = "none",
        check_answer: str = "the same code",
        delay: float = 5.0,
    ) -> None:
        if logprobs not in LP_MODES:
            raise ValueError(f"unknown logprobs mode {logprobs!r}")
        super().__init__(script, default, delay=delay)
        self.logprobs = logprobs
        self.pick_text = pick_text
        self.p = p
        self.fallback = fallback
        self.check_answer = check_answer

    def _reply(self, h: Any, mode: str, body: dict[str, Any]) -> None:
        if not body.get("logprobs") or mode not in ("ok", "slow"):
            super()._reply(h, mode, body)
            return
        if mode == "slow":
            import time

            time.sleep(self.delay)
        prompt = _last_user(body)
        opts = options(prompt)
        letters = [letter for letter, _ in opts] or ["A"]
        checks = {
            m.group(2): m.group(1) for m in _CHECK_OPTION.finditer(prompt.split("Is the candidate")[-1])
        }
        if checks:  # the check question: is the guess the tagged code?
            letters = sorted(checks.values())
        if self.logprobs == "position":
            chosen = letters[0]
        elif checks:
            chosen = checks[self.check_answer]
        else:
            chosen = next((lt for lt, text in opts if text and self.pick_text and self.pick_text in text), "")
            if not chosen:
                chosen = next((lt for lt, text in opts if not text), letters[-1])
        rest = [lt for lt in letters if lt != chosen]
        pairs: list[list[Any]] = [[chosen, math.log(self.p)]]
        for lt in rest:
            pairs.append([lt, math.log((1 - self.p) / max(1, len(rest)))])
        if self.logprobs == "garbage":
            pairs = [[chosen, 3.5], ["B", "high"], [7, -1.0]]
        elif self.logprobs == "nonletter":
            pairs = [["Sure", math.log(0.8)], ["{", math.log(0.15)], [chosen, math.log(0.05)]]
        env = _envelope(body, chosen, prompt)
        if self.logprobs != "missing":
            top = [
                {"token": t, "logprob": lp, "bytes": None}
                for t, lp in pairs[: int(body.get("top_logprobs") or 5)]
            ]
            env["choices"][0]["logprobs"] = {
                "content": [{"token": chosen, "logprob": pairs[0][1], "bytes": None, "top_logprobs": top}]
            }
        h._send(200, env)
