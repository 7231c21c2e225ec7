#!/usr/bin/env python3
"""Assemble the benchmark report from each benchmark's --json output.

tools/report.sh runs the benchmarks, each writing RAW/<program>.json (its
--json lines), RAW/<program>.rc (exit status), RAW/<program>.secs and
RAW/<program>.err; this script normalises their rows into one table
(benchmark, unit, numago, peer, ratio, target, note), writes the JSON file
(all rows, every benchmark's raw objects, machine information) and the
gnuplot PNGs.  Exit status 1 when any benchmark failed (non-zero exit, no
rows, or a row that says it failed), 0 otherwise.

Only the Python standard library (python3 is in Debian 12's base system;
report.sh installs it when missing).
"""
import argparse
import datetime
import json
import math
import os
import platform
import shutil
import subprocess
import sys

ORDER = ["bench_core", "bench_chan", "bench_sched", "bench_rss", "bench_idle", "bench_spin",
         "bench_cl", "bench_mpi", "bench_tasks", "bench_numa"]


def fnum(v):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    a = abs(v)
    if a >= 1000:
        return "%.0f" % v
    if a >= 100:
        return "%.1f" % v
    if a >= 1:
        return "%.2f" % v
    return "%.4f" % v


def row(program, name, unit, numago, peer=None, peer_name=None, ratio=None, target=None,
        note="", failed=False, procs=None, better="lower", median=None):
    if ratio is None and numago is not None and peer is not None and peer > 0:
        ratio = numago / peer
    return {"program": program, "name": name, "unit": unit, "numago": numago,
            "numago_median": median, "peer": peer, "peer_name": peer_name, "ratio": ratio,
            "target": target, "note": note, "failed": failed, "procs": procs,
            "better": better}


def target_note(r):
    """met / MISSED for numeric '<=X' targets."""
    t = r["target"]
    if r["failed"] or r["numago"] is None or not isinstance(t, str) or not t.startswith("<="):
        return
    try:
        lim = float(t[2:].rstrip("x"))
    except ValueError:
        return
    val = r["ratio"] if t.endswith("x") else r["numago"]
    if val is None:
        return
    ok = val <= lim
    r["note"] = ("met" if ok else "MISSED") + ("; " + r["note"] if r["note"] else "")


def norm_generic(program, objs):
    """bench_core, bench_chan, bench_sched: summary rows carry numago_min;
    the per-run rows (n, min, median) are kept only in the raw section."""
    out = []
    summary = [o for o in objs if "numago_min" in o or o.get("failed")]
    for o in summary:
        if o.get("failed"):
            out.append(row(program, o["name"], o.get("unit", ""), None, o.get("peer_min"),
                           o.get("peer"), failed=True))
            continue
        t = o.get("target")
        out.append(row(program, o["name"], o.get("unit", ""), o["numago_min"],
                       o.get("peer_min"), o.get("peer"), o.get("ratio"),
                       "<=%g" % t if t else None, procs=o.get("procs"),
                       median=o.get("numago_median")))
    if not summary:  # no summary: the plain bench_run rows
        for o in objs:
            if "min" in o:
                out.append(row(program, o["name"], o.get("unit", ""), o["min"],
                               procs=o.get("procs"), median=o.get("median")))
    return out


def norm_rss(program, objs):
    out = []
    for o in objs:
        peer = o.get("peer_bytes")
        out.append(row(program, "%s/n=%d" % (o["name"], o.get("n", 0)), "B/goroutine",
                       o.get("numago_bytes"), peer if peer and peer > 0 else None,
                       o.get("peer"), target="<=%g" % o["target"] if o.get("target") else None,
                       note="%d mappings" % o.get("mappings", 0)))
    return out


def norm_idle(program, objs):
    out = []
    for o in objs:
        peer = o.get("peer_cpu_us_per_s")
        out.append(row(program, "%s/%dG" % (o["name"], o.get("goroutines", 0)), "us CPU/s",
                       o.get("cpu_us_per_s"), peer if peer is not None and peer >= 0 else None,
                       o.get("peer")))
    return out


