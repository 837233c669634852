"""The em-bayes command: output on the seed data, and one clear line for every bad input."""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import inference.cli
from inference.cli import main


def disk_full_after(monkeypatch, n_bytes: int) -> None:
    """Make every file the project writes fill up after ``n_bytes``, as a full disk does."""
    import errno

    from inference import io

    real_fdopen = io.os.fdopen

    class Filling:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, content):
            self.handle.write(content[:n_bytes])
            raise OSError(errno.ENOSPC, "No space left on device", self.handle.name)

    monkeypatch.setattr(io.os, "fdopen", lambda handle, mode: Filling(real_fdopen(handle, mode)))


def run(capsys, *argv):
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def run_error(capsys, *argv):
    """Run a command that must fail on its input; return its one-line message."""
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("em-bayes: error: "), err
    return lines[0]


def test_fit_two_coins_prints_the_seed_fixed_point(capsys):
    status, out, _ = run(capsys, "fit", "two-coins")
    assert status == 0
    assert "0.5195" in out and "0.7967" in out and "(converged)" in out


def test_fit_two_coins_json(capsys):
    status, out, _ = run(capsys, "fit", "two-coins", "--prior", "2,2", "--json")
    result = json.loads(out)
    assert status == 0 and result["converged"]
    assert result["params"]["theta"] == pytest.approx([0.51986, 0.76324], abs=1e-4)


def test_fit_reads_a_csv(capsys, tmp_path):
    path = tmp_path / "coins.csv"
    path.write_text("heads,flips\n5,10\n9,10\n8,10\n4,10\n7,10\n")
    status, out, _ = run(capsys, "fit", "two-coins", "--data", str(path), "--json")
    assert status == 0
    assert json.loads(out)["params"]["theta"] == pytest.approx([0.519583, 0.796789], abs=1e-5)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--heads", "5,11"], "heads: 11 heads exceed 10 flips"),
        (["--heads", "5,-1"], "heads: counts must be non-negative"),
        (["--heads", "5,2.5"], "heads: counts must be whole numbers"),
        (["--heads", "5,nan"], "heads: contains NaN"),
        (["--heads", "5,6", "--flips", "10,10,10"], "flips: length 3 does not match"),
        (["--heads", "5,6", "--flips", "0"], "flips: every experiment needs at least one flip"),
        (["--heads", "5", "--coins", "2"], "n_components: 2 components need at least as many experiments"),
    ],
)
def test_bad_values_get_one_line(capsys, argv, message):
    assert message in run_error(capsys, "fit", "two-coins", *argv)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("heads,flips\n5,10\n9\n", "line 3 has 1 fields, the header has 2"),
        ("heads,flips\n5,10,1\n", "line 2 has 3 fields, the header has 2"),
        ("heads,flips\n", "has a header but no rows"),
        ("", "is empty"),
        ("heads,flops\n5,10\n", "lacks column(s) ['flips']"),
        ("heads,flips\nfive,10\n", "column 'heads' in"),
        ('heads,flips\n"5,10\n', "does not parse as CSV"),
        ("heads,flips\n5,10\n\n9\n", "line 4 has 1 fields, the header has 2"),
        ("heads,flips\n5,10\n9,\n", "1 missing cell(s)"),
        ("heads,flips\n5,10\n9,NA\n", "the first in column 'flips' (row 2: 'NA'); every experiment needs"),
        ("heads,flips\n5,10\n9,inf\n", "--data: column 'flips' in"),
        ("heads,flips\n5,10\n9,inf\n", "holds an infinite value (row 2: 'inf')"),
        ("heads,flips,heads\n5,10,1\n9,10,2\n", "--data: "),
        ("heads,flips,heads\n5,10,1\n9,10,2\n", "duplicate column 'heads'"),
        ("heads, flips,flips \n5,10,1\n", "duplicate column 'flips'"),
    ],
)
def test_bad_files_get_one_line(capsys, tmp_path, content, message):
    path = tmp_path / "data.csv"
    path.write_text(content)
    assert message in run_error(capsys, "fit", "two-coins", "--data", str(path))


