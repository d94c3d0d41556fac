"""The HTML report and single plots: sections per model kind, images, CLI."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from aekit import AnomalyDetector, Autoencoder
from aekit.cli import cli
from aekit.data.readers import Dataset
from aekit.report import html as report_html
from aekit.report.html import (
    SECTIONS,
    NotApplicable,
    make_context,
    render,
    section,
    sections_in,
    write_report,
)

SMALL = dict(hidden=(32,), epochs=4, batch_size=64, random_state=0)
KINDS = {
    "plain": dict(code_size=4),
    "variational": dict(code_size=3, latent="variational"),
    "denoising": dict(code_size=4, noise="gaussian:0.3"),
}
EXPECTED = {
    "plain": ["summary", "training", "reconstructions", "codes", "errors"],
    "variational": [
        "summary",
        "training",
        "reconstructions",
        "codes",
        "errors",
        "samples",
        "interpolation",
        "kl",
    ],
    "denoising": [
        "summary",
        "training",
        "reconstructions",
        "denoising",
        "codes",
        "errors",
    ],
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, digits):
    """One small run folder per model kind, fitted on digits."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for kind, params in KINDS.items():
        est = Autoencoder(**SMALL, **params).fit(digits)
        est.save(root / kind)
        out[kind] = root / kind
    return out


def images_of(page: str) -> list[tuple[str, Image.Image]]:
    """Every <img> in the page, decoded; fails on anything but a PNG data URI."""
    found = []
    for alt, src in re.findall(r'<img alt="([^"]*)" src="([^"]*)"', page):
        assert src.startswith("data:image/png;base64,"), src[:60]
        raw = base64.b64decode(src.split(",", 1)[1], validate=True)
        Image.open(io.BytesIO(raw)).verify()
        im = Image.open(io.BytesIO(raw))
        im.load()
        assert im.width > 50 and im.height > 50, (alt, im.size)
        # A figure, not a blank canvas.
        assert np.asarray(im.convert("L")).std() > 5, alt
        found.append((alt, im))
    assert page.count("<img") == len(found)
    return found


def section_html(page: str, key: str) -> str:
    m = re.search(rf'<section id="{key}" data-section="{key}">(.*?)</section>', page)
    assert m, key
    return m.group(1)


def assert_self_contained(page: str):
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "url(" not in page
    assert "Content-Security-Policy" in page


@pytest.mark.parametrize("kind", list(KINDS))
def test_report_holds_every_section_that_applies(runs, digits, kind, tmp_path):
    path = write_report(runs[kind], digits, out=tmp_path / "r.html", max_samples=300)
    page = path.read_text()
    assert sections_in(page) == EXPECTED[kind]
    assert_self_contained(page)
    imgs = images_of(page)
    for key in EXPECTED[kind]:
        body = section_html(page, key)
        if key != "summary":
            assert "<img" in body, f"section {key} has no figure"
    assert len(imgs) >= len(EXPECTED[kind]) - 1
    # Summary: data, model, metrics, versions, compression, wall time.
    summary = section_html(page, "summary")
    for text in (
        "sample shape",
        "code shape",
        "compression (values)",
        "torch",
        "epochs",
    ):
        assert text in summary, text
    assert "fit wall time" in summary
    assert f"{64 / KINDS[kind]['code_size']:.4g}x" in summary
    # Labels travel with the digits Dataset and colour the codes.
    assert "coloured by label" in section_html(page, "codes")


def test_report_without_data_shows_what_the_run_holds(runs, tmp_path):
    page = write_report(runs["variational"], out=tmp_path / "r.html").read_text()
    # Samples and interpolations need only the decoder; the error histogram is
    # drawn from the quantiles stored with the model.
    assert sections_in(page) == [
        "summary",
        "training",
        "errors",
        "samples",
        "interpolation",
    ]
    assert "Left out for want of data" in page
    for title in ("Originals and reconstructions", "Codes", "KL divergence"):
        assert title in page.split("Left out for want of data")[1].split("</p>")[0]
    images_of(page)


def test_table_data_gets_per_feature_errors(tmp_path):
    from sklearn.datasets import load_breast_cancer

    bc = load_breast_cancer()
    ds = Dataset(bc.data.astype(np.float32), "table", columns=list(bc.feature_names))
    est = Autoencoder(code_size=4, **SMALL).fit(ds)
    est.save(tmp_path / "run")
    labels = np.where(bc.target == 1, "benign", "malignant")
    ctx = make_context(tmp_path / "run", ds, labels=labels)
    page = render(ctx)
    assert sections_in(page) == ["summary", "training", "features", "codes", "errors"]
    body = section_html(page, "features")
    rows = re.findall(r"<tr><td>([^<]+)</td>", body)
    assert len(rows) == 25 and set(rows) <= set(bc.feature_names)
    # The table lists the worst features first, by their scaled MSE.
    mse = [
        float(v) for v in re.findall(r"<tr><td>[^<]+</td><td class=num>([^<]+)", body)
    ]
    assert mse == sorted(mse, reverse=True)
    assert "benign" in page or "coloured by label" in page
    images_of(page)


