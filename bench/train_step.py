"""Train-step speed of VideoUNet + VideoDiffusion on every backend, side by side.

One run first measures this machine's matrix-product ceiling: FLOP/s of a
square TensorFlow matmul (4096x4096 by default) in float32 and in bfloat16,
the fastest of a few repeats after warm-up, in a fresh process. That is the
practical ceiling achieved FLOP/s are read against; the nominal fp32 peak
(cores x clock x FLOPs per cycle assumed from the CPU flags) is printed only
as a secondary figure, since real CPUs reach well below it.

Then, for each shape (or sweep point) and each (backend, compilation,
precision, remat) setting, one fresh process builds the model, runs warm-up
steps (compilation included) and times `--steps` train steps. The table
shows seconds per step, videos per second, FLOPs per step, achieved FLOP/s,
its share of the measured ceiling of the row's compute dtype, the process's
peak resident memory and how far above the built model (weights, optimizer
slots, framework) the steps went. With `--precision both` a bfloat16 row
says its speed-up over float32; with `--remat both` a remat row says its
memory and time against the same setting without.

FLOPs per step are counted once per shape by XLA's cost analysis of the JAX
forward + backward pass, in float32 and without rematerialization (the same
network and loss on every backend: the useful work of a step), so the FLOP/s
column compares like with like.

`--sweep frames` times frames 8, 16, 32, 64 at shape S's 32x32 resolution;
`--sweep resolution` times 32x32, 64x64, 128x128 frames at 8 frames (shape
S's network and batch; attention stays at feature-map sizes 32, 16, 8, so
larger frames get attention only at the coarser levels). Both print the cost
per frame (or per pixel) against the first point, next to the same ratio of
the FLOPs, and plot step time against frames (or pixels per frame) with a
line proportional to them.

    python bench/train_step.py                 # shapes S and M, all settings
    python bench/train_step.py --shapes S --steps 5
    python bench/train_step.py --shapes M --settings tensorflow:0 \\
        --precision both --remat both
    python bench/train_step.py --sweep frames  # plot in bench/results/
    python bench/train_step.py --sweep resolution --precision both
    python bench/train_step.py --shapes S --settings tensorflow:0 jax:1 \
        torch:0 --environment command   # what `kvdm train` gets

Rows run with this shell's variables as they are (`--environment plain`),
what a Python process started by hand gets; `--environment command` adds
what the `kvdm` command sets for itself (`GLIBC_TUNABLES` for huge pages,
`XLA_FLAGS` on JAX) and prints what it added.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _child  # noqa: E402
from _child import PRECISIONS, SHAPES  # noqa: E402

SETTINGS = [
    ("tensorflow", False),
    ("tensorflow", True),
    ("jax", True),
    ("torch", False),
    ("torch", True),
]
BACKENDS = ("tensorflow", "jax", "torch")
# What each sweep varies on shape S, the default points and the unit the
# cost is divided by.
SWEEPS = {
    "frames": dict(values=[8, 16, 32, 64], unit="frame"),
    "resolution": dict(values=[32, 64, 128], unit="pixel"),
}
# The matmul ceiling's dtype for each precision's rows.
CEILING_DTYPE = {"float32": "float32", "mixed_bfloat16": "bfloat16"}
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def cpu_peak_flops():
    """Nominal fp32 peak: cores x clock x FLOPs per cycle per core.

    The FLOPs per cycle are assumed from the CPU flags (two FMA units of the
    widest vector width); real chips run below this (lower AVX-512 clocks,
    one FMA unit, shared cores), which is why the measured ceiling is the
    figure to compare against.
    """
    cores = os.cpu_count() or 1
    mhz, flags = None, ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("cpu MHz") and mhz is None:
                mhz = float(line.split(":")[1])
            if line.startswith("flags") and not flags:
                flags = line
    if "avx512f" in flags:
        per_cycle = 64  # two 512-bit FMA units: 2 x 16 lanes x 2 FLOPs
    elif "avx2" in flags and "fma" in flags:
        per_cycle = 32  # two 256-bit FMA units: 2 x 8 lanes x 2 FLOPs
    else:
        per_cycle = 8
    mhz = mhz or 2000.0
    return cores * mhz * 1e6 * per_cycle, cores, mhz, per_cycle


def parse_settings(values):
    """`backend:jit` strings to (backend, bool) pairs."""
    settings = []
    for value in values:
        backend, _, jit = value.partition(":")
        if backend not in BACKENDS or jit not in ("0", "1"):
            raise ValueError(
                "Each setting must be BACKEND:JIT with BACKEND one of "
                f"{', '.join(BACKENDS)} and JIT 0 or 1. "
                f"Received: settings={value!r}"
            )
        settings.append((backend, jit == "1"))
    return settings


def sweep_points(sweep, values):
    """The sweep's points: dicts with a label, a shape spec, x and units."""
    points = []
    levels = len(SHAPES["S"]["channel_multipliers"])
    for value in values:
        if sweep == "frames":
            if value < 1:
                raise ValueError(
                    f"Frames must be positive. Received: points={value}")
            spec = dict(SHAPES["S"], frames=value)
            points.append(dict(label=f"T={value}", spec=spec, x=value,
                               units=value))
        else:
            if value < 1 or value % 2 ** (levels - 1):
                raise ValueError(
                    f"Resolutions must be positive multiples of "
                    f"{2 ** (levels - 1)} (shape S has {levels} levels). "
                    f"Received: points={value}")
            spec = dict(SHAPES["S"], size=value)
            points.append(dict(label=f"{value}px", spec=spec, x=value * value,
                               units=value * value))
    return points


