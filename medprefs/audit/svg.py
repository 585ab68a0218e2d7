"""Small inline-SVG charts (grouped bars, overlaid histograms, a stacked share bar): no scripts, nothing fetched."""

from __future__ import annotations

from html import escape

PALETTE = ["#2b6cb0", "#dd6b20", "#2f855a", "#9b2c2c", "#6b46c1", "#4a5568"]
_FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def _nice_max(value: float) -> float:
    """A round axis top >= value (1, 2, 5 x 10^k)."""
    if value <= 0:
        return 1.0
    step = 10 ** (len(str(int(value))) - 1)
    for factor in (1, 2, 5, 10):
        if factor * step >= value:
            return float(factor * step)
    return float(10 * step)


def _frame(width: int, height: int, title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>' + "".join(body) + "</svg>"
    )


def _axis(left: int, top: int, plot_w: int, plot_h: int, top_value: float) -> list[str]:
    parts = []
    for i in range(5):
        y = top + plot_h - plot_h * i / 4
        value = top_value * i / 4
        label = f"{value:.0f}" if top_value >= 4 else f"{value:.2f}"
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#e2e8f0"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" {_FONT} fill="#4a5568">{label}</text>')
    return parts


def _legend(names: list[str], x: int, y: int, opacity: float = 1.0) -> list[str]:
    parts = []
    for i, name in enumerate(names):
        cx = x + i * 150
        parts.append(f'<rect x="{cx}" y="{y - 9}" width="10" height="10" fill="{PALETTE[i % len(PALETTE)]}" '
                     f'fill-opacity="{opacity}"/>')
        parts.append(f'<text x="{cx + 14}" y="{y}" {_FONT} fill="#1a202c">{escape(name)}</text>')
    return parts


def bar_chart(title: str, categories: list[str], series: dict[str, list[float]], width: int = 720,
              height: int = 260) -> str:
    """Grouped vertical bars: one group per category, one bar per series."""
    left, top, bottom = 48, 24, 40
    plot_w, plot_h = width - left - 12, height - top - bottom
    top_value = _nice_max(max((v for values in series.values() for v in values), default=0))
    body = _axis(left, top, plot_w, plot_h, top_value)
    group_w = plot_w / max(len(categories), 1)
    bar_w = group_w * 0.8 / max(len(series), 1)
    for s, (name, values) in enumerate(series.items()):
        for c, value in enumerate(values):
            h = plot_h * value / top_value
            x = left + c * group_w + group_w * 0.1 + s * bar_w
            body.append(f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                        f'fill="{PALETTE[s % len(PALETTE)]}"><title>{escape(name)} {escape(categories[c])}: '
                        f'{value:g}</title></rect>')
    step = -(-len(categories) // 12)  # at most 12 axis labels, so many years stay readable
    for c, category in enumerate(categories):
        if c % step == 0:
            x = left + c * group_w + group_w / 2
            body.append(f'<text x="{x:.1f}" y="{top + plot_h + 14}" text-anchor="middle" {_FONT} '
                        f'fill="#4a5568">{escape(category)}</text>')
    body += _legend(list(series), left, height - 6)
    return _frame(width, height, title, body)


def histogram(title: str, edges: list[float], series: dict[str, list[int]], width: int = 460,
              height: int = 220, x_label: str = "") -> str:
    """Overlaid histograms sharing bin edges (semi-transparent, so both shapes stay visible)."""
    left, top, bottom = 48, 16, 44
    plot_w, plot_h = width - left - 12, height - top - bottom
    top_value = _nice_max(max((v for values in series.values() for v in values), default=0))
    body = _axis(left, top, plot_w, plot_h, top_value)
    n_bins = max(len(edges) - 1, 1)
    bin_w = plot_w / n_bins
    for s, (name, counts) in enumerate(series.items()):
        for b, count in enumerate(counts):
            h = plot_h * count / top_value
            body.append(f'<rect x="{left + b * bin_w:.1f}" y="{top + plot_h - h:.1f}" width="{bin_w:.1f}" '
                        f'height="{h:.1f}" fill="{PALETTE[s % len(PALETTE)]}" fill-opacity="0.55">'
                        f'<title>{escape(name)} [{edges[b]:g}, {edges[b + 1]:g}): {count}</title></rect>')
    for b in (0, n_bins // 2, n_bins):
        body.append(f'<text x="{left + b * bin_w:.1f}" y="{top + plot_h + 14}" text-anchor="middle" {_FONT} '
                    f'fill="#4a5568">{edges[b]:g}</text>')
    if x_label:
        body.append(f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h + 28}" text-anchor="middle" {_FONT} '
                    f'fill="#4a5568">{escape(x_label)}</text>')
    body += _legend(list(series), left, height - 4, opacity=0.55)
    return _frame(width, height, title, body)


def share_bar(title: str, parts: dict[str, int], width: int = 720, height: int = 54) -> str:
    """One horizontal bar split into shares, labelled with counts and percentages."""
    total = sum(parts.values()) or 1
    body, x = [], 0.0
    for i, (name, n) in enumerate(parts.items()):
        w = (width - 2) * n / total
        body.append(f'<rect x="{x + 1:.1f}" y="4" width="{w:.1f}" height="22" fill="{PALETTE[i % len(PALETTE)]}">'
                    f'<title>{escape(name)}: {n}</title></rect>')
        if w > 60:
            body.append(f'<text x="{x + 6:.1f}" y="19" {_FONT} fill="#fff">{n / total:.1%}</text>')
        x += w
    body += _legend([f"{name} ({n})" for name, n in parts.items()], 1, height - 6)
    return _frame(width, height, title, body)
