"""The documentation is self-contained and consistent with the package.

* every relative link and every repository path that README.md and docs/*.md mention exists;
* no file of the repository points at documents a user does not have (internal design notes,
  specs or paper numbers of the authors' working folders);
* docs/references.md has an entry for every venue and year cited in tfpath's docstrings;
* LICENSE is the Apache License 2.0 and setup.py declares it;
* setup.py's lower bounds (the tested versions) are not above the installed versions.

No test touches the network; only git (to list the repository's files) is run.
"""
import ast
import importlib.metadata
import platform
import re
import subprocess
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
DOC_PAGES = ("design.md", "methods.md", "references.md")
TEXT_SUFFIXES = {".md", ".py", ".ipynb", ".cfg", ".toml"}

# Strings that point at files outside the repository (written split, so that this file does not
# contain them itself).
FORBIDDEN = ("DESIGN" ".md", "shared" "/specs", "shared" "/papers", "../" "shared",
             "/work/" "shared", "spec" "_00")
# Internal numbering of papers or specs ("paper" / "spec" followed by a three-digit number).
NUMBERED = re.compile(r"\b(?:paper|spec)s?[ _]?0\d\d\b", re.IGNORECASE)

# Paths inside the repository are recognised by their top-level directory.
REPO_DIRS = ("tfpath", "tests", "benchmarks", "docs", "colab", ".ci")
REPO_PATH = re.compile(r"(?<![\w./~$-])((?:" + "|".join(re.escape(d) for d in REPO_DIRS)
                       + r")/[\w./*-]*)")
ROOT_FILES = ("setup.py", "setup.cfg", "pyproject.toml", "LICENSE")
LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
CODE_SPAN = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)

VENUES = ("ICML", "NeurIPS", "CVPR", "ICCV", "AAAI", "UAI", "ICLR", "BMVC", "IJCAI", "TPAMI",
          "EMNLP")
CITATION = re.compile(r"\b(" + "|".join(VENUES) + r")\b[^.()\[\]]{0,30}?\b((?:19|20)\d\d)\b")


def markdown_pages():
    return [ROOT / "README.md"] + sorted(DOCS.glob("*.md"))


