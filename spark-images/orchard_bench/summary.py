"""Pure: raw case measurements -> the bench's rows (median, spread, ratios) -> a text table."""

from __future__ import annotations

import statistics
from collections.abc import Collection, Sequence

from .flops import images_per_second_limit


def summarize(values: Sequence[float]) -> dict:
    """Median of the runs with their spread (min, max, and max-min as a share of the median)."""
    if not values:
        raise ValueError("no runs to summarize: every case needs at least one run")
    med = statistics.median(values)
    lo, hi = min(values), max(values)
    return {"median": med, "min": lo, "max": hi, "spread": (hi - lo) / med if med else 0.0, "n": len(values)}


def _find(cases: Sequence[dict], **match) -> dict | None:
    return next((c for c in cases if all(c.get(k) == v for k, v in match.items())), None)


def rows(report: dict) -> list[dict]:
    """One row per measured case and one FLOP-limit row per size, in table order.

    Ratios are of medians. ``flop_share`` is against the fp32 limit for every row, int8 included: the
    limit is what the fp32 MACs cost at the measured fp32 peak, so int8 can pass 100%.
    """
    cases, cores = report["cases"], report["machine"]["cores"]
    peak = _find(cases, case="peak")
    peak_flops = summarize(peak["runs"])["median"] if peak else None
    baseline = _find(cases, case="baseline")
    base_ips = summarize(baseline["runs"])["median"] if baseline else None
    out = []
    sizes = sorted({c["size"] for c in cases if "size" in c}, reverse=True)
    for size in sizes:
        macs = report["macs"].get(str(size))
        limit = images_per_second_limit(peak_flops, macs) if peak_flops and macs else None
        if limit:
            out.append({"label": f"FLOP limit ({macs / 1e9:.2f} GMAC/img)", "case": "limit", "model": "fp32",
                        "size": size, "images_per_second": {"median": limit, "min": limit, "max": limit,
                                                            "spread": 0.0, "n": len(peak["runs"])},
                        "per_core": limit / cores})
        for c in sorted((c for c in cases if c.get("size") == size and c["case"] in ("ort", "job", "baseline")),
                        key=lambda c: (["ort", "job", "baseline"].index(c["case"]), c["model"])):
            s = summarize(c["runs"])
            row = {"label": c["label"], "case": c["case"], "model": c["model"], "size": size,
                   "images_per_second": s, "per_core": s["median"] / cores,
                   "vs_baseline": s["median"] / base_ips if base_ips else None,
                   "flop_share": s["median"] / limit if limit else None}
            if c["case"] == "job":
                ort = _find(cases, case="ort", model=c["model"], size=size)
                row["spark_overhead"] = 1 - s["median"] / summarize(ort["runs"])["median"] if ort else None
                model_rates = [model_images_per_second(p) for p in c.get("profiles") or [] if p]
                if model_rates:
                    # The model runs inside the job's tasks, by their own clocks: its inference alone.
                    row["model_images_per_second"] = summarize(model_rates)
                    row["model_flop_share"] = row["model_images_per_second"]["median"] / limit if limit else None
            if "worker_rss_peak_bytes" in c:
                row["worker_rss_peak_bytes"] = c["worker_rss_peak_bytes"]
                row["worker_rss_max_one_bytes"] = c["worker_rss_max_one_bytes"]
            fidelity = report.get("fidelity", {}).get(str(size))
            if c["model"] == "int8" and c["case"] == "ort" and fidelity:
                row["cosine_to_fp32"] = fidelity
            # The probe: of the bench's features for ONNX Runtime alone, of the job's own run for the job.
            quality = report.get("quality", {}).get(f"{c['model']}/{size}") if c["case"] == "ort" else c.get("probe")
            if quality:
                row["probe"] = quality
            out.append(row)
    return out


def model_images_per_second(profile: dict) -> float:
    """Images per second of the ONNX Runtime runs inside the job: images over the model time per slot."""
    return profile["images"] * profile["slots"] / profile["infer_s"] if profile.get("infer_s") else 0.0


def _mib(b: int | None) -> str:
    return f"{b / 2 ** 20:,.0f} MiB" if b else "-"


def _pct(x: float | None) -> str:
    return f"{100 * x:.0f}%" if x is not None else "-"


def text_table(head: Sequence[str], lines: Sequence[Sequence[str]], left: Collection[int] = ()) -> str:
    """Fixed-width columns, each as wide as its widest cell, under a rule of dashes: right-aligned but
    for the column numbers in ``left``. Every line has one cell per heading."""
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(head)]

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i in left else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    return "\n".join([fmt(head), fmt(["-" * w for w in widths]), *map(fmt, lines)]) + "\n"