def norm_spin(program, objs):
    """adaptive against the better fixed policy (park or spin), on latency
    and on idle CPU; the issue's target is within 2x on both."""
    shapes = {}
    for o in objs:
        shape, _, policy = o["name"].rpartition("/")
        shapes.setdefault(shape, {})[policy] = o
    out = []
    for shape, p in shapes.items():
        a = p.get("adaptive")
        fixed = [p[k] for k in ("park", "spin") if k in p]
        if a is None or len(fixed) < 2:
            out.append(row(program, shape, "us", None, failed=True, note="policy missing"))
            continue
        best_lat = min(f["mean_us"] for f in fixed)
        best_cpu = min(f["idle_cpu_ms_per_s"] for f in fixed)
        out.append(row(program, shape + "/latency", "us mean", a["mean_us"], best_lat,
                       "best fixed", target="<=2x"))
        out.append(row(program, shape + "/idleCPU", "ms CPU/s", a["idle_cpu_ms_per_s"],
                       max(best_cpu, 1e-9), "best fixed", target="<=2x"))
    return out


def norm_cl(program, objs):
    out = []
    for o in objs:
        if not o["name"].startswith("CL/compare/"):
            continue
        met = o.get("met")
        tgt = o.get("target")
        out.append(row(program, o["name"].replace("CL/compare/", "CL/"), o.get("unit", ""),
                       o.get("numago"), o.get("raw"), "opencl", o.get("ratio"),
                       tgt if tgt and not tgt.startswith("none") else None,
                       note="" if met is None else ("met" if met else "MISSED")))
    return out


def norm_tasks(program, objs):
    out = []
    for o in objs:
        name = "tasks/%s(%s)/procs=%d" % (o["name"].split("/", 1)[-1], o.get("size", ""),
                                           o.get("procs", 0))
        if o["name"].endswith(")"):
            name = "%s/procs=%d" % (o["name"], o.get("procs", 0))
        peers = [(k, o["%s_min" % k]) for k in ("openmp", "tbb", "go") if "%s_min" % k in o]
        peer_name, peer = peers[0] if peers else (None, None)
        others = ", ".join("%s %.2fx" % (k, o["numago_min"] / v) for k, v in peers[1:]
                           if v > 0 and o.get("numago_min"))
        failed = not o.get("verified", True) or "numago_min" not in o
        out.append(row(program, name, "s", o.get("numago_min"), peer, peer_name,
                       o.get("ratio_%s" % peer_name) if peer_name else None,
                       note=("others: " + others) if others else "", failed=failed,
                       procs=o.get("procs"), median=o.get("numago_median")))
    return out


def norm_numa(program, objs):
    out = []
    for o in objs:
        n = o["name"]
        if n == "NUMA/machine":
            continue
        if o.get("failed"):
            out.append(row(program, n, o.get("unit", ""), None, failed=True))
        elif n.startswith("NUMA/StreamTriad"):
            out.append(row(program, n, "GB/s", o["numago_max"], o.get("peer_max"),
                           o.get("peer"), o.get("ratio"), procs=o.get("procs"),
                           better="higher", median=o.get("numago_median"),
                           note="checksum " + o.get("checksum", "?") +
                           ("" if o.get("bound", True) else "; fake topology, unbound")))
        elif n.startswith("NUMA/Latency/"):
            d = o.get("node_distance", 0)
            out.append(row(program, n, "ns/load", o["min"], median=o.get("median"),
                           note="hwloc distance %s%s" % (d if d else "-", "" if o.get(
                               "bound", True) else "; fake topology, unbound")))
        elif n.startswith("NUMA/PingPong/"):
            out.append(row(program, n, "ns/rt", o["min"], median=o.get("median"),
                           note="class " + o.get("class", "?")))
        elif n.startswith("NUMA/VictimOrder/") or n.startswith("NUMA/LatencyOrder/"):
            rho = o.get("spearman")
            r = row(program, n, "order", None,
                    note="" if rho is None else "rank corr %.2f" % rho)
            r["numago"] = o.get("verdict")
            out.append(r)
    return out


NORM = {"bench_rss": norm_rss, "bench_idle": norm_idle, "bench_spin": norm_spin,
        "bench_cl": norm_cl, "bench_tasks": norm_tasks, "bench_numa": norm_numa}


def load(raw, program):
    objs, bad = [], 0
    path = os.path.join(raw, program + ".json")
    if os.path.exists(path):
        with open(path, errors="replace") as f:
            for line in f:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                try:
                    objs.append(json.loads(line))
                except ValueError:
                    bad += 1

    def read(ext, default):
        try:
            with open(os.path.join(raw, program + ext)) as f:
                return f.read()
        except OSError:
            return default
    rc = int(read(".rc", "-1").strip() or -1)
    secs = float(read(".secs", "0").strip() or 0)
    err = read(".err", "")
    return objs, rc, secs, err, bad


