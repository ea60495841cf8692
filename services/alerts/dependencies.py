"""Nameko dependency providers of the alerts service (besides its MongoStore)."""

from __future__ import annotations

from nameko.extensions import DependencyProvider

from services.common import text


class TextAnalyzer(DependencyProvider):
    """Warms the jieba tokenizer and lexicons at start-up; injects ``text.analyze``.

    Without it the first event after a start pays about a second of loading.
    """

    def setup(self) -> None:
        text.warm_up()

    def get_dependency(self, worker_ctx):
        return text.analyze
