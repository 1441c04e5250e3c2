"""Map accuracy assessment: assess(), the Olofsson et al. (2014) estimator, plot and tables."""

import json
import os
import warnings

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, cohen_kappa_score, confusion_matrix

from antares.accuracy import area_adjusted, assess, format_tables, plot_confusion_matrix
from antares.errors import InvalidInputError

# Olofsson et al. (2014), section 5 / Table 8: sample counts, rows = map, columns = reference.
OLOFSSON_COUNTS = [[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]]
OLOFSSON_PIXELS = np.array([200000, 150000, 3200000, 6450000])  # 30 m Landsat pixels
OLOFSSON_NAMES = ["Deforestation", "Forest gain", "Stable forest", "Stable non-forest"]
CODES = [1, 2, 3, 4]


def expand(counts):
    """(reference, mapped) sample pairs of a count matrix with rows = map, columns = reference."""
    ref, mp = [], []
    for i, row in enumerate(counts):
        for j, c in enumerate(row):
            mp += [CODES[i]] * c
            ref += [CODES[j]] * c
    return np.array(ref), np.array(mp)


@pytest.fixture
def olofsson():
    return area_adjusted(OLOFSSON_COUNTS, OLOFSSON_PIXELS * 0.09, CODES, unit="ha")


def test_olofsson_2014_areas_in_ha(olofsson):
    # Published (p. 54): 21,158 ± 6,158; 11,686 ± 3,756; 285,770 ± 15,510; 581,386 ± 16,282 ha (95 %).
    assert np.round(olofsson.area).tolist() == [21158, 11686, 285770, 581386]
    assert np.round(olofsson.area_ci).tolist() == [6158, 3756, 15510, 16282]
    assert olofsson.area_ci == pytest.approx(1.96 * olofsson.area_se)
    assert olofsson.area.sum() == pytest.approx(900000) == olofsson.total_area


def test_olofsson_2014_accuracies(olofsson):
    # Published: UA 0.88 ± 0.07, 0.73 ± 0.10, 0.93 ± 0.04, 0.96 ± 0.02; OA 0.95 ± 0.02.
    assert np.round(olofsson.users_accuracy, 2).tolist() == [0.88, 0.73, 0.93, 0.96]
    assert np.round(olofsson.users_accuracy_ci, 2).tolist() == [0.07, 0.10, 0.04, 0.02]
    assert round(olofsson.overall_accuracy, 2) == 0.95
    assert round(olofsson.overall_accuracy_ci, 2) == 0.02
    # Published PA: 0.75 ± 0.21, 0.85 ± 0.23, 0.93 ± 0.03, 0.96 ± 0.01. The estimates and the first
    # and third intervals reproduce; eq. 7 gives 0.254 and 0.018 for the second and fourth, as do
    # the R package mapaccuracy and the Python packages PyMapAccuracy and acc-assessment (whose test
    # suite drops those two figures as errors of the paper).
    assert np.round(olofsson.producers_accuracy, 2).tolist() == [0.75, 0.85, 0.93, 0.96]
    assert np.round(olofsson.producers_accuracy_ci, 2).tolist() == [0.21, 0.25, 0.03, 0.02]
    assert olofsson.producers_accuracy_ci[1] == pytest.approx(0.2544, abs=1e-4)


def test_olofsson_2014_table_9_area_proportions(olofsson):
    # Table 9 of the paper: estimated area proportions, rows = map, columns = reference.
    table9 = [[0.0176, 0, 0.0013, 0.0011], [0, 0.0110, 0.0016, 0.0024],
              [0.0019, 0, 0.2967, 0.0213], [0.0040, 0.0020, 0.0179, 0.6212]]
    np.testing.assert_allclose(olofsson.proportions, table9, atol=6e-5)
    assert olofsson.map_proportion.tolist() == pytest.approx([0.02, 0.015, 0.32, 0.645])
    assert olofsson.proportions.sum() == pytest.approx(1.0)


def test_olofsson_area_unit_is_that_of_mapped_area(olofsson):
    in_pixels = area_adjusted(OLOFSSON_COUNTS, OLOFSSON_PIXELS, CODES)
    np.testing.assert_allclose(in_pixels.area * 0.09, olofsson.area)
    np.testing.assert_allclose(in_pixels.area_ci * 0.09, olofsson.area_ci)
    np.testing.assert_allclose(in_pixels.producers_accuracy_ci, olofsson.producers_accuracy_ci)