def machine_info(raw_objs):
    m = {"host": platform.node(), "kernel": platform.release(), "cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    m["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    for o in raw_objs.get("bench_numa", []):
        if o.get("name") == "NUMA/machine":
            for k in ("numa_nodes", "pus", "procs", "counter_tier", "llc_bytes", "topology"):
                m[k] = o.get(k)
    try:
        m["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                                     capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    return m


def gp_quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def plots(rows, prefix, tmp):
    """(1) ratio bars, (2) scaling vs Ps.  Returns the PNGs written."""
    if shutil.which("gnuplot") is None:
        print("report: gnuplot not found: no plots", file=sys.stderr)
        return []
    made = []
    # (1) numago / peer as a cost (< 1: numago better): GB/s rows inverted
    bars = []
    for r in rows:
        if r["failed"] or r["ratio"] is None or not isinstance(r["numago"], (int, float)):
            continue
        cost = 1 / r["ratio"] if r["better"] == "higher" and r["ratio"] > 0 else r["ratio"]
        if cost > 0:
            bars.append((r["name"] + (" (vs %s)" % r["peer_name"] if r["peer_name"] else ""),
                         cost))
    if bars:
        dat = os.path.join(tmp, "ratios.dat")
        with open(dat, "w") as f:
            for i, (n, v) in enumerate(bars):
                f.write("%d %g %s\n" % (i, v, gp_quote(n)))
        png = prefix + "-ratios.png"
        h = max(600, 22 * len(bars) + 150)
        script = """
set terminal pngcairo size 1400,%d font ",9"
set output %s
set title "numago / peer, same run (time or cost; < 1: numago better; GB/s rows inverted)"
set style fill solid 0.6
set logscale x 2
set xlabel "numago / peer (log scale)"
set ytics nomirror
set yrange [-1:%d]
set grid x
set arrow from 1, graph 0 to 1, graph 1 nohead lc rgb "red" lw 2
unset key
plot %s using 2:1:($2 < 1 ? $2 : 1):($2 < 1 ? 1 : $2):($1-0.35):($1+0.35):($2 <= 1 ? 0x30a030 : 0xc04040):ytic(3) with boxxyerror lc rgb variable
""" % (h, gp_quote(png), len(bars), gp_quote(dat))
        if run_gnuplot(script, tmp, "ratios"):
            made.append(png)
    # (2) scaling: speedup against the smallest P count, numago and peer
    series = {}
    for r in rows:
        if r["failed"] or not r["procs"] or not isinstance(r["numago"], (int, float)):
            continue
        if r["program"] not in ("bench_numa", "bench_tasks") or "procs=" not in r["name"]:
            continue
        base = r["name"].rsplit("/procs=", 1)[0]
        series.setdefault(base, []).append(r)
    series = {k: sorted(v, key=lambda r: r["procs"]) for k, v in series.items() if len(v) > 1}
    if series:
        lines = []
        for k, (base, rs) in enumerate(sorted(series.items())):
            for who in ("numago", "peer"):
                pts = []
                b = rs[0][who]
                for r in rs:
                    v = r[who]
                    if not b or not v:
                        continue
                    pts.append((r["procs"], v / b if r["better"] == "higher" else b / v))
                if len(pts) < 2:
                    continue
                dat = os.path.join(tmp, "scal%d%s.dat" % (k, who))
                with open(dat, "w") as f:
                    for p, s in pts:
                        f.write("%d %g\n" % (p, s))
                label = base + (" numago" if who == "numago" else
                                " %s" % (rs[0]["peer_name"] or "peer"))
                lines.append("%s using 1:2 with linespoints lw 2 dt %d title %s" % (
                    gp_quote(dat), 1 if who == "numago" else 2, gp_quote(label)))
        maxp = max(r["procs"] for rs in series.values() for r in rs)
        lines.append("x with lines lc rgb \"gray\" dt 3 title \"ideal\"")
        png = prefix + "-scaling.png"
        script = """
set terminal pngcairo size 1200,800 font ",9"
set output %s
set title "Scaling vs Ps (speedup over the smallest P count: time ratio, or GB/s ratio)"
set xlabel "Ps (threads for the peers)"
set ylabel "speedup"
set xrange [0.8:%g]
set xtics 1
set yrange [0:*]
set key outside right
set grid
plot %s
""" % (gp_quote(png), maxp + 0.2, ", \\\n     ".join(lines))
        if run_gnuplot(script, tmp, "scaling"):
            made.append(png)
    return made


def run_gnuplot(script, tmp, name):
    path = os.path.join(tmp, name + ".gp")
    with open(path, "w") as f:
        f.write(script)
    p = subprocess.run(["gnuplot", path], capture_output=True, text=True)
    if p.returncode != 0:
        print("report: gnuplot (%s) failed: %s" % (name, p.stderr.strip()[-400:]),
              file=sys.stderr)
        return False
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--raw", required=True, help="directory of <program>.json/.rc/.secs/.err")
    ap.add_argument("--out", required=True, help="JSON file to write")
    ap.add_argument("--plots", help="PNG prefix (default: --out without .json)")
    ap.add_argument("--mode", default="default")
    ap.add_argument("--procs", default="")
    a = ap.parse_args()

    programs = [p for p in ORDER if os.path.exists(os.path.join(a.raw, p + ".rc"))]
    programs += sorted(f[:-3] for f in os.listdir(a.raw)
                       if f.endswith(".rc") and f[:-3] not in programs)
    rows, runs, raw_objs, failed = [], [], {}, 0
    for p in programs:
        objs, rc, secs, err, bad = load(a.raw, p)
        raw_objs[p] = objs
        try:
            rs = NORM.get(p, norm_generic)(p, objs)
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as e:
            rs = [row(p, p, "", None, failed=True, note="unreadable output: %r" % e)]
        if rc != 0 or not rs:
            why = "exit status %d" % rc if rc != 0 else "no rows"
            if rc == 124:
                why = "timed out"
            tail = [l for l in err.strip().splitlines() if l.strip()][-1:]
            rs.append(row(p, p, "", None, failed=True,
                          note=why + (": " + tail[0][:80] if tail else "")))
        for r in rs:
            target_note(r)
        failed += sum(1 for r in rs if r["failed"])
        runs.append({"program": p, "rc": rc, "seconds": secs, "rows": len(rs),
                     "unparsed_lines": bad})
        rows += rs

    # the table
    w = max([len(r["name"]) for r in rows] + [20]) + 1
    hdr = "%-*s %-12s %12s %18s %8s %22s  %s" % (w, "benchmark", "unit", "numago", "peer",
                                                 "ratio", "target", "note")
    print(hdr)
    print("-" * len(hdr))
    prog = None
    for r in rows:
        if r["program"] != prog:
            prog = r["program"]
            secs = next((x["seconds"] for x in runs if x["program"] == prog), 0)
            print("[%s, %.0f s]" % (prog, secs))
        if r["failed"]:
            print("%-*s %-12s %12s %18s %8s %22s  %s" % (w, r["name"], r["unit"], "FAILED",
                                                         "-", "-", r["target"] or "-",
                                                         r["note"]))
            continue
        peer = "-" if r["peer"] is None else "%s %s" % (fnum(r["peer"]), r["peer_name"] or "")
        ratio = "-" if r["ratio"] is None else "%.3f" % r["ratio"]
        print("%-*s %-12s %12s %18s %8s %22s  %s" % (w, r["name"], r["unit"], fnum(r["numago"]),
                                                     peer.strip(), ratio, r["target"] or "-",
                                                     r["note"]))
    print("-" * len(hdr))
    print("ratio = numago / peer in the row's unit (GB/s: higher is better; otherwise lower "
          "is better); numago = min (GB/s: best) of the repetitions")

    now = datetime.datetime.now()
    doc = {"host": platform.node(), "date": now.isoformat(timespec="seconds"),
           "mode": a.mode, "procs": a.procs, "machine": machine_info(raw_objs),
           "runs": runs, "rows": rows, "raw": raw_objs, "failed_rows": failed}
    prefix = a.plots or (a.out[:-5] if a.out.endswith(".json") else a.out)
    pngs = plots(rows, prefix, a.raw)
    doc["plots"] = pngs
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False,
                  default=lambda v: None if isinstance(v, float) and math.isnan(v) else v)
        f.write("\n")
    print("JSON: %s" % a.out)
    for p in pngs:
        print("plot: %s" % p)
    if failed:
        print("%d row(s) FAILED" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
