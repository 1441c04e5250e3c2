"""Lineage of a batch of new datasets (`antares.cube.catalog.index_documents`): written as ODC's own
``index.lineage.merge`` writes it, checked only against the relations that touch the new datasets (so the
cost does not grow with what was derived from the same sources before), and refused - nothing indexed - where
it conflicts with the index; batches the short check cannot prove safe go through ODC's merge.

Real PostgreSQL + PostGIS and ODC: three Romania L2A dates indexed twice, as sources (``lm_src``) and as
a second product (``lm_copy``) whose documents, with new ids and lineage, are the derived datasets.
"""

from __future__ import annotations

import copy
import shutil
import uuid

import pytest
from click.testing import CliRunner

from antares.cli.main import cli
from antares.cube.catalog import index_documents
from antares.cube.index import connect
from antares.errors import InvalidInputError

ROMANIA = "nrt-romania-s2l2a/geotiff"
DATES = ["2018-01-07", "2018-03-13", "2018-06-11"]


@pytest.fixture(scope="module")
def products(settings, data_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lineage")
    for res in ("10m", "20m"):
        for date in DATES:
            shutil.copytree(data_dir / ROMANIA / res / date, tmp / res / date)
    for product in ("lm_src", "lm_copy"):
        result = CliRunner().invoke(cli, ["index", "--path", str(tmp), "--dataset_name", "s2_bands", "--product",
                                          product, "--no-verify"], env={"ANTARES_DB_URL": settings.db_url})
        assert result.exit_code == 0, result.output
    dc = connect(settings.db_url)
    try:
        sources = sorted(str(d.id) for d in dc.find_datasets(product="lm_src"))
        template = dc.find_datasets(product="lm_copy")[0]
        doc, uri = copy.deepcopy(dict(template.metadata_doc)), template.uri
    finally:
        dc.close()
    assert len(sources) == 3
    return sources, doc, uri


def derived(template: dict, sources: list, classifier: str = "source") -> dict:
    doc = copy.deepcopy(template)
    doc.update(id=str(uuid.uuid4()), lineage={classifier: list(sources)})
    return doc


def relations(dc, ids) -> set:
    """(derived, source, classifier) of the index's lineage rows touching ``ids``, through ODC's public API."""
    rows = set()
    for i in ids:
        tree = dc.index.lineage.get_source_tree(i, max_depth=1)
        for classifier, children in (tree.children or {}).items():
            rows |= {(str(i), str(child.dataset_id), classifier) for child in children}
    return rows


def test_a_batch_gets_the_lineage_odc_merge_writes(settings, products):
    from datacube.model import Dataset
    from datacube.model.lineage import LineageRelations

    sources, template, uri = products
    ours = [derived(template, sources) for _ in range(4)]
    theirs = [derived(template, sources[:2], "input") for _ in range(2)]
    dc = connect(settings.db_url)
    try:
        earlier = [derived(template, sources) for _ in range(3)]  # earlier derived datasets of the same sources
        index_documents(dc, [(doc, uri) for doc in earlier])
        index_documents(dc, [(doc, uri) for doc in ours])
        # the same kind of batch through ODC's merge alone, as the reference
        rels = LineageRelations()
        with dc.index.transaction():
            for doc in theirs:
                dc.index.datasets.add(Dataset(dc.index.products.get_by_name("lm_copy"), dict(doc, lineage={}),
                                              uris=[uri]), with_lineage=False)
                rels.merge_from_eo3_doc(doc)
            dc.index.lineage.merge(rels)
        got = relations(dc, [d["id"] for d in ours])
        want = {(d["id"], s, "source") for d in ours for s in sources}
        assert got == want and len(got) == 12
        assert relations(dc, [d["id"] for d in theirs]) == {(d["id"], s, "input") for d in theirs for s in sources[:2]}
        # every source now has the 7 + 2 derived datasets of both paths, none twice
        for s in sources:
            tree = dc.index.lineage.get_derived_tree(s, max_depth=1)
            kids = [str(c.dataset_id) for children in tree.children.values() for c in children]
            expected = [d["id"] for d in earlier + ours] + ([d["id"] for d in theirs] if s in sources[:2] else [])
            assert sorted(kids) == sorted(expected)
    finally:
        dc.close()


def test_a_conflicting_classifier_is_refused_and_nothing_is_indexed(settings, products):
    from datacube.model import LineageRelation
    from datacube.model.lineage import LineageRelations

    sources, template, uri = products
    doc = derived(template, sources)
    dc = connect(settings.db_url)
    try:
        # a relation left in the index for the new id with another classifier (lineage may name datasets
        # not indexed yet)
        stale = LineageRelations()
        stale.merge_new_lineage_relation(LineageRelation(classifier="other", derived_id=uuid.UUID(doc["id"]),
                                                         source_id=uuid.UUID(sources[0])))
        dc.index.lineage.merge(stale)
        other = derived(template, sources)
        with pytest.raises(InvalidInputError, match="lineage of 2 dataset.s. refused by the index.*inconsistent"):
            index_documents(dc, [(other, uri), (doc, uri)])
        assert not dc.index.datasets.has(doc["id"]) and not dc.index.datasets.has(other["id"])  # one transaction
        assert relations(dc, [other["id"]]) == set()
        assert relations(dc, [doc["id"]]) == {(doc["id"], sources[0], "other")}  # only what was there
    finally:
        dc.close()


def test_datasets_something_already_derives_from_go_through_odc_merge(settings, products):
    """A relation naming a new dataset as a source (written before the dataset): ODC's merge decides; no cycle is
    indexed, and a batch without one is written whole."""
    from datacube.model import LineageRelation
    from datacube.model.lineage import LineageRelations

    sources, template, uri = products
    dc = connect(settings.db_url)
    try:
        cyclic, fine = derived(template, sources), derived(template, sources)
        before = LineageRelations()
        # sources[0] "derived from" the dataset about to be indexed: indexing it as derived from sources[0]
        # would close a cycle
        before.merge_new_lineage_relation(LineageRelation(classifier="source", derived_id=uuid.UUID(sources[0]),
                                                          source_id=uuid.UUID(cyclic["id"])))
        later = uuid.uuid4()  # something (not yet indexed) derived from `fine`: no cycle
        before.merge_new_lineage_relation(LineageRelation(classifier="source", derived_id=later,
                                                          source_id=uuid.UUID(fine["id"])))
        dc.index.lineage.merge(before)
        with pytest.raises(InvalidInputError, match="refused by the index"):
            index_documents(dc, [(cyclic, uri)])
        assert not dc.index.datasets.has(cyclic["id"])
        index_documents(dc, [(fine, uri)])
        assert dc.index.datasets.has(fine["id"])
        assert relations(dc, [fine["id"]]) == {(fine["id"], s, "source") for s in sources}
    finally:
        dc.close()
