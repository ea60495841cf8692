"""The console's strings for the queue and the case page, and the codes users see there.

Codes (audit events, root causes, tiers, touchpoints, channels, timeline kinds,
SLA clocks, trigger fields) are stored and sent as codes and shown through
``label(t, kind, code)`` (i18n.py): a code with no entry here shows as itself,
which tests/e2e/test_console_codes.py catches on zh-CN pages for the codes the
services know.
"""

from __future__ import annotations


def _pairs(prefix: str, entries: dict[str, tuple[str, str]]) -> dict[str, dict[str, str]]:
    return {f"{prefix}.{code}": {"zh-CN": zh, "en": en} for code, (zh, en) in entries.items()}


QUEUE = _pairs(
    "queue",
    {
        "view": ("视图", "View"),
        "views": ("已保存的视图", "Saved views"),
        "view.mine": ("我的", "Mine"),
        "view.team": ("我的团队", "My team"),
        "view.unassigned": ("未分配", "Unassigned"),
        "view.breaching": ("即将超时", "Breaching soon"),
        "view.open": ("全部未结", "All open"),
        "view.all": ("全部（含已解决）", "All, resolved included"),
        "total": ("共 {n} 个工单", "{n} cases"),
        "showing": ("第 {first}–{last} 个", "showing {first}–{last}"),
        "search": ("搜索（工单号、客户、内容）", "Search (case id, customer, text)"),
        "search_submit": ("搜索", "Search"),
        "previous": ("上一页", "Previous page"),
        "select": ("选择", "Select"),
        "select_all": ("全选本页", "Select all on this page"),
        "bulk": ("批量操作", "Bulk action"),
        "bulk_action": ("操作", "Action"),
        "bulk_apply": ("应用到所选工单", "Apply to the selected cases"),
        "bulk_reason": ("原因（适用于全部所选工单）", "Reason (for every selected case)"),
        "bulk_done": ("批量操作结果", "Bulk action results"),
        "bulk_summary": ("{ok} 个成功，{failed} 个未完成", "{ok} done, {failed} not done"),
        "take": ("我来处理", "Take it"),
        "taken": ("已由你负责", "You own it now"),
        "live": ("自动刷新", "Live updates"),
        "new_cases": ("有 {n} 个新工单", "{n} new cases"),
        "updated": ("已更新", "Updated"),
        "shortcuts": ("键盘快捷键", "Keyboard shortcuts"),
        "key.next": ("下一个工单", "next case"),
        "key.previous": ("上一个工单", "previous case"),
        "key.open": ("打开工单", "open the case"),
        "key.select": ("选择或取消选择", "select or unselect"),
        "key.take": ("我来处理", "take it"),
        "key.search": ("搜索", "search"),
        "key.refresh": ("立即刷新", "refresh now"),
        "no_sla": ("无 SLA", "no SLA"),
        "paused": ("已暂停", "paused"),
        "due_in": ("剩余", "due in"),
        "outcome.done": ("已完成", "done"),
        "outcome.404": ("你看不到这个工单，或它已不存在", "not visible to you, or gone"),
        "outcome.403": ("你的角色不能执行此操作", "your role may not do this"),
        "outcome.409": ("工单当前状态不允许该操作", "its status does not allow this"),
        "outcome.422": ("操作被拒绝（请检查填写的内容）", "refused (check what you entered)"),
        "outcome.400": ("填写有误", "invalid input"),
        "taken_by_other": (
            "该工单的负责人已变更，请刷新后再试。",
            "Someone else changed the case's owner; refresh and try again.",
        ),
    },
)

