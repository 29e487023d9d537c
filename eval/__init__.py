"""Training, evaluation and benchmark scripts, run from the repository as `python -m eval.<module>`;
not part of the installed package."""