def test_a_byte_order_mark_before_the_header_is_ignored(capsys, tmp_path):
    path = tmp_path / "coins.csv"
    path.write_text("heads,flips\n5,10\n9,10\n8,10\n4,10\n7,10\n", encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbfheads")
    status, out, _ = run(capsys, "fit", "two-coins", "--data", str(path), "--json")
    assert status == 0
    assert json.loads(out)["params"]["theta"] == pytest.approx([0.519583, 0.796789], abs=1e-5)


def test_missing_file_and_directory(capsys, tmp_path):
    assert "no such file" in run_error(capsys, "fit", "two-coins", "--data", str(tmp_path / "nope.csv"))
    assert "is a directory" in run_error(capsys, "fit", "two-coins", "--data", str(tmp_path))


@pytest.mark.parametrize(
    "argv",
    [
        ["fit", "two-coins", "--coins", "0"],
        ["fit", "two-coins", "--prior", "0,1"],
        ["fit", "two-coins", "--prior", "2"],
        ["fit", "two-coins", "--heads", "5,x"],
        ["fit", "two-coins", "--unknown"],
        ["fit", "three-coins"],
    ],
)
def test_malformed_arguments_exit_2_with_usage(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


@pytest.mark.parametrize(("command", "value"), [("fit", "-1"), ("fit", "x"), ("grow", "-1")])
def test_a_negative_seed_is_refused_by_name(capsys, command, value):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "two-coins", "--seed", value])
    assert exit_info.value.code == 2
    assert f"argument --seed: expected a whole number >= 0, got '{value}'" in capsys.readouterr().err


def test_output_folder_is_checked_before_any_sampling(capsys, tmp_path):
    message = run_error(capsys, "compare", "two-coins", "--output", str(tmp_path / "missing" / "out.nc"))
    assert "--output: folder" in message and "does not exist" in message


@pytest.mark.slow
def test_compare_two_coins_writes_table_and_file(capsys, tmp_path):
    path = tmp_path / "seed.nc"
    status, out, _ = run(
        capsys, "compare", "two-coins", "--draws", "200", "--tune", "200", "--chains", "2", "--output", str(path)
    )
    assert status == 0
    assert out.startswith("Verdict: EM's MAP and PyMC's MAP agree")
    assert "\n\nParameters: EM (MLE, MAP)" in out
    assert "em_mle" in out and "0.519583" in out and "0.796789" in out
    assert path.exists() and [p.name for p in tmp_path.iterdir()] == ["seed.nc"]
    assert path.stat().st_mode & 0o777 == 0o644


@pytest.mark.slow
def test_pymcs_progress_table_goes_to_stderr_not_with_the_results(capsys):
    # PyMC's sampler draws its progress table on stdout; the command's stdout is its results alone.
    status, out, err = run(
        capsys, "compare", "two-coins", "--sampler", "pymc", "--draws", "50", "--tune", "50", "--chains", "1"
    )
    assert status == 0
    assert out.startswith("Verdict: ") and "draws/s" not in out
    assert "r_hat needs at least two chains and was not checked" in out
    assert "draws/s" in err


