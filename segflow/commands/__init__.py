"""CLI command modules; each defines ``register(app: typer.Typer)``.

Keep module-level imports light (typer, stdlib, segflow.settings): heavy libraries are
imported inside the command functions.
"""