def test_denoising_numbers(runs, digits):
    ctx = make_context(runs["denoising"], digits, max_samples=400)
    page = render(ctx)
    body = section_html(page, "denoising")
    rows = dict(
        re.findall(
            r"<tr><td>([^<]+)</td><td class=num>[^<]+</td><td class=num>([^<]+)", body
        )
    )
    noisy = float(rows["noisy input"])
    # Gaussian noise of sigma 0.3, clipped to [0, 1] for PSNR: MSE <= 0.09, so
    # PSNR >= 10.46 dB; clipping removes a part of it, not most.
    assert 10.4 < noisy < 14, rows
    assert np.isfinite(float(rows["denoised (noisy input through the model)"]))
    # Triplet captions hold per-image PSNRs.
    assert "noisy, denoised and clean triplets" in body


def test_kl_per_dimension_matches_the_model_loss(runs, digits):
    from aekit.report.sections import _kl_per_dim

    ctx = make_context(runs["variational"], digits, max_samples=500)
    kl = _kl_per_dim(ctx)
    assert kl.shape == (3,) and (kl >= 0).all()
    module = ctx.module.eval()
    with torch.no_grad():
        total = module.loss(torch.from_numpy(ctx.Xs))["kl"].item()
    assert abs(kl.sum() - total) < 1e-4 * max(1.0, total), (kl.sum(), total)


def test_anomaly_threshold_and_scores_drawn(digits, tmp_path):
    det = AnomalyDetector({"epochs": 2}, contamination=0.1, random_state=0)
    det.fit(digits).save(tmp_path / "det")
    page = render(make_context(tmp_path / "det", digits, max_samples=2000))
    body = section_html(page, "anomaly")
    assert f"Threshold {det.threshold_:.4g} (contamination 0.1)" in body
    # The training data: 10% of it lies above the threshold by construction.
    share = float(re.search(r"([\d.]+)% of this data lies above it", body).group(1))
    assert 9 <= share <= 11, share
    assert len(images_of(body)) == 1
    # The MSE histogram does not draw a threshold that is in the score's units.
    assert "threshold" not in section_html(page, "errors").lower()
    assert "AnomalyDetector (around an Autoencoder)" in section_html(page, "summary")


def test_a_new_section_is_one_function(runs, digits):
    @section("extra", "Extra", order=55)
    def extra(ctx):
        if ctx.X is None:
            raise NotApplicable("needs data")
        return ctx.table([("samples", len(ctx.X))])

    try:
        page = render(make_context(runs["plain"], digits, max_samples=100))
        keys = sections_in(page)
        assert keys.index("extra") == keys.index("codes") + 1
        page = render(make_context(runs["plain"]))
        assert "extra" not in sections_in(page)
    finally:
        del SECTIONS["extra"]


def test_read_labels(tmp_path):
    f = tmp_path / "y.txt"
    f.write_text("digit\n" + "\n".join(str(i % 3) for i in range(10)) + "\n")
    y, name = report_html.read_labels(f, 10)
    assert name == "digit" and y.dtype.kind == "i" and list(y[:4]) == [0, 1, 2, 0]
    f.write_text("cat\ndog\ncat\n")
    y, name = report_html.read_labels(f, 3)
    assert list(y) == ["cat", "dog", "cat"]
    with pytest.raises(ValueError, match="has 3 labels, but the data has 5"):
        report_html.read_labels(f, 5)


@pytest.fixture
def invoke():
    runner = CliRunner()
    return lambda *a: runner.invoke(cli, [str(x) for x in a], catch_exceptions=False)