def test_saved_netcdf_is_readable_by_all(tmp_path):
    import xarray as xr

    from inference.io import write_netcdf

    path = tmp_path / "tree.nc"
    write_netcdf(xr.DataTree(xr.Dataset({"theta": ("coin", [0.3, 0.7])})), path)
    assert path.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["tree.nc"]


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "em-bayes"
    result = subprocess.run(
        [script, "fit", "two-coins", "--json"], capture_output=True, text=True, env=os.environ, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["converged"]


@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "unbuffered"])
def test_a_reader_that_leaves_early_ends_the_command_quietly(unbuffered):
    """``em-bayes fit two-coins | head -1``: no traceback, exit status 141 (128 + SIGPIPE).

    Buffered, the closed pipe is met when the output is flushed; unbuffered, by the first print.
    """
    env = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    script = Path(sys.executable).parent / "em-bayes"
    process = subprocess.Popen(
        [script, "fit", "two-coins"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    process.stdout.close()  # the reader leaves before the command has printed anything
    _, err = process.communicate(timeout=60)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert process.returncode == 141, err


# --- Gaussian mixtures -------------------------------------------------------------


def test_fit_gmm_on_the_default_data(capsys):
    status, out, _ = run(capsys, "fit", "gmm", "--json")
    result = json.loads(out)
    assert status == 0 and result["best"]["converged"]
    # The default data were drawn with means -2.5, 0.5 and 4.
    np.testing.assert_allclose(np.ravel(result["best"]["params"]["means"]), [-2.5, 0.5, 4.0], atol=0.2)


def test_fit_gmm_bic_table_marks_the_best(capsys):
    status, out, _ = run(capsys, "fit", "gmm", "--components", "1-4", "--covariance", "diag")
    assert status == 0
    best_line = next(line for line in out.splitlines() if "<- lowest BIC" in line)
    assert best_line.split()[0] == "3"


def test_fit_gmm_reads_chosen_columns(capsys, tmp_path):
    path = tmp_path / "data.csv"
    rows = "\n".join(f"{i % 7},{(i * 3) % 11},label{i}" for i in range(30))
    path.write_text("a,b,name\n" + rows + "\n")
    status, out, _ = run(capsys, "fit", "gmm", "--data", str(path), "--columns", "a,b", "--components", "2", "--json")
    assert status == 0
    assert np.shape(json.loads(out)["best"]["params"]["means"]) == (2, 2)


@pytest.mark.parametrize(
    ("content", "argv", "message"),
    [
        ("a,b\n1,x\n2,3\n", [], "column 'b'"),
        ("a,b\n1,2\n3,\n5,6\n", [], "--data: 1 missing cell(s)"),
        ("a,b\n1,2\n3,\n5,6\n", [], "the first in column 'b' (row 2: ''); pass --missing em"),
        ("a,b\n1,inf\n3,4\n5,6\n", [], "--data: column 'b' in"),
        ("a,b\n1,inf\n3,4\n5,6\n", [], "holds an infinite value (row 1: 'inf')"),
        ("a,b\n1,\n3,\n5,\n", ["--missing", "em"], "--data: column 'b' in"),
        ("a,b\n1,\n3,\n5,\n", ["--missing", "em"], "has no values, every cell is missing"),
        ("a,b,a\n1,2,3\n2,3,1\n5,1,2\n", [], "--data: "),
        ("a,b,a\n1,2,3\n2,3,1\n5,1,2\n", [], "duplicate column 'a'"),
        ("a,b\n1,2\n3,4\n", ["--components", "3"], "--components: 3 components need at least as many rows, got 2"),
        ("a,b\n1,2\n1,4\n1,5\n", ["--components", "1"], "--data: column 'a' is constant"),
        ("a,b\n1,2\n3,4\n", ["--columns", "a,c"], "--columns: ['c'] not in"),
    ],
)
def test_gmm_bad_data_gets_one_line(capsys, tmp_path, content, argv, message):
    path = tmp_path / "data.csv"
    path.write_text(content)
    assert message in run_error(capsys, "fit", "gmm", "--data", str(path), *argv)


def test_gmm_unknown_covariance_type_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "gmm", "--covariance", "banded"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'banded'" in capsys.readouterr().err


@pytest.mark.slow
def test_compare_gmm_prints_the_table(capsys):
    status, out, _ = run(capsys, "compare", "gmm", "--draws", "300", "--tune", "300", "--chains", "2", "--seed", "1")
    assert status == 0
    assert "means[2, 0]" in out and "pymc_map" in out and "converged" in out


def test_fit_gmm_fills_missing_marks_by_default(capsys):
    status, out, _ = run(capsys, "fit", "gmm", "--missing", "em", "--json")
    result = json.loads(out)
    assert status == 0 and result["best"]["converged"]
    assert np.shape(result["best"]["params"]["means"]) == (1, 3)


def test_fit_gmm_reads_empty_and_na_cells_as_missing(capsys, tmp_path):
    path = tmp_path / "marks.csv"
    rng = np.random.default_rng(0)
    rows = [[f"{v:.1f}" for v in row] for row in rng.normal(50, 10, size=(20, 2))]
    rows[3][1], rows[7][0], rows[11][1] = "", "NA", "nan"
    path.write_text("a,b\n" + "\n".join(",".join(row) for row in rows) + "\n")
    message = run_error(capsys, "fit", "gmm", "--data", str(path), "--components", "1")
    assert "--data: 3 missing cell(s)" in message and "the first in column 'b' (row 4: '')" in message
    status, _, _ = run(capsys, "fit", "gmm", "--data", str(path), "--components", "1", "--missing", "em")
    assert status == 0


def test_duplicate_columns_stop_compare_before_any_sampling(capsys, tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,b,a\n1,2,3\n2,3,1\n5,1,2\n")
    message = run_error(capsys, "compare", "gmm", "--data", str(path))
    assert message.startswith("em-bayes: error: --data: ") and "duplicate column 'a'" in message


def test_map_with_missing_cells_reports_the_observed_log_likelihood(capsys):
    from scipy import stats

    from models.marks import class_marks

    status, out, _ = run(capsys, "fit", "gmm", "--missing", "em", "--prior", "default", "--json")
    assert status == 0
    fit = json.loads(out)
    row = fit["fits"][0]
    # One component: each row's observed cells are normal with the sub-vector and sub-matrix of the MAP.
    mean, covariance = np.array(fit["best"]["params"]["means"][0]), np.array(fit["best"]["params"]["covariances"][0])
    expected = 0.0
    for values in class_marks().x:
        seen = ~np.isnan(values)
        expected += stats.multivariate_normal(mean[seen], covariance[np.ix_(seen, seen)]).logpdf(values[seen])
    assert row["log_likelihood"] == pytest.approx(expected, rel=1e-10)
    assert row["log_likelihood"] > row["log_posterior"]
    assert row["bic"] == pytest.approx(-2 * expected + 9 * np.log(30), rel=1e-10)


def test_json_holds_null_and_no_best_mark_without_a_finite_bic(capsys, monkeypatch):
    import inference.cli

    monkeypatch.setattr(inference.cli, "_log_likelihood", lambda fit, x: np.nan)
    status, out, _ = run(capsys, "fit", "gmm", "--components", "1-2", "--prior", "default", "--json")
    assert status == 0
    rows = json.loads(out, parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))["fits"]
    assert [(row["log_likelihood"], row["bic"]) for row in rows] == [(None, None), (None, None)]
    status, out, _ = run(capsys, "fit", "gmm", "--components", "1-2", "--prior", "default")
    assert status == 0 and "components" in out
    assert "<- lowest BIC" not in out


def test_fit_reports_distinct_optima(capsys):
    # Heads 1, 5, 9 three times over: two mirror-image optima of equal likelihood.
    status, out, _ = run(capsys, "fit", "two-coins", "--heads", "1,5,9,1,5,9,2,5,8", "--estimate-weights")
    assert status == 0
    assert "reached 2 distinct optima" in out


def test_fit_reports_a_single_optimum(capsys):
    status, out, _ = run(capsys, "fit", "two-coins")
    assert "All 10 starts reached one optimum." in out


@pytest.mark.slow
def test_choose_two_coins_tabulates_bic_and_loo(capsys):
    status, out, _ = run(
        capsys, "choose", "two-coins", "--max-components", "2", "--draws", "200", "--tune", "200", "--chains", "2", "--json"
    )
    assert status == 0
    rows = json.loads(out)
    assert [row["components"] for row in rows] == [1, 2]
    assert {"bic", "aic", "elpd_loo", "best_by_bic", "best_by_loo"} <= set(rows[0])


def test_warnings_are_one_line_each_on_stderr(capsys, tmp_path):
    path = tmp_path / "few.csv"
    path.write_text("a\n1\n1\n2\n2\n3\n3\n1\n2\n")
    status, _, err = run(capsys, "fit", "gmm", "--data", str(path), "--components", "5")
    assert status == 0
    lines = err.strip().splitlines()
    assert lines[0].startswith("em-bayes: warning: n_components: 5 components but only 3 distinct rows")
    assert all(line.startswith("em-bayes: warning: ") for line in lines), err


def test_output_naming_the_input_a_folder_or_too_long_a_name_is_refused_before_work(capsys, tmp_path):
    data = tmp_path / "x.csv"
    data.write_text("a\n1\n2\n3\n4\n")
    before = data.read_bytes()
    message = run_error(capsys, "compare", "gmm", "--data", str(data), "--output", str(data))
    assert message == f"em-bayes: error: --output: {data} is the input file; choose another name"
    assert data.read_bytes() == before
    message = run_error(capsys, "compare", "gmm", "--output", f"{tmp_path}/name/")
    assert message.endswith("ends with a separator; name a file")
    message = run_error(capsys, "compare", "gmm", "--output", str(tmp_path / ("a" * 250 + ".nc")))
    assert "is too long: at most" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.csv"]


def test_unreadable_or_too_long_data_paths_are_one_line(capsys, tmp_path, monkeypatch):
    message = run_error(capsys, "fit", "gmm", "--data", str(tmp_path / ("a" * 300 + ".csv")))
    assert message.startswith("em-bayes: error: --data: cannot read") and message.endswith("(File name too long)")
    data = tmp_path / "x.csv"
    data.write_text("a\n1\n2\n")

    def refuse(*args, **kwargs):
        # As an unreadable file answers; the tests run as root, whom permissions do not stop.
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(type(data), "open", refuse)
    message = run_error(capsys, "fit", "gmm", "--data", str(data))
    assert message == f"em-bayes: error: --data: cannot read {data} (Permission denied)"


@pytest.mark.slow
def test_all_heads_merge_the_coins_and_the_comparison_still_runs(capsys):
    # EM's MAP puts both coins at 21/22, which the ordered theta cannot hold: NUTS and
    # PyMC's optimizer start from it nudged into the interior, and the verdict says so.
    status, out, _ = run(
        capsys, "compare", "two-coins", "--heads", "10,10,10,10", "--draws", "100", "--tune", "100", "--chains", "2"
    )
    assert status == 0
    assert out.startswith("Verdict: EM's MAP and PyMC's MAP agree")
    assert "nudged into the interior" in out and "nan" not in out.lower()


def test_counts_beyond_2_53_are_refused_on_the_command_line_and_in_csv(capsys, tmp_path):
    # 2**53 + 1 as a float is 2**53: read as text, it is refused instead of rounded.
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "two-coins", "--heads", "9007199254740993", "--flips", "9007199254740993"])
    assert exit_info.value.code == 2
    assert "argument --heads: counts must be at most 2**53 = 9007199254740992" in capsys.readouterr().err
    path = tmp_path / "big.csv"
    path.write_text("heads,flips\n5,10\n9007199254740993,9007199254740993\n")
    message = run_error(capsys, "fit", "two-coins", "--data", str(path))
    assert message.endswith("holds 9007199254740993 (row 2), beyond 2**53 = 9007199254740992, the largest count float64 holds exactly")
    path.write_text("heads,flips\n9007199254740992,9007199254740992\n")
    assert run(capsys, "fit", "two-coins", "--data", str(path), "--coins", "1")[0] == 0


