"""eval.benchmark's scale rows and their plot (the measurements themselves are not tests)."""

from __future__ import annotations

import json

from eval import benchmark


def _row(chunks: int, p95: float) -> dict[str, float]:
    return {"chunks": chunks, "search_p50_ms": p95 / 2, "search_p95_ms": p95, "ask_p50_s": 0.2, "peak_mb": 2000}


def test_the_last_row_of_each_size_is_kept_smallest_first(tmp_path):
    rows = tmp_path / "scale.jsonl"
    lines = [_row(100_000, 90), _row(1_000, 30), _row(100_000, 80)]
    rows.write_text("".join(json.dumps(r) + "\n" for r in lines) + "\n", encoding="utf-8")
    kept = benchmark.latest_rows(rows)
    assert [r["chunks"] for r in kept] == [1_000, 100_000]
    assert kept[1]["search_p95_ms"] == 80  # the later measurement of that size


def test_the_plot_is_a_png(tmp_path):
    out = tmp_path / "docs" / "scale.png"
    benchmark.plot([_row(1_000, 30), _row(10_000, 50), _row(100_000, 80)], out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5_000


def test_a_count_below_one_is_refused_with_its_option_named(monkeypatch, capsys):
    import pytest

    for option in ("--files", "--scale", "--questions"):
        monkeypatch.setattr("sys.argv", ["benchmark.py", option, "0"])
        with pytest.raises(SystemExit) as exit_:
            benchmark.main()
        assert exit_.value.code == 2
        assert f"{option} takes a number of at least 1 (got 0)" in capsys.readouterr().err
