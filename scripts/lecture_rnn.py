"""Prints the lecture's next-letter RNN example (H, Y_out, softmax) as tables.

    python scripts/lecture_rnn.py [--word PIG]
"""

import argparse
import sys

from seqjax import lecture


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--word", default="PIG", help="letters from P, I, G, S (default PIG)")
    args = parser.parse_args(argv)
    try:
        result = lecture.next_letter(args.word)
    except ValueError as err:
        parser.error(str(err))
    print(lecture.format_table("H (hidden state, one column per step)", result.hidden))
    print()
    print(lecture.format_table("Y_out = W_hy H", result.logits, lecture.VOCAB))
    print()
    print(lecture.format_table("softmax(Y_out)", result.probs, lecture.VOCAB))
    print()
    print(f"input {' '.join(args.word)} -> predicted next letters: {' '.join(result.predictions)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
