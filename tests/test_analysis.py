"""Trade-off index and claims table on summary tables built to satisfy or violate
each claim."""

import itertools

import numpy as np
import pandas as pd
import pytest

from cremodels import analysis

CHANCE, BEST_MSE, MEAN_IMAGE_MSE = 0.1, 0.01, 0.07  # digits: 10 classes
CLAIM_KEYS = ["1a", "1b", "2a", "2b", "3", "4", "5", "6"]


def built_summary(
    *,
    seeds=(0, 1, 2),
    lams=(0.0, 0.25, 0.5, 0.75, 1.0),
    latent_dims=(2, 10),
    complexities=(1, 2),
    mask_ratios=(0.0, 0.5, 0.75),
    violate=(),
    noise=0.002,
):
    """A summary table of fc runs and (when `mask_ratios`) ViT runs that satisfies
    every claim, except those in `violate`, which it reverses.

    Per group the antagonism alpha in (0, 1) sets the normalised losses
    u = alpha * lam (accuracy) and v = alpha * (1 - lam) (MSE); alpha falls with
    latent size (claim 3) and complexity (claim 4).
    """
    sign = {key: -1 if key in violate else 1 for key in CLAIM_KEYS}
    rng = np.random.default_rng(0)
    archs = [("fc", 0.0)] + [("vit", m) for m in mask_ratios]
    rows = []
    for (arch, mask), z, c, lam, seed in itertools.product(
        archs, latent_dims, complexities, lams, seeds
    ):
        z_step, c_step = sorted(latent_dims).index(z), sorted(complexities).index(c)
        alpha = 0.5 - 0.15 * sign["3"] * z_step - 0.1 * sign["4"] * c_step
        lost_accuracy = lam if sign["1a"] > 0 else 1 - lam
        if sign["2a"] < 0:
            lost_accuracy = abs(lam - 0.25)  # best at lam = 0.25
        lost_mse = 1 - lam if sign["1b"] > 0 else lam
        if sign["2b"] < 0:
            lost_mse = abs(lam - 0.75)  # best at lam = 0.75
        star = sign["5"] * 0.3 * (0.5 - lam)
        rows.append(
            {
                "dataset": "digits",
                "arch": arch,
                "latent_dim": z,
                "complexity": c,
                "mask_ratio": mask,
                "lam": lam,
                "seed": seed,
                "test_accuracy": CHANCE
                + (0.95 - CHANCE) * (1 - alpha * lost_accuracy)
                + rng.normal(0, noise),
                "test_mse": BEST_MSE
                + (MEAN_IMAGE_MSE - BEST_MSE) * alpha * lost_mse
                + sign["6"] * 0.01 * mask
                + rng.normal(0, noise / 10),
                "mean_image_mse": MEAN_IMAGE_MSE,
                "radial_alignment": 0.5 + star + rng.normal(0, noise),
                "radial_variance_index": 0.4 + star + rng.normal(0, noise),
                "linear_probe_accuracy": 0.7
                + sign["6"] * 0.1 * mask
                + rng.normal(0, noise),
            }
        )
    return pd.DataFrame(rows)


def verdicts(table: pd.DataFrame, claim_key: str) -> set:
    rows = table[table.claim.str.startswith(claim_key)]
    assert len(rows) > 0, claim_key
    return set(rows.verdict)


# ---------------------------------------------------------------- trade-off index


def test_no_trade_off_when_both_are_best_everywhere():
    index = analysis.tradeoff_index(
        [0.9, 0.9, 0.9], [0.02, 0.02, 0.02], chance=CHANCE, reference_mse=0.07
    )
    assert index == 0.0


def test_no_trade_off_when_one_lam_is_best_at_both():
    # lam = 0.5 is best at both; the others do not matter
    index = analysis.tradeoff_index(
        [0.5, 0.9, 0.2], [0.06, 0.02, 0.03], chance=CHANCE, reference_mse=0.07
    )
    assert index == 0.0


def test_index_of_an_antagonistic_curve_by_hand():
    # u = (0, 0.5, 1), v = (1, 0.5, 0): area 0.5 * 1 + 0.5 * 0.5 = 0.75
    index = analysis.tradeoff_index(
        [0.9, 0.5, 0.1], [0.1, 0.055, 0.01], chance=0.1, reference_mse=0.1
    )
    assert index == pytest.approx(0.75)
    # the order of the points does not matter
    shuffled = analysis.tradeoff_index(
        [0.5, 0.1, 0.9], [0.055, 0.01, 0.1], chance=0.1, reference_mse=0.1
    )
    assert shuffled == pytest.approx(0.75)


def test_total_antagonism_is_one_and_milder_pairs_are_smaller():
    total = analysis.tradeoff_index(
        [0.9, 0.1], [0.07, 0.01], chance=CHANCE, reference_mse=0.07
    )
    strong = analysis.tradeoff_index(
        [0.9, 0.6, 0.3, 0.1],
        [0.07, 0.04, 0.02, 0.01],
        chance=CHANCE,
        reference_mse=0.07,
    )
    mild = analysis.tradeoff_index(
        [0.9, 0.88, 0.85, 0.1],
        [0.07, 0.015, 0.012, 0.01],
        chance=CHANCE,
        reference_mse=0.07,
    )
    assert total == pytest.approx(1.0)
    assert total > strong > mild > 0.0


def test_scores_beyond_chance_or_the_mean_image_count_as_all_lost():
    below_chance = analysis.tradeoff_index(
        [0.9, 0.05], [0.2, 0.01], chance=CHANCE, reference_mse=0.07
    )
    assert below_chance == pytest.approx(1.0)
    never_beats_chance = analysis.tradeoff_index(
        [0.1, 0.05], [0.05, 0.01], chance=CHANCE, reference_mse=0.07
    )
    assert np.isnan(never_beats_chance)
    one_lam_is_no_curve = analysis.tradeoff_index(
        [0.9], [0.01], chance=CHANCE, reference_mse=0.07
    )
    assert np.isnan(one_lam_is_no_curve)


def test_tradeoff_table_orders_groups_by_antagonism():
    table = analysis.tradeoff_table(built_summary(mask_ratios=()), resamples=500)
    index = table.set_index(["latent_dim", "complexity"]).tradeoff_index
    assert index[(2, 1)] > index[(2, 2)] > index[(10, 2)]
    assert index[(2, 1)] > index[(10, 1)] > index[(10, 2)]
    assert (table.seeds == 3).all() and (table.lams == 5).all()
    assert (table.ci_low <= table.tradeoff_index).all()
    assert (table.tradeoff_index <= table.ci_high).all()


def test_missing_column_is_named():
    frame = built_summary(mask_ratios=()).drop(columns="mean_image_mse")
    with pytest.raises(analysis.AnalysisError, match="mean_image_mse"):
        analysis.tradeoff_table(frame)


# ---------------------------------------------------------------- claims


@pytest.fixture(scope="module")
def satisfied():
    return analysis.claims_table(built_summary(), resamples=500)


@pytest.mark.parametrize("claim_key", CLAIM_KEYS)
def test_claim_holds_on_a_table_built_to_satisfy_it(satisfied, claim_key):
    assert verdicts(satisfied, claim_key) == {"holds"}


@pytest.mark.parametrize("claim_key", CLAIM_KEYS)
def test_claim_does_not_hold_on_a_table_built_to_violate_it(claim_key):
    table = analysis.claims_table(built_summary(violate=[claim_key]), resamples=500)
    assert verdicts(table, claim_key) == {"does not hold"}


@pytest.mark.parametrize("claim_key", CLAIM_KEYS)
def test_claim_is_inconclusive_with_one_seed(claim_key):
    table = analysis.claims_table(built_summary(seeds=(0,)), resamples=500)
    rows = table[table.claim.str.startswith(claim_key)]
    assert set(rows.verdict) == {"inconclusive"}
    assert rows.ci_low.isna().all() and rows.value.notna().all()


def test_seeds_that_disagree_do_not_make_a_claim_hold():
    # seed 1 reverses the lam trend of accuracy: the interval spans 0
    frame = pd.concat(
        [
            built_summary(seeds=(0, 2), mask_ratios=()),
            built_summary(seeds=(1,), mask_ratios=(), violate=["1a"]),
        ]
    )
    table = analysis.claims_table(frame, resamples=500)
    row = table[table.claim == "1a"].iloc[0]
    assert row.ci_low < 0 < row.ci_high
    assert row.verdict == "does not hold"


def test_claims_that_need_missing_runs_are_not_applicable():
    frame = built_summary(latent_dims=(3,), mask_ratios=())
    table = analysis.claims_table(frame, resamples=500).set_index("claim")
    assert table.loc["3", "verdict"] == "not applicable"
    assert "latent_dim" in table.loc["3", "note"]
    for claim in ("6a", "6b"):
        assert table.loc[claim, "verdict"] == "not applicable"
        assert "vit" in table.loc[claim, "note"]
    # ViT runs of one mask ratio are no masking experiment
    vit_only_one_mask = analysis.claims_table(
        built_summary(mask_ratios=(0.75,)), resamples=500
    ).set_index("claim")
    assert vit_only_one_mask.loc["6a", "verdict"] == "not applicable"
    # without lam = 0 claim 2a has nothing to check
    no_zero = analysis.claims_table(
        built_summary(lams=(0.25, 0.5, 1.0), mask_ratios=()), resamples=500
    ).set_index("claim")
    assert no_zero.loc["2a", "verdict"] == "not applicable"
    assert no_zero.loc["2b", "verdict"] == "holds"


def test_bootstrap_is_seeded_and_brackets_the_mean():
    values = [0.1, 0.4, 0.2, 0.3, 0.25]
    first = analysis.bootstrap_interval(values, resamples=1000, seed=3)
    assert first == analysis.bootstrap_interval(values, resamples=1000, seed=3)
    assert first[0] < np.mean(values) < first[1]
    assert first[0] >= min(values) and first[1] <= max(values)
    assert np.isnan(analysis.bootstrap_interval([0.2])[0])


def test_rank_correlation_edges():
    assert analysis.rank_correlation([0, 1, 2], [3, 2, 1]) == pytest.approx(-1.0)
    assert analysis.rank_correlation([0, 1, 2], [5, 5, 5]) == 0.0
    assert np.isnan(analysis.rank_correlation([0], [1]))


def test_claims_job_and_command_line(tmp_path, capsys):
    summary = tmp_path / "summary.csv"
    built_summary(mask_ratios=()).to_csv(summary, index=False)
    paths = {
        "claims_path": tmp_path / "claims.csv",
        "tradeoff_path": tmp_path / "tradeoff_index.csv",
        "html_path": tmp_path / "claims.html",
    }
    claims = analysis.claims_job(summary, resamples=300, **paths)
    written = pd.read_csv(paths["claims_path"], keep_default_na=False)
    assert list(written.claim) == list(claims.claim)
    assert set(written.verdict) <= set(analysis.VERDICTS)
    assert len(pd.read_csv(paths["tradeoff_path"])) == 4
    assert paths["html_path"].read_text().count("<table") == 2

    assert analysis.main([str(summary), "--bootstrap", "300"]) == 0
    printed = capsys.readouterr().out
    assert "Claims" in printed and "accuracy falls as λ rises" in printed
    assert printed.count("holds") >= len(claims[claims.verdict == "holds"])
