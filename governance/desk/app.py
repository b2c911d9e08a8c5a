"""The desk's routes (FastAPI, server-rendered Jinja pages, HTMX for the queue's partial
updates). Every route but the sign-in page needs a signed-in user; every POST needs the
session's CSRF token; every decision goes through the governance library under the
signed-in name, so owners, four eyes and the gate are the CLI's own.

Errors answer in the page look: a rule that refuses (``ControlFailed``) is 403, bad input
(``SegflowError``) 400, too many wrong passwords 429, an identity provider out of reach
503.
"""

from __future__ import annotations

import secrets
import threading
from pathlib import Path
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.middleware.sessions import SessionMiddleware

from segflow.errors import ControlFailed, SegflowError
from segflow.governance.desk import csrf
from segflow.governance.desk.queue import PAGE_SIZES, SORTS, STATUSES, Filters
from segflow.governance.desk.users import Throttled, User
from segflow.governance.desk.views import RUN_PAGES
from segflow.settings import Settings

HERE = Path(__file__).parent
SESSION_HOURS = 8


async def form(request: Request) -> dict[str, str]:
    """An HTML form's fields (application/x-www-form-urlencoded, what every desk form
    sends), the last value of a repeated name winning; parsed here rather than through
    python-multipart, which the installed ``multipart`` package shadows."""
    from urllib.parse import parse_qsl

    body = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(body, keep_blank_values=True))


FORM = Depends(form)
UPLOAD_LIMIT_MB = 5  # one form's body: a curated cohort's CSV of ~400,000 ids at most


class TooLarge(SegflowError):
    """A form's body over the upload limit (413)."""


async def posted(request: Request) -> dict:
    """A form's fields, urlencoded (``form``) or multipart/form-data (the cohort upload,
    parsed by ``multipart``), a file field as (file name, bytes). The body is read up to
    UPLOAD_LIMIT_MB and refused past it, before anything is parsed."""
    import io

    from multipart import MultipartError, MultipartParser, parse_options_header

    kind, options = parse_options_header(request.headers.get("content-type", ""))
    if kind != "multipart/form-data":
        return await form(request)
    limit, body = UPLOAD_LIMIT_MB * 1024 * 1024, bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge(f"the upload is over {UPLOAD_LIMIT_MB} MB: a curated cohort is a "
                           "list of ids; split the file or upload only the id column")
    if not options.get("boundary"):
        raise SegflowError("the upload is not a complete form: send it again from the page")
    try:
        return {part.name: (part.filename, part.raw) if part.filename is not None
                else part.value
                for part in MultipartParser(io.BytesIO(bytes(body)), options["boundary"],
                                            len(body), part_limit=16, spool_limit=limit + 1,
                                            memory_limit=2 * limit + 1)}
    except MultipartError as err:
        raise SegflowError(f"the upload is not a complete form ({err}): send it again from "
                           "the page") from None


POSTED = Depends(posted)


class LoginRequired(Exception):
    """No signed-in user: a page sends the browser to sign in, anything else is 401."""


def secret_key(settings: Settings) -> str:
    """The key that signs session cookies, made once per workspace (readable by its owner
    only): restarting the desk keeps people signed in, another workspace's cookie fails."""
    path = settings.home / "desk" / "session.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip()


