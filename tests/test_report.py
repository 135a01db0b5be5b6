"""`snakemake --report` on a small study: every figure and table with its caption,
grouped by question, plus the probe and geometry records behind them."""

import json
import re

import pandas as pd
import pytest

from cremodels.analysis import CLAIMS
from tests.conftest import TINY_CONFIG, copy_project

pytestmark = pytest.mark.slow

# The tiny config, cut to two fc runs of latent size 5 (so the PCA view is drawn)
# with short training and probes: the point is the plumbing, not the numbers.
REPORT_CONFIG = {
    **TINY_CONFIG,
    "grid": {**TINY_CONFIG["grid"], "archs": ["fc"], "latent_dims": [5]},
    "train": {**TINY_CONFIG["train"], "epochs": 3},
    "evaluate": {"train_latents": 200},
    "probes": {"decoder_epochs": 20, "decoder_batch_size": 32, "mlp_max_iter": 50},
    "analysis": {"bootstrap": 200},
}


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    project = copy_project(tmp_path_factory.mktemp("report") / "project")
    project.write_config(REPORT_CONFIG)
    project.snakemake()
    report = project.path / "report.html"
    project.snakemake("--report", str(report))
    return project, report.read_text()


def test_report_holds_every_figure_and_table_with_its_caption(reported):
    _, html = reported
    for name in (
        "accuracy_vs_lam.png",
        "mse_vs_lam.png",
        "tradeoff.png",
        "probes_vs_lam.png",
        "geometry_vs_lam.png",
        "reconstructions.png",
        "latents_pca.png",
        "summary.csv",
        "claims.csv",
        "claims.html",
        "tradeoff_index.csv",
    ):
        assert name in html, name
    # captions rendered from report/*.rst with the wildcards and the config
    for caption in (
        "digits: test accuracy of the classifier head against",
        "digits: what the latent holds",
        "digits: latent geometry against",
        "on their first two and three principal components",
        "each claim of the study checked per dataset and architecture",
        "200 resamples",
    ):
        assert caption in html, caption
    # the method description, filled from the config
    assert "Classification-reconstruction encoders (CRE)" in html
    assert "architectures fc;" in html
    # images are embedded, not linked: the report stands alone
    assert len(re.findall(r"data:image/png;charset=utf8;filename=", html)) >= 7


def report_categories(html: str) -> dict:
    """category -> subcategory -> result paths, as the report's script holds them."""
    found = re.search(r"var categories = (\{.*?\});\n", html)
    assert found, "no categories in the report"
    return {
        category: {
            sub: {path.rsplit("/", 1)[-1] for path in paths}
            for sub, paths in subs.items()
        }
        for category, subs in json.loads(found.group(1)).items()
    }


def test_report_groups_results_by_question(reported):
    _, html = reported
    categories = report_categories(html)
    assert categories["trade-off"]["digits"] == {
        "accuracy_vs_lam.png",
        "mse_vs_lam.png",
        "tradeoff.png",
        "probes_vs_lam.png",
        "reconstructions.png",
    }
    assert categories["geometry"]["digits"] == {
        "geometry_vs_lam.png",
        "latents_pca.png",
    }
    assert categories["summary"]["Other"] == {
        "summary.csv",
        "claims.csv",
        "claims.html",
        "tradeoff_index.csv",
    }
    # one latent size and one complexity level: no index figures, no empty groups
    assert set(categories) == {"summary", "trade-off", "geometry"}


def test_records_behind_the_report(reported):
    project, _ = reported
    results = project.path / "results"
    summary = pd.read_csv(results / "summary.csv")
    for column in (
        "linear_probe_accuracy",
        "mlp_probe_accuracy",
        "decoder_probe_mse",
        "mean_image_mse",
        "radial_variance_index",
        "silhouette_cosine",
        "davies_bouldin_cosine",
        "calinski_harabasz_cosine",
    ):
        assert summary[column].notna().all(), column
    # the decoder probe reads z, so it beats the mean image at lam = 1
    at_one = summary[summary.lam == 1.0].iloc[0]
    assert at_one.decoder_probe_mse < at_one.mean_image_mse
    run = results / "runs" / "digits" / "fc" / "z5_c1" / "lam0_s0"
    record = json.loads((run / "probes.json").read_text())
    assert record["fingerprint_parts"]["stage"] == "probes"
    angles = pd.read_csv(run / "geometry_angles.csv", index_col="class")
    assert angles.shape == (10, 10)
    claims = pd.read_csv(results / "claims.csv")
    assert set(claims.claim) == {claim.id for claim in CLAIMS}
    # one seed: nothing can be decided, and the table says so
    assert set(claims.verdict) <= {"inconclusive", "not applicable"}
    assert "inconclusive" in set(claims.verdict)
    log = (results / "logs" / "claims.log").read_text()
    assert "accuracy falls as λ rises" in log
