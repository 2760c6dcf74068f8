"""Output folders: a command replaces only what it owns, atomically, and leaves nothing half-written."""

import os
import subprocess
import sys
import threading

import pytest

from aimcgen.staging import OutputError, staged_directory, staged_entries


def test_entries_replace_only_their_namesakes(tmp_path):
    design = tmp_path / "aimc"
    (design / "evaluation").mkdir(parents=True)
    (design / "evaluation" / "report.json").write_text("{}")
    (design / "rtl").mkdir()
    (design / "rtl" / "stale.v").write_text("old")
    with staged_entries(design, ["rtl", "spec.toml"]) as tmp:
        (tmp / "rtl").mkdir()
        (tmp / "rtl" / "new.v").write_text("new")
        (tmp / "spec.toml").write_text("x")
    assert (design / "evaluation" / "report.json").read_text() == "{}"
    assert sorted(p.name for p in (design / "rtl").iterdir()) == ["new.v"]
    assert sorted(p.name for p in design.iterdir()) == ["evaluation", "rtl", "spec.toml"]


def test_failure_leaves_the_old_output(tmp_path):
    final = tmp_path / "out"
    final.mkdir()
    (final / "a").write_text("kept")
    with pytest.raises(RuntimeError), staged_directory(final) as tmp:
        (tmp / "a").write_text("half")
        raise RuntimeError("stop")
    assert (final / "a").read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("kind", ["file", "link", "dangling link"])
def test_output_path_of_the_wrong_kind_is_refused(tmp_path, kind):
    final = tmp_path / "out"
    if kind == "file":
        final.write_text("mine")
    elif kind == "link":
        (tmp_path / "elsewhere").mkdir()
        final.symlink_to(tmp_path / "elsewhere")
    else:
        final.symlink_to(tmp_path / "missing")
    with pytest.raises(OutputError, match="out"):
        with staged_directory(final) as tmp:
            (tmp / "a").write_text("x")
    assert final.is_symlink() or final.read_text() == "mine"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "a staging folder was left behind"


def test_parent_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "build").write_text("")
    with pytest.raises(OutputError, match="is a file"):
        with staged_directory(tmp_path / "build" / "aimc"):
            pass


def test_killed_run_is_cleaned_and_its_swap_undone(tmp_path):
    """A run killed between the two renames of its swap: the old entry is put back, the staging removed."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale = tmp_path / f".out.{dead}.abcdefgh.staging"
    (stale / "old" / "out").mkdir(parents=True)
    (stale / "old" / "out" / "a").write_text("previous")
    other = tmp_path / f".out.{os.getpid()}.zzzzzzzz.staging"      # our own pid: a live run, left alone
    other.mkdir()
    with staged_directory(tmp_path / "sibling") as tmp:
        (tmp / "b").write_text("x")
    assert (tmp_path / "out" / "a").read_text() == "previous"
    assert not stale.exists() and other.exists()


def test_runs_finishing_together_both_succeed(tmp_path):
    final, errors = tmp_path / "out", []

    def run(i):
        try:
            for _ in range(25):         # many swaps, so that checks meet other runs' swaps in flight
                with staged_directory(final) as tmp:
                    (tmp / "who").write_text(str(i))
        except BaseException as e:          # noqa: BLE001 - collected for the assertion
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert (final / "who").read_text() in {str(i) for i in range(8)}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_failed_first_run_leaves_no_empty_folders(tmp_path):
    with pytest.raises(RuntimeError), staged_directory(tmp_path / "build" / "aimc" / "evaluation"):
        raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []
