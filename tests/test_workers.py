"""The suite's own promise: tests marked with one xdist_group run on one worker (one local Ray at a time, one
trained start for the second-stage tests)."""

import pytest


@pytest.mark.xdist_group("grouping")
def test_tests_marked_with_one_group_share_a_worker(request, worker_id):
    if worker_id != "master":  # under xdist: its loadgroup scheduler sends a group by the suffix it adds
        assert request.node.nodeid.endswith("@grouping"), "xdist ignores xdist_group under pytest 9.2 (xdist#1386)"