CASE = _pairs(
    "case",
    {
        "trigger": ("触发条件", "What triggered it"),
        "clocks": ("SLA 时钟", "SLA clocks"),
        "clock": ("时钟", "Clock"),
        "clock_state": ("状态", "State"),
        "due": ("截止", "Due"),
        "left": ("剩余", "Time left"),
        "met": ("按时", "Met"),
        "late": ("超时", "Late"),
        "alerts": ("关联预警", "Linked alerts"),
        "alert_id": ("预警编号", "Alert"),
        "raised_at": ("产生时间", "Raised"),
        "resolution": ("解决结果", "Resolution"),
        "root_cause": ("根本原因", "Root cause"),
        "fcr": ("首次接触即解决", "First-contact resolution"),
        "summary": ("处理总结", "Summary"),
        "resolved_by": ("解决人", "Resolved by"),
        "done": ("操作已完成：{action}", "Done: {action}"),
        "trend": ("趋势", "Trend"),
        "avg_30d": ("近 30 天平均", "30-day average"),
        "avg_90d": ("近 90 天平均", "90-day average"),
        "last": ("最近一次", "Latest"),
        "channel": ("渠道", "Channel"),
        "touchpoint": ("触点", "Touchpoint"),
        "tier": ("客户等级", "Tier"),
        "team": ("所属团队", "Team"),
        "open_form": ("展开表单", "Open the form"),
        "field_error": ("{field}：{message}", "{field}: {message}"),
    },
)

# the audit trail's events (services/cases: lifecycle.AUDIT_ACTIONS, stores, sweeps, intake)
AUDIT = _pairs(
    "audit",
    {
        "opened": ("创建工单", "opened"),
        "assigned": ("已分配", "assigned"),
        "reassigned": ("已转派", "reassigned"),
        "acknowledged": ("已确认接单", "acknowledged"),
        "started": ("开始处理", "started"),
        "pending_customer": ("等待客户", "waiting for the customer"),
        "resumed": ("继续处理", "resumed"),
        "resolved": ("已解决", "resolved"),
        "reopened": ("已重新打开", "reopened"),
        "closed": ("已关闭", "closed"),
        "sla_reapplied": ("重新套用 SLA", "SLA re-applied"),
        "escalation_reapplied": ("重新套用升级策略", "escalation re-applied"),
        "collaborator_added": ("添加协作人", "collaborator added"),
        "commented": ("添加备注", "commented"),
        "alert_attached": ("并入新预警", "alert attached"),
        "not_assigned": ("未能自动分配", "not assigned"),
        "escalated": ("已升级", "escalated"),
        "escalation_skipped": ("跳过升级步骤", "escalation step skipped"),
        "escalation_waiting": ("升级等待中", "escalation waiting"),
        "sla_warning": ("SLA 即将超时提醒", "SLA warning sent"),
        "verified": ("客户回访满意，已确认", "verified by the customer"),
        "followup_scheduled": ("已安排回访", "follow-up scheduled"),
        "followup_requested": ("已发出回访问卷", "follow-up survey requested"),
        "followup_task_opened": ("回访任务已创建", "follow-up task opened"),
        "followup_answered": ("客户已答复回访", "follow-up answered"),
        "followup_done": ("回访任务已完成", "follow-up task done"),
        "followup_message_sent": ("回访消息已发出", "follow-up message sent"),
        "followup_message_delivered": ("回访消息已送达", "follow-up message delivered"),
        "followup_message_undelivered": ("回访消息未送达", "follow-up message not delivered"),
        "followup_sms_reply_unreadable": ("客户短信回复无法识别", "customer's SMS reply not understood"),
        "followup_message_refused": ("回访消息被拒发", "follow-up message refused"),
        "followup_message_failed": ("回访消息发送失败", "follow-up message failed"),
        "customer_reply_sent": ("客户回复已发出", "reply to the customer sent"),
        "customer_reply_delivered": ("客户回复已送达", "reply to the customer delivered"),
        "customer_reply_undelivered": ("客户回复未送达", "reply to the customer not delivered"),
        "customer_reply_refused": ("客户回复被拒发", "reply to the customer refused"),
        "customer_reply_failed": ("客户回复发送失败", "reply to the customer failed"),
        "playbook_used": ("使用标准解决方案", "playbook used"),
        "linked_to_incident": ("关联到事件", "linked to an incident"),
        "children_linked": ("关联客户工单", "customer cases linked"),
        "system": ("系统", "system"),
    },
)

ROOT_CAUSES = _pairs(
    "root_cause",
    {
        "product_defect": ("产品缺陷", "product defect"),
        "delivery_delay": ("配送延误", "delivery delay"),
        "service_attitude": ("服务态度", "service attitude"),
        "billing_error": ("账单错误", "billing error"),
        "process_gap": ("流程缺失", "process gap"),
        "customer_misunderstanding": ("客户误解", "customer misunderstanding"),
        "other": ("其他", "other"),
    },
)