def measure_ceiling(args):
    job = dict(size=args.ceiling_size, repeats=args.ceiling_repeats,
               warmup=1)
    return _child.run("ceiling", job, "tensorflow", args.timeout)


def print_ceiling(ceiling, nominal, args):
    peak, cores, mhz, per_cycle = nominal
    if "error" in ceiling:
        print(f"Measured matmul ceiling: failed: {ceiling['error']}")
    else:
        fp32, bf16 = ceiling["float32"], ceiling["bfloat16"]
        print(f"Measured matmul ceiling (TensorFlow, {args.ceiling_size}x"
              f"{args.ceiling_size}, fastest of {args.ceiling_repeats} after "
              f"1 warm-up, {ceiling['threads']} cores): float32 "
              f"{fp32 / 1e9:.1f} GFLOP/s, bfloat16 {bf16 / 1e9:.1f} GFLOP/s "
              f"(x{bf16 / fp32:.2f})")
    line = (f"Nominal fp32 peak (secondary, assumed): {peak / 1e9:.1f} GFLOP/s"
            f" ({cores} cores x {mhz:.0f} MHz x {per_cycle} FLOP/cycle)")
    if "error" not in ceiling:
        line += (f"; the measured float32 ceiling is "
                 f"{100 * ceiling['float32'] / peak:.0f}% of it")
    print(line)
    print("Each row: median of --steps train steps after --warmup warm-up "
          "steps (compilation), one fresh process per row.")
    print("% ceil: achieved FLOP/s over the measured ceiling of the row's "
          "compute dtype (float32 rows: float32; mixed_bfloat16 rows: "
          "bfloat16). % nom: over the nominal fp32 peak. peak MiB: resident "
          "peak of the process. step MiB: peak memory minus the built "
          "model's. live MiB: most the tensors held at once during the "
          "steps, by TensorFlow's allocator (its pool keeps freed memory, "
          "which the resident peak also counts).\n")


HEADER = (f"{'point':6} {'backend':10} {'jit':3} {'precision':14} "
          f"{'remat':5} {'s/step':>8} {'videos/s':>8} {'GFLOP/step':>10} "
          f"{'GFLOP/s':>8} {'% ceil':>6} {'% nom':>5} {'peak MiB':>8} "
          f"{'step MiB':>8} {'live MiB':>8} {'warmup s':>8}  vs")


def describe_environment(settings):
    """The variables `--environment command` adds, per backend of `settings`."""
    parts = []
    for backend in dict.fromkeys(backend for backend, _ in settings):
        plain = _child.child_environment(backend)
        added = {key: value for key, value in
                 _child.child_environment(backend, "command").items()
                 if plain.get(key) != value}
        text = " ".join(f"{key}={value}" for key, value in sorted(added.items()))
        parts.append(f"{backend}: {text or 'nothing'}")
    return "; ".join(parts)


def _key(row, **changes):
    keys = ("point", "backend", "jit", "precision", "remat")
    return tuple(changes.get(k, row[k]) for k in keys)


