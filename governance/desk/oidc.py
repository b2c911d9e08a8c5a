"""Sign-in through the organisation's identity provider: OpenID Connect's authorization-code
flow with PKCE (S256), state and nonce, for the review desk (``review_desk.oidc`` in
segflow.yaml, read by ``segflow.signin``).

1. ``start`` makes a state, a nonce and a PKCE verifier, keeps them on the server under the
   state (bound to a random value in a short-lived cookie of the browser that asked), and
   returns the provider's authorize address.
2. ``finish`` takes the provider's redirect back: the state must be one this desk issued to
   this browser in the last ten minutes, and is used up (a replayed callback is refused);
   the code is exchanged at the token endpoint with the verifier and the client secret; the
   id_token's RS256 signature is checked against the provider's JWKS (fetched again once when
   a key id is unknown: keys rotate) and its ``iss``, ``aud``, ``azp``, ``exp``, ``iat`` and
   ``nonce`` by Authlib's OpenID claims rules (JOSE through joserfc, which Authlib uses).
3. The configured claim names the person; ``segflow.governance.owners.person_of_identity``
   finds them in the owners file, from which their roles and ownership come.

Anything wrong is ``ControlFailed`` (a 403 page) whose message names what failed and never
carries a secret, a code or a token. Discovery and keys are cached for an hour.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from segflow.errors import ControlFailed, SegflowError
from segflow.signin import OidcSettings

COOKIE = "segflow_desk_oidc"
ATTEMPT_SECONDS = 600          # a sign-in must come back within ten minutes
MAX_ATTEMPTS = 10_000          # sign-ins in flight kept at most (anonymous requests make them)
CACHE_SECONDS = 3600
LEEWAY_SECONDS = 60            # clock skew allowed on exp and iat
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256")
HTTP_TIMEOUT = 10.0


class SignInRefused(ControlFailed):
    """The provider's answer did not sign anyone in (a 403 page)."""


class ProviderUnavailable(SignInRefused):
    """The provider cannot be reached or answers with an error (a 503 page: try later)."""


@dataclass
class Attempt:
    nonce: str
    verifier: str
    browser: str        # SHA-256 of the cookie value of the browser that started it
    next: str
    redirect_uri: str
    started: float = field(default_factory=time.monotonic)


def client_secret(config: OidcSettings) -> str:
    """The client secret from the environment variable the configuration names."""
    import os

    value = os.environ.get(config.client_secret_env, "")
    if not value:
        raise SegflowError(f"{config.file}:{config.secret_env_line}: review_desk.oidc."
                           f"client_secret_env names {config.client_secret_env}, which is not "
                           "set: export it with the client secret the identity provider gave "
                           "the desk (the secret is never written in a file)")
    return value


