"""Classifies raw texts with a trained run, through the preprocessing it was trained with.

    python scripts/predict.py --workdir runs/sms_spam_lstm "Follow this link to win 100$"
"""

import sys

from absl import app, flags

_WORKDIR = flags.DEFINE_string("workdir", None, "A run directory written by scripts/train.py.")


def main(argv):
    from seqjax.train import cli
    from seqjax.train.experiment import predict

    texts = argv[1:]

    def run():
        if not texts:
            raise ValueError("give one or more texts to classify after the flags.")
        for text, result in zip(texts, predict(_WORKDIR.value, texts)):
            print(f"{result['label']}\t{result['probability']:.4f}\t{text}")

    sys.exit(cli.run(run))


if __name__ == "__main__":
    flags.mark_flags_as_required(["workdir"])
    from seqjax.train.cli import parse_flags

    app.run(main, flags_parser=parse_flags)
