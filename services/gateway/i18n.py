"""The console's message catalogue: every UI string in zh-CN and en, in one place.

Templates call ``t("key")``; a test checks every key has both languages and
every key a template uses exists.
"""

from __future__ import annotations

from services.gateway.i18n_codes import CODES

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"

CATALOGUE: dict[str, dict[str, str]] = {
    "app.title": {"zh-CN": "客户体验预警台", "en": "CX alert console"},
    "nav.queue": {"zh-CN": "工单队列", "en": "Case queue"},
    "nav.rules": {"zh-CN": "预警规则", "en": "Alert rules"},
    "nav.dashboard": {"zh-CN": "体验看板", "en": "Dashboard"},
    "dash.title": {"zh-CN": "客户体验看板", "en": "CX dashboard"},
    "dash.since": {"zh-CN": "开始时间", "en": "Since"},
    "dash.until": {"zh-CN": "结束时间", "en": "Until"},
    "dash.bucket": {"zh-CN": "粒度", "en": "Bucket"},
    "dash.bucket.day": {"zh-CN": "按天", "en": "day"},
    "dash.bucket.week": {"zh-CN": "按周", "en": "week"},
    "dash.overall": {"zh-CN": "总览", "en": "Overall"},
    "dash.alerts": {"zh-CN": "预警", "en": "Alerts"},
    "dash.cases": {"zh-CN": "工单", "en": "Cases"},
    "dash.resolved": {"zh-CN": "已解决", "en": "Resolved"},
    "dash.mtta_seconds": {"zh-CN": "平均确认时长", "en": "MTTA"},
    "dash.mttr_seconds": {"zh-CN": "平均解决时长", "en": "MTTR"},
    "dash.sla_breach_rate": {"zh-CN": "SLA 超时率", "en": "SLA breach rate"},
    "dash.reopen_rate": {"zh-CN": "重开率", "en": "Reopen rate"},
    "dash.fcr_rate": {"zh-CN": "首次解决率", "en": "FCR"},
    "dash.by_team": {"zh-CN": "按团队", "en": "per team"},
    "dash.by_touchpoint": {"zh-CN": "按触点", "en": "per touchpoint"},
    "dash.none": {"zh-CN": "（无）", "en": "(none)"},
    "dash.alerts_by_level": {"zh-CN": "各级别预警数", "en": "Alerts by level"},
    "dash.alerts_by_rule": {"zh-CN": "各规则预警数", "en": "Alerts by rule"},
    "dash.scores": {"zh-CN": "NPS / CSAT / CES 趋势", "en": "NPS / CSAT / CES trend"},
    "dash.nps_trend": {"zh-CN": "NPS 趋势", "en": "NPS trend"},
    "dash.csat_ces_trend": {"zh-CN": "CSAT 与 CES 趋势", "en": "CSAT and CES trend"},
    "dash.not_available": {
        "zh-CN": "评分趋势暂不可用（体验档案服务未提供）。",
        "en": "The score trend is not available (the profiles service does not provide it).",
    },
    "nav.logout": {"zh-CN": "退出登录", "en": "Log out"},
    "nav.language": {"zh-CN": "语言", "en": "Language"},
    "nav.switch": {"zh-CN": "切换", "en": "Switch"},
    "nav.signed_in_as": {"zh-CN": "当前用户", "en": "Signed in as"},
    "login.title": {"zh-CN": "登录", "en": "Log in"},
    "login.username": {"zh-CN": "用户名", "en": "Username"},
    "login.password": {"zh-CN": "密码", "en": "Password"},
    "login.submit": {"zh-CN": "登录", "en": "Log in"},
    "login.failed": {"zh-CN": "用户名或密码错误。", "en": "Wrong username or password."},
    "login.rate_limited": {
        "zh-CN": "登录尝试次数过多，请稍后再试。",
        "en": "Too many login attempts; try again later.",
    },
    "login.retry_after": {"zh-CN": "可再次尝试的等待秒数：", "en": "Seconds to wait:"},
    "queue.title": {"zh-CN": "工单队列", "en": "Case queue"},
    "rules.suppressed": {"zh-CN": "被抑制次数", "en": "Suppressed"},
    "rules.edit": {"zh-CN": "编辑规则", "en": "Edit rule"},
    "rules.new": {"zh-CN": "新建规则", "en": "New rule"},
    "rules.enable": {"zh-CN": "启用", "en": "Enable"},
    "rules.disable": {"zh-CN": "停用", "en": "Disable"},
    "rules.since": {"zh-CN": "回溯范围（如 7d、12h 或 ISO 时间）", "en": "Since (7d, 12h or ISO time)"},
    "rules.dry_run": {"zh-CN": "用近期事件试运行", "en": "Dry-run on recent events"},
    "rules.definition": {"zh-CN": "规则定义", "en": "Definition"},
    "rules.versions": {"zh-CN": "版本记录", "en": "Versions"},
    "rules.editor": {"zh-CN": "规则编辑", "en": "Rule editor"},
    "rules.document": {"zh-CN": "规则（YAML 或 JSON）", "en": "Rule (YAML or JSON)"},
    "rules.save": {"zh-CN": "保存", "en": "Save"},
    "rules.events": {"zh-CN": "事件数", "en": "Events"},
    "rules.matches": {"zh-CN": "命中数", "en": "Matches"},
    "rules.alerts": {"zh-CN": "将产生预警", "en": "Alerts"},
    "rules.customers": {"zh-CN": "涉及客户", "en": "Customers"},
    "nav.customers": {"zh-CN": "客户查询", "en": "Customers"},
    "search.title": {"zh-CN": "客户查询", "en": "Find a customer"},
    "search.submit": {"zh-CN": "查询", "en": "Search"},
    "search.id": {"zh-CN": "客户 ID", "en": "Customer id"},
    "search.empty": {"zh-CN": "没有匹配的客户。", "en": "No customer matches."},
    "queue.breach": {"zh-CN": "超时状态", "en": "SLA state"},
    "queue.touchpoint": {"zh-CN": "触点", "en": "Touchpoint"},
    "queue.sort": {"zh-CN": "排序", "en": "Sort"},
    "queue.sort.urgency": {"zh-CN": "紧急程度与剩余时间", "en": "urgency, then SLA time left"},
    "queue.sort.newest": {"zh-CN": "紧急程度与最新", "en": "urgency, then newest"},
    "queue.sla_left": {"zh-CN": "SLA 剩余", "en": "SLA left"},
    "queue.breached": {"zh-CN": "已超时", "en": "breached"},
    "breach.breached": {"zh-CN": "已超时（任一）", "en": "breached (either)"},
    "breach.ack_breached": {"zh-CN": "确认超时", "en": "acknowledge breached"},
    "breach.resolve_breached": {"zh-CN": "解决超时", "en": "resolve breached"},
    "breach.at_risk": {"zh-CN": "即将超时", "en": "at risk"},
    "breach.none": {"zh-CN": "未超时", "en": "not breached"},
    "queue.scope": {"zh-CN": "范围", "en": "Scope"},
    "queue.scope.all": {"zh-CN": "全部可见", "en": "All visible"},
    "queue.scope.mine": {"zh-CN": "我的", "en": "Mine"},
    "queue.scope.team": {"zh-CN": "我的团队", "en": "My team"},
    "queue.scope.unassigned": {"zh-CN": "未分配", "en": "Unassigned"},
    "queue.level": {"zh-CN": "预警级别", "en": "Alert level"},
    "queue.status": {"zh-CN": "状态", "en": "Status"},
    "queue.any": {"zh-CN": "不限", "en": "Any"},
    "queue.filter": {"zh-CN": "筛选", "en": "Filter"},
    "queue.empty": {"zh-CN": "没有符合条件的工单。", "en": "No cases match."},
    "queue.next": {"zh-CN": "下一页", "en": "Next page"},
    "case.title": {"zh-CN": "工单", "en": "Case"},
    "case.level": {"zh-CN": "级别", "en": "Level"},
    "case.status": {"zh-CN": "状态", "en": "Status"},
    "case.assignee": {"zh-CN": "负责人", "en": "Owner"},
    "case.unassigned": {"zh-CN": "未分配", "en": "Unassigned"},
    "case.opened_at": {"zh-CN": "创建时间", "en": "Opened"},
    "case.customer": {"zh-CN": "客户", "en": "Customer"},
    "case.rule": {"zh-CN": "预警规则", "en": "Alert rule"},
    "case.why": {"zh-CN": "触发原因", "en": "Why it fired"},
    "case.condition": {"zh-CN": "条件", "en": "Condition"},
    "case.actual": {"zh-CN": "实际值", "en": "Actual"},
    "case.result": {"zh-CN": "结果", "en": "Result"},
    "case.feedback": {"zh-CN": "客户反馈", "en": "Customer feedback"},
    "case.audit": {"zh-CN": "处理记录", "en": "Audit trail"},
    "case.actions": {"zh-CN": "操作", "en": "Actions"},
    "case.no_actions": {"zh-CN": "当前没有可执行的操作。", "en": "No action is available now."},
    "case.collaborators": {"zh-CN": "协作人", "en": "Collaborators"},
    "case.comments": {"zh-CN": "备注", "en": "Comments"},
    "case.aspects": {"zh-CN": "反馈涉及", "en": "About"},
    # aspect codes (textanalysis/lexicon/aspects.txt); a new code needs its entry here
    "aspect.delivery": {"zh-CN": "物流配送", "en": "Delivery"},
    "aspect.price": {"zh-CN": "价格", "en": "Price"},
    "aspect.product_quality": {"zh-CN": "产品质量", "en": "Product quality"},
    "aspect.staff_attitude": {"zh-CN": "服务态度", "en": "Staff attitude"},
    "aspect.after_sales": {"zh-CN": "售后", "en": "After-sales"},
    "aspect.waiting_time": {"zh-CN": "等待时间", "en": "Waiting time"},
    "aspect.billing": {"zh-CN": "账单扣费", "en": "Billing"},
    "aspect.app_website": {"zh-CN": "App 与网站", "en": "App and website"},
    "action.assign": {"zh-CN": "分配", "en": "Assign"},
    "action.reassign": {"zh-CN": "转派", "en": "Reassign"},
    "action.add_collaborator": {"zh-CN": "添加协作人", "en": "Add collaborator"},
    "action.comment": {"zh-CN": "添加备注", "en": "Comment"},
    "action.acknowledge": {"zh-CN": "确认接单", "en": "Acknowledge"},
    "action.start": {"zh-CN": "开始处理", "en": "Start"},
    "action.pending_customer": {"zh-CN": "等待客户", "en": "Wait for customer"},
    "action.resume": {"zh-CN": "继续处理", "en": "Resume"},
    "action.resolve": {"zh-CN": "解决", "en": "Resolve"},
    "action.reopen": {"zh-CN": "重新打开", "en": "Reopen"},
    "action.close": {"zh-CN": "关闭", "en": "Close"},
    "action.assignee_kind": {"zh-CN": "负责方类型", "en": "Owner kind"},
    "action.assignee_id": {"zh-CN": "负责人或团队 ID", "en": "Person or team id"},
    "action.kind.person": {"zh-CN": "个人", "en": "person"},
    "action.kind.team": {"zh-CN": "团队", "en": "team"},
    "action.person": {"zh-CN": "协作人 ID", "en": "Collaborator id"},
    "action.collaborator_role": {"zh-CN": "协作角色", "en": "Role"},
    "action.text": {"zh-CN": "备注内容", "en": "Text"},
    "action.visibility": {"zh-CN": "可见范围", "en": "Visibility"},
    "action.visibility.internal": {"zh-CN": "内部", "en": "internal"},
    "action.visibility.customer": {"zh-CN": "客户可见", "en": "customer-facing"},
    "action.root_cause": {"zh-CN": "根本原因", "en": "Root cause"},
    "action.fcr": {"zh-CN": "首次接触即解决", "en": "Resolved at first contact"},
    "action.summary": {"zh-CN": "处理总结", "en": "Summary"},
    "action.reason": {"zh-CN": "原因", "en": "Reason"},
    "case.open_profile": {"zh-CN": "查看体验档案", "en": "Open the experience profile"},
    "profile.title": {"zh-CN": "体验档案", "en": "Experience profile"},
    "profile.identity": {"zh-CN": "客户信息", "en": "Identity"},
    "profile.name": {"zh-CN": "姓名", "en": "Name"},
    "profile.phone": {"zh-CN": "电话", "en": "Phone"},
    "profile.email": {"zh-CN": "邮箱", "en": "Email"},
    "profile.tier": {"zh-CN": "等级", "en": "Tier"},
    "profile.feedback_count": {"zh-CN": "反馈次数", "en": "Feedback count"},
    "profile.scores": {"zh-CN": "评分（近 30 / 90 天）", "en": "Scores (30 / 90 days)"},
    "profile.top_alerts": {"zh-CN": "最常触发的预警", "en": "Most-triggered alerts"},
    "profile.open_cases": {"zh-CN": "未结工单", "en": "Open cases"},
    "profile.timeline": {"zh-CN": "体验旅程", "en": "Timeline"},
    "profile.none": {"zh-CN": "暂无", "en": "None"},
    "profile.missing": {"zh-CN": "尚无该客户的体验档案。", "en": "No profile for this customer yet."},
    "rules.title": {"zh-CN": "预警规则", "en": "Alert rules"},
    "rules.id": {"zh-CN": "编号", "en": "Id"},
    "rules.name": {"zh-CN": "名称", "en": "Name"},
    "rules.level": {"zh-CN": "级别", "en": "Level"},
    "rules.owner": {"zh-CN": "负责人", "en": "Owner"},
    "rules.version": {"zh-CN": "版本", "en": "Version"},
    "rules.enabled": {"zh-CN": "启用", "en": "Enabled"},
    "common.yes": {"zh-CN": "是", "en": "yes"},
    "common.no": {"zh-CN": "否", "en": "no"},
    "common.at": {"zh-CN": "时间", "en": "When"},
    "common.what": {"zh-CN": "事件", "en": "What"},
    "common.by": {"zh-CN": "操作人", "en": "By"},
    "common.why": {"zh-CN": "原因", "en": "Why"},
    "common.age": {"zh-CN": "已过", "en": "Age"},
    "error.title": {"zh-CN": "出错了", "en": "Something went wrong"},
    "error.400": {"zh-CN": "请求有误。", "en": "Bad request."},
    "error.403": {"zh-CN": "您没有权限访问此页面。", "en": "You may not open this page."},
    "error.409": {"zh-CN": "工单当前状态不允许该操作。", "en": "The case's status does not allow this."},
    "error.422": {"zh-CN": "操作被拒绝。", "en": "The action was refused."},
    "error.404": {"zh-CN": "找不到该内容。", "en": "Not found."},
    "error.405": {"zh-CN": "此网址不接受该请求方法。", "en": "The method is not allowed for this URL."},
    "error.414": {"zh-CN": "网址过长。", "en": "The URL is too long."},
    "error.413": {"zh-CN": "提交的内容过大。", "en": "The request is too large."},
    "error.429": {
        "zh-CN": "请求过于频繁，请稍后再试。",
        "en": "Too many requests; please try again shortly.",
    },
    "error.500": {"zh-CN": "服务器内部错误。", "en": "Internal error."},
    "error.503": {
        "zh-CN": "后台服务暂不可用，请稍后再试。",
        "en": "A backend service is not answering; try again.",
    },
    "error.back": {"zh-CN": "返回工单队列", "en": "Back to the case queue"},
    "status.open": {"zh-CN": "待处理", "en": "open"},
    "status.assigned": {"zh-CN": "已分配", "en": "assigned"},
    "status.in_progress": {"zh-CN": "处理中", "en": "in progress"},
    "status.pending_customer": {"zh-CN": "等待客户", "en": "pending customer"},
    "status.reopened": {"zh-CN": "已重新打开", "en": "reopened"},
    "status.resolved": {"zh-CN": "已解决", "en": "resolved"},
    "status.closed": {"zh-CN": "已关闭", "en": "closed"},
    "role.agent": {"zh-CN": "客服", "en": "agent"},
    "role.owner": {"zh-CN": "负责人", "en": "owner"},
    "role.admin": {"zh-CN": "管理员", "en": "admin"},
    "role.integration": {"zh-CN": "系统集成", "en": "integration"},
    "level.P1": {"zh-CN": "P1·紧急", "en": "P1 · critical"},
    "level.P2": {"zh-CN": "P2·高", "en": "P2 · high"},
    "level.P3": {"zh-CN": "P3·中", "en": "P3 · medium"},
    "level.P4": {"zh-CN": "P4·低", "en": "P4 · low"},
}


CATALOGUE.update(CODES)  # the queue's and the case page's strings and codes (i18n_codes.py)


def language_of(value: str | None) -> str:
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


def translator(language: str):
    """``t(key)`` for one language; an unknown key shows itself (and fails the catalogue test)."""
    language = language_of(language)

    def t(key: str, **values) -> str:
        entry = CATALOGUE.get(key)
        text = entry[language] if entry else key
        return text.format(**values) if values and entry else text

    return t


def label(t, kind: str, code) -> str:
    """A code of ``kind`` (``audit``, ``touchpoint``, ``root_cause`` …) in ``t``'s language;
    a code with no entry (a touchpoint an integration made up) shows as itself."""
    if code is None or code == "":
        return ""
    key = f"{kind}.{code}"
    text = t(key)
    return str(code) if text == key else text


def owner_label(t, owner: dict | None) -> str:
    """An owner (``{"kind": "team", "id": "cx-care"}``) as people read it; none: unassigned."""
    if not owner:
        return t("case.unassigned")
    if owner.get("kind") == "team":
        return t("owner.team", id=owner.get("id", ""))
    return str(owner.get("id", ""))  # a person's id is their login name