def test_a_column_named_twice_is_refused(capsys, tmp_path):
    path = tmp_path / "two.csv"
    path.write_text("a,b\n1,2\n2,1\n3,5\n")
    message = run_error(capsys, "fit", "gmm", "--data", str(path), "--columns", "a,a")
    assert message == "em-bayes: error: --columns: 'a' is named twice in ['a', 'a']; name each column once"


def test_one_chain_is_a_note_that_r_hat_was_not_checked_not_a_false_alarm(capsys):
    from types import SimpleNamespace

    import pandas as pd
    import xarray as xr

    from inference import fit_binomial_mixture
    from inference.cli import _warn_about_chains

    fit = fit_binomial_mixture([5, 9, 8, 4, 7], 10, n_init=1, random_state=0)
    posterior = xr.Dataset({"theta": (("chain", "draw", "coin"), np.full((1, 5, 2), 0.5))})
    one_chain = SimpleNamespace(
        em_map=fit,
        divergences=0,
        table=pd.DataFrame({"r_hat_ok": [False, False]}),
        tree=xr.DataTree.from_dict({"posterior": posterior}),
    )
    _warn_about_chains(one_chain)
    out = capsys.readouterr().out
    assert "r_hat needs at least two chains and was not checked" in out and "Warning" not in out


