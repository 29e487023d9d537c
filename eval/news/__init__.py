"""The news suite's corpus builders (`python -m eval.news.build`, `python -m eval.news.demo_corpus`)."""