def test_cli_fit_writes_report_and_report_plot_commands(invoke, tmp_path):
    out = tmp_path / "run"
    r = invoke(
        "fit",
        "digits",
        "--out",
        out,
        "--code-size",
        2,
        "--hidden",
        16,
        "--epochs",
        2,
        "-q",
    )
    assert r.exit_code == 0, r.output
    assert f"Report: {out / 'report.html'}" in r.output
    page = (out / "report.html").read_text()
    assert sections_in(page) == EXPECTED["plain"]
    assert "the training data" in page
    r = invoke(
        "fit",
        "digits",
        "--out",
        tmp_path / "r2",
        "--code-size",
        2,
        "--hidden",
        16,
        "--epochs",
        1,
        "-q",
        "--no-report",
    )
    assert r.exit_code == 0 and not (tmp_path / "r2" / "report.html").exists()

    labels = tmp_path / "labels.csv"
    labels.write_text("parity\n" + "\n".join(str(i % 2) for i in range(1797)))
    r = invoke(
        "report",
        out,
        "digits",
        "--labels",
        labels,
        "--out",
        tmp_path / "x.html",
        "--max-samples",
        200,
    )
    assert r.exit_code == 0, r.output
    assert "coloured by parity" in (tmp_path / "x.html").read_text()

    # Without DATA: the training data that fit.json recorded, or none at all.
    r = invoke("report", out, "--out", tmp_path / "y.html", "--max-samples", 100)
    assert r.exit_code == 0 and "Using the training data recorded" in r.output
    page = (tmp_path / "y.html").read_text()
    assert sections_in(page) == EXPECTED["plain"] and "the training data" in page
    r = invoke("report", out, "--no-data", "--out", tmp_path / "z.html")
    assert r.exit_code == 0 and "Using the training data" not in r.output
    assert sections_in((tmp_path / "z.html").read_text()) == [
        "summary",
        "training",
        "errors",
    ]

    for kind, suffix in (("loss", "png"), ("codes", "pdf"), ("errors", "svg")):
        r = invoke("plot", kind, out, "digits", "--out", tmp_path / f"f.{suffix}")
        assert r.exit_code == 0, r.output
    im = Image.open(tmp_path / "f.png")
    assert im.width > 400 and np.asarray(im.convert("L")).std() > 5
    assert (tmp_path / "f.pdf").read_bytes().startswith(b"%PDF")
    assert b"<svg" in (tmp_path / "f.svg").read_bytes()[:500]

    for args, message in (
        (("plot", "kl", out, "digits", "--out", tmp_path / "k.png"), "not variational"),
        (
            ("plot", "codes", out, "--no-data", "--out", tmp_path / "k.png"),
            "needs data",
        ),
        (("plot", "loss", out, "--out", tmp_path / "k.jpg"), ".png, .pdf or .svg"),
        (("report", out, "digits", "--labels", tmp_path / "no.csv"), "does not exist"),
    ):
        r = CliRunner().invoke(cli, [str(a) for a in args])
        assert r.exit_code == 2, r.output
        errors = [ln for ln in r.output.splitlines() if ln.startswith("aekit: error")]
        assert len(errors) == 1 and message in errors[0], r.output
        assert "Traceback" not in r.output


def test_report_opens_in_headless_chromium(runs, digits, tmp_path):
    from tests.browser import check_page, find_chromium

    if find_chromium() is None:
        pytest.skip(
            "chromium is not installed (make test installs it with apt-get when it "
            "runs as root with apt available)"
        )
    path = write_report(
        runs["variational"], digits, out=tmp_path / "r.html", max_samples=300
    )
    n_img = path.read_text().count("<img")
    res = check_page(path, tmp_path / "shot.png", height=1800)
    assert res["images"] == n_img > 0
    assert res["broken"] == [], res["broken"]
    assert min(res["widths"]) > 50
    assert res["errors"] == [] and res["console"] == [], res
    shot = np.asarray(Image.open(res["screenshot"]).convert("L"), dtype=float)
    assert shot.shape == (1800, 1280)
    # Rendered text and figures: many non-white pixels and many grey levels.
    assert (shot < 200).mean() > 0.02 and len(np.unique(shot)) > 50


def test_mnist_report_uses_idx_labels_and_subsamples(mnist_test, tmp_path):
    from tests.conftest import MNIST_DIR

    sub = Dataset(mnist_test.X[:1000], "image", mnist_test.value_range)
    Autoencoder(code_size=8, **SMALL).fit(sub).save(tmp_path / "run")
    r = CliRunner().invoke(
        cli,
        [
            "report",
            str(tmp_path / "run"),
            str(MNIST_DIR / "t10k-images-idx3-ubyte.gz"),
            "--max-samples",
            "300",
        ],
    )
    assert r.exit_code == 0, r.output
    page = (tmp_path / "run" / "report.html").read_text()
    assert sections_in(page) == EXPECTED["plain"]
    assert "300 of 10,000 samples shown" in page
    # The labels file beside the IDX images colours the codes by digit.
    assert "coloured by label" in section_html(page, "codes")
    assert "(10 distinct values)" in section_html(page, "summary")
    sizes = {alt: im.size for alt, im in images_of(page)}
    assert sizes["originals and reconstructions"][0] > 800


def test_colour_images_and_many_named_labels(tmp_path):
    from skimage import data as skdata

    img = skdata.astronaut()  # (512, 512, 3) uint8, a photograph
    patches = img.reshape(32, 16, 32, 16, 3).transpose(0, 2, 4, 1, 3)
    X = np.ascontiguousarray(patches.reshape(-1, 3, 16, 16))  # (1024, 3, 16, 16)
    rows = np.repeat([f"row {i}" for i in range(32)], 32)  # 32 named classes
    ds = Dataset(X, "image", (0.0, 255.0), name="astronaut patches")
    Autoencoder(code_size=8, **SMALL).fit(ds).save(tmp_path / "run")
    page = render(make_context(tmp_path / "run", ds, labels=rows, max_samples=300))
    assert sections_in(page) == EXPECTED["plain"]
    imgs = dict(images_of(page))
    # Colour patches are shown in colour: the channels differ.
    grid = np.asarray(imgs["originals and reconstructions"].convert("RGB"), float)
    assert np.abs(grid[..., 0] - grid[..., 2]).mean() > 1.0
    assert "coloured by label" in section_html(page, "codes")