@pytest.mark.parametrize(
    "text",
    [
        '"","a","b"\n"1",1.5,2\n"2",2.5,3\n"3",0.5,1\n"4",3,4\n',  # R's write.csv
        ",a,b\n0,1.5,2\n1,2.5,3\n2,0.5,1\n3,3,4\n",  # pandas' to_csv
        "Unnamed: 0,a,b\n0,1.5,2\n1,2.5,3\n2,0.5,1\n3,3,4\n",  # read by pandas and written again
    ],
    ids=["R", "pandas", "pandas-twice"],
)
def test_a_row_label_column_from_r_or_pandas_is_left_out_with_a_note(capsys, tmp_path, text):
    path = tmp_path / "labelled.csv"
    path.write_text(text)
    status, out, err = run(capsys, "fit", "gmm", "--data", str(path), "--components", "1")
    assert status == 0
    assert "on 4 rows of ['a', 'b']" in out
    assert "numbers the rows, as R's write.csv and pandas' to_csv write them, and is left out" in err
    status, out, _ = run(capsys, "fit", "gmm", "--data", str(path), "--components", "1", "--columns", "a")
    assert "on 4 rows of ['a']" in out


def test_a_first_column_of_data_is_kept(capsys, tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text(",a\n3,1.5\n1,2.5\n2,0.5\n7,3\n")
    status, out, err = run(capsys, "fit", "gmm", "--data", str(path), "--components", "1")
    assert "on 4 rows of ['', 'a']" in out and "left out" not in err


@pytest.fixture
def sampled(monkeypatch, coin_comparison):
    """``compare two-coins`` answers with the session's comparison at once, so the tests reach the writing."""
    import inference.compare

    monkeypatch.setattr(inference.compare, "compare_two_coins", lambda *args, **kwargs: coin_comparison)


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_leaves_no_file(capsys, tmp_path, monkeypatch, sampled):
    disk_full_after(monkeypatch, 100)
    path = tmp_path / "fit.nc"
    status, out, err = run(capsys, "compare", "two-coins", "--output", str(path))
    assert status == 1 and out == ""
    (line,) = err.strip().splitlines()[-1:]
    assert line.startswith("em-bayes: error: ") and line.endswith(": No space left on device")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_sigterm_while_writing_removes_the_temporary_and_exits_143(capsys, tmp_path, monkeypatch, sampled):
    import os
    import signal

    from inference import io

    def terminated(handle, mode):
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not stop the write")

    monkeypatch.setattr(io.os, "fdopen", terminated)
    status, _, err = run(capsys, "compare", "two-coins", "--output", str(tmp_path / "fit.nc"))
    assert status == 143 and "em-bayes: terminated; no output was written" in err
    assert list(tmp_path.iterdir()) == []


def test_a_stream_without_end_is_refused_not_read_into_memory(capsys, tmp_path, monkeypatch):
    message = run_error(capsys, "fit", "gmm", "--data", "/dev/zero")
    assert message == "em-bayes: error: --data: /dev/zero has a line longer than 1048576 characters; is it a CSV file?"
    from inference import io

    path = tmp_path / "long.csv"
    path.write_text("a\n" + "1.5\n" * 1000)
    monkeypatch.setattr(io.os, "sysconf", lambda name: 1000 if name == "SC_PHYS_PAGES" else 4)
    message = run_error(capsys, "fit", "gmm", "--data", str(path))
    assert message.endswith("a quarter of this machine's memory; fit a sample of its rows, or use the Dask fit")


def test_a_fit_with_collapsed_components_is_never_marked_best(capsys, tmp_path):
    # Five 2-D rows: K = 2..5 put components on one or two rows, whose covariances are
    # reg_covar's; their BIC falls without bound and used to win.
    path = tmp_path / "five.csv"
    path.write_text("a,b\n0.1,0.3\n1.2,-0.4\n-0.5,0.9\n2.2,1.1\n0.7,-1.3\n")
    status, out, err = run(capsys, "fit", "gmm", "--data", str(path), "--components", "1-5")
    assert status == 0
    rows = [line.split() for line in out.splitlines()[3:8]]
    assert [row[0] for row in rows if "<-" in row] == ["1"]
    assert [int(row[5]) for row in rows] == [0, 1, 3, 4, 5]
    assert "em-bayes: warning: component 0 has collapsed: it rests on 1 expected rows" in err


def _options(parser) -> dict[tuple[str, str], dict[str, str]]:
    """Every subcommand's options and their help texts, by (command, problem)."""
    commands = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    options = {}
    for command, command_parser in commands.choices.items():
        problems = next(action for action in command_parser._actions if isinstance(action, argparse._SubParsersAction))
        for problem, problem_parser in problems.choices.items():
            options[command, problem] = {
                action.option_strings[-1]: action.help or "" for action in problem_parser._actions if action.option_strings
            }
    return options


def test_every_subcommand_offers_only_options_it_reads_and_states_true_defaults():
    from inference.cli import build_parser

    options = _options(build_parser())
    assert "--components" not in options["choose", "gmm"] and "--missing" not in options["choose", "gmm"]
    assert "--coins" not in options["choose", "two-coins"]
    for problem in ("two-coins", "gmm"):
        assert "(default none)" in " ".join(options["fit", problem]["--prior"].split())
        for command in ("compare", "choose"):
            assert "(default none)" not in " ".join(options[command, problem]["--prior"].split())
    # Every option's value is read by the command line's code (none is parsed and dropped).
    source = Path(inference.cli.__file__).read_text()
    for (command, problem), offered in options.items():
        for option in offered:
            if option != "--help":
                assert f"args.{option[2:].replace('-', '_')}" in source, (command, problem, option)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["fit", "gmm", "--components", "1-400"], "--components: 400 components need at least as many rows, got 300"),
        (["choose", "gmm", "--max-components", "1000"], "--max-components: 1000 components need at least as many rows, got 300"),
        (["choose", "two-coins", "--max-components", "6"], "--max-components: 6 components need at least as many experiments, got 5"),
    ],
)
def test_component_ranges_beyond_the_data_are_refused_before_any_fit(capsys, argv, message):
    assert run_error(capsys, *argv) == f"em-bayes: error: {message}"


def test_comparing_more_components_than_distinct_values_is_one_line_before_sampling(capsys, tmp_path):
    path = tmp_path / "three.csv"
    path.write_text("a\n1\n1\n2\n2\n3\n3\n1\n2\n3\n1\n")
    status, out, err = run(capsys, "compare", "gmm", "--data", str(path), "--components", "4")
    lines = err.strip().splitlines()
    assert status == 2 and out == "" and all(line.startswith("em-bayes: warning: ") for line in lines[:-1])
    assert lines[-1].startswith("em-bayes: error: result: the observed information is not positive definite")
