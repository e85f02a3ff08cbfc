"""The timeline of one recorded run (``sw_model.platform_recorder``) as a PNG: one lane
per CPU, per device and for the host, time in cycles.

In each lane, from the top: the agent's kernel steps (alternating shades, numbered where
there is room); its accesses as bars from request to response, coloured hit, walk or
fault (the host lane: its memory reads, writes and CASes); a tick per TLB fill; and the
fabric requests it issued: broadcast invalidates, syncs (a bar while the DSB waits) and
shootdowns (a line from the cycle the fabric took it to the cycle every target had
acknowledged, with an ack mark on each target's lane). Interrupts off shade the lane.
Violations are red vertical lines and errors (an RTL divergence, a deadlock) magenta
dashed ones, each labelled. A short run also lists its steps under the plot.

A run longer than DETAIL_CYCLES is aggregated: the cycle axis is cut into BINS bins, and
each lane's accesses (host: memory operations) become stacked bars of their count per
bin, scaled to the lane's busiest bin, fills a tick as tall as their count; of each kind
of fabric request, one mark per bin shows the first (shootdown lines, syncs, interrupts
off, violations and errors are still drawn at their cycles).
"""
from collections import Counter

DETAIL_CYCLES = 3000
BINS = 400
#: Steps listed under the plot, at most.
LISTED_STEPS = 40
WIDTH = 14                        # inches, at DPI
DPI = 100
LANE_HEIGHT = 0.9                 # inches

COLOURS = {
    "hit": "#4caf50", "walk": "#1e6fd9", "fault": "#f08c00", "fill": "black",
    "read": "#9e9e9e", "write": "#5d4037", "cas": "#c2185b",
    "tlbi": "#7b1fa2", "dsb": "#607d8b", "shootdown": "#00838f", "ack": "#00838f",
    "irqs off": "#ffcdd2", "violation": "#d50000", "error": "#d500f9",
    "step": ("#eeeeee", "#d6d6d6"), "setup": "#e3f2fd",
}
# Rows within a lane (lane i spans y = i .. i + 1, drawn top down).
STEP_ROW = (0.05, 0.15)
BAR_ROW = (0.25, 0.4)
FILL_ROW = (0.65, 0.1)
FABRIC_Y = 0.8
LABEL_DY = 0.12                   # a fabric request's label, below its mark


def lanes(recording):
    return ([f"cpu{c}" for c in range(recording.cpus)]
            + [f"dev{d}" for d in range(recording.devices)] + ["host"])


def access_class(event):
    if event.info["fault"]:
        return "fault"
    return "walk" if event.info["walked"] else "hit"


def markers(run):
    """(cycle, colour key, label) for each violation and error of ``run``."""
    rec = run.recording
    out = [(rec.violation_cycle(v), "violation",
            f"{v.kind}: {v.agent} step {v.step + 1}, {'write' if v.write else 'read'} "
            f"{v.va:#x}") for v in run.violations]
    errors = [e for e in rec.events if e.kind == "error"]
    out += [(e.start, "error", f"{e.info['type']}: {e.info['message']}") for e in errors]
    if run.error and not any(e.info["message"] == run.error for e in errors):
        out.append((run.cycles, "error", run.error))   # the scheduler's, not the backend's
    return out


class _Shapes:
    """Shapes gathered by colour, then drawn as one collection each: a long run has
    thousands, and one matplotlib artist per shape would take seconds."""

    def __init__(self):
        self.rects = {}                         # colour -> [(x, y, width, height)]
        self.ticks = {}                         # (colour, width) -> [(x, y0, y1)]
        self.lines = {}                         # colour -> [(x0, x1, y)]
        self.marks = {}                         # (marker, colour, filled) -> [(x, y)]

    def rect(self, colour, x, y, width, height):
        self.rects.setdefault(colour, []).append((x, y, width, height))

    def tick(self, colour, x, y0, y1, width=1):
        self.ticks.setdefault((colour, width), []).append((x, y0, y1))

    def line(self, colour, x0, x1, y):
        self.lines.setdefault(colour, []).append((x0, x1, y))

    def mark(self, marker, colour, x, y, filled=True):
        self.marks.setdefault((marker, colour, filled), []).append((x, y))

    def draw(self, ax):
        from matplotlib.collections import PolyCollection
        for colour, rects in self.rects.items():
            ax.add_collection(PolyCollection(
                [[(x, y), (x + w, y), (x + w, y + h), (x, y + h)] for x, y, w, h in rects],
                facecolors=colour, edgecolors="none",
                zorder=0 if colour == COLOURS["irqs off"] else 1))
        for (colour, width), ticks in self.ticks.items():
            ax.vlines(*zip(*ticks), color=colour, linewidth=width)
        for colour, lines in self.lines.items():
            x0, x1, y = zip(*lines)
            ax.hlines(y, x0, x1, color=colour, linewidth=1.5)
        for (marker, colour, filled), marks in self.marks.items():
            ax.plot(*zip(*marks), marker=marker, markersize=6 if filled else 4,
                    color=colour, linestyle="none", fillstyle="full" if filled else "none")