TIERS = _pairs("tier", {"standard": ("普通", "standard"), "vip": ("VIP 贵宾", "VIP")})

TOUCHPOINTS = _pairs(
    "touchpoint",
    {
        "delivery": ("物流配送", "delivery"),
        "installation": ("安装", "installation"),
        "store_visit": ("门店到访", "store visit"),
        "after_sales": ("售后", "after-sales"),
        "repair": ("维修", "repair"),
        "onboarding": ("开户引导", "onboarding"),
        "online_support": ("在线客服", "online support"),
        "billing": ("账单", "billing"),
        "purchase": ("购买", "purchase"),
        "checkout": ("结账", "checkout"),
    },
)

CHANNELS = _pairs(
    "channel",
    {
        "app": ("App", "app"),
        "wechat": ("微信", "WeChat"),
        "phone": ("电话", "phone"),
        "web": ("网站", "web"),
        "social": ("社交媒体", "social media"),
        "sms": ("短信", "SMS"),
        "email": ("邮件", "email"),
        "qr": ("扫码问卷", "QR survey"),
        "store": ("门店", "store"),
    },
)

# the profile's timeline (services/profiles)
TIMELINE = _pairs(
    "timeline",
    {
        "feedback": ("客户反馈", "feedback"),
        "alert": ("预警", "alert"),
        "case_opened": ("创建工单", "case opened"),
        "case_milestone": ("工单进展", "case milestone"),
    },
)

CLOCKS = _pairs(
    "clock",
    {
        "acknowledge": ("确认接单", "acknowledge"),
        "resolve": ("解决", "resolve"),
        "running": ("计时中", "running"),
        "paused": ("已暂停", "paused"),
        "stopped": ("已停止", "stopped"),
    },
)

TREND = _pairs("trend", {"up": ("上升", "up"), "down": ("下降", "down"), "flat": ("持平", "flat")})

OWNERS = _pairs("owner", {"person": ("个人：{id}", "person: {id}"), "team": ("团队：{id}", "team: {id}")})

CATEGORIES = _pairs(
    "category",
    {
        "complaint": ("投诉", "complaint"),
        "suggestion": ("建议", "suggestion"),
        "inquiry": ("咨询", "inquiry"),
        "praise": ("表扬", "praise"),
        "other": ("其他", "other"),
    },
)

SENTIMENTS = _pairs(
    "sentiment",
    {"positive": ("正面", "positive"), "neutral": ("中性", "neutral"), "negative": ("负面", "negative")},
)

# the trigger as a sentence (trigger.py)
TRIGGER = _pairs(
    "trigger",
    {
        "score_drop": (
            "{score} 在 {within}内下降了 {drop} 分：此前平均 {average}，本次 {current}",
            "{score} fell {drop} points in {within}: average {average}, now {current}",
        ),
        "count": (
            "{within}内有 {count} 条符合条件的反馈（规则要求至少 {at_least} 条）",
            "{count} matching events in {within} (the rule needs at least {at_least})",
        ),
        "no_response": ("{within}内没有得到回应", "no response within {within}"),
        "compare": ("{field}为 {actual}（条件：{op} {value}）", "{field} is {actual} (rule: {op} {value})"),
        "mentions": ("{field}提到了：{found}", "{field} mentions {found}"),
        "generic": ("{field} {op} {value}（实际：{actual}）", "{field} {op} {value} (actual: {actual})"),
        "and": ("；", "; "),
        "missing": ("（无）", "(none)"),
        "unit.s": ("{n} 秒", "{n} seconds"),
        "unit.m": ("{n} 分钟", "{n} minutes"),
        "unit.h": ("{n} 小时", "{n} hours"),
        "unit.d": ("{n} 天", "{n} days"),
        "field.scores.nps": ("NPS", "NPS"),
        "field.scores.csat": ("CSAT", "CSAT"),
        "field.scores.ces": ("CES", "CES"),
        "field.text": ("评论", "the comment"),
        "field.category": ("反馈类别", "the category"),
        "field.sentiment": ("情绪", "the sentiment"),
        "field.aspects": ("涉及方面", "the aspects"),
        "field.is_detractor": ("是否贬损者", "detractor"),
        "field.is_first_contact": ("是否首次联系", "first contact"),
        "field.touchpoint": ("触点", "the touchpoint"),
        "field.channel": ("渠道", "the channel"),
        "field.customer.tier": ("客户等级", "the customer's tier"),
        "field.source": ("来源", "the source"),
        "field.tags": ("标签", "the tags"),
        "window.count": ("次数窗口", "count window"),
        "window.score_drop": ("评分下降", "score drop"),
        "window.no_response": ("未回应", "no response"),
        "seen.count": ("次数", "count"),
        "seen.at_least": ("至少", "at least"),
        "seen.current": ("本次", "now"),
        "seen.previous_events": ("此前反馈数", "earlier events"),
        "seen.average": ("此前平均", "average"),
        "seen.drop": ("下降", "drop"),
        "seen.waiting": ("等待中", "waiting"),
        "seen.due": ("截止", "due"),
        "seen.responded": ("已回应", "responded"),
        "op.eq": ("等于", "is"),
        "op.ne": ("不等于", "is not"),
        "op.lt": ("<", "<"),
        "op.lte": ("≤", "≤"),
        "op.gt": (">", ">"),
        "op.gte": ("≥", "≥"),
        "op.between": ("介于", "between"),
        "op.in": ("属于", "is one of"),
        "op.not_in": ("不属于", "is not one of"),
        "op.exists": ("存在", "is present"),
        "op.contains": ("包含", "contains"),
        "op.contains_any": ("包含任一", "contains any of"),
        "op.contains_all": ("包含全部", "contains all of"),
        "op.starts_with": ("开头为", "starts with"),
        "op.regex": ("匹配正则", "matches"),
    },
)

