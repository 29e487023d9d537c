"""The reader's training data, training scripts and measurements (`python -m eval.reader.<script>`)."""
