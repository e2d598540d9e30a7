"""The course's benchmark as a report and a command line: targets, the table, JSON, ``python -m course_lib.bench``.

``run_benchmark`` measures every workload of ``course_lib.bench`` (timing
and workloads live there) and returns the report; ``check_targets`` judges
each ratio against its target; ``format_table`` and ``write_json`` print
and save the report; ``main`` is the command line. ``python -m
course_lib.bench`` runs ``main``, and every name here can still be imported
from ``course_lib.bench``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys

from course_lib.bench import (
    BACKEND_LABELS,
    BACKENDS,
    DTYPES,
    REPEATS,
    TARGETS,
    TASKS,
    _check_flag,
    gpu_device,
    make_workloads,
    measure,
)
from course_lib.checks import _fail, check_int

# --------------------------------------------------------------------------- targets and the report



def _check_mapping(value, name: str, func: str, keys, fix: str) -> dict:
    if not isinstance(value, dict) or not set(keys) <= set(value):
        got = f"a dict with keys {sorted(value)}" if isinstance(value, dict) else type(value).__name__
        _fail(TypeError, func, f"{name} as a dict with keys {sorted(keys)}", got, fix)
    return value

def check_targets(rows: list[dict], quick: bool) -> list[dict]:
    """One entry per row that has a target: its ratio, the limit, and whether it is met.

    With ``quick`` the sizes are too small to mean anything: ``evaluated`` is False.
    """
    if not isinstance(rows, (list, tuple)):
        _fail(TypeError, "check_targets", "rows as a list of measure() rows", type(rows).__name__, None)
    for row in rows:
        _check_mapping(row, "each row", "check_targets", ("task", "size", "ratio"), "pass the rows measure() returns")
    quick = _check_flag(quick, "quick", "check_targets")
    out = []
    for row in rows:
        limit = TARGETS.get(row["task"])
        if limit is None:
            continue
        ratio = row["ratio"]
        met = None if quick or ratio is None else bool(ratio <= limit)
        out.append({"task": row["task"], "size": row["size"], "limit": limit, "ratio": ratio,
                    "evaluated": not quick, "met": met})
    return out


def run_benchmark(quick: bool = False, dtype: str = "float32", device: str | None = None, repeats: int | None = None,
                  threads: int = 2, tasks=TASKS, progress=None) -> dict:
    """Run every workload and return the report (the JSON the CLI writes).

    ``threads`` fixes torch's and NumPy's BLAS thread count
    (``course_lib.device.set_threads``). ``progress(row)`` is called after
    each row (the CLI prints it).
    """
    from course_lib.device import describe_hardware, set_threads

    func = "run_benchmark"
    quick = _check_flag(quick, "quick", func)
    if progress is not None and not callable(progress):
        _fail(TypeError, func, "progress to be None or a function of one row", type(progress).__name__, None)
    if isinstance(tasks, str):
        _fail(TypeError, func, f"tasks to be a list of names from {TASKS}", repr(tasks), f"e.g. tasks=[{tasks!r}]")
    if dtype not in DTYPES:
        _fail(ValueError, func, f"dtype to be one of {DTYPES}", repr(dtype), "e.g. dtype='float32'")
    unknown = [t for t in tasks if t not in TASKS]
    if unknown or not tasks:
        _fail(ValueError, func, f"tasks from {TASKS}", repr(list(tasks)), "e.g. tasks=('matmul', 'mlp')")
    threads = check_int(threads, "threads", func, minimum=1)
    if repeats is None:
        repeats = REPEATS["quick" if quick else "full"]
    repeats = check_int(repeats, "repeats", func, minimum=1)
    gpu, gpu_note = gpu_device(device)
    set_threads(threads)
    rows = []
    for workload in make_workloads(quick, dtype, tasks):
        rows.append(measure(workload, gpu, gpu_note, repeats=repeats, dtype=dtype))
        if progress is not None:
            progress(rows[-1])
    meta = {
        "created_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "hardware": describe_hardware(),
        "dtype": dtype,
        "threads": threads,
        "repeats": repeats,
        "quick": quick,
        "gpu_device": str(gpu) if gpu is not None else None,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "statistic": "median over interleaved repeats (best = minimum also stored)",
        "ratio": "scratch NumPy median / torch CPU median",
    }
    return {"meta": meta, "rows": rows, "targets": check_targets(rows, quick)}


# --------------------------------------------------------------------------- printing


def _cell(entry: dict) -> str:
    if not entry["available"]:
        return "not available"
    text = _format_seconds(entry["median_s"])
    if entry["gflops"] is not None:
        text += f" {entry['gflops']:6.1f} GF/s"
    return text


def _format_seconds(seconds: float) -> str:
    if seconds >= 1.0:
        return f"{seconds:7.3f} s "
    if seconds < 1e-3:
        return f"{seconds * 1e6:7.1f} µs"
    return f"{seconds * 1e3:7.2f} ms"


def _load(meta: dict) -> str:
    load = meta.get("load_average")
    return f"{load[0]:.1f}" if load else "unknown"


def format_table(report: dict) -> str:
    """The report as a fixed-width text table, with the targets below it."""
    _check_mapping(report, "report", "format_table", ("meta", "rows", "targets"), "pass what run_benchmark returns")
    meta = report["meta"]
    hw = meta["hardware"]
    lines = [
        f"course_lib benchmark: {meta['dtype']} on both sides of every comparison, {meta['threads']} CPU thread(s), "
        f"median of {meta['repeats']} interleaved repeats{' (--quick: tiny sizes)' if meta['quick'] else ''}",
        f"CPU: {hw['cpu']} ({hw['cpu_cores']} cores, load average {_load(meta)}); GPU: {meta['gpu_device'] or 'none'}; "
        f"torch {hw['torch']}, NumPy {hw['numpy']}",
        "",
    ]
    header = f"{'task':<6} {'size':<46}{'dtype':<9}" + "".join(f"{BACKEND_LABELS[b]:<25}" for b in BACKENDS)
    lines += [header + "scratch/torch CPU (best runs) [CPU time]", "-" * (len(header) + 40)]
    for row in report["rows"]:
        ratio = f"{row['ratio']:.2f}x" if row["ratio"] is not None else "n/a"
        best = f"({row['ratio_best']:.2f}x)" if row["ratio_best"] is not None else ""
        cpu = f"[{row['ratio_cpu_time']:.2f}x]" if row["ratio_cpu_time"] is not None else ""
        cells = "".join(f"{_cell(row[b]):<25}" for b in BACKENDS)
        lines.append(f"{row['task']:<6} {row['size']:<46}{row['dtype']:<9}{cells}{ratio:>8} {best:>9} {cpu:>9}")
    missing = sorted({row["torch_gpu"]["note"] for row in report["rows"] if not row["torch_gpu"]["available"]})
    if missing:
        lines.append(f"torch GPU: {'; '.join(missing)}. GPU numbers must be measured on a machine with a GPU.")
    if report["targets"]:
        lines += ["", "TARGETS (scratch time / torch CPU time, medians):"]
        for t in report["targets"]:
            shown = f"{t['ratio']:.2f}x" if t["ratio"] is not None else "n/a"
            if not t["evaluated"]:
                verdict = "not evaluated (--quick sizes are too small to mean anything)"
            else:
                verdict = "MET" if t["met"] else "MISSED"
            lines.append(f"  {t['task']:<9} {t['size']:<46} within {t['limit']:.1f}x: {shown:>7}  {verdict}")
    return "\n".join(lines)


def write_json(report: dict, path: str) -> None:
    """Write the report as JSON to ``path``."""
    _check_mapping(report, "report", "write_json", ("meta", "rows", "targets"), "pass what run_benchmark returns")
    if not isinstance(path, (str, os.PathLike)):
        _fail(TypeError, "write_json", "path to be a str or path", type(path).__name__, "e.g. 'bench.json'")
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")


# --------------------------------------------------------------------------- command line


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _task_list(text: str) -> list[str]:
    tasks = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in tasks if t not in TASKS]
    if unknown or not tasks:
        raise argparse.ArgumentTypeError(f"expected a comma-separated subset of {','.join(TASKS)}, got {text!r}")
    return tasks


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.bench",
        description="Time scratch NumPy against PyTorch CPU and GPU on the course's workloads.",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes and 2 repeats: a smoke test in seconds")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    parser.add_argument("--device", default=None,
                        help="GPU column device: cuda, cuda:N or mps; cpu for none (default: as get_device())")
    parser.add_argument("--threads", type=_positive_int, default=2, help="CPU threads for torch and NumPy (default 2)")
    parser.add_argument("--dtype", choices=DTYPES, default="float32", help="dtype of both sides (default float32)")
    parser.add_argument("--repeats", type=_positive_int, default=None,
                        help=f"timed repeats per cell (default {REPEATS['full']}, --quick {REPEATS['quick']})")
    parser.add_argument("--tasks", type=_task_list, default=list(TASKS),
                        help=f"comma-separated subset of {','.join(TASKS)} (default: all)")
    return parser


def main(argv=None) -> int:
    """``python -m course_lib.bench [--quick] [--json PATH] [--device D] [--threads N] ...``.

    Prints the table (rows as they finish) and returns 0; bad arguments exit
    with status 2 and a message saying what was expected.
    """
    if argv is not None and (isinstance(argv, str) or not isinstance(argv, (list, tuple))
                             or not all(isinstance(a, str) for a in argv)):
        _fail(TypeError, "main", "argv as a list of str (or None for the command line)", repr(argv),
              "e.g. main(['--quick'])")
    parser = build_parser()
    args = parser.parse_args(argv)
    from course_lib.device import get_device

    try:
        get_device(args.device)  # what gpu_device will call; its message names the setting
    except ValueError as exc:
        parser.error(f"--device: {exc}")
    if args.json:
        folder = os.path.dirname(os.path.abspath(args.json))
        if os.path.isdir(args.json) or not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            parser.error(f"--json: expected a writable file path, got {args.json!r}; "
                         "its folder must exist (create it first)")

    def progress(row):
        print(f"  done: {row['task']} {row['size']}", file=sys.stderr, flush=True)

    report = run_benchmark(quick=args.quick, dtype=args.dtype, device=args.device, repeats=args.repeats,
                           threads=args.threads, tasks=args.tasks, progress=progress)
    print(format_table(report))
    if args.json:
        write_json(report, args.json)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
