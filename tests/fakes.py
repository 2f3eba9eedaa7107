"""Small stand-ins shared by the account tests: a fast argon2id hasher and an SMS recorder.

The SMS recorder sits at the SmsSender boundary; tests/test_api_accounts.py drives the real
OutboxSender through HTTP.
"""

from __future__ import annotations

import re

from argon2 import PasswordHasher


def fast_hasher() -> PasswordHasher:
    """argon2id with the cheapest parameters: the tests check logic, not hashing cost."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


class Recorder:
    """An SmsSender that keeps what it was asked to send: `calls` in full, `sent` the texts."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int | None]] = []

    @property
    def sent(self) -> list[str]:
        return [text for _, text, _ in self.calls]

    async def send(self, mobile: str, text: str, user_id: int | None) -> None:
        self.calls.append((mobile, text, user_id))

    def last_code(self) -> str:
        m = re.search(r"code is (\d{6})\.", self.sent[-1])
        assert m is not None, self.sent[-1]
        return m.group(1)
