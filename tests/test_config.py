import errno
import json
import os

import pytest

from helpers import config
from helpers.errors import WorkbookError

from .conftest import leftover_files


def test_create_and_load_round_trip(workspace_root):
    cfg = config.create_field("f1", ra="03:32:39.0", dec="-27:47:29.1", radius_arcmin=2.5, epoch=2027.5)
    assert cfg.config_file == workspace_root / "f1" / "field.json"
    assert cfg.ra == pytest.approx(53.1625, abs=1e-6)
    assert cfg.dec == pytest.approx(-27.791417, abs=1e-6)
    loaded = config.load_field("f1")
    assert loaded.to_dict() == cfg.to_dict()
    loaded.update(pointing={"ra": 53.16, "dec": -27.79, "apa": 45.0})
    assert config.load_field(workspace_root / "f1").pointing["apa"] == 45.0


def test_demo_name_resolves_offline():
    coord = config.resolve_target("Hubble Ultra Deep Field")
    assert coord.ra.deg == pytest.approx(config.DEMO_FIELD["ra"])


@pytest.mark.parametrize("kwargs, message", [
    (dict(target="NGC 104"), "cannot resolve target name 'NGC 104' offline; give ra and dec, or set live=True"),
    (dict(ra=361.0, dec=0.0), "ra = 361 deg is outside [0, 360)"),
    (dict(ra=10.0, dec=-91.0), "dec = -91 deg is outside [-90, 90]"),
    (dict(ra="12:xx:00", dec="10:00:00"), "could not read coordinates ra='12:xx:00'"),
    (dict(ra=10.0, dec=None), "both ra and dec are needed"),
    (dict(ra=float("nan"), dec=1.0), "ra is nan; give a finite number"),
    (dict(ra=10.0, dec=1.0, radius_arcmin=0), "radius_arcmin = 0 must be positive"),
    (dict(ra=10.0, dec=1.0, radius_arcmin=-3), "radius_arcmin = -3 must be positive"),
    (dict(ra=10.0, dec=1.0, radius_arcmin=90), "exceeds MPT's 1 degree catalog limit"),
    (dict(ra=10.0, dec=1.0, radius_arcmin="big"), "radius_arcmin = 'big' is not a number"),
    (dict(ra=10.0, dec=1.0, epoch=1850), "epoch = 1850 is not a decimal year"),
])
def test_bad_input_is_one_line_and_writes_nothing(kwargs, message, workspace_root):
    with pytest.raises(WorkbookError) as info:
        config.create_field("bad", **kwargs)
    text = str(info.value)
    assert message in text
    assert "\n" not in text
    assert leftover_files(workspace_root) == []


def test_bad_field_name():
    with pytest.raises(WorkbookError, match="not usable as a directory name"):
        config.create_field("../escape", ra=1, dec=1)


def test_unresolvable_name_live(monkeypatch):
    from astropy.coordinates import SkyCoord
    from astropy.coordinates.name_resolve import NameResolveError

    def fail(*args, **kwargs):
        raise NameResolveError("Unable to find coordinates for name 'Nowhere Galaxy'")

    monkeypatch.setattr(SkyCoord, "from_name", classmethod(lambda cls, *a, **k: fail()))
    with pytest.raises(WorkbookError, match="could not be resolved by Sesame; check the spelling or give ra and dec"):
        config.resolve_target("Nowhere Galaxy", live=True)


def test_unwritable_workspace(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    with pytest.raises(WorkbookError, match="choose another workspace|could not write"):
        config.create_field("f", ra=1, dec=1, workspace_root=blocker / "sub")


def test_no_half_written_configuration(monkeypatch, workspace_root):
    cfg = config.create_field("f2", ra=1, dec=1)
    before = cfg.config_file.read_text()

    def disk_full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(WorkbookError, match="no space left on the device"):
        cfg.update(pointing={"ra": 1.0, "dec": 1.0, "apa": 10.0})
    monkeypatch.undo()
    assert cfg.config_file.read_text() == before
    assert [p.name for p in leftover_files(workspace_root / "f2")] == ["field.json"]


def test_missing_configuration_message(workspace_root):
    with pytest.raises(WorkbookError) as info:
        config.load_field("never-made")
    assert "run notebook 00 (00_setup_field) for field 'never-made' first" in str(info.value)


def test_corrupt_configuration_message(workspace_root):
    path = workspace_root / "broken" / "field.json"
    path.parent.mkdir(parents=True)
    path.write_text("{ not json")
    with pytest.raises(WorkbookError, match="is unreadable .* re-run notebook 00"):
        config.load_field("broken")


def test_refuses_to_replace_existing_field_when_asked(workspace_root):
    config.create_field("f3", ra=1, dec=1)
    with pytest.raises(WorkbookError, match="already exists"):
        config.create_field("f3", ra=2, dec=2, overwrite=False)
    assert json.loads((workspace_root / "f3" / "field.json").read_text())["ra"] == 1.0
