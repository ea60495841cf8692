"""The render stage: a delivery's note in its recipient's language and its channel's
dialect; a failing template falls back to the built-in message, counted when asked."""

from services.notify.render import BUILTIN_FALLBACK, Renderer
from services.notify.samples import sample
from services.notify.stages.render import NoteRenderer


class Robot:
    name = "wecom"
    template_format = "md"


class Mail:
    name = "email"
    template_format = "email"


class Counted(list):
    def count(self, name, n=1):
        self.append((name, n))


DOC = {"_id": "n1|wecom|person:emma", "kind": "case_assigned", "level": "P2", "case_id": "CASE-1"}


def doc() -> dict:
    return {**DOC, "context": sample("case_assigned")}


def test_the_note_is_in_the_recipients_language_and_carries_the_delivery():
    counted = Counted()
    rendering = NoteRenderer(Renderer(), counted).render(doc(), {"id": "emma", "language": "en"}, Robot())
    note = rendering.note
    assert (note.delivery_id, note.kind, note.level, note.language) == (
        DOC["_id"],
        "case_assigned",
        "P2",
        "en",
    )
    assert note.url == sample("case_assigned")["case_url"] and note.case_id == "CASE-1"
    assert note.title.startswith("[P2") and note.facts == sample("case_assigned")
    assert rendering.rendered.template and not rendering.rendered.fallback and counted == []
    chinese = NoteRenderer(Renderer()).render(doc(), {"id": "li.na"}, Mail()).note
    assert chinese.language == "zh-CN" and chinese.html


def test_a_failing_template_renders_the_builtin_message_and_is_counted_only_with_counters():
    renderer = Renderer(overrides={"en/case_assigned.md.j2": "{{ nothing_here() }}"})
    counted = Counted()
    rendering = NoteRenderer(renderer, counted).render(doc(), {"id": "emma", "language": "en"}, Robot())
    assert rendering.rendered.fallback and rendering.rendered.template == BUILTIN_FALLBACK
    assert "UndefinedError" in rendering.rendered.error and rendering.note.body
    assert counted == [("template_fallbacks", 1)]
    dry = NoteRenderer(renderer).render(doc(), {"id": "emma", "language": "en"}, Robot())  # no counters
    assert dry.rendered.fallback
