"""The notification template pages' strings (templates.html, template.html) in zh-CN and en."""

from __future__ import annotations

from services.gateway.i18n_codes import _pairs

TEMPLATE_STRINGS = _pairs(
    "tpl",
    {
        "title": ("通知模板", "Notification templates"),
        "intro": (
            "通知服务发出的每个模板：内置的，或管理员修改后的覆盖版本（版本、修改人、时间）。",
            "Every template notify sends with: the shipped one, or an admin's override (version, who, when).",
        ),
        "overridden_count": ("已覆盖", "Overridden"),
        "all": ("← 全部模板", "← All templates"),
        "editor": ("模板编辑", "Template editor"),
        "kind": ("通知类型", "Kind"),
        "channel": ("渠道", "Channel"),
        "part": ("部分", "Part"),
        "language": ("语言", "Language"),
        "state": ("状态", "State"),
        "version": ("版本", "Version"),
        "file": ("模板文件", "Template file"),
        "action": ("操作", "Change"),
        "state.shipped": ("内置", "shipped"),
        "state.override": ("已覆盖", "override"),
        "state.reverted": ("已恢复内置", "reverted"),
        "action.saved": ("保存", "saved"),
        "action.reverted": ("恢复内置", "reverted"),
        "done.saved": ("已保存", "Saved"),
        "done.reverted": ("已恢复为内置模板", "Reverted to the shipped template"),
        "refused": ("未完成，请修改：", "Not done; please correct:"),
        "source": ("模板内容", "Template source"),
        "source_hint": (
            "Jinja2 模板，在沙箱中渲染；可用字段即该类型通知消息的字段（预览中的示例消息）。",
            "A Jinja2 template rendered in a sandbox; its fields are those of the kind's message "
            "(the preview's sample).",
        ),
        "reason": ("修改原因", "Reason"),
        "preview": ("预览", "Preview"),
        "test": ("发给我测试", "Send me a test"),
        "save": ("保存为新版本", "Save as a new version"),
        "revert": ("恢复内置模板", "Revert to the shipped template"),
        "versions": ("覆盖版本", "Override versions"),
        "shipped_source": ("内置模板内容", "The shipped template"),
        "sample_note": (
            "用通知服务的渲染器，按该类型真实消息格式的示例渲染；未保存、未发送。",
            "Rendered by notify's renderer from a sample in the kind's real message shape; "
            "nothing saved or sent.",
        ),
        "render_errors": ("模板无法渲染：", "The template does not render:"),
        "unknown_fields": (
            "消息中没有这些字段（渲染为空）：",
            "The message has no such fields (they render as nothing):",
        ),
        "unused": (
            "该渠道不使用此模板（不发送这一部分，或有更具体的模板），预览显示的是它实际发送的内容。",
            "This channel does not use this template (not this part, or a more specific one applies); "
            "the preview shows what it sends.",
        ),
        "outcome.sent": ("测试消息已发送", "Test message sent"),
        "outcome.refused": ("测试消息被拒绝", "Test message refused"),
        "outcome.failed": ("测试消息发送失败", "Test message failed"),
        "reason.no_destination": ("你在该渠道没有可用的地址", "you have no destination on this channel"),
        "reason.rate_limited": ("测试发送过于频繁", "too many test sends"),
        "reason.send_failed": ("渠道返回错误", "the channel answered with an error"),
        "retry_after": ("请 {seconds} 秒后再试。", "Try again in {seconds} s."),
        "kind.alert_raised": ("预警", "Alert raised"),
        "kind.case_assigned": ("工单分派", "Case assigned"),
        "kind.case_update": ("工单更新", "Case update"),
        "kind.escalation_step": ("升级", "Escalation step"),
        "kind.sla_warning": ("SLA 提醒", "SLA warning"),
        "kind.digest": ("摘要", "Digest"),
        "kind.followup_survey": ("客户回访", "Follow-up survey (to customers)"),
        "kind.case_reply": ("工单回复客户", "Case reply (to customers)"),
        "kind.playbook_reply": ("标准方案回复客户", "Playbook reply (to customers)"),
        "kind.shared": ("共用部分", "Shared part"),
        "channel.any": ("所有渠道", "every channel"),
        "channel.default": ("模板对应的渠道", "the template's own channel"),
        "channel.email": ("邮件", "Email"),
        "channel.wecom": ("企业微信", "WeCom"),
        "channel.dingtalk": ("钉钉", "DingTalk"),
        "channel.feishu": ("飞书", "Feishu"),
        "channel.slack": ("Slack", "Slack"),
        "channel.teams": ("Microsoft Teams", "Microsoft Teams"),
        "channel.webhook": ("Webhook", "Webhook"),
        "channel.sms": ("短信", "SMS"),
        "part.subject": ("标题", "Subject"),
        "part.txt": ("纯文本正文", "Plain text"),
        "part.html": ("HTML 正文", "HTML"),
        "part.md": (
            "Markdown 正文（企业微信、钉钉、飞书、Teams）",
            "Markdown body (WeCom, DingTalk, Feishu, Teams)",
        ),
        "part.slack": ("Slack 正文", "Slack body"),
        "part.body": ("正文", "Body"),
        "language.zh-CN": ("中文", "Chinese"),
        "language.en": ("英文", "English"),
    },
)
TEMPLATE_STRINGS.update(
    {
        "nav.templates": {"zh-CN": "通知模板", "en": "Templates"},
        "field.source": {"zh-CN": "模板内容", "en": "template source"},
        "field.channel": {"zh-CN": "渠道", "en": "channel"},
        "field.name": {"zh-CN": "模板名", "en": "template name"},
        "field.body.source": {"zh-CN": "模板内容", "en": "template source"},
        "field.body.reason": {"zh-CN": "原因", "en": "reason"},
        "field.body.channel": {"zh-CN": "渠道", "en": "channel"},
    }
)
