"""The typed reader finds what lxml's ``find`` finds, though it looks children up by an
index of its own (the decoders' hot path: every value of a 500-action delivery)."""

from __future__ import annotations

import pytest
from lxml import etree

from oir_adapter.codecs.reading import Reader

NS = "urn:test:reading"
DOC = f"""<r xmlns="{NS}" xmlns:o="urn:test:other">
  <!-- a comment is not a child to find -->
  <a><x>only x</x></a>
  <a><b> second a's b </b><b>not the first b</b></a>
  <a><b>third a's b</b></a>
  <o:b>other namespace</o:b>
  <b>  own b  </b>
  <c/>
  <d><e><f>deep</f></e></d>
</r>"""

PATHS = ["a", "a/b", "a/x", "b", "c", "d/e/f", "d/e/g", "missing", "a/missing/b", "*",
         "a/*", "a[2]/b", "a[3]/b", "d/*/f"]


@pytest.fixture
def root() -> etree._Element:
    return etree.fromstring(DOC)


@pytest.mark.parametrize("path", PATHS)
def test_the_reader_finds_what_lxml_finds(root: etree._Element, path: str) -> None:
    expected = root.find("/".join(f"{{{NS}}}{p}" for p in path.split("/")))  # as it was
    reader = Reader(root, NS)
    reader.opt_text("c")  # the index is built on the first read; later reads use it
    found = reader.find(path)
    assert (found.element if found is not None else None) is expected
    assert reader.has(path) is (expected is not None)


def test_values_are_read_stripped_and_missing_ones_are_none(root: etree._Element) -> None:
    reader = Reader(root, NS)
    assert reader.opt_text("a/b") == "second a's b"  # the first a has no b: the second's
    assert reader.opt_text("b") == "own b"  # not the other namespace's b before it
    assert reader.opt_text("c") is None  # an empty element has no text
    assert reader.opt_text("a/missing") is None
    assert [r.opt_text("b") for r in reader.all("a")] == [None, "second a's b", "third a's b"]


@pytest.mark.parametrize("path", PATHS)
def test_the_reader_lists_what_lxml_lists(root: etree._Element, path: str) -> None:
    expected = root.findall("/".join(f"{{{NS}}}{p}" for p in path.split("/")))
    assert [r.element for r in Reader(root, NS).all(path)] == expected