def test_olofsson_2013_example_1():
    # Olofsson et al. (2013, RSE 129:122-131), example 1, as reproduced by mapaccuracy / PyMapAccuracy:
    # area of class 1 = 45,112 pixels, SE 10,752; UA 0.97; PA 0.4806; OA 0.9444.
    e = area_adjusted([[97, 0, 3], [3, 279, 18], [2, 1, 97]], [22353, 1122543, 610228], [1, 2, 3])
    assert e.area[0] == pytest.approx(45112.4, abs=1)
    assert e.area_se[0] == pytest.approx(10751.88, abs=1)
    assert e.users_accuracy.tolist() == pytest.approx([0.97, 0.93, 0.97])
    assert e.producers_accuracy.tolist() == pytest.approx([0.4806308, 0.9941887, 0.8969259], abs=1e-6)
    assert e.overall_accuracy == pytest.approx(0.9444168, abs=1e-6)


def test_area_adjusted_to_dict_is_json(olofsson):
    d = json.loads(json.dumps(olofsson.to_dict(), allow_nan=False))
    assert d["codes"] == CODES and d["unit"] == "ha" and round(d["area"][0]) == 21158
    assert len(d["proportions"]) == 4 and len(d["proportions"][0]) == 4


def test_area_adjusted_empty_stratum_and_single_sample():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # class 3: no mapped area and no samples -> allowed, contributes nothing
        e = area_adjusted([[8, 2, 0], [1, 9, 0], [0, 0, 0]], [30, 70, 0], [1, 2, 3])
        assert e.area[2] == 0 and np.isnan(e.users_accuracy[2]) and np.isnan(e.producers_accuracy[2])
        assert e.area.sum() == pytest.approx(100)
        # a stratum with a single sample: estimates exist, standard errors are undefined
        one = area_adjusted([[1, 0], [1, 9]], [30, 70], [1, 2])
    assert one.users_accuracy[0] == 1.0 and np.isnan(one.users_accuracy_se[0]) and np.isnan(one.area_se[0])
    assert one.to_dict()["area_se"][0] is None


@pytest.mark.parametrize(
    ("counts", "area", "z", "match"),
    [
        (OLOFSSON_COUNTS, [1, 2, 3], 1.96, "'mapped_area'.*Got 1, 2, 3"),
        (OLOFSSON_COUNTS, [1, -2, 3, 4], 1.96, "'mapped_area'"),
        (OLOFSSON_COUNTS, [0, 0, 0, 0], 1.96, "'mapped_area'"),
        ([[5, 1, 0, 0], [0, 0, 0, 0], [0, 0, 9, 1], [0, 0, 1, 9]], [10, 5, 30, 40], 1.96,
         r"map class\(es\) 2 have a mapped area but no samples"),
        ([[1, 2], [3, 4]], [1, 2, 3, 4], 1.96, "must be 4 x 4. Got \\(2, 2\\)"),
        ([[1.5, 0, 0, 0]] + OLOFSSON_COUNTS[1:], [1, 2, 3, 4], 1.96, "sample counts.*Got 1.5 at row 0"),
        ([[-1, 0, 0, 0]] + OLOFSSON_COUNTS[1:], [1, 2, 3, 4], 1.96, "sample counts"),
        (OLOFSSON_COUNTS, [1, 2, 3, 4], 0, "'z'.*Got 0"),
    ],
)
def test_area_adjusted_rejects_bad_input(counts, area, z, match):
    with pytest.raises(InvalidInputError, match=match):
        area_adjusted(counts, area, CODES, z=z)


def test_assess_hand_computed_example():
    r = assess([1, 1, 1, 2, 2, 3], [1, 1, 2, 2, 3, 3], [1, 2, 3])
    assert r.matrix.tolist() == [[2, 0, 0], [1, 1, 0], [0, 1, 1]]  # rows = map
    assert r.overall_accuracy == pytest.approx(4 / 6)
    assert r.users_accuracy.tolist() == pytest.approx([1.0, 0.5, 0.5])
    assert r.producers_accuracy.tolist() == pytest.approx([2 / 3, 0.5, 1.0])
    assert r.f1.tolist() == pytest.approx([0.8, 0.5, 2 / 3])
    assert r.macro_f1 == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert r.kappa == pytest.approx(0.5)  # po = 2/3, pe = (2*3 + 2*2 + 2*1) / 36 = 1/3
    assert (r.n, r.total_weight, r.weighted) == (6, 6.0, False)


