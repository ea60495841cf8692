"""The console's message catalogue: every UI string in zh-CN and en, in one place.

Templates call ``t("key")``; a test checks every key has both languages and
every key a template uses exists.
"""

from __future__ import annotations

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"

CATALOGUE: dict[str, dict[str, str]] = {
    "app.title": {"zh-CN": "客户体验预警台", "en": "CX alert console"},
    "nav.queue": {"zh-CN": "工单队列", "en": "Case queue"},
    "nav.rules": {"zh-CN": "预警规则", "en": "Alert rules"},
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
    "queue.title": {"zh-CN": "工单队列", "en": "Case queue"},
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
    "case.actions_soon": {
        "zh-CN": "分配、确认、解决等操作将在工单服务提供后开放。",
        "en": "Assign, acknowledge and resolve arrive with the cases service's actions.",
    },
    "case.open_profile": {"zh-CN": "查看体验档案", "en": "Open the experience profile"},
    "profile.title": {"zh-CN": "体验档案", "en": "Experience profile"},
    "profile.identity": {"zh-CN": "客户信息", "en": "Identity"},
    "profile.name": {"zh-CN": "姓名", "en": "Name"},
    "profile.phone": {"zh-CN": "电话", "en": "Phone"},
    "profile.email": {"zh-CN": "邮箱", "en": "Email"},
    "profile.tier": {"zh-CN": "等级", "en": "Tier"},
    "profile.feedback_count": {"zh-CN": "反馈次数", "en": "Feedback count"},
    "profile.scores": {"zh-CN": "最近评分", "en": "Latest scores"},
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
    "error.404": {"zh-CN": "找不到该内容。", "en": "Not found."},
    "error.500": {"zh-CN": "服务器内部错误。", "en": "Internal error."},
    "error.503": {
        "zh-CN": "后台服务暂不可用，请稍后再试。",
        "en": "A backend service is not answering; try again.",
    },
    "error.back": {"zh-CN": "返回工单队列", "en": "Back to the case queue"},
    "status.open": {"zh-CN": "待处理", "en": "open"},
    "status.assigned": {"zh-CN": "已分配", "en": "assigned"},
    "status.acknowledged": {"zh-CN": "已确认", "en": "acknowledged"},
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


def language_of(value: str | None) -> str:
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


def translator(language: str):
    """``t(key)`` for one language; an unknown key shows itself (and fails the catalogue test)."""
    language = language_of(language)

    def t(key: str) -> str:
        entry = CATALOGUE.get(key)
        return entry[language] if entry else key

    return t
