"""The backend id (tag ``trainctl:backend``): one per backend, the same for every spelling of its URL."""

from __future__ import annotations

from pathlib import Path

from orchestrator.jobs.backend import backend_id


def test_spellings_of_one_backend_share_an_id() -> None:
    """Case of scheme and bucket, a trailing '/', and query parameters (endpoint, region) do not change the id."""
    same = {
        backend_id("s3://team-state/ml"),
        backend_id("s3://team-state/ml/"),
        backend_id("S3://Team-State/ml?region=us-east-1&endpoint=http://127.0.0.1:5000"),
    }
    assert len(same) == 1 and len(same.pop()) == 12


def test_a_file_backend_is_named_by_its_real_path(tmp_path: Path) -> None:
    """A file:// backend reached through a symbolic link has the id of its real directory."""
    real = tmp_path / "state"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    assert backend_id(f"file://{tmp_path / 'link'}") == backend_id(f"file://{real}/")


def test_different_backends_have_different_ids(tmp_path: Path) -> None:
    """Another bucket, another prefix, another directory: another id."""
    ids = {
        backend_id("s3://team-state/ml"),
        backend_id("s3://team-state/nlp"),
        backend_id("s3://other-state/ml"),
        backend_id(f"file://{tmp_path / 'a'}"),
        backend_id(f"file://{tmp_path / 'b'}"),
    }
    assert len(ids) == 5
