"""Baseline files: the known, documented failures of one target, so CI gates on regressions.

```yaml
target: traefik            # informative
known_failures:
  - case: path_rules/prefix_docs_table[prefix-aaa-bbb-not-aaa-bbbxyz]
    reason: string-prefix matching unless strictPrefixMatching is set
    link: https://doc.traefik.io/...
```

A listed case runs as xfail: its failure is reported as `xfailed` with the reason and does
not fail the run; if it passes, the report says the entry can go."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml


class BaselineError(Exception):
    """The baseline file is missing or malformed; the message says where."""


@dataclass(frozen=True)
class KnownFailure:
    case: str
    reason: str
    link: str | None = None


@dataclass(frozen=True)
class Baseline:
    path: str
    target: str | None
    entries: dict[str, KnownFailure]

    def entry(self, case_id: str) -> KnownFailure | None:
        return self.entries.get(case_id)

    @classmethod
    def load(cls, path: str | Path) -> Baseline:
        try:
            data = yaml.safe_load(Path(path).read_text())
        except OSError as exc:
            raise BaselineError(f"baseline {path}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise BaselineError(f"baseline {path}: not YAML: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("known_failures", []), list):
            raise BaselineError(f"baseline {path}: expected a mapping with a "
                                "`known_failures` list")
        entries: dict[str, KnownFailure] = {}
        for index, raw in enumerate(data.get("known_failures") or []):
            where = f"baseline {path}: known_failures[{index}]"
            if not isinstance(raw, dict) or not isinstance(raw.get("case"), str):
                raise BaselineError(f"{where}: needs `case` (a case id from the report)")
            if not isinstance(raw.get("reason"), str) or not raw["reason"].strip():
                raise BaselineError(f"{where} ({raw['case']}): needs a `reason`")
            entries[raw["case"]] = KnownFailure(raw["case"], raw["reason"].strip(),
                                                raw.get("link"))
        return cls(str(path), data.get("target"), entries)