def draw(run, path, title):
    """Write the timeline of ``run`` (a RunOutcome with a recording) to ``path``;
    returns the Figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    rec = run.recording
    names = lanes(rec)
    row = {name: i for i, name in enumerate(names)}
    span = max([run.cycles, 1] + [e.end or e.start for e in rec.events])
    binned = span > DETAIL_CYCLES
    width = -(-span // BINS) if binned else None
    listed = rec.steps if not binned and len(rec.steps) <= LISTED_STEPS else []
    plot_height = LANE_HEIGHT * len(names) + 1.2
    fig = Figure(figsize=(WIDTH, plot_height + 0.16 * len(listed) + 0.6))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.06, 1 - (plot_height - 0.4) / fig.get_figheight(), 0.78,
                       (plot_height - 1.1) / fig.get_figheight()))
    ax.set_xlim(0, span * 1.01)
    ax.set_ylim(len(names), 0)
    ax.set_yticks([i + 0.5 for i in range(len(names))], names)
    ax.set_xlabel("cycle")
    for i in range(1, len(names)):
        ax.axhline(i, color="#bdbdbd", linewidth=0.5)
    px_per_cycle = WIDTH * 0.78 * DPI / span
    shapes = _Shapes()
    if rec.setup_end:
        shapes.rect(COLOURS["setup"], 0, row["host"] + STEP_ROW[0], rec.setup_end,
                    STEP_ROW[1])
        if rec.setup_end * px_per_cycle > 120:                     # room for the label
            ax.text(rec.setup_end / 2, row["host"] + STEP_ROW[0] + STEP_ROW[1] / 2,
                    "set-up: mms, populated pages", fontsize=6, ha="center", va="center")
    _steps(ax, shapes, rec.steps, row, px_per_cycle, binned)
    _irqs_off(shapes, rec.events, row, span)
    _activity(shapes, rec.events, row, width)
    _fabric(ax, shapes, rec.events, row, width, px_per_cycle)
    shapes.draw(ax)
    for k, (cycle, colour, label) in enumerate(markers(run)):
        ax.axvline(cycle, color=COLOURS[colour], linewidth=1.5,
                   linestyle="-" if colour == "violation" else "--")
        ax.text(cycle, -0.08 - 0.3 * k, _shorten(label), color=COLOURS[colour], fontsize=8,
                ha="left" if cycle < span / 2 else "right", va="bottom")
    how = f"; aggregated in bins of {width} cycles" if binned else ""
    fig.suptitle(f"{title}: {run.cycles} cycles, {len(rec.steps)} steps{how}", fontsize=10,
                 x=0.06, ha="left", y=1 - 0.05 / fig.get_figheight())
    fig.legend(handles=_legend(), loc="upper left", fontsize=8, frameon=False,
               bbox_to_anchor=(0.85, 1 - 0.5 / fig.get_figheight()))
    if listed:
        fig.text(0.06, 0.2 / fig.get_figheight() + 0.16 * len(listed) / fig.get_figheight(),
                 "\n".join(f"{s.index + 1:3d}  {s.agent:5s} {s.start:>6}-{s.end:<6} "
                           f"{_shorten(s.label, 110)}" for s in listed),
                 family="monospace", fontsize=7.5, va="top", linespacing=1.35)
    fig.savefig(path, dpi=DPI, format="png")
    return fig


def _steps(ax, shapes, steps, row, px_per_cycle, binned):
    for s in steps:
        y = row[s.agent] + STEP_ROW[0]
        if s.end > s.start:
            shapes.rect(COLOURS["step"][s.index % 2], s.start, y, s.end - s.start,
                        STEP_ROW[1])
        else:
            shapes.tick("#9e9e9e", s.start, y, y + STEP_ROW[1], 0.5)
        text = str(s.index + 1)
        if not binned and (s.end - s.start) * px_per_cycle >= 6 * len(text) + 2:
            ax.text((s.start + s.end) / 2, y + STEP_ROW[1] / 2, text, fontsize=6,
                    ha="center", va="center")


def _irqs_off(shapes, events, row, span):
    off = {}
    for e in events:
        if e.kind == "irqs":
            if not e.info["enabled"]:
                off.setdefault(e.lane, e.start)
            elif e.lane in off:
                start = off.pop(e.lane)
                shapes.rect(COLOURS["irqs off"], start, row[e.lane], e.start - start, 1)
    for name, start in off.items():
        shapes.rect(COLOURS["irqs off"], start, row[name], span - start, 1)


def _activity(shapes, events, row, width):
    """Accesses (hit, walk, fault) and memory operations as bars; fills as ticks."""
    spans = {}                                  # (lane, class) -> [(start, length)]
    fills = []                                  # (lane, cycle, count)
    for e in events:
        if e.kind == "access":
            spans.setdefault((e.lane, access_class(e)), []).append((e.start, e.end - e.start))
            if e.info["fills"]:
                fills.append((e.lane, e.end, e.info["fills"]))
        elif e.kind in ("read", "write", "cas"):
            spans.setdefault((e.lane, e.kind), []).append((e.start, e.end - e.start))
    if width is None:
        for (name, cls), bars in spans.items():
            for start, length in bars:
                shapes.rect(COLOURS[cls], start, row[name] + BAR_ROW[0], length, BAR_ROW[1])
        for name, cycle, _ in fills:
            y = row[name] + FILL_ROW[0]
            shapes.tick(COLOURS["fill"], cycle, y, y + FILL_ROW[1])
        return
    counts = {key: Counter(start // width for start, _ in bars) for key, bars in spans.items()}
    busiest = Counter()
    for (name, _), per_bin in counts.items():
        busiest[name] = max(busiest[name], max(per_bin.values()))
    stacked = Counter()                         # (lane, bin) -> height so far
    for (name, cls), per_bin in counts.items():
        for b, n in per_bin.items():
            top = stacked[name, b] + n
            shapes.rect(COLOURS[cls], b * width,
                        row[name] + BAR_ROW[0] + BAR_ROW[1] * (1 - top / busiest[name]),
                        width, BAR_ROW[1] * n / busiest[name])
            stacked[name, b] = top
    per_bin = Counter()
    for name, cycle, n in fills:
        per_bin[name, cycle // width] += n
    most = max(per_bin.values(), default=1)
    for (name, b), n in per_bin.items():
        y = row[name] + FILL_ROW[0] + FILL_ROW[1]
        shapes.tick(COLOURS["fill"], (b + 0.5) * width, y - FILL_ROW[1] * n / most, y)


def _fabric(ax, shapes, events, row, width, px_per_cycle):
    seen = set()
    labelled_to = {}                            # lane -> x where the last label ends
    for e in events:
        if e.kind not in ("tlbi", "dsb", "shootdown"):
            continue
        y = row[e.lane] + FABRIC_Y
        if e.kind == "dsb":
            shapes.rect(COLOURS["dsb"], e.start, y - 0.05, max(e.end - e.start, 1), 0.1)
            continue
        if e.kind == "shootdown":
            taken, acked = e.info["taken"], e.end
            shapes.line(COLOURS["shootdown"], taken,
                        acked if acked is not None else ax.get_xlim()[1], y)
            for cpu in e.info["targets"] if acked is not None else ():
                shapes.mark("o", COLOURS["ack"], acked, row[f"cpu{cpu}"] + FABRIC_Y, False)
        key = (e.lane, e.kind, e.start // width if width else e.start)
        if key in seen:
            continue
        seen.add(key)
        shapes.mark("v" if e.kind == "tlbi" else ">", COLOURS[e.kind], e.start, y)
        label = e.info["op"] + (" +dev" if e.info.get("devices") else "") + \
            (f" ->cpu{','.join(map(str, e.info['targets']))}" if e.kind == "shootdown" else "")
        x = e.start + 6 / px_per_cycle
        if width is None and x >= labelled_to.get(e.lane, 0):   # room for it
            ax.text(x, y + LABEL_DY, label, fontsize=6, va="center", color=COLOURS[e.kind])
            labelled_to[e.lane] = x + 5 * len(label) / px_per_cycle


def _legend():
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    return [
        Patch(color=COLOURS["step"][1], label="kernel step (number)"),
        Patch(color=COLOURS["setup"], label="set-up before the steps"),
        Patch(color=COLOURS["hit"], label="access: TLB hit"),
        Patch(color=COLOURS["walk"], label="access: walk"),
        Patch(color=COLOURS["fault"], label="access: fault"),
        Line2D([], [], color=COLOURS["fill"], marker="|", linestyle="none", markersize=8,
               label="TLB fill"),
        Patch(color=COLOURS["read"], label="host: memory read"),
        Patch(color=COLOURS["write"], label="host: memory write"),
        Patch(color=COLOURS["cas"], label="host: CAS"),
        Line2D([], [], color=COLOURS["tlbi"], marker="v", linestyle="none",
               label="broadcast invalidate"),
        Patch(color=COLOURS["dsb"], label="sync (DSB) waiting"),
        Line2D([], [], color=COLOURS["shootdown"], marker=">", label="shootdown: taken .. "
               "all acked"),
        Line2D([], [], color=COLOURS["ack"], marker="o", fillstyle="none", linestyle="none",
               label="shootdown acked (target)"),
        Patch(color=COLOURS["irqs off"], label="interrupts off"),
        Line2D([], [], color=COLOURS["violation"], label="violation"),
        Line2D([], [], color=COLOURS["error"], linestyle="--", label="error / divergence"),
    ]


def _shorten(text, limit=90):
    text = text.splitlines()[0] if text else ""
    return text if len(text) <= limit else text[:limit - 3] + "..."
