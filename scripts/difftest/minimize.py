"""Delta debugging of a differing case.

A case is flattened into (batch id, unit) pairs. ddmin (Zeller and Hildebrandt) removes units
while the candidate still shows *a* difference (not necessarily the same one; the report
prints what the minimized case shows). Then each remaining batch boundary is dropped if the
difference survives without it. Removing units keeps a terminal unit last and a big unit alone
in its batch; boundaries around a big unit, or that would make a batch over the size limit,
are never dropped.
"""
from .generator import SMALL_BATCH_LIMIT


def flatten(batches):
    return [(b, u) for b, batch in enumerate(batches) for u in batch]


def rebuild(items):
    batches = []
    last = None
    for bid, unit in items:
        if not batches or bid != last:
            batches.append([])
            last = bid
        batches[-1].append(unit)
    return batches


class Budget:
    def __init__(self, runs):
        self.left = runs
        self.used = 0


def minimize(batches, differs, max_runs):
    """differs(batches) -> bool. Returns (smaller batches, runs used)."""
    budget = Budget(max_runs)
    cache = {}

    def test(items):
        key = tuple((b, id(u)) for b, u in items)
        if key not in cache:
            if budget.left <= 0:
                return False
            budget.left -= 1
            budget.used += 1
            cache[key] = differs(rebuild(items))
        return cache[key]

    items = ddmin(flatten(batches), test)
    items = merge_batches(items, test)
    return rebuild(items), budget.used


def ddmin(items, test):
    n = 2
    while len(items) >= 2:
        size = -(-len(items) // n)
        parts = [items[i:i + size] for i in range(0, len(items), size)]
        for part in parts:
            if test(part):
                items, n = part, 2
                break
        else:
            for i in range(len(parts)):
                rest = [x for j, p in enumerate(parts) if j != i for x in p]
                if test(rest):
                    items, n = rest, max(n - 1, 2)
                    break
            else:
                if n >= len(items):
                    break
                n = min(len(items), 2 * n)
    return items


def merge_batches(items, test):
    i = 1
    while i < len(items):
        (b0, u0), (b1, u1) = items[i - 1], items[i]
        if b0 != b1 and not (u0.big or u1.big):
            merged = [(b0 if b == b1 else b, u) for b, u in items]
            size = sum(len(u.data) for b, u in merged if b == b0)
            if size <= SMALL_BATCH_LIMIT and test(merged):
                items = merged
        i += 1
    return items
