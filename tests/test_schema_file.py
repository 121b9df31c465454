"""schema/schema.graphql is what clients build against: it must equal what the code exports."""

import os
import subprocess
import sys
from pathlib import Path

SCHEMA = Path(__file__).resolve().parents[1] / "schema" / "schema.graphql"


def test_exported_schema_is_current(tmp_path):
    env = {**os.environ, "SAFETYNET_DATABASE_URL": f"sqlite:///{tmp_path}/s.db", "SAFETYNET_SECRET_KEY": "k"}
    env.pop("SAFETYNET_DISABLE_PLUGINS", None)
    out = subprocess.run(
        [sys.executable, "-m", "safetynet.cli", "schema"], capture_output=True, text=True, env=env, check=True
    ).stdout
    assert out == SCHEMA.read_text(encoding="utf-8"), (
        "schema/schema.graphql is stale: run `uv run safetynet schema > schema/schema.graphql`"
    )
