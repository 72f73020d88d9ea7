"""The chain's command line (#18): quiet kernels, whole error causes, advice in CLI flags."""

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from helpers import chain
from helpers.errors import WorkbookError


def test_cli_message_names_flags_and_only_workable_offline_advice():
    offline_target = "cannot resolve target name 'M101' offline; give ra and dec, or set live=True to ask Sesame"
    assert chain.cli_message(offline_target).endswith("or add --live to ask Sesame")
    replay = ("offline (live=False) only the demo field near the HUDF is replayed; for (150.10000, +2.20000) "
              "set live=True in notebook 00 to query MAST")
    assert chain.cli_message(replay).endswith("add --live to query MAST") and "notebook" not in chain.cli_message(replay)
    net = ("MAST query failed after 3 attempts (ConnectionError: HTTPSConnectionPool(host='mast.stsci.edu', port=443): "
           "Max retries exceeded); check the network and try again later, or work offline with live=False "
           "(replayed demo data)")
    own = chain.cli_message(net, demo=False, live=True)
    assert "live=False" not in own and "--image" in own and "host='mast.stsci.edu'" in own
    assert "--image" not in chain.cli_message(net, demo=True) and "without --live" in chain.cli_message(net, demo=True)


def test_chain_kernel_is_quiet_and_keeps_the_whole_cause(tmp_path, capfd):
    pytest.importorskip("papermill")
    nb_dir = tmp_path / "nbs"
    nb_dir.mkdir()
    cause = "HTTPSConnectionPool(host='mast.stsci.edu', port=443): " + "x" * 150 + " Name or service not known"
    nb = new_notebook(cells=[new_code_cell("field = None\nworkspace_root = None", metadata={"tags": ["parameters"]}),
                             new_code_cell(f"raise ConnectionError({cause!r})")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, nb_dir / "00_fail.ipynb")
    with pytest.raises(WorkbookError) as err:
        chain.run_chain({"field": "quiet"}, workspace_root=tmp_path / "ws", notebook_dir=nb_dir, log=lambda *a: None)
    assert cause in str(err.value)  # not cut at 120 characters
    captured = capfd.readouterr()
    noise = captured.err + captured.out
    assert "without encryption" not in noise and "KeyboardInterrupt" not in noise, noise[-1500:]
    assert not list(nb_dir.glob("kernel-*")), "IPC socket files left next to the notebooks"


def test_notebook_parameters_reach_their_notebook_and_the_demo_fetches_the_members(tmp_path, monkeypatch):
    """--demo gives notebook 01 download_exposures = DEMO_EXPOSURES (the replay serves the members, so notebook
    02 runs the joint fit); a notebook's parameters reach that notebook only; malformed ones are refused first."""
    pytest.importorskip("papermill")
    nb_dir = tmp_path / "nbs"
    nb_dir.mkdir()
    for name in ("00_a", "01_b"):
        nb = new_notebook(cells=[
            new_code_cell("field = None\nworkspace_root = None\ndownload_exposures = False",
                          metadata={"tags": ["parameters"]}),
            new_code_cell(f"import pathlib\npathlib.Path(workspace_root, '{name}.txt').write_text(str(download_exposures))")])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
        nbformat.write(nb, nb_dir / f"{name}.ipynb")
    ws = tmp_path / "ws"
    chain.run_chain({"field": "p"}, workspace_root=ws, notebook_dir=nb_dir, log=lambda *a: None,
                    notebook_parameters={"01": {"download_exposures": True}})
    assert (ws / "00_a.txt").read_text() == "False" and (ws / "01_b.txt").read_text() == "True"
    for bad, words in (({"1": {}}, "is not {'NN'"), ({"01": True}, "is not {'NN'"), ({"00": {"x": 1}}, "field_parameters")):
        with pytest.raises(WorkbookError, match=words):
            chain.run_chain({"field": "q"}, workspace_root=tmp_path / "ws2", notebook_dir=nb_dir, log=lambda *a: None,
                            notebook_parameters=bad)
    assert not (tmp_path / "ws2").exists()  # refused before anything was created
    seen = {}
    monkeypatch.setattr(chain, "run_chain", lambda params, **kw: seen.update(kw) or {})
    assert chain.main(["--demo", "--workspace-root", str(tmp_path / "ws3")]) == 0
    assert chain.DEMO_EXPOSURES is True
    assert seen["notebook_parameters"] == {"01": {"download_exposures": True}}
    assert chain.main(["--field", "f", "--ra", "150.1", "--dec", "2.2", "--workspace-root", str(tmp_path / "w4")]) == 0
    assert seen["notebook_parameters"] is None  # another field downloads its members only when asked
