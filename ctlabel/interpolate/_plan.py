"""Per-label plans (the signed field of a label on each filled slice) and writing one slice."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from ctlabel.interpolate._matching import Box, _hermite, _Match, _Side, _Term
from ctlabel.interpolate._shapes import _CUBIC, _MARGIN, ALIGN_IOU, _iou, _iou_scaled, _nested


class _LabelPlan:
    """Everything needed to produce the signed field of one label on its filled slices."""

    def __init__(self, src: np.ndarray, lab: int, zs: list[int], sampling: tuple[float, float]) -> None:
        self.src = src
        self.lab = lab
        self.zs = zs
        self.sampling = sampling
        self.box: Box | None = None
        self._sides: dict[int, _Side] = {}
        self._matches: dict[int, list[_Match]] = {}
        self._terms: dict[int, list[_Term]] = {}
        if len(zs) < 2:
            return
        h, w = src.shape[1:]
        y0, y1, x0, x1 = h, 0, w, 0
        for z in zs:
            m = src[z] == self.lab
            rows = np.flatnonzero(m.any(axis=1))
            if rows.size:
                cols = np.flatnonzero(m.any(axis=0))
                y0, y1 = min(y0, rows[0]), max(y1, rows[-1] + 1)
                x0, x1 = min(x0, cols[0]), max(x1, cols[-1] + 1)
        if y1 > y0:
            self.box = (
                slice(max(0, y0 - _MARGIN), min(h, y1 + _MARGIN)),
                slice(max(0, x0 - _MARGIN), min(w, x1 + _MARGIN)),
            )
            self.shape = (self.box[0].stop - self.box[0].start, self.box[1].stop - self.box[1].start)

    def filled_slices(self) -> list[int]:
        if len(self.zs) < 2:
            return []
        painted = set(self.zs)
        return [z for z in range(self.zs[0], self.zs[-1]) if z not in painted]

    def _side(self, z: int) -> _Side:
        s = self._sides.get(z)
        if s is None:
            assert self.box is not None
            s = _Side(self.src[z][self.box] == self.lab, self.sampling)
            self._sides[z] = s
        return s

    def _index(self, z: int) -> int:
        """Index in ``zs`` of the painted slice that starts the gap holding ``z``."""
        return int(np.searchsorted(self.zs, z, side="right")) - 1

    def release_before(self, z: int) -> None:
        """Drop what only gaps before the one holding ``z`` (and the one just before it) need."""
        i = self._index(z)
        keep = self.zs[max(0, i - 1)]
        for cache in (self._sides, self._matches, self._terms):
            for k in [k for k in cache if k < keep]:
                del cache[k]

    def field(self, z: int) -> tuple[Box, np.ndarray] | None:
        """The signed field of this label on filled slice ``z`` in its box, or None if empty."""
        if self.box is None:
            return None
        i = self._index(z)
        a, b = self.zs[i], self.zs[i + 1]
        terms = self._terms.get(a)
        if terms is None:
            terms = self._make_terms(i)
            self._terms[a] = terms
        if not terms:
            return None
        t = (z - a) / (b - a)
        if len(terms) == 1 and terms[0].win == (slice(None), slice(None)):
            return self.box, terms[0].at(t)
        acc = np.full(self.shape, np.inf, dtype=np.float32)
        for term in terms:
            np.minimum(acc[term.win], term.at(t), out=acc[term.win])
        return self.box, acc

    def _matches_of(self, i: int) -> list[_Match] | None:
        """Matches of the gap starting at ``zs[i]``, or None if there is no such gap."""
        if i < 0 or i + 1 >= len(self.zs):
            return None
        a = self.zs[i]
        m = self._matches.get(a)
        if m is None:
            m = self._match(self._side(a), self._side(self.zs[i + 1]))
            self._matches[a] = m
        return m

    def _match(self, A: _Side, B: _Side) -> list[_Match]:
        na, nb = A.ncomp, B.ncomp
        if na == 0 and nb == 0:
            return []
        # union-find over components: a -> 0..na-1, b -> na..na+nb-1
        parent = list(range(na + nb))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        both = (A.comp > 0) & (B.comp > 0)
        if both.any():
            pairs = np.unique(A.comp[both].astype(np.int64) * (nb + 1) + B.comp[both])
            for p in pairs:
                ia, ib = divmod(int(p), nb + 1)
                ra, rb = find(ia - 1), find(na + ib - 1)
                if ra != rb:
                    parent[ra] = rb
        groups: dict[int, tuple[list[int], list[int]]] = {}
        for i in range(na):
            groups.setdefault(find(i), ([], []))[0].append(i + 1)
        for j in range(nb):
            groups.setdefault(find(na + j), ([], []))[1].append(j + 1)

        pairs_ab = [(tuple(g[0]), tuple(g[1])) for g in groups.values() if g[0] and g[1]]
        only_a = [tuple(g[0]) for g in groups.values() if not g[1]]
        only_b = [tuple(g[1]) for g in groups.values() if not g[0]]

        # leftovers on both sides: pair them by nearest centroid (a component that moved
        # more than its own width between the two painted slices)
        if only_a and only_b:
            sp = np.asarray(self.sampling)
            pa = np.array([A.centroid(g) for g in only_a]) * sp
            pb = np.array([B.centroid(g) for g in only_b]) * sp
            cost = np.sqrt(((pa[:, None, :] - pb[None, :, :]) ** 2).sum(axis=2))
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols, strict=True):
                pairs_ab.append((only_a[r], only_b[c]))
            used_a, used_b = set(rows.tolist()), set(cols.tolist())
            only_a = [g for i, g in enumerate(only_a) if i not in used_a]
            only_b = [g for i, g in enumerate(only_b) if i not in used_b]

        out: list[_Match] = [_blend(A, B, ga, gb) for ga, gb in pairs_ab]
        out += [_Match("taper_a", g, ()) for g in only_a]
        out += [_Match("taper_b", (), g) for g in only_b]
        return out

    def _make_terms(self, i: int) -> list[_Term]:
        matches = self._matches_of(i)
        if not matches:
            return []
        A, B = self._side(self.zs[i]), self._side(self.zs[i + 1])
        h, w = self.shape
        full = (slice(None), slice(None))
        whole = len(matches) == 1
        terms: list[_Term] = []
        sa: np.ndarray | None
        sb: np.ndarray | None
        for m in matches:
            if m.kind == "blend":
                path = None
                pad = _MARGIN
                if m.aligned:
                    path = self._path(i, m)
                    ts = np.linspace(0.0, 1.0, 9)
                    lin = [(1 - t) * path[0] + t * path[1] for t in ts]
                    dev = max(float(np.abs(_hermite(t, *path) - q).max()) for t, q in zip(ts, lin, strict=True))
                    pad += int(np.ceil(dev)) + 1
                bb = [A.bbox(m.ga), B.bbox(m.gb)]
            else:
                path = None
                pad = _MARGIN
                bb = [A.bbox(m.ga)] if m.kind == "taper_a" else [B.bbox(m.gb)]
            if whole and pad == _MARGIN:
                win = full
            else:
                win = (
                    slice(max(0, min(b[0] for b in bb) - pad), min(h, max(b[1] for b in bb) + pad)),
                    slice(max(0, min(b[2] for b in bb) - pad), min(w, max(b[3] for b in bb) + pad)),
                )
            if m.kind == "blend":
                off = np.array([win[0].start or 0, win[1].start or 0], dtype=float)
                if path is not None:
                    path = (path[0] - off, path[1] - off, path[2], path[3])
                sa, sb = A.sdf(m.ga, win), B.sdf(m.gb, win)
                tangents = None
                if _CUBIC and whole and not m.aligned and _nested(A.mask, B.mask):
                    tangents = self._sdf_tangents(i, sa, sb)
                terms.append(_Term("blend", win, sa, sb, path=path, scale=m.scale, tangents=tangents))
            else:
                s = A.sdf(m.ga, win) if m.kind == "taper_a" else B.sdf(m.gb, win)
                depth = float(-s.min()) + min(self.sampling)
                sa, sb = (s, None) if m.kind == "taper_a" else (None, s)
                terms.append(_Term(m.kind, win, sa, sb, depth=depth))
        return terms

    def _only_plain(self, i: int) -> bool:
        """True if gap ``i`` exists and is one in-place blend of the whole of both slices."""
        ms = self._matches_of(i)
        if not ms or len(ms) != 1 or ms[0].kind != "blend" or ms[0].aligned:
            return False
        return ms[0].ga == self._side(self.zs[i]).all and ms[0].gb == self._side(self.zs[i + 1]).all

    def _sdf_tangents(self, i: int, sa: np.ndarray, sb: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Catmull-Rom tangents of the distance maps at both ends of gap ``i``, or None."""
        zs = self.zs
        has_prev = self._only_plain(i - 1)
        has_next = self._only_plain(i + 1)
        if not (has_prev or has_next):
            return None
        span = zs[i + 1] - zs[i]
        chord = sb - sa
        ta = chord
        tb = chord
        if has_prev:
            sp = self._side(zs[i - 1]).sdf(self._side(zs[i - 1]).all, (slice(None), slice(None)))
            ta = (sb - sp) * np.float32(span / (zs[i + 1] - zs[i - 1]))
        if has_next:
            sn = self._side(zs[i + 2]).sdf(self._side(zs[i + 2]).all, (slice(None), slice(None)))
            tb = (sn - sa) * np.float32(span / (zs[i + 2] - zs[i]))
        return ta, tb

    def _path(self, i: int, m: _Match) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Centroid path of an aligned match: Catmull-Rom tangents from the neighbouring gaps."""
        assert m.ca is not None and m.cb is not None
        zs = self.zs
        za, zb = zs[i], zs[i + 1]
        chord = m.cb - m.ca
        ma = mb = chord
        prev = self._matches_of(i - 1)
        if prev:
            for p in prev:
                if p.kind == "blend" and p.gb == m.ga and p.ca is not None:
                    ma = (m.cb - p.ca) / (zb - zs[i - 1]) * (zb - za)
                    break
        nxt = self._matches_of(i + 1)
        if nxt:
            for n in nxt:
                if n.kind == "blend" and n.ga == m.gb and n.cb is not None:
                    mb = (n.cb - m.ca) / (zs[i + 2] - za) * (zb - za)
                    break
        return m.ca, m.cb, ma, mb


def _blend(A: _Side, B: _Side, ga: tuple[int, ...], gb: tuple[int, ...]) -> _Match:
    """The blend of matched groups ``ga`` -> ``gb``, moved (and scaled) when that overlaps better."""
    ca, cb = A.centroid(ga), B.centroid(gb)
    # masks in the window of the pair: every overlap with b happens there
    (ay0, ay1, ax0, ax1), (by0, by1, bx0, bx1) = A.bbox(ga), B.bbox(gb)
    y0, x0 = min(ay0, by0), min(ax0, bx0)
    win = (slice(y0, max(ay1, by1)), slice(x0, max(ax1, bx1)))
    ma, mb = A.group_mask(ga, win), B.group_mask(gb, win)
    off = np.array([y0, x0], dtype=float)
    iou0 = _iou(ma, mb)
    aligned = False
    scale = None
    if iou0 < ALIGN_IOU:
        # try moving a onto b, then moving and scaling it; keep what overlaps best
        dy, dx = cb - ca
        best = _iou(ma, mb, (round(dy), round(dx)))
        aligned = best > iou0
        best = max(best, iou0)
        ratio = B.spread(gb) / A.spread(ga)
        iso = np.full(2, np.sqrt(ratio[0] * ratio[1]))
        for cand in (iso, ratio):
            if np.all(np.abs(cand - 1.0) < 0.05) or not np.all((cand > 0.25) & (cand < 4.0)):
                continue
            iou = _iou_scaled(ma, mb, ca - off, cb - off, cand)
            if iou > best + 0.02:
                best, aligned, scale = iou, True, cand
    return _Match("blend", ga, gb, ca, cb, aligned, scale)


# --------------------------------------------------------------------------
# Writing one slice
# --------------------------------------------------------------------------


def _write_slice(
    out: np.ndarray,
    labs: list[int],
    fields: list[tuple[int, tuple[slice, slice], np.ndarray]],
    z: int,
    painted_sets: dict[int, set[int]],
    overwrite: bool,
) -> None:
    """Write the winners of one slice into ``out`` (a 2D view), in place."""
    # the labels filled on this slice lose their old voxels here
    for lab in labs:
        stale = out == lab
        if stale.any():
            out[stale] = 0
    if not fields:
        return
    if len(fields) == 1:
        lab, box, f = fields[0]
        region = out[box]
        win = f < 0
        win_lab: np.ndarray | int = lab
    else:
        ys = [b[0] for _, b, _ in fields]
        xs = [b[1] for _, b, _ in fields]
        y0, y1 = min(s.start for s in ys), max(s.stop for s in ys)
        x0, x1 = min(s.start for s in xs), max(s.stop for s in xs)
        best = np.full((y1 - y0, x1 - x0), np.inf, dtype=np.float32)
        best_lab = np.zeros(best.shape, dtype=out.dtype)
        for lab, (sy, sx), f in fields:
            sub = (
                slice(sy.start - y0, sy.stop - y0),
                slice(sx.start - x0, sx.stop - x0),
            )
            b = best[sub]
            better = f < b
            b[better] = f[better]
            best_lab[sub][better] = lab
        region = out[y0:y1, x0:x1]
        win = best < 0
        win_lab = best_lab
    if overwrite:
        protected = [lab for lab, zs in painted_sets.items() if z in zs]
        allowed = ~np.isin(region, protected) if protected else np.ones(region.shape, dtype=bool)
    else:
        allowed = region == 0
    sel = win & allowed
    if isinstance(win_lab, np.ndarray):
        region[sel] = win_lab[sel]
    else:
        region[sel] = win_lab