# the fields of the case page's forms and the validation messages users meet there
FIELDS = _pairs(
    "field",
    {
        "reason": ("原因", "reason"),
        "root_cause": ("根本原因", "root cause"),
        "first_contact_resolution": ("首次接触即解决", "first-contact resolution"),
        "summary": ("处理总结", "summary"),
        "assignee": ("负责人", "owner"),
        "kind": ("负责方类型", "owner kind"),
        "id": ("负责人或团队 ID", "person or team id"),
        "person": ("协作人", "collaborator"),
        "role": ("协作角色", "role"),
        "text": ("备注内容", "text"),
        "visibility": ("可见范围", "visibility"),
        "status": ("状态", "status"),
        "case_id": ("工单", "case"),
        "merged": ("要并入的客户 ID", "customer id to merge in"),
        "confirm": ("确认", "confirmation"),
        "request_ref": ("请求编号", "request reference"),
        "action": ("操作", "action"),
    },
)
MESSAGES = {
    "message.Missing data for required field.": {"zh-CN": "必填", "en": "required"},
    "message.Field may not be null.": {"zh-CN": "不能为空", "en": "may not be empty"},
    "message.Unknown field.": {"zh-CN": "不认识的字段", "en": "unknown field"},
    "message.Shorter than minimum length 1.": {"zh-CN": "不能为空", "en": "may not be empty"},
    "message.Not a valid string.": {"zh-CN": "应为文字", "en": "must be text"},
    "message.Must be one of: person, team.": {"zh-CN": "应为个人或团队", "en": "person or team"},
    "message.the customer id to merge into this one": {
        "zh-CN": "请填写要并入的客户 ID",
        "en": "the customer id to merge into this one",
    },
    "message.type the merged customer id again": {
        "zh-CN": "请再次输入要并入的客户 ID",
        "en": "type the merged customer id again",
    },
    "message.why they are the same person": {
        "zh-CN": "请说明为何是同一个人",
        "en": "why they are the same person",
    },
    "message.type the customer id to confirm": {
        "zh-CN": "请输入本客户 ID 以确认",
        "en": "type the customer id to confirm",
    },
    "message.the data-subject request's reference": {
        "zh-CN": "请填写数据主体请求编号",
        "en": "the data-subject request's reference",
    },
}

