"""A stand-in OpenID Connect identity provider for the desk's tests (the organisation's real
one is out of reach here), behaving as one does: a discovery document, a JWKS with an RSA
key, an authorize endpoint (a sign-in page whose form, posted, redirects back with a code
and the state), and a token endpoint that checks the client's secret (HTTP Basic or form),
the code (once only, for this client and redirect address) and the PKCE verifier before
answering an RS256 id_token.

The person "signed in at the provider" is ``IdP.person`` (claims); ``IdP.mischief`` makes
the next id_token wrong in one way: ``signature`` (a byte of the signature changed),
``audience`` (another client's), ``expired`` (an hour old), ``nonce`` (another sign-in's),
``foreign_key`` (signed with a key the JWKS does not hold).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

CLIENT_ID, CLIENT_SECRET = "segflow-desk", "s3cret-only-in-the-environment"


class IdP:
    def __init__(self):
        from joserfc.jwk import RSAKey

        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig",
                                                         "alg": "RS256"})
        self.other_key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
        self.person: dict = {}
        self.mischief: str | None = None
        self.redirect_uris: set[str] = set()
        self.codes: dict[str, dict] = {}
        self.used: set[str] = set()
        self.secret = CLIENT_SECRET  # the client's secret as the provider holds it
        self.token_requests = 0
        self.url = ""  # set once the server has a port (the issuer)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/.well-known/openid-configuration")
        def discovery():
            return {"issuer": self.url, "authorization_endpoint": f"{self.url}/authorize",
                    "token_endpoint": f"{self.url}/token", "jwks_uri": f"{self.url}/jwks",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "code_challenge_methods_supported": ["S256"],
                    "token_endpoint_auth_methods_supported": ["client_secret_basic",
                                                              "client_secret_post"]}

        @app.get("/jwks")
        def jwks():
            return {"keys": [self.key.as_dict(private=False)]}

        @app.get("/authorize")
        def sign_in_page(request: Request):
            """The provider's own sign-in page: the person (already known here) presses
            "Sign in", a form posted from the provider's site, as at a real provider."""
            from markupsafe import escape

            fields = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
                             for k, v in request.query_params.items())
            return HTMLResponse(f'<form method="post" action="/authorize">{fields}'
                                f'<button type="submit">Sign in</button></form>')

        @app.post("/authorize")
        async def authorize(request: Request):
            from urllib.parse import parse_qsl

            q = dict(parse_qsl((await request.body()).decode()))
            if q.get("client_id") != CLIENT_ID or q.get("redirect_uri") not in \
                    self.redirect_uris:
                return JSONResponse({"error": "invalid_request"}, 400)  # never redirects
            if q.get("response_type") != "code" or "openid" not in q.get("scope", "").split() \
                    or q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
                return JSONResponse({"error": "invalid_request"}, 400)
            code = secrets.token_urlsafe(24)
            self.codes[code] = {"redirect_uri": q["redirect_uri"], "nonce": q.get("nonce"),
                                "challenge": q["code_challenge"], "person": dict(self.person)}
            back = urlencode({"code": code, "state": q.get("state", "")})
            return RedirectResponse(f"{q['redirect_uri']}?{back}", 302)

        @app.post("/token")
        async def token(request: Request):
            from urllib.parse import parse_qsl

            self.token_requests += 1
            form = dict(parse_qsl((await request.body()).decode()))
            client, secret = form.get("client_id"), form.get("client_secret")
            basic = request.headers.get("authorization", "")
            if basic.startswith("Basic "):
                client, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
            if client != CLIENT_ID or secret != self.secret:
                return JSONResponse({"error": "invalid_client"}, 401)
            code = form.get("code", "")
            grant = self.codes.get(code)
            if form.get("grant_type") != "authorization_code" or grant is None \
                    or code in self.used:
                return JSONResponse({"error": "invalid_grant"}, 400)
            self.used.add(code)  # a code is good once, right or wrong
            verifier = form.get("code_verifier", "")
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode())
                                                 .digest()).rstrip(b"=").decode()
            if challenge != grant["challenge"] or form.get("redirect_uri") != \
                    grant["redirect_uri"]:
                return JSONResponse({"error": "invalid_grant"}, 400)
            return {"access_token": secrets.token_urlsafe(24), "token_type": "Bearer",
                    "expires_in": 300, "id_token": self.id_token(grant)}

        return app

    def id_token(self, grant: dict) -> str:
        from joserfc import jwt

        now = int(time.time())
        claims = {"iss": self.url, "sub": "sub-" + grant["person"].get("email", "x"),
                  "aud": CLIENT_ID, "iat": now, "exp": now + 300, "nonce": grant["nonce"],
                  **grant["person"]}
        mischief, key = self.mischief, self.key
        if mischief == "audience":
            claims["aud"] = "another-client"
        elif mischief == "expired":
            claims.update(iat=now - 7200, exp=now - 3600)
        elif mischief == "nonce":
            claims["nonce"] = "a-nonce-of-another-sign-in"
        elif mischief == "foreign_key":
            key = self.other_key
        text = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)
        if mischief == "signature":
            head, body, sig = text.split(".")
            raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
            raw[10] ^= 0x01
            text = f"{head}.{body}.{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}"
        return text