def share(row, ceiling):
    """Achieved FLOP/s of a row over the measured ceiling of its dtype."""
    dtype = CEILING_DTYPE[row["precision"]]
    if not row.get("flops") or "error" in row or dtype not in ceiling:
        return None
    return row["flops"] / row["step_s"] / ceiling[dtype]


def _comparison(row, done):
    """bf16 speed-up and remat ratios against rows measured before."""
    notes = []
    base = done.get(_key(row, precision="float32"))
    if row["precision"] != "float32" and base and "error" not in base:
        notes.append(f"bf16 x{base['step_s'] / row['step_s']:.2f} faster")
    base = done.get(_key(row, remat=False))
    if row["remat"] and base and "error" not in base:
        above = row["peak_mib"] - row["built_mib"]
        base_above = base["peak_mib"] - base["built_mib"]
        step_mem = (f" step MiB x{above / base_above:.2f}"
                    if base_above > 0 else "")
        notes.append(f"remat: peak x{row['peak_mib'] / base['peak_mib']:.2f}"
                     f"{step_mem} time x{row['step_s'] / base['step_s']:.2f}")
    return "; ".join(notes)


def format_row(row, ceiling, peak, done):
    lead = (f"{row['point']:6} {row['backend']:10} {int(row['jit']):3} "
            f"{row['precision']:14} {int(row['remat']):5}")
    if "error" in row:
        return f"{lead} failed: {row['error']}"
    step_s = row["step_s"]
    videos_s = row["batch"] / step_s
    if row.get("flops"):
        achieved = row["flops"] / step_s
        gflop = f"{row['flops'] / 1e9:10.1f}"
        gflops = f"{achieved / 1e9:8.1f}"
        nominal = f"{100 * achieved / peak:5.1f}"
    else:
        gflop, gflops, nominal = f"{'n/a':>10}", f"{'n/a':>8}", f"{'n/a':>5}"
    ceil = share(row, ceiling)
    ceil = f"{100 * ceil:6.1f}" if ceil is not None else f"{'n/a':>6}"
    above = row["peak_mib"] - row["built_mib"]
    live = row.get("live_mib")
    live = f"{live:8.0f}" if live is not None else f"{'n/a':>8}"
    return (f"{lead} {step_s:8.3f} {videos_s:8.2f} {gflop} {gflops} {ceil} "
            f"{nominal} {row['peak_mib']:8.0f} {above:8.0f} {live} "
            f"{row['warmup_s']:8.1f}  {_comparison(row, done)}")


def _series(row):
    return (row["backend"], row["jit"], row["precision"], row["remat"])


def _series_name(series):
    backend, jit, precision, remat = series
    name = f"{backend}{' jit' if jit else ''} {precision}"
    return name + (" remat" if remat else "")


def print_scaling(rows, points, sweep, ceiling):
    """Cost per frame (or pixel) of each series against its first point."""
    unit = SWEEPS[sweep]["unit"]
    scale, per = (1e3, "ms/frame") if unit == "frame" else (1e6, "us/pixel")
    print(f"Scaling with {sweep} (x linear: cost per {unit} over the first "
          f"point's; 1.00 is linear; the FLOPs' own ratio beside it)")
    print(f"{'series':34} {'point':6} {'s/step':>8} {per:>9} "
          f"{'x linear':>8} {'GFLOP/step':>10} {'FLOP x lin':>10} "
          f"{'% ceil':>6} {'peak MiB':>8}")
    units = {p["label"]: p["units"] for p in points}
    for series in dict.fromkeys(_series(r) for r in rows):
        measured = [r for r in rows if _series(r) == series
                    and "error" not in r]
        if not measured:
            continue
        first = measured[0]
        cost0 = first["step_s"] / units[first["point"]]
        for row in measured:
            cost = row["step_s"] / units[row["point"]]
            if row.get("flops") and first.get("flops"):
                flop_ratio = (row["flops"] / units[row["point"]]) / (
                    first["flops"] / units[first["point"]])
                gflop = f"{row['flops'] / 1e9:10.1f}"
                flop_ratio = f"{flop_ratio:10.2f}"
            else:
                gflop, flop_ratio = f"{'n/a':>10}", f"{'n/a':>10}"
            ceil = share(row, ceiling)
            ceil = f"{100 * ceil:6.1f}" if ceil is not None else f"{'n/a':>6}"
            print(f"{_series_name(series):34} {row['point']:6} "
                  f"{row['step_s']:8.3f} {cost * scale:9.3f} "
                  f"{cost / cost0:8.2f} {gflop} {flop_ratio} {ceil} "
                  f"{row['peak_mib']:8.0f}")
    print()


