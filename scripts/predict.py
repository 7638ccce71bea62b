"""Classifies raw texts with a trained run, through the preprocessing it was trained with;
a seq2seq run (configs/dates_seq2seq.py) translates them instead.

    python scripts/predict.py --workdir runs/sms_spam_lstm "Follow this link to win 100$"
    python scripts/predict.py --workdir runs/dates_seq2seq --beam_size=4 "22 Nov 2026" "november 22, 2026"
"""

import sys

from absl import app, flags

_WORKDIR = flags.DEFINE_string("workdir", None, "A run directory written by scripts/train.py.")
_BEAM = flags.DEFINE_integer("beam_size", 0, "seq2seq runs: beam-search width (0: greedy decoding).")


def main(argv):
    import json
    from pathlib import Path

    from seqjax.train import cli, seq2seq_run
    from seqjax.train.experiment import predict

    texts = argv[1:]

    def run():
        if not texts:
            raise ValueError("give one or more texts to classify after the flags.")
        config_path = Path(_WORKDIR.value) / "config.json"
        if config_path.is_file() and json.loads(config_path.read_text()).get("task") == "seq2seq":
            for text, output in zip(texts, seq2seq_run.translate(_WORKDIR.value, texts, beam_size=_BEAM.value)):
                print(f"{output}\t{text}")
            return
        for text, result in zip(texts, predict(_WORKDIR.value, texts)):
            print(f"{result['label']}\t{result['probability']:.4f}\t{text}")

    sys.exit(cli.run(run))


if __name__ == "__main__":
    flags.mark_flags_as_required(["workdir"])
    from seqjax.train.cli import parse_flags

    app.run(main, flags_parser=parse_flags)