def repository_files():
    """The repository's files as git sees them: tracked, plus new files not ignored."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], cwd=ROOT, capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the repository's files cannot be listed")
    names = sorted({n for n in out.stdout.decode("utf-8").split("\0") if n})
    return [ROOT / n for n in names if (ROOT / n).is_file()]


def mentioned_paths(page: Path, text=None):
    """``(line, path, base)`` of every repository path and relative link on a markdown page
    (``text``: the page's text, read from ``page`` when None). ``base`` is the folder the path
    is relative to (None: a bare file name, at the root or in docs/)."""
    text = page.read_text(encoding="utf-8") if text is None else text
    found = []

    def line_of(pos):
        return text.count("\n", 0, pos) + 1

    for m in REPO_PATH.finditer(text):
        found.append((line_of(m.start()), m.group(1).rstrip(".,;:"), ROOT))
    for m in LINK.finditer(text):
        target = m.group(1)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
            continue                                   # URLs, mailto:, anchors on the page
        found.append((line_of(m.start()), target.split("#")[0], page.parent))
    prose = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    for m in CODE_SPAN.finditer(prose):
        for token in m.group(1).split():
            token = token.strip("\"'(),;:")
            if "/" in token:
                continue                               # handled by REPO_PATH above
            if token in ROOT_FILES or re.fullmatch(r"[\w.-]+\.md", token):
                found.append((line_of(m.start()), token, None))
    return found


def exists(path: str, base):
    if base is None:                   # a bare file name: at the root or next to the page
        return (ROOT / path).exists() or (DOCS / path).exists()
    if any(c in path for c in "*?["):
        return any(base.glob(path))
    return (base / path).exists()


# ------------------------------------------------------------------------------ docs exist
def test_doc_pages_exist_and_readme_points_to_them():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in DOC_PAGES:
        assert (DOCS / name).is_file(), f"docs/{name} is missing"
        assert f"docs/{name}" in readme, f"README.md does not point to docs/{name}"
    assert "(LICENSE)" in readme, "README.md does not point to LICENSE"
    assert re.search(r"\*\*Tested with\*\*", readme), "README.md has no 'Tested with' line"


def test_mentioned_paths_exist():
    missing = []
    for page in markdown_pages():
        for line, path, base in mentioned_paths(page):
            if path and not exists(path, base):
                missing.append(f"{page.relative_to(ROOT)}:{line}: {path}")
    assert not missing, "paths or links to files the repository does not contain:\n" + \
        "\n".join(missing)


def test_path_recognition():
    """The recogniser finds repository paths in prose, code spans and commands, and ignores
    URLs, module names and user paths."""
    text = ("See `tfpath/integrate.py`, run `python benchmarks/speed.py`; [d](docs/design.md), "
            "[web](https://example.org/docs/x.md), `tfpath.baselines`, `~/.cache/tfpath`, "
            "`./tfpath_demo/`, `DESIGN" ".md`.")
    paths = {p for _, p, _ in mentioned_paths(ROOT / "README.md", text)}
    assert paths == {"tfpath/integrate.py", "benchmarks/speed.py", "docs/design.md",
                     "DESIGN" ".md"}
    assert exists("tfpath/integrate.py", ROOT) and exists("docs/design.md", ROOT)
    assert not exists("DESIGN" ".md", None) and not exists("tfpath/nowhere.py", ROOT)


# ------------------------------------------------------------------------------ self-contained
def test_no_references_to_internal_documents():
    """No repository file names internal design notes, specs or paper numbers; all offending
    lines are listed in one message (file:line: text)."""
    hits = []
    for path in repository_files():
        if path.suffix not in TEXT_SUFFIXES:
            continue
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(lines, 1):
            if any(s in line for s in FORBIDDEN) or NUMBERED.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    assert not hits, ("references to documents outside the repository (cite the paper by "
                      "authors, title and venue, or point to docs/ or a module docstring):\n"
                      + "\n".join(hits))


def test_references_cover_the_docstrings_citations():
    """Every (venue, year) cited in tfpath's sources has an entry in docs/references.md."""
    entries = [" ".join(chunk.split())
               for chunk in re.split(r"\n(?=\* )", (DOCS / "references.md").read_text(
                   encoding="utf-8"))]
    missing = set()
    for source in sorted((ROOT / "tfpath").rglob("*.py")):
        for m in CITATION.finditer(source.read_text(encoding="utf-8")):
            venue, year = m.group(1), m.group(2)
            if not any(re.search(rf"\b{venue}\b", e) and re.search(rf"\b{year}\b", e)
                       for e in entries):
                missing.add(f"{venue} {year} ({source.relative_to(ROOT)})")
    assert not missing, "cited in tfpath but not in docs/references.md: " + \
        ", ".join(sorted(missing))


# ------------------------------------------------------------------------------ license
def _setup_keywords():
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call)
                and getattr(n.func, "id", None) == "setup")
    out = {}
    for kw in call.keywords:
        try:
            out[kw.arg] = ast.literal_eval(kw.value)
        except ValueError:
            pass                                       # e.g. open("README.md").read()
    return out


def test_license_is_apache_2():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    for phrase in ("Apache License", "Version 2.0, January 2004",
                   "http://www.apache.org/licenses/",
                   "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION",
                   "9. Accepting Warranty or Additional Liability.",
                   "END OF TERMS AND CONDITIONS", "APPENDIX: How to apply the Apache License"):
        assert phrase in text, f"LICENSE: missing {phrase!r} (not the full Apache 2.0 text)"
    assert re.search(r"^Copyright 2026 The tfpath authors", text, re.M)
    assert _setup_keywords().get("license") == "Apache-2.0"


# ------------------------------------------------------------------------------ versions
def _requirements():
    kw = _setup_keywords()
    reqs = list(kw.get("install_requires", []))
    for extra in kw.get("extras_require", {}).values():
        reqs.extend(extra)
    return [Requirement(r) for r in reqs]


def test_lower_bounds_not_above_installed_versions():
    """The lower bounds are the tested versions: each pinned package is installed at a version
    that satisfies its bound (unpinned packages need not be installed)."""
    problems = []
    for req in _requirements():
        bounds = [s for s in req.specifier if s.operator in (">=", ">", "==", "~=")]
        if not bounds:
            continue
        try:
            installed = Version(importlib.metadata.version(req.name))
        except importlib.metadata.PackageNotFoundError:
            problems.append(f"{req}: pinned but not installed (its bound is not a tested "
                            "version)")
            continue
        for spec in bounds:
            if not spec.contains(installed, prereleases=True):
                problems.append(f"{req}: installed {installed}")
    assert not problems, "setup.py lower bounds above the installed versions:\n" + \
        "\n".join(problems)


def test_python_requires_admits_this_interpreter():
    spec = SpecifierSet(_setup_keywords()["python_requires"])
    assert spec.contains(platform.python_version()), (spec, platform.python_version())