class Provider:
    """One identity provider, as the desk uses it (thread-safe: requests run on threads)."""

    def __init__(self, config: OidcSettings, secret: str):
        self.config, self._secret = config, secret
        self._lock = threading.Lock()
        self._attempts: dict[str, Attempt] = {}
        self._metadata: tuple[float, dict] | None = None
        self._keys: tuple[float, object] | None = None

    # --- the provider's documents -----------------------------------------------------
    def metadata(self) -> dict:
        """The discovery document (cached), whose issuer must be the configured one."""
        with self._lock:
            if self._metadata and time.monotonic() - self._metadata[0] < CACHE_SECONDS:
                return self._metadata[1]
        url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
        doc = _get_json(url, "the discovery document")
        if doc.get("issuer") != self.config.issuer:
            raise SignInRefused(f"the discovery document at {url} names the issuer "
                                f"{doc.get('issuer')!r}, not {self.config.issuer!r} "
                                f"({self.config.file}): fix review_desk.oidc.issuer")
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(doc.get(key), str):
                raise SignInRefused(f"the discovery document at {url} has no {key}")
        with self._lock:
            self._metadata = (time.monotonic(), doc)
        return doc

    def keys(self, refresh: bool = False):
        """The provider's signing keys (a joserfc KeySet), cached; ``refresh`` fetches again."""
        from joserfc.jwk import KeySet

        with self._lock:
            if not refresh and self._keys and time.monotonic() - self._keys[0] < CACHE_SECONDS:
                return self._keys[1]
        doc = _get_json(self.metadata()["jwks_uri"], "the signing keys (JWKS)")
        try:
            keys = KeySet.import_key_set({"keys": [k for k in doc.get("keys", [])
                                                   if k.get("use", "sig") == "sig"]})
        except Exception as err:
            raise SignInRefused(f"the provider's signing keys cannot be read: {err}") from None
        with self._lock:
            self._keys = (time.monotonic(), keys)
        return keys

    # --- the flow -----------------------------------------------------------------------
    def start(self, redirect_uri: str, next: str) -> tuple[str, str]:
        """(the provider's authorize address, the value of the browser's cookie)."""
        from authlib.oauth2.rfc7636 import create_s256_code_challenge

        authorize = self.metadata()["authorization_endpoint"]
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier, browser = secrets.token_urlsafe(64), secrets.token_urlsafe(32)
        with self._lock:
            self._forget_stale()
            if len(self._attempts) >= MAX_ATTEMPTS:
                raise SignInRefused("too many sign-ins in progress: try again in a few minutes")
            self._attempts[state] = Attempt(nonce, verifier, _digest(browser), next,
                                            redirect_uri)
        query = {"response_type": "code", "client_id": self.config.client_id,
                 "redirect_uri": redirect_uri, "scope": " ".join(self.config.scopes),
                 "state": state, "nonce": nonce,
                 "code_challenge": create_s256_code_challenge(verifier),
                 "code_challenge_method": "S256"}
        joiner = "&" if "?" in authorize else "?"
        return f"{authorize}{joiner}{urlencode(query)}", browser

    def finish(self, params: dict, browser: str | None) -> tuple[dict, str]:
        """(the id_token's checked claims, where the person was going) for the provider's
        redirect back (its query ``params``) to the browser holding cookie ``browser``."""
        state = params.get("state", "")
        with self._lock:
            self._forget_stale()
            attempt = self._attempts.pop(state, None)
        if attempt is None:
            raise SignInRefused("this sign-in is unknown, used already or older than ten "
                                "minutes (the state does not match): start again")
        if not browser or not hmac.compare_digest(attempt.browser, _digest(browser)):
            raise SignInRefused("this sign-in was started in another browser (the state "
                                "does not belong to this one): start again")
        if params.get("error"):
            raise SignInRefused(f"the identity provider did not sign you in: "
                                f"{_short(params['error'])} "
                                f"{_short(params.get('error_description', ''))}".strip())
        code = params.get("code", "")
        if not code:
            raise SignInRefused("the identity provider sent no authorization code")
        tokens = self._exchange(code, attempt)
        return self.check_id_token(tokens.get("id_token", ""), attempt.nonce), attempt.next

    def _exchange(self, code: str, attempt: Attempt) -> dict:
        """The token endpoint's answer to the code, the PKCE verifier and the client's
        credentials (HTTP Basic unless the provider takes only client_secret_post)."""
        import httpx

        meta = self.metadata()
        form = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": attempt.redirect_uri, "code_verifier": attempt.verifier,
                "client_id": self.config.client_id}
        methods = meta.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        auth = None
        if "client_secret_basic" in methods:
            auth = (self.config.client_id, self._secret)
        else:
            form["client_secret"] = self._secret
        try:
            answer = httpx.post(meta["token_endpoint"], data=form, auth=auth,
                                headers={"Accept": "application/json"}, timeout=HTTP_TIMEOUT)
        except httpx.HTTPError as err:
            raise ProviderUnavailable(f"the identity provider's token endpoint cannot be "
                                      f"reached ({type(err).__name__}): try again later") \
                from None
        body = _json(answer)
        if answer.status_code != 200:
            error = _short(body.get("error", ""))
            hint = {"invalid_client": f"the desk's client id or the secret in "
                                      f"{self.config.client_secret_env} is not the one the "
                                      "provider holds: ask the desk's administrator",
                    "invalid_grant": "the code is used, expired or not this sign-in's: "
                                     "start again"}.get(error, "start again")
            raise SignInRefused(f"the identity provider refused the sign-in code "
                                f"({answer.status_code} {error}): {hint}")
        if not body.get("id_token"):
            raise SignInRefused("the identity provider's answer holds no id_token (is "
                                "'openid' among the scopes the client may ask for?)")
        return body

    def check_id_token(self, id_token: str, nonce: str) -> dict:
        """The id_token's claims once its signature (the provider's JWKS) and its iss, aud,
        azp, exp, iat and nonce are right."""
        from authlib.oidc.core import CodeIDToken
        from joserfc import jwt
        from joserfc.errors import (
            ExpiredTokenError,
            InvalidClaimError,
            JoseError,
            MissingClaimError,
        )

        token = None
        for refresh in (False, True):  # an unknown key id: the provider may have rotated
            try:
                token = jwt.decode(id_token, self.keys(refresh=refresh),
                                   algorithms=list(ALGORITHMS))
                break
            except JoseError as err:
                if refresh or type(err).__name__ not in ("InvalidKeyIdError",
                                                        "MissingKeyError"):
                    raise SignInRefused(f"the id_token's signature is not the identity "
                                        f"provider's ({type(err).__name__}): refused") from None
            except ValueError:
                raise SignInRefused("the id_token is not a signed JWT: refused") from None
        config = self.config
        claims = CodeIDToken(token.claims, token.header,
                             options={"iss": {"essential": True, "value": config.issuer},
                                      "aud": {"essential": True, "value": config.client_id},
                                      "exp": {"essential": True}},
                             params={"nonce": nonce, "client_id": config.client_id})
        try:
            claims.validate(leeway=LEEWAY_SECONDS)
        except ExpiredTokenError:
            raise SignInRefused("the id_token has expired: sign in again (is this machine's "
                                "clock right?)") from None
        except (InvalidClaimError, MissingClaimError) as err:
            claim = getattr(err, "claim", None) or str(err)
            raise SignInRefused(f"the id_token's {_claim_words(claim)}: refused") from None
        except JoseError as err:
            raise SignInRefused(f"the id_token is not valid ({type(err).__name__}): "
                                "refused") from None
        return dict(claims)

    def _forget_stale(self) -> None:
        now = time.monotonic()
        for state in [s for s, a in self._attempts.items()
                      if now - a.started > ATTEMPT_SECONDS]:
            del self._attempts[state]