# the system's reasons in the audit trail (audit_why.py)
WHY = _pairs(
    "why",
    {
        "alert": ("由预警 {id} 产生", "alert {id}"),
        "attached": ("同一客户、同一主题的新预警 {id}", "alert {id} for the same customer and topic"),
        "reopen_window": ("重开期限内的新预警 {id}", "new alert {id} within the reopen window"),
        "rule_owner": ("规则 {id} 指定的负责人", "owner of rule {id}"),
        "at_risk": ("{clock}时钟即将超时，已提醒 {who}", "{clock} clock at risk; {who} warned"),
        "sla_policy": (
            "SLA 策略 {id} 第 {v} 版已套用到未结工单",
            "SLA policy {id} v{v} applied to open cases",
        ),
        "escalation_policy": (
            "升级策略 {id} 第 {v} 版已套用到未结工单",
            "escalation policy {id} v{v} applied to open cases",
        ),
        "collaborator": ("{who}，协作角色：{role}", "{who} as {role}"),
    },
)

PROFILE = _pairs("profile", {"n": ("{n} 条", "n={n}")})  # the scores table (scores.html)


TEAMS = _pairs(  # the teams page (teams.html)
    "teams",
    {
        "title": ("团队", "Teams"),
        "intro": (
            "每个团队的组长、成员、当前在班的人、每人的未结工单与负载，"
            "以及已超时或 {minutes} 分钟内将超时的工单。",
            "Each team's lead, members, who is on shift now, open cases and load per member, and the cases"
            " overdue or due within {minutes} minutes.",
        ),
        "edit": ("在“人员与团队”页编辑团队", "Edit the teams on the People page"),
        "lead": ("组长", "Lead"),
        "on_shift_now": ("当前在班", "On shift now"),
        "nobody_on_shift": ("无人在班", "nobody"),
        "open_cases": ("未结工单", "Open cases"),
        "waiting": ("团队队列中待领取", "Waiting in the team's queue"),
        "breaching_count": (
            "将超时或已超时（{minutes} 分钟内）",
            "Breaching (due within {minutes} min or overdue)",
        ),
        "breaching": ("将超时或已超时的工单", "Cases breaching or about to"),
        "members": ("成员", "Members"),
        "member": ("成员", "Member"),
        "on_shift": ("在班", "On shift"),
        "load": ("负载", "Load"),
        "no_members": ("暂无成员", "No members"),
        "level": ("级别", "Level"),
        "case": ("工单", "Case"),
        "status": ("状态", "Status"),
        "owner": ("负责人", "Owner"),
        "due": ("截止时间", "Due"),
        "none_breaching": ("没有将超时的工单", "No case breaching"),
        "hidden": (
            "另有 {n} 个未列出（你无权打开，或超出列表上限）",
            "{n} more not listed (not yours to open, or past the list's limit)",
        ),
        "none": ("你不在任何团队中，也不是任何团队的组长。", "You are in no team and lead none."),
    },
)

OBSERVED = _pairs(  # a group alert's observed figures (services/alerts/group_rules.judge)
    "observed",
    {
        "score": ("评分", "score"),
        "count": ("样本数", "count"),
        "threshold": ("阈值", "threshold"),
        "min_responses": ("最少样本数", "min. responses"),
        "value": ("观测值", "value"),
        "baseline": ("基线", "baseline"),
        "weeks": ("往周数量", "past weeks"),
        "min_count": ("最少数量", "min. count"),
        "negative": ("负面评论数", "negative"),
        "min_comments": ("最少评论数", "min. comments"),
    },
)

RULE_ACTIONS = _pairs(  # a rule version's action (services/alerts/rule_admin.py, rule_store.py)
    "rule_action",
    {
        "applied": ("批量应用", "applied"),
        "created": ("创建", "created"),
        "updated": ("修改", "updated"),
        "enabled": ("启用", "enabled"),
        "disabled": ("停用", "disabled"),
        "deleted": ("删除", "deleted"),
        "rolled_back": ("回滚到 v{version}", "rolled back to v{version}"),
    },
)

CODES: dict[str, dict[str, str]] = {
    **RULE_ACTIONS,
    **OBSERVED,
    **TEAMS,
    **PROFILE,
    **WHY,
    **FIELDS,
    **MESSAGES,
    **TRIGGER,
    **QUEUE,
    **CASE,
    **AUDIT,
    **ROOT_CAUSES,
    **TIERS,
    **TOUCHPOINTS,
    **CHANNELS,
    **TIMELINE,
    **CLOCKS,
    **TREND,
    **OWNERS,
    **CATEGORIES,
    **SENTIMENTS,
}
