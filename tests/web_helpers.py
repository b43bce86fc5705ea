"""Shared steps of the page tests: staff accounts with their authenticator, CSRF tokens out of forms."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pyotp

from cdp.auth.staff import create_staff
from cdp.ids import utcnow
from cdp.store import Store

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


@dataclass
class StaffLogin:
    email: str
    password: str
    secret: str
    _step: int = 0

    def code(self) -> str:
        """A code the server has not seen yet: each sign-in uses the next 30-second step (drift +1 allowed),
        so two sign-ins within one step do not trip replay protection."""
        self._step += 1
        if self._step > 2:
            raise AssertionError("at most two sign-ins per account per test (replay protection)")
        return pyotp.TOTP(self.secret).at(utcnow() + timedelta(seconds=30 * (self._step - 1)))


def staff_account(store: Store, email: str = "officer@shop.test", role: str = "compliance_officer") -> StaffLogin:
    with store.transaction() as session:
        created = create_staff(session, email=email, role=role, password=PASSWORD)
    return StaffLogin(email, PASSWORD, created.totp_secret)


def csrf(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)
