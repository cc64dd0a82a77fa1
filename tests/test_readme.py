"""README.md and its Japanese translation README.ja.md stay in step, and the install instructions
match the pinned versions.

In step means: each links to the other at the top; the same headings at the same levels; the same
code blocks (commands, Python, the file layout's paths; only comments are translated); the same
images and links; the same options mentioned; the same tables (rows and their first cells).
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EN = (ROOT / "README.md").read_text(encoding="utf-8")
JA = (ROOT / "README.ja.md").read_text(encoding="utf-8")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def prose(text):
    """The text outside code blocks."""
    return FENCE.sub("", text)


def headings(text):
    return [len(m.group(1)) for m in re.finditer(r"^(#+) ", prose(text), re.M)]


def code_blocks(text):
    """Each fenced block as (language, lines), comments left out (a comment may be translated):
    shell and Python lose what follows ``#``; a plain block keeps each line's first word (the
    layout's paths and the truth table's cells; the descriptions beside the paths are prose)."""
    blocks = []
    for lang, body in FENCE.findall(text):
        lines = body.splitlines()
        if lang in ("bash", "python"):
            lines = [re.sub(r"\s+#.*$", "", line).rstrip() for line in lines]
        elif any(line.startswith("  ") for line in lines):  # the layout: paths, then what they hold
            lines = [line.split()[0] if line.strip() and not line.startswith(" " * 8) else "" for line in lines]
        blocks.append((lang, lines))
    return blocks


def images(text):
    return re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)


def links(text):
    return re.findall(r"(?<!!)\[[^\]]*\]\(([^)]+)\)", prose(text))


def options(text):
    return set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text))


def inline_code(text):
    """Every `inline code` span of the prose, as a multiset (names, options, values, file names):
    a sentence added to one README with something in it to type shows here."""
    return sorted(" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose(text)))


def paragraphs(text):
    return len([p for p in re.split(r"\n\s*\n", prose(text)) if p.strip()])


def tables(text):
    """Each table's first cell per row (commands, benchmarks), as inline code where it has any."""
    rows = [line for line in prose(text).splitlines() if line.startswith("|") and not line.startswith("|---")]
    return [(re.findall(r"`[^`]+`", cells[1]) or [None])[0]
            for cells in (row.split("|") for row in rows) if len(cells) > 2][1:]


def test_each_readme_links_to_the_other_at_the_top():
    assert "[日本語](README.ja.md)" in EN.splitlines()[2]
    assert "[English](README.md)" in JA.splitlines()[2]


@pytest.mark.parametrize("part", [headings, code_blocks, images, options, tables, inline_code, paragraphs])
def test_the_japanese_readme_is_in_step(part):
    assert part(JA) == part(EN), part.__name__


def test_the_same_links_besides_the_language_switch():
    assert [u for u in links(JA) if u != "README.md"] == [u for u in links(EN) if u != "README.ja.md"]


def test_the_japanese_readme_is_japanese():
    text = prose(JA)
    japanese = len(re.findall(r"[\u3040-\u30ff\u4e00-\u9fff]", text))
    assert japanese > 0.4 * len(re.findall(r"\S", re.sub(r"`[^`]*`|\([^)]*\)|\|", "", text)))
    for phrase in ("逆伝播", "損失曲面", "学習経路", "決定境界", "誤解を招く", "収束マップ"):  # the figures' terms
        assert phrase in text, phrase


def test_the_check_would_see_a_command_missing_from_one_of_them():
    broken = JA.replace("backpropviz gradcheck --step 500", "backpropviz gradcheck --step 50", 1)
    assert code_blocks(broken) != code_blocks(EN)
    assert headings(JA.replace("### ファイル", "ファイル", 1)) != headings(EN)
    assert inline_code(JA.replace("`--l2` を付けた", "L2 正則化を付けた", 1)) != inline_code(EN)


def pinned(package):
    constraints = (ROOT / "requirements" / "constraints.txt").read_text()
    return re.search(rf"^{package}==(\S+)$", constraints, re.M).group(1)


@pytest.mark.parametrize("text", [EN, JA], ids=["en", "ja"])
def test_the_cpu_install_names_the_pinned_torch_and_pytorchs_cpu_index(text):
    pip = [line for lang, lines in code_blocks(text) for line in lines if "pip install" in line]
    torch_line = next(line for line in pip if " torch==" in line)
    assert f"torch=={pinned('torch')} " in torch_line + " "
    assert torch_line.endswith("--index-url https://download.pytorch.org/whl/cpu")
    rest = pip[pip.index(torch_line) + 1]  # then the project, with the same constraints as make uses
    assert "-c requirements/constraints.txt -e" in rest
    assert "Scripts" in text  # the Windows paths


@pytest.mark.parametrize("text", [EN, JA], ids=["en", "ja"])
def test_the_readmes_name_no_other_host(text):
    hosts = set(re.findall(r"https?://([^/\s)`]+)", text))
    assert hosts <= {"download.pytorch.org"}, hosts
