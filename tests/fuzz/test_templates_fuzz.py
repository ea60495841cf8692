"""The template check (Renderer.check, what notify.save_template runs) under hostile sources.

Sources are drawn from jinja2's grammar (text, expressions, filters, if/for
blocks) and broken or spiked: unbalanced tags, stray delimiters, deep nesting,
and sandbox escape attempts spliced in anywhere. ``check`` must return a list
of problems (never raise); every source with an escape attempt is refused with
a message; and nothing is ever executed: the sample payload carries a canary
whose private method records any call.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notify.render import Renderer
from services.notify.samples import SAMPLE_RECIPIENT, sample
from tests.fuzz.budget import DOCUMENT_SETTINGS

pytestmark = pytest.mark.unit

NAME = "zh-CN/case_assigned.txt.j2"


class Canary:
    """Reachable from templates as ``canary``; only a sandbox escape could call ``_trip``."""

    tripped: list = []
    title = "canary"

    def _trip(self, *args):
        Canary.tripped.append(args)
        return "TRIPPED"

    def __repr__(self):
        return "<canary>"


ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'] }}",
    "{{ namespace.__init__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ self.__dict__ }}",
    "{{ ''|attr('__class__') }}",
    "{{ ''|attr('_' ~ '_class__') }}",
    "{{ ''|attr(title) }}",
    "{{ ''['__class__'] }}",
    "{{ ''['_' ~ '_class__'] }}",
    "{{ '{0.__class__}'.format('') }}",
    "{{ '{0._TemplateReference__context}'.format(self) }}",
    "{{ '{0[_x]}'.format({}) }}",
    "{{ canary._trip() }}",
    "{{ canary|attr('_trip') }}",
    "{{ (canary|attr('_trip'))() }}",
    "{{ canary['_trip']() }}",
    "{% set ns = namespace() %}{% set ns.__class__ = 1 %}",
    "{% for x in ().__class__.__base__.__subclasses__() %}{{ x }}{% endfor %}",
    "{% set k = '_trip' %}{{ canary|attr(k) }}",
    "{{ canary|map(attribute='_trip')|list }}",
    "{{ [canary]|map(attribute='_trip')|list }}",
    "{{ [canary]|sort(attribute='_trip') }}",
    "{{ [].pop() }}",
    "{{ {}.update(a=1) }}",
    "{{ 'a' * 1000000000 }}",
    "{{ [0] * 1000000000 }}",
    "{{ 9 ** 999999999 }}",
    "{{ (" * 400 + "1" + ")" * 400 + " }}",
]
VARS = st.sampled_from(
    ["case_id", "title", "level", "customer", "customer.name", "canary", "canary.title", "x"]
)
FILTERS = st.sampled_from(
    ["upper", "trim", "length", "md", "mrkdwn", "localtime", "default('-')", "e", "nope"]
)
EXPRS = st.one_of(
    VARS,
    st.builds(lambda v, f: f"{v}|{f}", VARS, FILTERS),
    st.integers(-1000, 1000).map(str),
    st.text(max_size=8).map(repr),
    st.builds(lambda a, b: f"{a} ~ {b}", VARS, VARS),
)
# plain text never opens a tag or a comment, so an escape put beside it stays live
TEXT = st.text(st.characters(codec="utf-8", exclude_characters="{}%#"), max_size=20)


def _fragments():
    leaf = st.one_of(TEXT, EXPRS.map(lambda e: "{{ " + e + " }}"))
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.builds(lambda c, b: "{% if " + c + " %}" + b + "{% endif %}", VARS, inner),
            st.builds(lambda b: "{% for item in [1, 2] %}" + b + "{% endfor %}", inner),
            st.lists(inner, min_size=2, max_size=4).map("".join),
        ),
        max_leaves=8,
    )


JUNK = st.sampled_from(
    ["{{", "}}", "{%", "%}", "{% endif %}", "{% for %}", "{#", "|", "((", "{{ }}", "{% raw %}"]
)


@st.composite
def sources(draw):
    """A drawn template, maybe with junk spliced in anywhere or an escape between its parts
    (inside a string literal an escape would be plain text, rightly accepted)."""
    parts = draw(st.lists(_fragments(), min_size=1, max_size=3))
    spike = draw(st.one_of(st.none(), JUNK, st.sampled_from(ESCAPES)))
    if spike in ESCAPES:
        parts.insert(draw(st.integers(0, len(parts))), spike)
        return "".join(parts), True
    source = "".join(parts)
    if spike is not None:
        at = draw(st.integers(0, len(source)))
        source = source[:at] + spike + source[at:]
    return source, False


def _check(source: str):
    payload = {**sample("case_assigned"), "canary": Canary()}
    return Renderer().check(NAME, source, payload, SAMPLE_RECIPIENT)


@DOCUMENT_SETTINGS
@given(sources())
def test_any_source_is_accepted_or_refused_with_a_message_and_escapes_never_run(case):
    source, escape = case
    problems = _check(source)  # never raises
    assert isinstance(problems, list) and all(isinstance(p, str) and p for p in problems)
    if escape:
        assert problems, source
    assert Canary.tripped == []
    if not problems:
        rendered = Renderer(overrides={NAME: source}).render(
            "case_assigned",
            "email",
            "zh-CN",
            {**sample("case_assigned"), "canary": Canary()},
            SAMPLE_RECIPIENT,
        )
        assert not rendered.fallback, rendered.error
        assert "TRIPPED" not in rendered.text


@pytest.mark.parametrize("escape", ESCAPES)
def test_every_escape_attempt_is_refused_with_a_message(escape):
    problems = _check(escape)
    assert problems and all(isinstance(p, str) for p in problems)
    assert Canary.tripped == []


def test_hostile_names_and_sources_are_refused_not_raised():
    renderer = Renderer()
    for name, source in [
        (None, "x"),
        (7, "x"),
        (["a"], "x"),
        (NAME, None),
        (NAME, 5),
        ("../etc/passwd", "x"),
    ]:
        problems = renderer.check(name, source, sample("case_assigned"), SAMPLE_RECIPIENT)
        assert problems and all(isinstance(p, str) for p in problems), (name, source)
