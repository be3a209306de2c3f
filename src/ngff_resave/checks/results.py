"""The record of a validation: every check made, and which arrays and groups failed, so that a
caller redoes just those (see :mod:`ngff_resave.records.outcomes`)."""

from __future__ import annotations

import json
import logging
import posixpath
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

LOG = logging.getLogger("ngff_resave.checks.validation")

# Passed checks of one kind made more often than this are one entry of the record each kind
# (see Report.recorded_checks): a plate's 56,849 checks made a record of 8.6 MB, which the
# catalog and the report's pages each parsed again.
FOLD_ABOVE = 100


@dataclass
class Report:
    """Every check made; ``failed_arrays`` and ``failed_groups`` name the array and group paths
    whose checks failed, so a caller can redo just those."""

    dataset: str
    checks: list[dict[str, Any]] = field(default_factory=list)
    # Ordered sets: the paths in the order their first failure was found.
    _failed_arrays: dict[str, None] = field(default_factory=dict, repr=False)
    _failed_groups: dict[str, None] = field(default_factory=dict, repr=False)
    # Checks passed, by kind (the check's name with its array or group path as ``*``): what
    # the log says of them (see :meth:`log_summary`).
    _passed: Counter[str] = field(default_factory=Counter, repr=False)
    # Of each passed check (by its index in ``checks``): its kind and the path in its name.
    _kinds: dict[int, tuple[str, str]] = field(default_factory=dict, repr=False)

    def add(
        self,
        check: str,
        ok: bool,
        detail: str = "",
        *,
        array: str | None = None,
        group: str | None = None,
    ) -> bool:
        self.checks.append({"check": check, "ok": bool(ok), "detail": detail})
        if ok:
            # One log line per kind of check, not per check (a plate has tens of thousands).
            kind, named = check, ""
            for path in (array, group):
                # Where names spell the path: "array {path}: ...", "Well {path}".
                if path:
                    spelt = kind.replace(f" {path}:", " *:")
                    if spelt.endswith(f" {path}"):
                        spelt = spelt[: -len(path)] + "*"
                    if spelt != kind:
                        kind, named = spelt, path
            self._passed[kind] += 1
            if named:
                self._kinds[len(self.checks) - 1] = (kind, named)
        else:
            LOG.error("FAILED: %s%s", check, f" ({detail})" if detail else "")
            self.blame(
                arrays=[] if array is None else [array], groups=[] if group is None else [group]
            )
        return bool(ok)

    def log_summary(self) -> None:
        """The checks passed, one line per kind (failed ones were logged one by one)."""
        failed = len(self.failed)
        LOG.info(
            "dataset '%s': %d checks, %d passed, %d failed",
            self.dataset,
            len(self.checks),
            len(self.checks) - failed,
            failed,
        )
        for kind, count in self._passed.items():
            LOG.info("ok: %s%s", f"{count} x " if count > 1 else "", kind)

    def blame(self, *, arrays: Iterable[str] = (), groups: Iterable[str] = ()) -> None:
        """Name array and group paths as failed (by a check already added)."""
        self._failed_arrays.update(dict.fromkeys(arrays))
        self._failed_groups.update(dict.fromkeys(groups))

    @property
    def failed_arrays(self) -> list[str]:
        """Array paths with a failed check: the arrays to convert again."""
        return list(self._failed_arrays)

    @property
    def failed_groups(self) -> list[str]:
        """Group paths with a failed check (missing, or rejected by ome-zarr-models)."""
        return list(self._failed_groups)

    def run(self, check: str, action: Callable[[], Any], *, group: str | None = None) -> None:
        """Run a model validation; any exception or warning it raises is the failure detail."""
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                action()
            except Exception as err:  # noqa: BLE001 - every failure is reported, not raised
                self.add(check, False, spell_error(err)[:2000], group=group)
                return
        self.add(check, True, group=group)

    @property
    def valid(self) -> bool:
        return all(c["ok"] for c in self.checks)

    @property
    def failed(self) -> list[str]:
        """The names of the failed checks."""
        return [c["check"] for c in self.checks if not c["ok"]]

    def recorded_checks(self) -> list[dict[str, Any]]:
        """The checks as the record keeps them, in their order: each failed one as it is; the
        passed ones of a kind made more than :data:`FOLD_ABOVE` times with the same detail (a
        plate's thousands of arrays) as one entry where the first was, with their ``count``
        and the ``paths`` named, the path in its name ``*``."""
        groups: dict[tuple[str, str], list[int]] = {}
        for index, (kind, _) in self._kinds.items():
            groups.setdefault((kind, self.checks[index]["detail"]), []).append(index)
        folded: dict[int, dict[str, Any] | None] = {}
        for (kind, detail), indices in groups.items():
            if len(indices) > FOLD_ABOVE:
                entry: dict[str, Any] = {
                    "check": f"{len(indices)} x {kind}",
                    "ok": True,
                    "detail": detail,
                    "count": len(indices),
                    "paths": [self._kinds[i][1] for i in indices],
                }
                folded.update(dict.fromkeys(indices))
                folded[indices[0]] = entry
        recorded = []
        for index, check in enumerate(self.checks):
            kept = folded.get(index, check)
            if kept is not None:
                recorded.append(kept)
        return recorded

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "valid": self.valid,
            "failed": self.failed,
            "failed_arrays": self.failed_arrays,
            "failed_groups": self.failed_groups,
            "checks": self.recorded_checks(),
        }


def spell_error(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def join_path(parent: str, child: str) -> str:
    path = posixpath.normpath(posixpath.join(parent, child.strip("/"))) if child else parent
    return "" if path == "." else path


def content_key(value: Any) -> bytes:
    """A JSON value as bytes that differ whenever values differ (1, 1.0 and true apart; the
    order of an object's keys aside): the key of work cached per distinct document. By orjson,
    but where its ``null`` may stand for NaN or an infinity, or it refuses a value."""
    try:
        data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # an integer beyond 64 bits
        data = b"null"
    if b"null" not in data:
        return b"o" + data
    return b"j" + json.dumps(value, sort_keys=True).encode()