def test_assess_matrix_rows_are_map_classes():
    # Every sample is reference class 1 but mapped as class 2: the count sits in row 2 (map), column 1.
    r = assess([1, 1, 1], [2, 2, 2], [1, 2])
    assert r.matrix.tolist() == [[0, 0], [3, 0]]
    assert r.users_accuracy[1] == 0 and np.isnan(r.users_accuracy[0])
    assert r.producers_accuracy[0] == 0 and np.isnan(r.producers_accuracy[1])
    assert r.codes == (1, 2)


def test_assess_agrees_with_sklearn_and_definitions_on_random_pairs():
    rng = np.random.default_rng(42)
    codes = [3, 1, 7, 5, 9]
    ref = rng.choice(codes, 500)
    mp = np.where(rng.random(500) < 0.7, ref, rng.choice(codes, 500))
    w = rng.uniform(0.1, 5.0, 500)
    for weights in (None, w):
        r = assess(ref, mp, codes, weights)
        m = r.matrix
        np.testing.assert_allclose(m, confusion_matrix(ref, mp, labels=codes, sample_weight=weights).T)
        assert r.overall_accuracy == pytest.approx(accuracy_score(ref, mp, sample_weight=weights))
        assert r.kappa == pytest.approx(cohen_kappa_score(ref, mp, sample_weight=weights))
        # the same measures from their definitions on the matrix
        total = m.sum()
        pe = (m.sum(axis=1) * m.sum(axis=0)).sum() / total**2
        assert r.kappa == pytest.approx((np.trace(m) / total - pe) / (1 - pe))
        ww = np.ones(500) if weights is None else weights
        for i, c in enumerate(codes):
            mapped_c, ref_c = mp == c, ref == c
            assert m[i, i] == pytest.approx(ww[mapped_c & ref_c].sum())
            assert r.users_accuracy[i] == pytest.approx(ww[mapped_c & ref_c].sum() / ww[mapped_c].sum())
            assert r.producers_accuracy[i] == pytest.approx(ww[mapped_c & ref_c].sum() / ww[ref_c].sum())
            ua, pa = r.users_accuracy[i], r.producers_accuracy[i]
            assert r.f1[i] == pytest.approx(2 * ua * pa / (ua + pa))
        assert r.total_weight == pytest.approx(ww.sum())


def test_assess_integer_weights_equal_repeated_samples():
    ref, mp = np.array([1, 1, 2, 2, 3]), np.array([1, 2, 2, 3, 3])
    weights = np.array([3, 1, 2, 5, 4])
    weighted = assess(ref, mp, [1, 2, 3], weights)
    repeated = assess(np.repeat(ref, weights), np.repeat(mp, weights), [1, 2, 3])
    np.testing.assert_array_equal(weighted.matrix, repeated.matrix)
    assert weighted.overall_accuracy == pytest.approx(repeated.overall_accuracy)
    assert weighted.kappa == pytest.approx(repeated.kappa)
    np.testing.assert_allclose(weighted.f1, repeated.f1)
    assert weighted.weighted and weighted.total_weight == 15 and weighted.n == 5


def test_assess_class_without_samples_gives_nan_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = assess([1, 2, 2], [1, 2, 1], [1, 2, 4])
        single = assess([1, 1], [1, 1], [1, 2])  # one class only: kappa undefined
    assert np.isnan(r.users_accuracy[2]) and np.isnan(r.producers_accuracy[2]) and np.isnan(r.f1[2])
    assert r.macro_f1 == pytest.approx(np.mean(r.f1[:2]))
    assert np.isnan(single.kappa) and single.overall_accuracy == 1.0
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["users_accuracy"][2] is None and d["matrix"][0] == [1.0, 1.0, 0.0] and d["codes"] == [1, 2, 4]


def test_report_arrays_are_read_only():
    r = assess([1, 2], [1, 2], [1, 2])
    with pytest.raises(ValueError):
        r.matrix[0, 0] = 5


