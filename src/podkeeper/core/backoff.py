"""CrashLoopBackOff as the kubelet computes it: a small pure per-key back-off table.

Copies `staging/src/k8s.io/client-go/util/flowcontrol/backoff.go` as the
kubelet configures it (`pkg/kubelet/kubelet.go`): initial 10 s, cap 300 s, no
jitter, and an entry expires when `eventTime - lastUpdate > 600 s`
(`HasExpiredFunc`), so ten minutes of running resets the curve.
"""

from __future__ import annotations

from dataclasses import dataclass, field

INITIAL_SECONDS = 10.0  # containerBackOffPeriod
MAX_SECONDS = 300.0  # MaxContainerBackOff
EXPIRE_SECONDS = 600.0  # HasExpiredFunc: eventTime - lastUpdate > 10 min


@dataclass
class _Entry:
    backoff: float
    last_update: float


@dataclass
class Backoff:
    """Per-key exponential back-off. Keys are `getStableKey` strings; times are clock seconds."""

    initial: float = INITIAL_SECONDS
    maximum: float = MAX_SECONDS
    expire_after: float = EXPIRE_SECONDS
    _entries: dict[str, _Entry] = field(default_factory=dict)

    def _expired(self, event_time: float, entry: _Entry) -> bool:
        return event_time - entry.last_update > self.expire_after

    def is_in_backoff_since(self, key: str, event_time: float, now: float) -> bool:
        """`IsInBackOffSince`: an unexpired entry whose delay has not passed since `event_time`."""
        entry = self._entries.get(key)
        if entry is None or self._expired(event_time, entry):
            return False
        return now - event_time < entry.backoff

    def current(self, key: str) -> float:
        """The delay now in force for `key` (0 when none)."""
        entry = self._entries.get(key)
        return entry.backoff if entry else 0.0

    def next(self, key: str, event_time: float, now: float) -> None:
        """`Next`: start at `initial`, else double up to `maximum`; remember when."""
        entry = self._entries.get(key)
        if entry is None or self._expired(event_time, entry):
            entry = _Entry(self.initial, now)
            self._entries[key] = entry
        else:
            entry.backoff = min(entry.backoff * 2, self.maximum)
        entry.last_update = now

    def forget(self, key: str) -> None:
        self._entries.pop(key, None)
