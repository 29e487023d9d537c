"""The PIAF retrieval suite's builder (`python -m eval.piaf.build`)."""