def plot_scaling(rows, points, sweep, path):
    """Step time against frames (or pixels per frame), with linear lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    xs = {p["label"]: p["x"] for p in points}
    figure, axes = plt.subplots(figsize=(7, 4.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    all_x = sorted(p["x"] for p in points)
    for i, series in enumerate(dict.fromkeys(_series(r) for r in rows)):
        measured = [r for r in rows if _series(r) == series
                    and "error" not in r]
        if not measured:
            continue
        color = colors[i % len(colors)]
        x = [xs[r["point"]] for r in measured]
        y = [r["step_s"] for r in measured]
        axes.plot(x, y, "o-", color=color, label=_series_name(series))
        x0, y0 = x[0], y[0]
        axes.plot(all_x, [y0 * v / x0 for v in all_x], "--", color=color,
                  alpha=0.6)
        if all(r.get("flops") for r in measured):
            f0 = measured[0]["flops"]
            axes.plot(x, [y0 * r["flops"] / f0 for r in measured], ":",
                      color=color, alpha=0.6)
    spec = SHAPES["S"]
    if sweep == "frames":
        axes.set_xlabel(f"frames per video ({spec['size']}x{spec['size']}, "
                        f"batch {spec['batch']})")
        axes.set_xticks(all_x)
    else:
        axes.set_xlabel(f"pixels per frame ({spec['frames']} frames, "
                        f"batch {spec['batch']})")
        axes.set_xticks(all_x)
        axes.set_xticklabels([p["label"].replace("px", "") + "\u00b2"
                              for p in sorted(points, key=lambda p: p["x"])])
    axes.set_ylabel("seconds per train step")
    axes.set_xlim(left=0)
    axes.set_ylim(bottom=0)
    axes.set_title(f"VideoUNet train step against {sweep} (shape S network)")
    axes.grid(alpha=0.3)
    handles, _ = axes.get_legend_handles_labels()
    unit = "frames" if sweep == "frames" else "pixels"
    handles += [
        Line2D([], [], color="grey", linestyle="--",
               label=f"proportional to {unit} from the first point"),
        Line2D([], [], color="grey", linestyle=":",
               label="proportional to FLOPs from the first point"),
    ]
    axes.legend(handles=handles, fontsize=8)
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def build_parser():
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example: python bench/train_step.py --sweep frames "
               "--points 8 16 --steps 1 --warmup 1",
    )
    parser.add_argument(
        "--shapes", nargs="+", default=None, choices=sorted(SHAPES),
        help="shapes to time (default: S M; not with --sweep)")
    parser.add_argument(
        "--sweep", choices=sorted(SWEEPS), default=None,
        help="time shape S over frames (8 16 32 64 at 32x32) or resolution "
             "(32 64 128 at 8 frames) instead of --shapes; prints the cost "
             "per frame or pixel and writes a plot (--plot)")
    parser.add_argument(
        "--points", nargs="+", type=int, default=None,
        help="the sweep's frame counts or resolutions (default: all of the "
             "sweep's), e.g. --points 8 16")
    parser.add_argument(
        "--plot", default=None,
        help="PNG of step time against the sweep's variable (default: "
             "bench/results/train_step_<sweep>.png; only with --sweep)")
    parser.add_argument(
        "--settings", nargs="+", default=None,
        help="backend:jit pairs, e.g. torch:0 tensorflow:1 (default: all "
             "five settings for --shapes, tensorflow:0 for --sweep)")
    parser.add_argument(
        "--precision", choices=PRECISIONS + ["both"], default="float32",
        help="global dtype policy of the network; 'both' times float32 and "
             "mixed_bfloat16 for every setting and prints the bfloat16 "
             "speed-up (default: float32)")
    parser.add_argument(
        "--remat", choices=["off", "on", "both"], default="off",
        help="VideoUNet(remat=...); 'both' times each setting with and "
             "without and prints peak memory, step memory and time ratios "
             "(default: off)")
    parser.add_argument("--steps", type=int, default=5,
                        help="timed train steps per row (default: 5)")
    parser.add_argument("--warmup", type=int, default=2,
                        help="untimed warm-up steps, compilation included "
                             "(default: 2)")
    parser.add_argument("--ceiling-size", type=int, default=4096,
                        help="side of the square matmul measuring the "
                             "ceiling (default: 4096)")
    parser.add_argument("--ceiling-repeats", type=int, default=5,
                        help="timed matmuls per dtype after one warm-up; "
                             "the fastest counts (default: 5)")
    parser.add_argument("--json", default=None,
                        help="also write the ceiling and every row to this "
                             "JSON file")
    parser.add_argument(
        "--environment", choices=_child.ENVIRONMENTS, default="plain",
        help="'plain': every process gets this shell's variables, as a "
             "Python process started by hand; 'command': also what the "
             "kvdm command sets for itself (huge pages for malloc where "
             "they help, XLA's CPU flags on JAX), so the rows show what "
             "`kvdm train` gets (default: plain)")
    parser.add_argument("--timeout", type=int, default=1200,
                        help="seconds before a measuring process is killed "
                             "(default: 1200)")
    return parser


def main():
    parser = build_parser()
    args = parser.parse_args()
    if args.sweep and args.shapes:
        parser.error("--shapes and --sweep exclude each other. "
                     f"Received: shapes={args.shapes}, sweep={args.sweep}")
    if not args.sweep and (args.points or args.plot):
        parser.error("--points and --plot need --sweep. "
                     f"Received: points={args.points}, plot={args.plot}")
    for name in ("steps", "ceiling_size", "ceiling_repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1. "
                         f"Received: {name}={getattr(args, name)}")
    if args.warmup < 0:
        parser.error(f"--warmup must be at least 0. "
                     f"Received: warmup={args.warmup}")
    try:
        if args.settings:
            settings = parse_settings(args.settings)
        else:
            settings = [("tensorflow", False)] if args.sweep else SETTINGS
        if args.sweep:
            points = sweep_points(
                args.sweep, args.points or SWEEPS[args.sweep]["values"])
        else:
            points = [dict(label=name, spec=SHAPES[name], x=None, units=None)
                      for name in args.shapes or ["S", "M"]]
    except ValueError as error:
        parser.error(str(error))
    precisions = PRECISIONS if args.precision == "both" else [args.precision]
    remats = {"off": [False], "on": [True], "both": [False, True]}[args.remat]

    nominal = cpu_peak_flops()
    ceiling = measure_ceiling(args)
    print_ceiling(ceiling, nominal, args)
    if args.environment == "command":
        print("Environment of each row: as the kvdm command runs it, "
              "added to this shell's: " + describe_environment(settings))

    rows, done = [], {}
    for point in points:
        spec = point["spec"]
        flops = _child.run("flops", _child.model_job(spec), "jax",
                           args.timeout)
        print(f"{point['label']}: {_child.describe(spec)}")
        if "error" in flops:
            print(f"  FLOP count failed: {flops['error']}")
        print(HEADER)
        for backend, jit in settings:
            for remat in remats:
                for precision in precisions:
                    job = dict(_child.model_job(spec, remat=remat,
                                                precision=precision),
                               jit=jit, warmup=args.warmup, steps=args.steps)
                    result = _child.run("train", job, backend, args.timeout,
                                        args.environment)
                    row = dict(result, point=point["label"], backend=backend,
                               jit=jit, precision=precision, remat=remat,
                               batch=spec["batch"], flops=flops.get("flops"))
                    print(format_row(row, ceiling, nominal[0], done),
                          flush=True)
                    done[_key(row)] = row
                    rows.append(row)
        print()

    if args.sweep:
        print_scaling(rows, points, args.sweep, ceiling)
        path = args.plot or os.path.join(
            RESULTS, f"train_step_{args.sweep}.png")
        try:
            plot_scaling(rows, points, args.sweep, path)
            print(f"plot: {path}")
        except ImportError as error:
            print(f"plot not written (matplotlib is needed): {error}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"ceiling": ceiling, "nominal_fp32_peak": nominal[0],
                       "rows": rows}, f, indent=1)
        print(f"results: {args.json}")


if __name__ == "__main__":
    main()
