"""rtl.parallel_integrator.stage_levels: the adder trees' levels spread over their register stages (module
docstring): every level once, the stage count (so the latency) unchanged, one level in the first stage."""

from hypothesis import given, strategies as st

from aimcgen.rtl.parallel_integrator import ADDER_LEVELS_PER_STAGE, _stages, stage_levels


@given(rows=st.integers(1, 4096))
def test_levels_cover_the_tree_in_its_stages(rows):
    plan = stage_levels(rows)
    levels = (rows - 1).bit_length()
    assert sum(plan) == levels
    assert len(plan) == _stages(rows) == -(-levels // ADDER_LEVELS_PER_STAGE)
    if len(plan) > 1:
        assert plan[0] == 1
        assert all(k == ADDER_LEVELS_PER_STAGE for k in plan[1:-1])
        assert plan[-1] in (ADDER_LEVELS_PER_STAGE, ADDER_LEVELS_PER_STAGE + 1)


def test_tile64_plan():
    assert stage_levels(64) == [1, 2, 3]
    assert stage_levels(16) == [1, 3]
