"""The rules in force, and how a changed rules file replaces them without a restart.

The file is re-read every few seconds and compared by its hash (mtime alone misses a
rewrite within the same second and a replaced symlink, as Kubernetes does with ConfigMaps).
A file that fails validation is refused: the rules in force stay in force, the problem is
logged once with its line and field, and `last_error` shows it until the file is fixed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from services.router.rules import (Problem, Rules, RulesError, load_rules, parse_rules,
                                   rules_version)
from shared.events import utcnow
from shared.settings import RouterSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refusal:
    version: str | None  # of the refused file; None when it could not be read
    at: datetime
    error: RulesError


class RulesInForce:
    def __init__(self, path: Path, rules: Rules, now: datetime, *,
                 reload_seconds: float = 5.0) -> None:
        self.path = path
        self.current = rules
        self.loaded_at = now
        self.reload_seconds = reload_seconds  # how often `watch` checks the file
        self.refused: Refusal | None = None

    @classmethod
    def load(cls, path: Path, *, reload_seconds: float = 5.0) -> RulesInForce:
        """The rules at start: a broken or missing file is an error (there is nothing to keep
        in force yet)."""
        rules = load_rules(path)
        log.info("routing rules %s loaded from %s", rules.version, path)
        return cls(path, rules, utcnow(), reload_seconds=reload_seconds)

    @classmethod
    def from_settings(cls, settings: RouterSettings) -> RulesInForce:
        return cls.load(settings.rules_file, reload_seconds=settings.rules_reload_seconds)

    def refresh(self) -> bool:
        """Re-reads the file; True when new rules came into force."""
        try:
            data = self.path.read_bytes()
        except OSError as e:
            self._refuse(None, RulesError(str(self.path), [
                Problem(None, None, f"cannot read it: {e.strerror}")]))
            return False
        version = rules_version(data)
        if version == self.current.version:
            if self.refused is not None:
                log.info("routing rules file %s is back to the rules in force (%s)",
                         self.path, version)
                self.refused = None
            return False
        if self.refused is not None and self.refused.version == version:
            return False  # refused already; said so once
        try:
            rules = parse_rules(data, str(self.path))
        except RulesError as e:
            self._refuse(version, e)
            return False
        log.info("routing rules %s replaced by %s from %s",
                 self.current.version, rules.version, self.path)
        self.current, self.loaded_at, self.refused = rules, utcnow(), None
        return True

    def _refuse(self, version: str | None, error: RulesError) -> None:
        if self.refused is not None and self.refused.version == version \
                and str(self.refused.error) == str(error):
            return
        self.refused = Refusal(version, utcnow(), error)
        log.error("%s; the rules in force (%s) stay in force", error, self.current.version)

    async def watch(self) -> None:
        """Refreshes every `reload_seconds` until cancelled."""
        while True:
            await asyncio.sleep(self.reload_seconds)
            try:
                self.refresh()
            except Exception:  # a bug here must not stop the watching
                log.exception("checking the routing rules file %s failed", self.path)

    def status(self) -> dict[str, object]:
        refused = self.refused
        return {
            "file": str(self.path),
            "version": self.current.version,
            "loaded_at": self.loaded_at.isoformat(),
            "refused": None if refused is None else {
                "version": refused.version,
                "at": refused.at.isoformat(),
                "error": str(refused.error),
                "problems": [{"line": p.line, "field": p.field, "message": p.message}
                             for p in refused.error.problems],
            },
        }
