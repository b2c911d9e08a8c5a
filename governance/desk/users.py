"""Desk accounts: a person of the owners file with desk roles and an argon2 password hash,
kept in the workspace database, and the login throttle (five wrong passwords in a row
lock the name for a quarter of an hour).

Passwords are never stored: argon2id hashes (argon2-cffi, the OWASP recommendation) with
their salt and cost inside. A wrong password and an unknown name take the same time and
give the same answer, so the login page does not say which names exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from segflow.errors import SegflowError
from segflow.settings import Settings

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD = 10
SCHEMA = """
CREATE TABLE IF NOT EXISTS desk_users (
  name VARCHAR PRIMARY KEY, roles VARCHAR, password_hash VARCHAR, updated_at TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS desk_login_failures (name VARCHAR, failed_at TIMESTAMPTZ);
"""


@dataclass(frozen=True)
class User:
    name: str
    roles: frozenset[str]
    title: str

    def may(self, role: str) -> bool:
        return role in self.roles or "admin" in self.roles


class Throttled(SegflowError):
    """Too many wrong passwords for one name: refused without checking the password."""


def ensure_schema(con) -> None:
    from segflow.db import has_schema

    if not has_schema(con, "desk_login_failures", "failed_at"):
        con.execute(SCHEMA)


def _hasher():
    """argon2id with OWASP's recommended parameters (19 MiB, two passes, one lane): about
    0.15 s per sign-in on a busy two-core machine, costly enough for guessing offline."""
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


def add_user(settings: Settings, name: str, roles: list[str], password: str) -> User:
    """Create or update a desk account for a person of the owners file; each desk role must
    be one the owners file gives them (admin there allows every role)."""
    from segflow.db import connect
    from segflow.governance import audit
    from segflow.governance.owners import ROLES, load_owners

    owners = load_owners(settings.owners_path)
    person = owners.people.get(name)
    if person is None:
        raise SegflowError(f"{name!r} is not in the owners file {owners.path}: add them "
                           "there first (desk users are the owners file's people)")
    bad = [r for r in roles if r not in ROLES]
    if bad or not roles:
        raise SegflowError(f"unknown role {bad[0] if bad else '(none)'!r}; give --role one "
                           f"or more times, from {', '.join(ROLES)}")
    refused = [r for r in roles if not person.has(r)]
    if refused:
        raise SegflowError(f"the owners file does not give {name} the role "
                           f"{refused[0]!r} (their roles: {', '.join(sorted(person.roles))})")
    if len(password) < MIN_PASSWORD:
        raise SegflowError(f"the password must have at least {MIN_PASSWORD} characters")
    digest = _hasher().hash(password)
    with connect(settings) as con:
        ensure_schema(con)

        def writes(c):
            c.execute("INSERT OR REPLACE INTO desk_users VALUES (?, ?, ?, ?)",
                      [name, ",".join(sorted(roles)), digest, datetime.now(UTC)])
            c.execute("DELETE FROM desk_login_failures WHERE name = ?", [name])

        audit.record(settings, audit.os_user(), "desk_user_set",
                     {"name": name, "roles": sorted(roles)}, writes=writes, con=con)
    return User(name, frozenset(roles), person.name)


def check_login(settings: Settings, name: str, password: str) -> User | None:
    """The user when the password matches; None when not (the failure is counted).
    Raises ``Throttled`` after MAX_FAILURES failures in a row within LOCKOUT."""
    from argon2.exceptions import VerificationError

    from segflow.db import connect

    now = datetime.now(UTC)
    with connect(settings) as con:
        ensure_schema(con)
        failures, last = con.execute(
            "SELECT count(*), max(failed_at) FROM desk_login_failures WHERE name = ? AND "
            "failed_at > ?", [name, now - LOCKOUT]).fetchone()
        if failures >= MAX_FAILURES:
            wait = max(1, int((last + LOCKOUT - now).total_seconds() // 60) + 1)
            raise Throttled(f"too many wrong passwords for {name}: try again in {wait} "
                            "minute(s), or ask an admin to set a new one with `segflow "
                            "users add`")
        row = con.execute("SELECT roles, password_hash FROM desk_users WHERE name = ?",
                          [name]).fetchone()
        digest = row[1] if row else _DUMMY
        try:
            _hasher().verify(digest, password)
            ok = row is not None
        except VerificationError:
            ok = False
        if not ok:
            con.execute("INSERT INTO desk_login_failures VALUES (?, ?)", [name, now])
            return None
        con.execute("DELETE FROM desk_login_failures WHERE name = ?", [name])
    return user(settings, name, row[0])


def user(settings: Settings, name: str, roles: str) -> User:
    """A logged-in user with their name from today's owners file (a person removed from
    it loses the desk at once)."""
    from segflow.governance.owners import load_owners

    person = load_owners(settings.owners_path).people.get(name)
    if person is None:
        raise SegflowError(f"{name!r} is no longer in the owners file")
    return User(name, frozenset(r for r in roles.split(",") if r), person.name)


def roles_of(settings: Settings, name: str) -> str | None:
    """The desk roles stored for ``name`` (None: no account), read on every request so a
    role removed takes effect at once."""
    from segflow.db import connect

    with connect(settings) as con:
        ensure_schema(con)
        row = con.execute("SELECT roles FROM desk_users WHERE name = ?", [name]).fetchone()
    return row[0] if row else None


# verified against when the name is unknown, so both cases cost one argon2 verification
_DUMMY = ("$argon2id$v=19$m=19456,t=2,p=1$Ripqwc11DFXI1JYTvyNazQ$"
          "aWUVxV7h+I8XFzlD775j09y/+1SVyEWu6ojkV3WgD6I")
