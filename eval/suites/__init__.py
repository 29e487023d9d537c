"""The evaluation suites (`rag eval`) and the PIAF suite's builder (`python -m eval.suites.build_piaf`)."""
