"""Where edgetui keeps its data, config, database and models (platformdirs; EDGETUI_HOME overrides all)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "edgetui"


@dataclass(frozen=True)
class Paths:
    """Resolved directories; build with `Paths.from_env()` at start-up, never at import."""

    data_dir: Path
    config_dir: Path
    cache_dir: Path

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Paths:
        env = os.environ if environ is None else environ
        home = env.get("EDGETUI_HOME")
        if home:
            root = Path(home).expanduser()
            return cls(data_dir=root, config_dir=root, cache_dir=root / "cache")
        import platformdirs

        return cls(
            data_dir=Path(platformdirs.user_data_dir(APP_NAME)),
            config_dir=Path(platformdirs.user_config_dir(APP_NAME)),
            cache_dir=Path(platformdirs.user_cache_dir(APP_NAME)),
        )

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "edgetui.db"

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    def ensure(self) -> Paths:
        """Create the directories that can be created; a read-only location is left for callers to report."""
        for d in (self.data_dir, self.models_dir, self.cache_dir, self.config_dir):
            try:
                d.mkdir(parents=True, exist_ok=True)
            except OSError:
                pass
        return self
