"""The console's lexicon page (/lexicon) against the running services."""

from __future__ import annotations

from tests.e2e.gateway_stack import csrf_of, gateway  # noqa: F401


def test_an_admin_edits_tries_and_reverts_words_on_the_lexicon_page(gateway):  # noqa: F811
    admin = gateway.login("admin")  # English
    page = admin.get(gateway.url + "/lexicon")
    assert (
        page.status_code == 200 and "Text analysis lexicon" in page.text and 'id="lexicon-save"' in page.text
    )
    assert 'id="nav-lexicon"' in page.text
    csrf = csrf_of(page.text)

    tried = admin.post(
        gateway.url + "/lexicon/analyze",
        data={"csrf_token": csrf, "op": "add", "list": "complaint", "word": "甩锅", "text": "客服一直甩锅"},
    )
    assert tried.status_code == 200
    assert '<td id="result-category">complaint · because: 甩锅</td>' in tried.text and "+ draft" in tried.text
    assert '<span id="lexicon-version">0</span>' in tried.text  # nothing stored

    bad = admin.post(
        gateway.url + "/lexicon/edit",
        data={"csrf_token": csrf, "op": "add", "list": "complaint", "word": "", "reason": "r"},
        allow_redirects=False,
    )
    assert (
        bad.status_code == 400 and 'id="lexicon-errors"' in bad.text and "<code>body.word</code>" in bad.text
    )

    saved = admin.post(
        gateway.url + "/lexicon/edit",
        data={"csrf_token": csrf, "op": "add", "list": "complaint", "word": "甩锅", "reason": "seen weekly"},
        allow_redirects=False,
    )
    assert saved.status_code == 303 and saved.headers["Location"] == "/lexicon"
    page = admin.get(gateway.url + "/lexicon").text
    assert '<span id="lexicon-version">1</span>' in page
    assert '<td class="word">甩锅</td><td>added</td>' in page and "seen weekly" in page
    assert gateway.rpc.alerts.analyze_text("客服一直甩锅")["category"] == "complaint"

    reverted = admin.post(
        gateway.url + "/lexicon/versions/1/revert",
        data={"csrf_token": csrf, "reason": "too broad"},
        allow_redirects=False,
    )
    assert reverted.status_code == 303
    again = admin.post(
        gateway.url + "/lexicon/versions/1/revert",
        data={"csrf_token": csrf, "reason": "twice"},
        allow_redirects=False,
    )
    assert again.status_code == 409 and 'id="lexicon-errors"' in again.text
    assert gateway.rpc.alerts.lexicon()["entries"] == []

    owner = gateway.login("owner")  # 中文
    zh = owner.get(gateway.url + "/lexicon").text
    assert "文本分析词表" in zh and "版本记录" in zh and 'id="lexicon-save"' not in zh and "撤销" in zh
    form = owner.post(
        gateway.url + "/lexicon/edit",
        data={"csrf_token": csrf_of(zh), "op": "add", "list": "complaint", "word": "甩锅", "reason": "r"},
        allow_redirects=False,
    )
    assert form.status_code == 403
    agent = gateway.login("agent")
    assert agent.get(gateway.url + "/lexicon").status_code == 403
    assert 'id="nav-lexicon"' not in agent.get(gateway.url + "/cases").text


def test_an_admin_adds_an_aspect_code_on_the_lexicon_page(gateway):  # noqa: F811
    admin = gateway.login("admin")  # English
    page = admin.get(gateway.url + "/lexicon").text
    assert 'id="lexicon-aspect-form"' in page
    csrf = csrf_of(page)
    form = {
        "csrf_token": csrf,
        "code": "installation_quality",
        "label_zh": "安装质量",
        "reason": "installers",
    }
    missing = admin.post(
        gateway.url + "/lexicon/aspects", data={**form, "label_en": ""}, allow_redirects=False
    )
    assert missing.status_code == 400 and "<code>body.labels.en</code>" in missing.text
    assert 'value="安装质量"' in missing.text  # the form comes back filled in
    bad = admin.post(
        gateway.url + "/lexicon/aspects",
        data={**form, "code": "Install", "label_en": "Installation quality"},
        allow_redirects=False,
    )
    assert bad.status_code == 400 and "<code>body.code</code>" in bad.text
    saved = admin.post(
        gateway.url + "/lexicon/aspects",
        data={**form, "label_en": "Installation quality"},
        allow_redirects=False,
    )
    assert saved.status_code == 303 and saved.headers["Location"] == "/lexicon"
    page = admin.get(gateway.url + "/lexicon").text
    assert '<option value="installation_quality">Installation quality</option>' in page
    assert 'data-code="installation_quality">Installation quality</td>' in page
    again = admin.post(
        gateway.url + "/lexicon/aspects",
        data={**form, "label_en": "Installation quality"},
        allow_redirects=False,
    )
    assert again.status_code == 400 and "<code>code</code>" in again.text  # it exists already
    zh = gateway.login("owner").get(gateway.url + "/lexicon").text  # an owner reads, never adds
    assert 'data-code="installation_quality">安装质量</td>' in zh and 'id="lexicon-aspect-form"' not in zh
    assert gateway.login("owner").post(gateway.url + "/lexicon/aspects", data=form).status_code == 403
