"""The embedded judge's HaluEval suite and its fitting (`python -m eval.judge.build`, `python -m eval.judge.train`)."""
