import pytest

from services.notify.channels.truncate import characters, fit, json_bytes, truncate, utf8_bytes

LINK = "[详情](http://x.test/a?b=1)"


@pytest.mark.parametrize("limit", range(1, 80))
def test_never_splits_a_character_or_a_construct(limit):
    text = f"客户😡反馈 {LINK} **非常不满** `nps=2` <@lina> <at id=ou_1></at> <http://s.test|看>"
    cut = truncate(text, limit, utf8_bytes)
    assert len(cut.encode("utf-8")) <= limit
    cut.encode("utf-8").decode("utf-8")  # whole characters only
    body = cut.removesuffix("…")
    for construct in (LINK, "**非常不满**", "`nps=2`", "<@lina>", "<at id=ou_1></at>", "<http://s.test|看>"):
        prefix = construct[: len(construct) // 2]
        # a construct's first half appears only with the whole construct
        if prefix in body:
            assert construct in body


def test_fits_are_exact_and_measures_differ():
    assert truncate("abc", 3) == "abc"
    assert truncate("abcdef", 4, characters) == "abc…"
    assert utf8_bytes("中") == 3 and characters("中") == 1 and json_bytes('"\n') == 4


def test_fit_keeps_the_footer_whole():
    out = fit("客户" * 1000, "\n[查看工单](http://c/cases/1)", 200)
    assert out.endswith("…\n[查看工单](http://c/cases/1)") and utf8_bytes(out) <= 200
