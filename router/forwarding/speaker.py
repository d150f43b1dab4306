"""Active-speaker detection from the RFC 6464 audio-level header extension.

The hot path only accumulates the level byte of each packet (:meth:`ActiveSpeakerDetector.add`);
:meth:`ActiveSpeakerDetector.tick`, called on a timer, averages each stream's window, smooths it
with an exponential moving average and picks the loudest stream, with hysteresis so that the
speaker does not flap between two voices of similar loudness. Levels are -dBov (0 loudest,
127 silence), so loudness here is ``127 - level``.
"""

from __future__ import annotations

__all__ = ["ActiveSpeakerDetector"]


class ActiveSpeakerDetector:
    """Picks the dominant audio stream (by an opaque key, e.g. SSRC) on a virtual clock."""

    __slots__ = (
        "_count",
        "_smooth",
        "_sum",
        "alpha",
        "current",
        "hysteresis",
        "interval",
        "min_loudness",
        "next_tick",
    )

    def __init__(
        self,
        interval: float = 0.2,
        alpha: float = 0.35,
        min_loudness: float = 37.0,
        hysteresis: float = 6.0,
    ) -> None:
        self.interval = interval
        self.alpha = alpha
        self.min_loudness = min_loudness
        self.hysteresis = hysteresis
        self._sum: dict[int, int] = {}
        self._count: dict[int, int] = {}
        self._smooth: dict[int, float] = {}
        self.current: int | None = None
        self.next_tick: float | None = None

    def add(self, key: int, level: int) -> None:
        """Account one packet's audio level (0..127 -dBov) for stream ``key``."""
        self._sum[key] = self._sum.get(key, 0) + (127 - (level & 0x7F))
        self._count[key] = self._count.get(key, 0) + 1

    def track(self, key: int) -> None:
        """Start tracking ``key`` (a stream that declared the audio-level extension)."""
        self._smooth.setdefault(key, 0.0)

    def remove(self, key: int) -> None:
        """Forget ``key``; if it was the speaker there is none until someone speaks."""
        self._sum.pop(key, None)
        self._count.pop(key, None)
        self._smooth.pop(key, None)
        if self.current == key:
            self.current = None

    def loudness(self, key: int) -> float:
        """The smoothed loudness of ``key`` (0 silent .. 127 loudest)."""
        return self._smooth.get(key, 0.0)

    def tick(self, now: float) -> bool:
        """Close the window at ``now``; True when :attr:`current` changed."""
        self.next_tick = now + self.interval
        for key in self._smooth:
            n = self._count.get(key, 0)
            mean = self._sum[key] / n if n else 0.0
            self._smooth[key] += self.alpha * (mean - self._smooth[key])
        self._sum.clear()
        self._count.clear()
        if not self._smooth:
            return False
        best = max(self._smooth, key=self._smooth.__getitem__)
        best_level = self._smooth[best]
        if best == self.current or best_level < self.min_loudness:
            return False
        if self.current is not None and self.current in self._smooth:
            cur_level = self._smooth[self.current]
            if cur_level >= self.min_loudness and best_level < cur_level + self.hysteresis:
                return False
        self.current = best
        return True