@pytest.mark.parametrize(
    ("reference", "mapped", "codes", "weights", "match"),
    [
        ([1, 2, 9], [1, 2, 2], [1, 2], None, "'reference'.*not in 'codes': 9. Valid codes: 1, 2"),
        ([1, 2, 2], [1, 8, 2], [1, 2], None, "'mapped'.*not in 'codes': 8"),
        ([1, 2, 2], [1, 2], [1, 2], None, "as long. Got 3 and 2"),
        ([], [], [1, 2], None, "at least one"),
        ([1, 2], [1, 2], [1, 2], [1.0, -0.5], "'weights'.*>= 0. Got -0.5 at 1"),
        ([1, 2], [1, 2], [1, 2], [1.0, np.nan], "'weights'.*finite"),
        ([1, 2], [1, 2], [1, 2], [1.0], "'weights'.*shape"),
        ([1, 2], [1, 2], [1, 2], [0.0, 0.0], "sum to 0"),
        ([1, 2], [1, 2], [1, 2, 2], None, "'codes'.*repeat.*Got 2"),
        ([1, 2], [1, 2], [], None, "'codes'"),
        ([1.5, 2], [1, 2], [1, 2], None, "integer codes. Got dtype float64"),
        ([[1, 2]], [[1, 2]], [1, 2], None, "1-D"),
    ],
)
def test_assess_rejects_bad_input(reference, mapped, codes, weights, match):
    with pytest.raises(InvalidInputError, match=match) as info:
        assess(reference, mapped, codes, weights)
    assert isinstance(info.value, ValueError) and "\n" not in str(info.value)


def test_plot_confusion_matrix_writes_a_png(tmp_path):
    import matplotlib
    import matplotlib.image

    backend = matplotlib.get_backend()
    report = assess(*expand(OLOFSSON_COUNTS), CODES)
    path = tmp_path / "plots" / "cm.png"
    path.parent.mkdir()
    path.write_bytes(b"old")  # replaced, not appended to
    assert plot_confusion_matrix(report, OLOFSSON_NAMES, path, title="Test") == path
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4) and min(image.shape[:2]) > 200
    assert image[..., :3].std() > 0.05  # not a blank canvas
    assert os.listdir(path.parent) == ["cm.png"]  # no temporary file left
    assert matplotlib.get_backend() == backend
    plot_confusion_matrix(assess([1, 2], [1, 2], [1, 2], [0.5, 2.5]), None, str(tmp_path / "w.png"))
    assert matplotlib.image.imread(tmp_path / "w.png").shape[0] > 100


def test_format_tables():
    report = assess([1, 1, 1, 2, 2, 3], [1, 1, 2, 2, 3, 3], [1, 2, 3])
    text = format_tables(report, {1: "Forest", 2: "Grassland", 3: "Water"})
    for word in ("Forest", "Grassland", "Water", "Overall accuracy: 0.667", "Kappa: 0.500", "rows = map"):
        assert word in text
    lines = text.splitlines()
    forest_row = next(line for line in lines if line.startswith("Forest") and "1.000" not in line)
    assert forest_row.split()[1:] == ["2", "0", "0", "2"]  # map row: counts then row total
    assert "n/a" not in text

    full = format_tables(assess(*expand(OLOFSSON_COUNTS), CODES), OLOFSSON_NAMES,
                         area_adjusted(OLOFSSON_COUNTS, OLOFSSON_PIXELS * 0.09, CODES, unit="ha"))
    assert "estimated area (ha)" in full and "95 % confidence interval" in full
    deforestation = [line for line in full.splitlines() if line.startswith("Deforestation")][-1]
    assert deforestation.split()[1:5] == ["18,000", "21,158", "6,158", "0.880"]
    assert "Overall accuracy (area-weighted): 0.947 ± 0.018" in full


def test_format_tables_rejects_mismatches():
    report = assess([1, 2], [1, 2], [1, 2])
    with pytest.raises(InvalidInputError, match="'names' must be 2 class names"):
        format_tables(report, ["only one"])
    other = area_adjusted([[1, 1], [1, 1]], [1, 1], [1, 3])
    with pytest.raises(InvalidInputError, match="'area' is for codes 1, 3"):
        format_tables(report, None, other)
