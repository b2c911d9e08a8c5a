"""The review desk's commands: ``segflow review serve`` and ``segflow users add``.

Heavy imports (fastapi, uvicorn, argon2, duckdb) stay inside the command bodies.
"""

from __future__ import annotations

import sys

import typer

from segflow.settings import get_settings

users_app = typer.Typer(help="Review desk accounts (people of the owners file).",
                        no_args_is_help=True)


def serve(port: int = typer.Option(8765, help="Port to listen on."),
          host: str = typer.Option("127.0.0.1", help="Address to listen on (loopback by "
                                   "default; put a TLS proxy in front to serve others)."),
          ) -> None:
    """Start the review desk: named owners sign in, clear review items in bulk, approve and
    publish (docs/review-desk.md).

    Sign-in: a password (`segflow users add`) or the organisation's identity
    provider (OIDC: Okta, Azure AD, Google, Keycloak), as segflow.yaml says:
    review_desk: sign_in (password, oidc or both) and oidc (issuer, client_id,
    client_secret_env, claim). Register http://HOST:PORT/oidc/callback (or
    review_desk.oidc.redirect_url) at the provider as the redirect URL.
    """
    import uvicorn

    from segflow.governance.desk.app import create_app

    settings = get_settings()
    app = create_app(settings)
    typer.echo(f"review desk of {settings.home} on http://{host}:{port}/ (Ctrl-C stops it)")
    project = settings.project
    if project is not None and project.desk_oidc is not None:
        oidc = project.desk_oidc
        typer.echo(f"sign-in: {' and '.join(project.desk_sign_in)}; identity provider "
                   f"{oidc.issuer}, client {oidc.client_id}, people matched by their "
                   f"{oidc.claim}; redirect URL to register: "
                   f"{oidc.redirect_url or f'http://{host}:{port}/oidc/callback'}")
    uvicorn.run(app, host=host, port=port, log_level="warning")


@users_app.command("add")
def users_add(name: str = typer.Argument(..., help="Person id of the owners file."),
              role: list[str] = typer.Option(..., "--role", help="viewer, reviewer, approver "
                                             "or admin; repeat for several (each must be "
                                             "one the owners file gives the person)."),
              password_stdin: bool = typer.Option(False, "--password-stdin",
                                                  help="Read the password from standard "
                                                  "input (scripts) instead of a prompt."),
              ) -> None:
    """Create a desk account or set a new password and roles (an argon2 hash is stored)."""
    from segflow.governance.desk.users import add_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    user = add_user(get_settings(), name, role, password)
    typer.echo(f"desk account {user.name} ({user.title}): roles {', '.join(sorted(user.roles))}")


def register(app: typer.Typer) -> None:
    from segflow.commands.governance import review_app

    review_app.command("serve")(serve)
    app.add_typer(users_app, name="users")
