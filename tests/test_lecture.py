"""The lecture's next-letter example through sj.cells.elman + sj.scan, to 1e-4."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from seqjax import lecture
from helpers import assert_close

H = [[0.6932, 0.9365, 0.9120], [0.8996, 0.9491, 0.9307], [0.8021, 0.7623, 0.8958]]
Y_OUT = [
    [1.8003, 1.9061, 1.9898],
    [1.0548, 1.1378, 1.2111],
    [0.8055, 0.9553, 0.9819],
    [1.0417, 1.2742, 1.2651],
]
SOFTMAX = [
    [0.4324, 0.4198, 0.4332],
    [0.2052, 0.1947, 0.1988],
    [0.1599, 0.1622, 0.1581],
    [0.2025, 0.2232, 0.2099],
]


def test_lecture_matrices():
    result = lecture.next_letter("PIG")
    assert_close(result.hidden, np.array(H, np.float32), atol=1e-4, rtol=0)
    assert_close(result.logits, np.array(Y_OUT, np.float32), atol=1e-4, rtol=0)
    assert_close(result.probs, np.array(SOFTMAX, np.float32), atol=1e-4, rtol=0)
    # untrained: P is the most likely next letter at every step, never the right S
    assert result.predictions == ("P", "P", "P")


def test_lecture_rejects_unknown_letters():
    with pytest.raises(ValueError, match=r"word must be a non-empty string.*unknown letters \['X'\]"):
        lecture.next_letter("PIX")


def test_lecture_script_prints_tables():
    script = Path(__file__).resolve().parents[1] / "scripts" / "lecture_rnn.py"
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)
    assert "0.6932" in out.stdout and "1.8003" in out.stdout and "0.4324" in out.stdout
    assert "predicted next letters: P P P" in out.stdout