def render_table(table_rows: Sequence[dict]) -> str:
    """Fixed-width text table: images/s as median (min-max) of the runs."""
    head = ["case", "px", "images/s (min-max)", "per core", "x baseline", "of FLOP limit",
            "Spark overhead", "worker RSS peak (all / one)", "int8 cosine to fp32 (min / mean)",
            "probe top-1 / top-5 (held out)"]
    lines = []
    for r in table_rows:
        s = r["images_per_second"]
        cos = r.get("cosine_to_fp32")
        lines.append([
            r["label"], str(r["size"]),
            f"{s['median']:.1f}" + (f" ({s['min']:.1f}-{s['max']:.1f})" if s["n"] > 1 and r["case"] != "limit" else ""),
            f"{r['per_core']:.1f}",
            f"{r['vs_baseline']:.2f}x" if r.get("vs_baseline") is not None else "-",
            _pct(r.get("flop_share"))
            + (f" (model {_pct(r['model_flop_share'])})" if r.get("model_flop_share") else ""),
            _pct(r.get("spark_overhead")),
            f"{_mib(r.get('worker_rss_peak_bytes'))} / {_mib(r.get('worker_rss_max_one_bytes'))}"
            if "worker_rss_peak_bytes" in r else "-",
            f"{cos['min']:.4f} / {cos['mean']:.4f} ({cos['images']} images)" if cos else "-",
            probe_cell(r.get("probe")),
        ])
    return text_table(head, lines, left=(0, 8, 9))


def probe_cell(q: dict | None) -> str:
    """The job's probe (metrics.json "probe") as a table cell: held-out top-1 / top-5 and their count."""
    if not q:
        return "-"
    if "top1" not in q:
        return "skipped"
    return f"{100 * q['top1']:.1f}% / {100 * q['top5']:.1f}% ({q['test_images']} images)"


# The job's stages in run order (metrics.json "timings"); "start" is what the run spends before
# listing (argument and model checks, the output probe) and after its last stage.
STAGES = ("listing_s", "planning_s", "inference_s", "pca_s", "probe_s", "write_s", "verify_s")


def time_rows(report: dict) -> list[dict]:
    """For each job case, its median run (by wall time) split into stages, and its inference stage
    split by the tasks' own clocks (profile.py) into model runs, decoding, the JVM feed and the rest."""
    out = []
    for c in report["cases"]:
        if c["case"] != "job" or not c.get("timings"):
            continue
        order = sorted(range(len(c["timings"])), key=lambda i: c["timings"][i]["wall_s"])
        i = order[len(order) // 2]
        t, p = c["timings"][i], (c.get("profiles") or [None] * len(c["timings"]))[i]
        stages = {k: t.get(k, 0.0) for k in STAGES}
        row = {"label": c["label"], "size": c["size"], "wall_s": t["wall_s"], "stages": stages,
               "start_s": max(0.0, t["wall_s"] - sum(stages.values()))}
        if p and p.get("shares"):
            row["inference_shares"] = p["shares"]
            row["inferred"] = {k: int(p.get(k, 0)) for k in ("tasks", "batches", "images")}
            row["model_images_per_second"] = model_images_per_second(p)
        out.append(row)
    return out


def render_time_table(table_rows: Sequence[dict]) -> str:
    """Seconds per stage of each job case's median run; inference's column shows the tasks' split."""
    head = ["job case", "px", "wall s", "start", "listing", "planning", "inference", "probe", "write", "verify",
            "inference slot time: model / decode / feed+emit / other", "model img/s"]
    lines = []
    for r in table_rows:
        st, sh = r["stages"], r.get("inference_shares")
        split = (f"{_pct(sh['infer_s'])} / {_pct(sh['decode_s'])} / {_pct(sh['feed_s'] + sh['emit_s'])} / "
                 f"{_pct(sh['other_s'])}") if sh else "-"
        lines.append([r["label"], str(r["size"]), f"{r['wall_s']:.1f}", f"{r['start_s']:.2f}",
                      *(f"{st[k]:.2f}" for k in STAGES if k != "pca_s"),
                      split, f"{r['model_images_per_second']:.1f}" if r.get("model_images_per_second") else "-"])
    return text_table(head, lines, left=(0,))


def render_settings(cases: Sequence[dict]) -> str:
    """images/s of each ONNX Runtime setting, and its ratio to the job's own (the first)."""
    if not cases:
        return ""
    base = summarize(cases[0]["runs"])["median"]
    head = ["processes x threads", "batch", "optimization", "images/s (min-max)", "vs the job's"]
    lines = []
    for c in cases:
        s = summarize(c["runs"])
        lines.append([f"{c['processes']} x {c['threads']}", str(c["batch_size"]), c["optimization"],
                      f"{s['median']:.1f} ({s['min']:.1f}-{s['max']:.1f})", f"{s['median'] / base:.2f}x"])
    return text_table(head, lines)