def create_app(settings: Settings) -> FastAPI:
    """The desk for one workspace (``segflow review serve`` runs it under uvicorn)."""
    project = settings.project
    methods = project.desk_sign_in if project is not None else ("password",)
    provider = _provider(project) if "oidc" in methods else None
    app = FastAPI(title="segflow review desk", docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.add_middleware(SessionMiddleware, secret_key=secret_key(settings),
                       session_cookie="segflow_desk", max_age=SESSION_HOURS * 3600,
                       same_site="strict")
    writing = threading.Lock()  # one decision at a time (requests run on threads)
    _errors(app, settings)

    def page(request: Request, template: str, status: int = 200, **values) -> HTMLResponse:
        from segflow.governance.desk.views import render

        return HTMLResponse(render(settings, template, user=values.pop("user", None),
                                   csrf=csrf.token(request.session), **values),
                            status_code=status)

    def signed_in(request: Request) -> User:
        from segflow.governance.desk.users import roles_of, user

        name, via = request.session.get("user"), request.session.get("via", "password")
        roles = None
        if name and via in methods:  # a way switched off signs its sessions out
            roles = roles_of(settings, name) if via == "password" else owner_roles(name)
        if not roles:
            request.session.pop("user", None)
            raise LoginRequired()
        return user(settings, name, roles)

    def acting(request: Request, sent: str | None, role: str | None = None) -> User:
        """The signed-in user for a state-changing request: the CSRF token must match and
        the user hold ``role`` on the desk."""
        who = signed_in(request)
        if not csrf.valid(request.session, sent or request.headers.get(csrf.HEADER)):
            raise ControlFailed("the form's security token is missing or stale: reload the "
                                "page and try again")
        if role and not who.may(role):
            raise ControlFailed(f"{who.name} has no {role} role on the desk")
        return who

    def owner_roles(name: str) -> str | None:
        """A person signed in through the identity provider holds the owners file's roles."""
        from segflow.governance.owners import load_owners

        person = load_owners(settings.owners_path).people.get(name)
        return ",".join(sorted(person.roles)) if person else None

    def login_page(request: Request, next: str, status: int = 200, error: str | None = None):
        return page(request, "login.html.j2", status, page_title="Sign in to the review desk",
                    error=error, next=_local(next), password="password" in methods,
                    oidc=provider.config.title if provider else None)

    @app.get("/login")
    def login_form(request: Request, next: str = "/"):
        return login_page(request, next)

    @app.post("/login")
    def login(request: Request, data: dict = FORM):
        from segflow.governance.desk.users import check_login

        name, password = data.get("name", ""), data.get("password", "")
        csrf_token, next = data.get("csrf_token", ""), data.get("next", "/")

        if "password" not in methods:
            return login_page(request, next, 403, "password sign-in is switched off for "
                              f"this desk (review_desk.sign_in in {project.file}): sign in "
                              f"with {provider.config.title}")
        if not csrf.valid(request.session, csrf_token):
            return login_page(request, next, 403, "the form's security token is stale: "
                              "try again")
        try:
            who = check_login(settings, name.strip(), password)
        except Throttled as err:
            return login_page(request, next, 429, str(err))
        if who is None:
            return login_page(request, next, 401, "wrong name or password")
        request.session.clear()
        request.session.update(user=who.name, via="password")
        return RedirectResponse(_local(next), status_code=303)

    if provider is not None:
        _oidc_routes(app, settings, provider, page)

    @app.post("/logout")
    def logout(request: Request, data: dict = FORM):
        acting(request, data.get("csrf_token"))
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    @app.get("/static/htmx.min.js")
    def htmx(request: Request):
        signed_in(request)
        return FileResponse(HERE / "static" / "htmx.min.js", media_type="text/javascript")

    @app.get("/")
    def home(request: Request):
        from segflow.governance.desk.views import runs_overview

        who = signed_in(request)
        runs = runs_overview(settings)
        return page(request, "home.html.j2", user=who, page_title="Review desk", runs=runs,
                    waiting=[r for r in runs if r["state"] == "waiting"],
                    open_total=sum(r["open"] for r in runs))

    @app.get("/runs/{run_id}")
    def run_page(request: Request, run_id: str):
        from segflow.governance.desk.views import run_view

        who = signed_in(request)
        return page(request, "run.html.j2", user=who, **run_view(settings, run_id))

    @app.get("/runs/{run_id}/queue")
    def queue_page(request: Request, run_id: str, rule: str = "", cohort: str = "",
                   owner: str = "", status: str = "", min_move: str = "", sort: str = "rule",
                   desc: bool = False, size: int = 50, after: str = "", before: str = "",
                   flash: str = ""):
        from segflow.governance.desk.views import queue_view, render

        who = signed_in(request)
        page_no = _count(request.query_params.get("page", "")) or 1
        filters = _filters(rule, cohort, owner, status, min_move, sort, desc, page_no, size,
                           after, before)
        partial = bool(request.headers.get("hx-request"))
        values = queue_view(settings, run_id, filters, rows_only=partial)
        values["page_url"] = _pager(f"/runs/{run_id}/queue", values["filters"])
        if partial:
            return HTMLResponse(render(settings, "rows.html.j2", oob=True, **values))
        return page(request, "queue.html.j2", user=who, oob=False, flash=flash,
                    page_title="Review queue", statuses=STATUSES, sorts=list(SORTS),
                    sizes=PAGE_SIZES, **values)

    @app.get("/runs/{run_id}/items/{review_id}")
    def item_page(request: Request, run_id: str, review_id: str):
        from segflow.governance.desk.views import item_view

        who = signed_in(request)
        return page(request, "item.html.j2", user=who, **item_view(settings, run_id,
                                                                    review_id))

    @app.post("/runs/{run_id}/decide")
    def decide(request: Request, run_id: str, data: dict = FORM):
        from segflow.governance.desk.views import decide_selection

        who = acting(request, data.get("csrf_token"), "reviewer")
        g = data.get
        filters = _filters(g("rule"), g("cohort"), g("owner"), g("status"), g("min_move", ""),
                           g("sort") or "rule", g("desc") == "true", 1,
                           _count(g("size", "")) or 50)
        with writing:
            done = decide_selection(settings, run_id, filters, who, g("action", "confirm"),
                                    g("to", ""), g("reason", ""), g("expires", ""),
                                    _count(g("count", "")))
        message = (f"{done['count']:,} item(s) {done['status']} by {who.name}"
                   + (f" to {done['to']}; the run's memberships, counts, controls and report "
                      "are re-derived" if done["to"] else ""))
        target = _url(f"/runs/{run_id}/queue", filters)
        joiner = "&" if "?" in target else "?"
        return RedirectResponse(f"{target}{joiner}{urlencode({'flash': message})}",
                                status_code=303)

    @app.post("/runs/{run_id}/approve")
    def approve(request: Request, run_id: str, data: dict = FORM):
        from segflow.governance.publish import approve as do

        who = acting(request, data.get("csrf_token"), "approver")
        with writing:
            do(settings, run_id, who.name, data.get("reason", ""))
        return RedirectResponse(f"/runs/{run_id}", status_code=303)

    @app.post("/runs/{run_id}/publish")
    def publish(request: Request, run_id: str, data: dict = FORM):
        from segflow.governance.publish import publish_run

        who = acting(request, data.get("csrf_token"), "approver")
        with writing:
            publish_run(settings, run_id, who.name, _count(data.get("accept_open", "")),
                        data.get("reason") or None)
        return RedirectResponse(f"/runs/{run_id}", status_code=303)

    @app.get("/runs/{run_id}/pages/{name}")
    def run_file_page(request: Request, run_id: str, name: str):
        from segflow.runstore import load_run, run_dir

        signed_in(request)
        if name not in RUN_PAGES:
            raise SegflowError(f"no page {name!r}; one of {', '.join(RUN_PAGES)}")
        load_run(settings, run_id)
        path = run_dir(settings, run_id) / RUN_PAGES[name][0]
        if not path.exists():
            raise SegflowError(f"run {run_id} has no {RUN_PAGES[name][1].lower()} page yet")
        return FileResponse(path, media_type="text/html")

    @app.get("/cohorts")
    def cohorts_page(request: Request, flash: str = ""):
        from segflow.governance.desk.views import cohorts_view

        who = signed_in(request)
        return page(request, "cohorts.html.j2", user=who, page_title="Curated cohorts",
                    flash=flash, upload_limit_mb=UPLOAD_LIMIT_MB, **cohorts_view(settings))

    @app.post("/cohorts/curate")
    def curate_cohort(request: Request, data: dict = POSTED):
        """A new version of a curated cohort from pasted ids or an uploaded CSV file, owned
        by the signed-in reviewer: either is written to a file that the library reads as
        ``segflow cohorts curate --file`` does (``curated.curate``: it checks they review
        the campaign, the reason, the expiry and the whole file before storing anything)."""
        import tempfile

        from segflow.governance.curated import curate

        who = acting(request, data.get("csrf_token"), "reviewer")
        filename, content = data.get("file") or ("", b"")
        ids = [line.strip().strip(",") for line in data.get("ids", "").splitlines()]
        if filename and any(ids):
            raise SegflowError("paste ids or choose a CSV file, not both")
        if not filename and not any(ids):
            raise SegflowError("paste the ids or choose a CSV file of them")
        with tempfile.TemporaryDirectory() as folder, writing:
            path = Path(folder) / "ids.csv"
            if filename:
                path.write_bytes(content)
            else:
                path.write_text("id\n" + "\n".join(i for i in ids if i) + "\n")
            done = curate(settings, data.get("campaign", ""), data.get("name", ""), path,
                          who.name, data.get("reason", ""), data.get("expires", ""),
                          by=who.name, source=Path(filename).name or "the pasted ids")
        message = (f"{done.campaign}/{done.name} v{done.version}: {done.ids} id(s) stored"
                   + (f"; not in the last run's population: {', '.join(done.not_in_population)}"
                      if done.not_in_population else "") + "; the next refresh takes it")
        return RedirectResponse(f"/cohorts?{urlencode({'flash': message})}", status_code=303)

    @app.get("/audit")
    def audit_page(request: Request):
        from segflow.governance.desk.views import audit_view

        who = signed_in(request)
        return page(request, "audit.html.j2", user=who, page_title="Audit log",
                    **audit_view(settings))

    return app


def _provider(project):
    """The identity provider of ``review_desk.oidc``, its client secret read from the
    environment now, so a desk missing it does not start."""
    from segflow.governance.desk.oidc import Provider, client_secret

    return Provider(project.desk_oidc, client_secret(project.desk_oidc))


def _oidc_routes(app: FastAPI, settings: Settings, provider, page) -> None:
    """``/oidc/login`` sends the browser to the identity provider; ``/oidc/callback`` takes
    it back, checks everything (``oidc.Provider.finish``), maps the identity to a person of
    the owners file and signs them in; both audited."""
    from segflow.governance.desk.oidc import ATTEMPT_SECONDS, COOKIE

    def redirect_uri(request: Request) -> str:
        return provider.config.redirect_url or str(request.url_for("oidc_callback"))

    @app.get("/oidc/login")
    def oidc_login(request: Request, next: str = "/"):
        target, browser = provider.start(redirect_uri(request), _local(next))
        answer = RedirectResponse(target, status_code=303)
        # SameSite=lax: the provider's redirect back is a cross-site navigation, which a
        # strict cookie would not travel with; it holds a random value, no secret
        answer.set_cookie(COOKIE, browser, max_age=ATTEMPT_SECONDS, path="/oidc",
                          httponly=True, samesite="lax",
                          secure=request.url.scheme == "https")
        return answer

    @app.get("/oidc/callback", name="oidc_callback")
    def oidc_callback(request: Request):
        from segflow.governance import audit
        from segflow.governance.desk.oidc import SignInRefused, identity_of
        from segflow.governance.owners import load_owners, person_of_identity

        claims, next = provider.finish(dict(request.query_params), request.cookies.get(COOKIE))
        identity = identity_of(provider.config, claims)
        owners = load_owners(settings.owners_path)
        person = person_of_identity(owners, identity)
        seen = {"via": "oidc", "issuer": provider.config.issuer, "subject": claims.get("sub"),
                provider.config.claim: identity}
        if person is None:
            audit.record(settings, identity, "desk_sign_in_refused",
                         {**seen, "why": "not in the owners file"})
            raise SignInRefused(f"{identity} signed in at {provider.config.title}, but is not "
                                f"a person of the owners file {owners.path}: an admin adds "
                                f"them there (identity: {identity}) before they can use the "
                                "desk")
        audit.record(settings, person.id, "desk_signed_in", seen)
        request.session.clear()
        request.session.update(user=person.id, via="oidc")
        # a page, not a redirect: the session cookie is SameSite=strict, and a browser does
        # not send it on a redirect chain that began at the provider's site
        answer = page(request, "signed_in.html.j2", page_title="Signed in", person=person,
                      next=next)
        answer.delete_cookie(COOKIE, path="/oidc")
        return answer


def _errors(app: FastAPI, settings: Settings) -> None:
    from segflow.governance.desk.views import render

    def answer(request: Request, status: int, state: str, message: str) -> Response:
        if request.headers.get("hx-request"):
            return HTMLResponse(f'<p class="fail" id="message">{_escape(message)}</p>',
                                status_code=status)
        return HTMLResponse(render(settings, "message.html.j2", user=None, csrf="",
                                   page_title=state, css="blocked", state=state,
                                   message=message, back=request.headers.get("referer")
                                   or "/"), status_code=status)

    @app.exception_handler(LoginRequired)
    def login_required(request: Request, _err):
        if request.method == "GET" and not request.headers.get("hx-request"):
            return RedirectResponse("/login?" + urlencode({"next": str(request.url.path)}),
                                    status_code=303)
        return Response("sign in first", status_code=401)

    from segflow.governance.desk.oidc import ProviderUnavailable

    @app.exception_handler(ProviderUnavailable)
    def provider_unavailable(request: Request, err: ProviderUnavailable):
        return answer(request, 503, "Identity provider unavailable", str(err))

    @app.exception_handler(ControlFailed)
    def refused(request: Request, err: ControlFailed):
        return answer(request, 403, "Refused", str(err))

    @app.exception_handler(TooLarge)
    def too_large(request: Request, err: TooLarge):
        return answer(request, 413, "Not done", str(err))

    @app.exception_handler(SegflowError)
    def bad_input(request: Request, err: SegflowError):
        return answer(request, 400, "Not done", str(err))


def _filters(rule, cohort, owner, status, min_move, sort, desc, page_no, size, after="",
             before="") -> Filters:
    try:
        move = int(min_move) if str(min_move).strip() else None
    except ValueError:
        raise SegflowError(f"size of move must be a whole number, not {min_move!r}") from None
    return Filters(rule or None, cohort or None, owner or None, status or None, move, sort,
                   bool(desc), page_no, size, after or None, before or None).checked()


def _count(text: str) -> int | None:
    text = (text or "").strip().replace(",", "")
    if not text:
        return None
    if not text.isdigit():
        raise SegflowError(f"{text!r} is not a count")
    return int(text)


def _url(path: str, filters: Filters) -> str:
    query = filters.as_query()
    return f"{path}?{urlencode(query)}" if query else path


def _pager(path: str, filters: Filters):
    """The link to the page after (``"after"``) or before (``"before"``) a row's key, with
    the filters and the page's number as shown."""
    def url(way: str, key: str) -> str:
        number = filters.page + (1 if way == "after" else -1)
        return f"{path}?{urlencode({**filters.as_query(), way: key, 'page': number})}"
    return url


def _local(target: str) -> str:
    """Only a path of this site (no open redirect to another host after signing in):
    browsers read a backslash as a slash, so ``/\\host`` is another host as ``//host`` is."""
    safe = (target.startswith("/") and not target.startswith("//") and "\\" not in target
            and target.isprintable())
    return target if safe else "/"


def _escape(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))
