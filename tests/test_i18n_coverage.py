"""With --lang ja, no English word is left in what a reader sees: every figure's texts (titles,
labels, legends, notes, ticks) and every summary line come from the catalogue in Japanese.

Each case runs one command through the CLI in Japanese, catches every figure as it is saved (after
drawing, so tick labels are the real ones) and reads the text of all its visible artists. Words in
Latin letters are allowed only where a Japanese reader sees them as they are: names the user typed
(data sets, option values, an MLP spec), parameter names, PyTorch's names for operations, symbols
(lr, PC1, float32) and the article's own words (SGD). A few expected Japanese strings are written
here by hand, independent of the catalogue.
"""

import re

import pytest
from matplotlib.text import Text

from backpropviz.render import figures

# Latin-letter words allowed anywhere (each one is a name or a symbol, not English prose).
SYMBOLS = {
    "lr", "vs", "PC", "dL", "float", "eps", "autograd", "grad",  # 2/lr, PC1, dL/dz, float64, |grad|
    "SGD", "AND", "XOR", "RESULT",  # the article's words; the truth table's header (X1 X2 RESULT)
    "tanh", "sigmoid", "mlp",  # activations and MLP specs as typed
}
MATH = re.compile(r"\$[^$]*\$")  # mathtext: symbols, not words
PARAM = re.compile(r"\b\d+\.(?:weight|bias)(?:\[[\d,]*\])?")  # 0.weight[1,0]
OPTION = re.compile(r"--[a-z][a-z0-9-]*(?: [^\s,;:()、。]+)?")  # --lr 0.5, kept as typed
LAMBDA = re.compile(r"(?:lambda|λ)_(?:max|min)")
WORD = re.compile(r"[A-Za-z]{2,}")


def latin_words(text, allowed):
    text = LAMBDA.sub(" ", OPTION.sub(" ", PARAM.sub(" ", MATH.sub(" ", text))))
    return {w for w in WORD.findall(text) if w not in SYMBOLS and w not in allowed}


@pytest.fixture
def figure_texts(monkeypatch):
    """The texts of every figure the CLI saves, drawn as saved: a list that fills as figures are written."""
    texts = []
    save = figures.figure_bytes

    def spy(fig, fmt):
        data = save(fig, fmt)
        texts.extend(a.get_text() for a in fig.findobj(Text) if a.get_visible() and a.get_text().strip())
        return data

    monkeypatch.setattr(figures, "figure_bytes", spy)
    return texts


@pytest.fixture(scope="module")
def histories(tmp_path_factory):
    """The article's run and a small MLP run, saved once for the commands that read a history."""
    from backpropviz.cli import main

    folder = tmp_path_factory.mktemp("histories")
    assert main(["run", "--epochs", "60", "--save-history", str(folder / "and.npz"), "--out", str(folder)]) == 0
    assert main(["run", "--data", "xor", "--model", "mlp:3", "--epochs", "15", "--save-history",
                 str(folder / "mlp.npz"), "--out", str(folder), "--views", "probability"]) == 0
    return folder


GRAPH_OPS = {"add", "matmul", "mean", "bce", "mul", "sub", "Addmm", "Backward", "AddmmBackward", "Sigmoid",
             "SigmoidBackward", "BinaryCrossEntropyBackward", "TanhBackward", "MmBackward", "AddBackward",
             "MeanBackward", "TBackward", "MulBackward"}

# (case, command line (history files as {and}/{mlp}), Latin words that case may show, Japanese it must show)
CASES = [
    ("demo", ["demo"], set(), ["0 (偽)", "1 (真)", "学習後の境界"]),
    ("run_network_views", ["run", "--data", "moons", "--n-samples", "40", "--model", "mlp:3", "--epochs", "4",
                           "--batch-size", "8", "--test-fraction", "0.25", "--views", "all"], {"moons"}, []),
    ("run_classes", ["run", "--data", "iris", "--model", "mlp:3", "--loss", "ce", "--epochs", "3",
                     "--views", "probability,metrics"], {"iris", "setosa", "versicolor", "virginica"}, []),
    ("run_images", ["run", "--data", "digits", "--model", "mlp:4", "--epochs", "2", "--views", "first-layer"],
     {"digits"}, []),
    ("run_regression", ["run", "--data", "reg-gauss", "--n-samples", "60", "--model", "mlp:4", "--epochs", "5",
                        "--views", "all"], {"reg", "gauss"}, ["決定係数"]),
    ("plot", ["plot", "{mlp}", "--views", "all"], set(), []),
    ("compare_perceptron", ["compare", "--vary", "optimizer=sgd,adam", "--epochs", "20"],
     {"optimizer", "sgd", "adam"}, ["パーセプトロン"]),
    ("compare_losses", ["compare", "--data", "xor", "--model", "mlp:2", "--vary", "loss=bce,mse", "--epochs", "10"],
     {"loss", "bce", "mse", "xor"}, ["最初の実行の損失 (2値交差エントロピー)"]),
    ("landscape_params", ["landscape", "{and}", "--resolution", "9"], {"params"}, ["(厳密なヘッセ行列)"]),
    ("landscape_pca", ["landscape", "{mlp}", "--method", "pca", "--resolution", "9"], {"pca"}, []),
    ("landscape_line", ["landscape", "{and}", "--line", "0,-1", "--resolution", "9"], {"params"}, ["ステップ 0", "ステップ 60"]),
    ("basins", ["basins", "--resolution", "6", "--epochs", "20"], set(), []),
    ("explain_perceptron", ["explain", "{and}", "--step", "0"], GRAPH_OPS, ["2値交差エントロピー"]),
    ("explain_mlp", ["explain", "{mlp}", "--step", "2"], GRAPH_OPS | {"tanh"}, ["dL/d(ノード)", "パラメータ"]),
    ("gradcheck", ["gradcheck", "{and}", "--out", "{out}"], set(), []),
]


@pytest.mark.parametrize("case, args, allowed, expected", CASES, ids=[c[0] for c in CASES])
def test_japanese_output_has_no_english_words(cli, figure_texts, histories, tmp_path, case, args, allowed,
                                              expected):
    args = [a.format(**{"and": histories / "and.npz", "mlp": histories / "mlp.npz", "out": tmp_path})
            for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path)]
    result = cli(*args, "--lang", "ja")
    assert result.code == 0, result
    assert figure_texts, "the command drew no figure"
    lines = [line for line in (result.out + result.err).splitlines()
             if not line.startswith("wrote ") and not re.fullmatch(r"[01] \W [01] = [01] \([\d.]+\)", line)]
    seen = figure_texts + [line.removeprefix("note: ") for line in lines]
    left = {text: words for text in seen if (words := latin_words(text, allowed))}
    assert not left, left
    everything = "\n".join(seen)
    for text in expected:
        assert text in everything, (text, seen)


@pytest.mark.parametrize("text, words", [
    ("0 (False)", {"False"}),
    ("bce 損失 (対数目盛)", {"bce"}),
    ("ステップ 40 の曲率 (exact): lambda_max 0.06", {"exact"}),
    ("重み 0.weight[1,0] と $\\lambda_{max}$、--method pca、2 / lr", set()),
])
def test_the_scan_finds_english_words_and_passes_names_and_symbols(text, words):
    assert latin_words(text, {"bce"} - words) == words
