"""The label catalogue and the choice of language."""

import string

import pytest

from backpropviz.errors import BackpropvizError
from backpropviz.i18n import CATALOGUE, LANGS, resolve_lang, t

LOCALE_VARS = ("LC_ALL", "LC_MESSAGES", "LANG")


@pytest.fixture
def clean_locale(monkeypatch):
    for var in LOCALE_VARS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


@pytest.mark.parametrize("given, expected", [("en", "en"), ("ja", "ja"), ("JA", "ja"), (" en ", "en")])
def test_explicit_language_wins(clean_locale, given, expected):
    clean_locale.setenv("LANG", "ja_JP.UTF-8")
    assert resolve_lang(given) == expected


@pytest.mark.parametrize("bad", ["fr", "japanese", "", "en_US"])
def test_unknown_language_lists_the_accepted_ones(bad):
    with pytest.raises(BackpropvizError) as err:
        resolve_lang(bad)
    assert "en, ja" in str(err.value) and repr(bad) in str(err.value)


@pytest.mark.parametrize("env, expected", [
    ({}, "en"),
    ({"LANG": "ja_JP.UTF-8"}, "ja"),
    ({"LANG": "C.UTF-8"}, "en"),
    ({"LC_MESSAGES": "ja_JP.eucJP", "LANG": "en_US.UTF-8"}, "ja"),
    ({"LC_ALL": "en_GB.UTF-8", "LANG": "ja_JP.UTF-8"}, "en"),   # LC_ALL overrides LANG
    ({"LC_ALL": "ja_JP", "LC_MESSAGES": "en_US"}, "ja"),
    ({"LC_ALL": "", "LANG": "ja_JP.UTF-8"}, "ja"),              # an empty variable counts as unset
])
def test_default_language_follows_the_locale(clean_locale, env, expected):
    for var, value in env.items():
        clean_locale.setenv(var, value)
    assert resolve_lang(None) == expected


def test_every_entry_has_both_languages_with_the_same_fields():
    fields = lambda text: {f for _, f, _, _ in string.Formatter().parse(text) if f}  # noqa: E731
    for key, entry in CATALOGUE.items():
        assert set(entry) == set(LANGS), key
        assert all(entry[lang].strip() for lang in LANGS), key
        assert fields(entry["en"]) == fields(entry["ja"]), key


# The article's own Japanese titles and labels, copied from its figure code.
ARTICLE_JA = {
    ("graph1_title", ()): "グラフ1: 決定境界の変化",
    ("graph2_title", ()): "グラフ2: パラメータの学習推移",
    ("graph3_title", ()): "グラフ3: 損失曲面 (2D等高線) と学習経路",
    ("graph4_title", ()): "グラフ4: 3D損失曲面と学習経路",
    ("input", (("name", "x1"),)): "入力 x1",
    ("weight", (("name", "w1"),)): "重み w1",
    ("bias", (("name", "b"),)): "バイアス b",
    ("epochs", ()): "エポック数",
    ("param_value", ()): "パラメータの値",
    ("loss_value", ()): "損失の値",
    ("boundary_initial", ()): "初期値の境界",
    ("boundary_final", ()): "学習後の境界",
    ("path", ()): "学習経路",
    ("start", ()): "開始点",
    ("end", ()): "最終点",
    ("path_projected", (("fixed", "b"),)): "曲面への投影経路 (bは固定)",
    ("suptitle_gate", (("optimizer", "SGD"), ("gate", "AND"))): "SGDによる学習過程の可視化 (ANDゲート)",
}


@pytest.mark.parametrize("key, fields", list(ARTICLE_JA))
def test_japanese_labels_are_the_articles(key, fields):
    assert t(key, "ja", **dict(fields)) == ARTICLE_JA[key, fields]


def test_gate_name_is_substituted_in_the_title():
    assert t("suptitle_gate", "ja", optimizer="SGD", gate="OR") == "SGDによる学習過程の可視化 (ORゲート)"
    assert "(OR gate)" in t("suptitle_gate", "en", optimizer="SGD", gate="OR")
