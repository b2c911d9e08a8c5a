"""How people sign in to the review desk: the ``review_desk`` key of a segflow.yaml, checked
strictly (every error names the file and line), like ``segflow.engines`` for ``engine``.

``review_desk``, every key described::

    review_desk:
      sign_in: oidc               # password (default) | oidc | [oidc, password] (both)
      oidc:                       # needed when sign_in names oidc
        issuer: https://login.example.com/realms/shop   # the identity provider; segflow reads
                                  # ISSUER/.well-known/openid-configuration
        client_id: segflow-desk   # the desk's client id, registered at the provider
        client_secret_env: DESK_OIDC_SECRET  # the environment variable holding the client
                                  # secret (never the secret itself in a file)
        claim: email              # the id_token claim naming the person (default email);
                                  # matched to the owners file's `identity:` (else person id)
        scopes: [openid, email, profile]     # asked for (openid always; default shown)
        redirect_url: https://desk.example.com/oidc/callback  # optional: the address the
                                  # provider sends people back to (default: the desk's own
                                  # address + /oidc/callback; set it behind a proxy)
        title: Okta               # optional: the sign-in button says "Sign in with Okta"

The client secret is read from the environment when the desk starts, never from a file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from segflow.errors import ConfigError

METHODS = ("password", "oidc")
OIDC_KEYS = {"issuer": str, "client_id": str, "client_secret_env": str, "claim": str,
             "scopes": list, "redirect_url": str, "title": str}
OIDC_REQUIRED = ("issuer", "client_id", "client_secret_env")
DEFAULT_SCOPES = ("openid", "email", "profile")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
CLAIM = re.compile(r"^[A-Za-z_][A-Za-z0-9_:.-]*$")
#: plain http only for a provider on this machine (a local Keycloak, a test stand-in)
LOOPBACK = re.compile(r"^http://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(/|$)")


@dataclass(frozen=True)
class OidcSettings:
    """The identity provider the desk signs people in with (``review_desk.oidc``)."""

    file: Path                 # the segflow.yaml it came from, for error messages
    issuer: str
    client_id: str
    client_secret_env: str
    secret_env_line: int       # where client_secret_env is written
    claim: str = "email"
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    redirect_url: str | None = None
    title: str = "your organisation's sign-in"


def parse_review_desk(file: Path, section, line: int
                      ) -> tuple[tuple[str, ...], OidcSettings | None]:
    """(sign-in methods, OIDC settings or None) from the ``review_desk`` mapping."""
    from segflow.yamlio import LineDict

    section = section if isinstance(section, LineDict) else LineDict(section or {})
    for key in section:
        if key not in ("sign_in", "oidc"):
            raise ConfigError(file, section.line(key, line), f"unknown key 'review_desk.{key}';"
                              " review_desk has sign_in and oidc")
    methods = _methods(file, section.get("sign_in", "password"), section.line("sign_in", line))
    if "oidc" in methods and "oidc" not in section:
        raise ConfigError(file, section.line("sign_in", line), "sign_in names oidc: add "
                          "review_desk.oidc with issuer, client_id and client_secret_env")
    if "oidc" in section and "oidc" not in methods:
        raise ConfigError(file, section.line("oidc", line), "review_desk.oidc is given but "
                          "sign_in does not name oidc: set sign_in: oidc (or [oidc, password])"
                          " or remove the oidc section")
    oidc = _oidc(file, section["oidc"], section.line("oidc", line)) if "oidc" in section \
        else None
    return methods, oidc


def _methods(file: Path, value, line: int) -> tuple[str, ...]:
    given = value if isinstance(value, list) else [value]
    if not given or any(m not in METHODS for m in given) or len(set(given)) != len(given):
        raise ConfigError(file, line, f"review_desk.sign_in is password, oidc or a list of "
                          f"both such as [oidc, password], got {value!r}")
    return tuple(given)


def _oidc(file: Path, section, line: int) -> OidcSettings:
    from segflow.yamlio import LineDict

    if not isinstance(section, LineDict):
        raise ConfigError(file, line, f"review_desk.oidc must be a mapping of "
                          f"{', '.join(OIDC_KEYS)}, got {section!r}")
    for key, value in section.items():
        where = section.line(key, line)
        if key not in OIDC_KEYS:
            raise ConfigError(file, where, f"unknown key 'review_desk.oidc.{key}'; oidc has "
                              f"{', '.join(OIDC_KEYS)}")
        want = OIDC_KEYS[key]
        if not isinstance(value, want) or (want is list and not all(
                isinstance(v, str) for v in value)) or value in ("", []):
            raise ConfigError(file, where, f"review_desk.oidc.{key} must be a non-empty "
                              f"{'list of strings' if want is list else 'string'}, got "
                              f"{value!r}")
    missing = [k for k in OIDC_REQUIRED if k not in section]
    if missing:
        raise ConfigError(file, line, f"review_desk.oidc needs {missing[0]} (required: "
                          f"{', '.join(OIDC_REQUIRED)})")
    for key in ("issuer", "redirect_url"):
        url = section.get(key)
        if url is not None and not (url.startswith("https://") or LOOPBACK.match(url)):
            raise ConfigError(file, section.line(key), f"review_desk.oidc.{key} must be an "
                              f"https:// address (plain http only on 127.0.0.1 or localhost),"
                              f" got {url!r}")
    env = section["client_secret_env"]
    if not ENV_NAME.match(env):
        raise ConfigError(file, section.line("client_secret_env"), "review_desk.oidc."
                          "client_secret_env names an environment variable (letters, digits, "
                          f"_), not the secret itself; got a value of {len(env)} characters")
    claim = section.get("claim", "email")
    if not CLAIM.match(claim):
        raise ConfigError(file, section.line("claim"), f"review_desk.oidc.claim names an "
                          f"id_token claim such as email or preferred_username, got {claim!r}")
    scopes = tuple(dict.fromkeys(["openid", *section.get("scopes", DEFAULT_SCOPES)]))
    return OidcSettings(file=file, issuer=section["issuer"],
                        client_id=section["client_id"], client_secret_env=env,
                        secret_env_line=section.line("client_secret_env"), claim=claim,
                        scopes=scopes, redirect_url=section.get("redirect_url"),
                        title=section.get("title", OidcSettings.title))