def identity_of(config: OidcSettings, claims: dict) -> str:
    """The configured claim's value: who the provider says signed in."""
    value = claims.get(config.claim)
    if not isinstance(value, str) or not value.strip():
        raise SignInRefused(f"the id_token has no {config.claim} (review_desk.oidc.claim): "
                            "ask the provider's admin to release it to the desk's client, "
                            "or name another claim")
    if config.claim == "email" and claims.get("email_verified") is False:
        raise SignInRefused(f"the provider says the e-mail address {value} is not verified: "
                            "refused")
    return value.strip()


def _claim_words(claim: str) -> str:
    words = {"iss": "issuer is not the configured one", "aud": "audience is not this desk's "
             "client id", "azp": "authorized party is not this desk's client id",
             "nonce": "nonce is not the one this sign-in sent (a replayed token?)",
             "iat": "issue time is in the future", "sub": "subject is missing",
             "exp": "expiry is missing"}
    return words.get(claim, f"claim {claim!r} is wrong")


def _get_json(url: str, what: str) -> dict:
    import httpx

    try:
        answer = httpx.get(url, timeout=HTTP_TIMEOUT, headers={"Accept": "application/json"})
    except httpx.HTTPError as err:
        raise ProviderUnavailable(f"the identity provider cannot be reached for {what} at "
                                  f"{url} ({type(err).__name__}): try again later") from None
    if answer.status_code != 200:
        raise ProviderUnavailable(f"the identity provider answered {answer.status_code} for "
                                  f"{what} at {url}: try again later")
    doc = _json(answer)
    if not doc:
        raise SignInRefused(f"{what} at {url} is not a JSON object")
    return doc


def _json(answer) -> dict:
    try:
        doc = answer.json()
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _short(text) -> str:
    """A provider's error word, cut and limited to printable characters."""
    return "".join(c for c in str(text)[:120] if c.isprintable())
