"""``python -m course_lib.tools.checkpoint --rebuild``: rebuild chapter 10's source network checkpoint."""

from __future__ import annotations

import argparse

from course_lib.chapters.ch10_transfer_learning.tasks import load_task
from course_lib.chapters.ch10_transfer_learning.training import SOURCE_STEPS, rebuild
from course_lib.chapters.ch10_transfer_learning.transfer import CHECKPOINT, evaluate, load_pretrained
from course_lib.checks import check_argv
from course_lib.data import DATA_DIR


def main(argv=None) -> int:
    """``python -m course_lib.tools.checkpoint --rebuild [--data-dir D] [--steps N]``: rebuild the source checkpoint.
    """
    argv = check_argv(argv, "main")
    parser = argparse.ArgumentParser(prog="python -m course_lib.tools.checkpoint",
                                     description="Rebuild chapter 10's source network checkpoint.")
    parser.add_argument("--rebuild", action="store_true", help=f"train and write data/{CHECKPOINT}")
    parser.add_argument("--data-dir", default=str(DATA_DIR), help="folder to write to (default: data/)")
    parser.add_argument("--steps", type=int, default=SOURCE_STEPS, help="training steps")
    args = parser.parse_args(argv)
    if not args.rebuild:
        parser.print_help()
        return 2
    path = rebuild(args.data_dir, steps=args.steps)
    model = load_pretrained(path)
    source = load_task("source")
    print(f"wrote {path} ({path.stat().st_size} bytes); source test accuracy "
          f"{evaluate(model, source.X_test, source.y_test):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
