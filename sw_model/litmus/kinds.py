"""The expected verdicts of the catalogue (herd7 ``-kinds`` files: ``NAME  Verdict`` lines,
``#`` comments)."""
from dataclasses import dataclass
from pathlib import Path

from .errors import LitmusError

#: The base architecture's verdicts, first file first; FEAT_ETS2's apart.
BASE_FILES = ("kinds.txt", "VMSA-newlob-kinds.txt")
ETS2_FILE = "VMSA-ETS2-kinds.txt"
_WORDS = {"Allowed": "Allowed", "Allow": "Allowed", "Forbidden": "Forbidden",
          "Forbid": "Forbidden", "Required": "Required"}


@dataclass(frozen=True)
class Verdict:
    base: str | None          # Allowed, Forbidden, Required; None: no verdict
    ets2: str | None          # the same under FEAT_ETS2 (VMSA-ETS2-kinds.txt)


def read_kinds(path):
    """{test name: verdict word} of one kinds file; a verdict word herd does not use for
    VMSA tests is a LitmusError naming the file and line."""
    kinds = {}
    path = Path(path)
    for n, line in enumerate(path.read_text().splitlines(), 1):
        words = line.partition("#")[0].split()        # '#' starts a comment
        if not words:
            continue
        if len(words) == 1:           # upstream has a name run into its verdict
            glued = [w for w in _WORDS if words[0].endswith(w) and len(words[0]) > len(w)]
            if glued:
                word = max(glued, key=len)
                words = [words[0][:-len(word)], word]
        if len(words) != 2:
            raise LitmusError(path.name, f"line {n}: {line.strip()!r} is not 'NAME VERDICT'")
        name, word = words
        kinds[name] = _WORDS.get(word, word)
    return kinds


class Kinds:
    """The verdicts found beside a directory of tests (missing files count as empty)."""

    def __init__(self, directory):
        directory = Path(directory)
        self.base = {}
        for filename in reversed(BASE_FILES):
            if (directory / filename).exists():
                self.base.update(read_kinds(directory / filename))
        ets2 = directory / ETS2_FILE
        self.ets2 = read_kinds(ets2) if ets2.exists() else {}

    def verdict(self, name):
        return Verdict(self.base.get(name), self.ets2.get(name))
