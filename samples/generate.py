"""Generate the sample feedback stream (samples/feedback.jsonl) and malformed messages.

Deterministic: a fixed seed and the standard library only, so running it again
reproduces the checked-in files byte for byte.

    .venv/bin/python samples/generate.py

Writes ``samples/feedback.jsonl`` (400 feedback events, contract v1, sorted by
``occurred_at``) and ``samples/malformed.jsonl`` (6 raw message bodies, each broken
in a different way), checks both files, and prints the counts quoted in
``samples/README.md``.
"""

from __future__ import annotations

import json
import random
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

SEED = 20261122
HERE = Path(__file__).resolve().parent
FEEDBACK_FILE = HERE / "feedback.jsonl"
MALFORMED_FILE = HERE / "malformed.jsonl"

N_EVENTS = 400
N_CUSTOMERS = 90
CST = timezone(timedelta(hours=8))
WINDOW_END = datetime(2026, 11, 22, tzinfo=CST)  # events fall in the 30 days before this
WINDOW_START = WINDOW_END - timedelta(days=30)

# Target mix (the actual counts are printed and checked at the end).
N_TEXT_ONLY = 8  # complaints without any score
N_DETRACTORS = 112  # nps 0-6 or csat 1-2   (with the text-only complaints: 30% negative)
N_PASSIVES = 100  # 25%
N_PROMOTERS = N_EVENTS - N_TEXT_ONLY - N_DETRACTORS - N_PASSIVES  # 180, 45%
ENGLISH_SHARE = 0.10  # of the events that carry a comment

CHANNELS = ("web", "app", "wechat", "email", "phone", "sms", "qr", "store", "social")
REGIONS = ("华东", "华南", "华北", "西南", "华中")

# integration -> (event id prefix, first number, channels it reports, weight, score sets)
SOURCES = {
    "survey-app": (
        "svy",
        1200,
        {"email": 3, "sms": 3, "web": 2, "wechat": 2, "app": 1},
        30,
        {("nps",): 3, ("nps", "csat"): 4, ("nps", "csat", "ces"): 2, ("nps", "ces"): 1},
    ),
    "call-center": (
        "cc",
        5300,
        {"phone": 6, "sms": 1},
        18,
        {("csat",): 4, ("csat", "ces"): 4, ("nps", "csat"): 1},
    ),
    "wechat-miniprogram": (
        "wx",
        800,
        {"wechat": 5, "social": 2},
        18,
        {("csat",): 4, ("nps",): 3, ("nps", "csat"): 2},
    ),
    "app": ("app", 20000, {"app": 1}, 14, {("nps",): 4, ("nps", "ces"): 3, ("csat",): 2}),
    "website": (
        "web",
        3100,
        {"web": 4, "social": 1, "email": 1},
        12,
        {("csat", "ces"): 3, ("nps", "ces"): 2, ("csat",): 2},
    ),
    "qr-kiosk": ("qr", 450, {"qr": 3, "store": 2}, 8, {("csat",): 5, ("nps", "csat"): 2}),
}
UTC_SOURCES = {"website"}  # this integration reports times in UTC (+00:00)

PRODUCTS = {  # product -> (category, English name)
    "空调": ("appliance", "air conditioner"),
    "冰箱": ("appliance", "fridge"),
    "洗衣机": ("appliance", "washing machine"),
    "热水器": ("appliance", "water heater"),
    "宽带": ("telecom", "broadband"),
    "手机套餐": ("telecom", "mobile plan"),
}
APPLIANCE_TOUCHPOINTS = {
    "delivery": 5,
    "installation": 4,
    "repair": 3,
    "after_sales": 3,
    "billing": 1,
    "store_visit": 2,
    "online_support": 2,
    "onboarding": 1,
}
TOUCHPOINTS = {  # product -> touchpoint weights
    **{p: APPLIANCE_TOUCHPOINTS for p in ("空调", "冰箱", "洗衣机", "热水器")},
    "宽带": {
        "onboarding": 3,
        "billing": 3,
        "online_support": 3,
        "store_visit": 2,
        "after_sales": 2,
        "installation": 3,
        "repair": 3,
        "delivery": 1,
    },
    "手机套餐": {
        "onboarding": 4,
        "billing": 5,
        "online_support": 3,
        "store_visit": 3,
        "after_sales": 2,
        "delivery": 1,
    },  # a SIM card is delivered; nothing to install
}
TOUCHPOINT_ZH = {
    "delivery": "送货",
    "installation": "安装",
    "billing": "账单",
    "after_sales": "售后",
    "onboarding": "开通",
    "online_support": "在线客服",
    "store_visit": "门店",
    "repair": "维修",
}

SURNAMES = [
    ("王", "wang"),
    ("李", "li"),
    ("张", "zhang"),
    ("刘", "liu"),
    ("陈", "chen"),
    ("杨", "yang"),
    ("黄", "huang"),
    ("赵", "zhao"),
    ("吴", "wu"),
    ("周", "zhou"),
    ("徐", "xu"),
    ("孙", "sun"),
    ("马", "ma"),
    ("朱", "zhu"),
    ("胡", "hu"),
    ("郭", "guo"),
    ("何", "he"),
    ("高", "gao"),
    ("林", "lin"),
    ("罗", "luo"),
]
GIVEN = [
    ("磊", "lei"),
    ("芳", "fang"),
    ("娜", "na"),
    ("伟", "wei"),
    ("敏", "min"),
    ("静", "jing"),
    ("丽", "li"),
    ("强", "qiang"),
    ("洋", "yang"),
    ("艳", "yan"),
    ("勇", "yong"),
    ("军", "jun"),
    ("杰", "jie"),
    ("娟", "juan"),
    ("涛", "tao"),
    ("明", "ming"),
    ("超", "chao"),
    ("秀英", "xiuying"),
    ("霞", "xia"),
    ("平", "ping"),
    ("刚", "gang"),
    ("桂英", "guiying"),
    ("建华", "jianhua"),
    ("海燕", "haiyan"),
    ("志强", "zhiqiang"),
    ("晓东", "xiaodong"),
    ("雪梅", "xuemei"),
    ("子涵", "zihan"),
    ("浩然", "haoran"),
    ("思远", "siyuan"),
    ("欣怡", "xinyi"),
    ("宇轩", "yuxuan"),
]
# The people in samples/people.yaml; no customer shares their names.
RESERVED_NAMES = {"王磊", "李娜", "赵敏", "陈杰"}
ENGLISH_CUSTOMERS = {  # customer id -> name; these customers always write in English
    "C10014": ("David Chen", "david.chen"),
    "C10052": ("Sophie Lin", "sophie.lin"),
    "C10077": ("Kevin Zhou", "kevin.zhou"),
}
MOBILE_PREFIXES = ["138", "139", "135", "150", "158", "186", "189", "177", "133", "187"]
EMAIL_DOMAINS = ["example.com", "example.net", "example.org"]

# ---------------------------------------------------------------------------------------
# Comment templates. Each: (language, kind, touchpoints or None, product category or
# product or None, text). kind is one of complaint / negative / mild / suggestion / inquiry / praise.
# Placeholders are filled by fill_template().

T = []


def tpl(lang, kind, text, touchpoints=None, category=None):
    T.append((lang, kind, tuple(touchpoints) if touchpoints else None, category, text))


# --- Chinese complaints, by touchpoint
tpl(
    "zh",
    "complaint",
    "{product}说好{fast_days}天内送到，结果拖了一个多星期，送货延迟也没人通知，非常不满意。",
    ["delivery"],
    "appliance",
)
tpl("zh", "complaint", "送货延迟{days}天，打电话问物流一直说在路上，太耽误事了。", ["delivery"])
tpl(
    "zh",
    "complaint",
    "快递员把{product}外包装摔坏了，要求换货，再不处理我就投诉。",
    ["delivery"],
    "appliance",
)
tpl("zh", "complaint", "约好上午送货，等到下午{pm_hour}点还没人来，电话也不接。", ["delivery"])
tpl(
    "zh",
    "complaint",
    "送货师傅态度差，让我自己下楼搬{product}，还要额外收{amount}元搬运费。",
    ["delivery"],
    "appliance",
)
tpl("zh", "complaint", "等了{days}天{product}还没到，我要求取消订单并退款。", ["delivery"], "appliance")
tpl(
    "zh",
    "complaint",
    "安装师傅迟到了{late_hours}个小时，来了之后还说配件没带，只能改天再来。",
    ["installation"],
)
tpl(
    "zh",
    "complaint",
    "{product}装好第二天就漏水，安装质量太差了，问题没有解决之前不会付尾款。",
    ["installation"],
    "appliance",
)
tpl("zh", "complaint", "安装师傅收了{amount}元的材料费，事先完全没说，这不合理。", ["installation"])
tpl(
    "zh",
    "complaint",
    "预约了三次安装都被临时取消，到现在{product}还放在客厅里没装。",
    ["installation"],
    "appliance",
)
tpl(
    "zh",
    "complaint",
    "宽带安装师傅迟到{late_hours}小时，装完网速只有承诺的一半，投诉！",
    ["installation"],
    "telecom",
)
tpl("zh", "complaint", "这个月账单多扣费{amount}元，我根本没有开通过这个增值业务，要求退款。", ["billing"])
tpl(
    "zh",
    "complaint",
    "{product}明明办的是优惠价，结果按原价多扣了{amount}元，客服说要{days}个工作日核实，太慢了。",
    ["billing"],
)
tpl("zh", "complaint", "自动续费没有任何提醒就扣了{amount}元，要求全额退款，否则向12315投诉。", ["billing"])
tpl("zh", "complaint", "发票开错了两次，每次都要我重新提交资料，很不满意。", ["billing"])
tpl("zh", "complaint", "申请退款{days}天了还没到账，每次问都说在处理中。", ["after_sales", "billing"])
tpl(
    "zh",
    "complaint",
    "客服电话打不通，排队{minutes}分钟最后自动挂断，售后形同虚设。",
    ["after_sales", "online_support", "repair"],
)
tpl(
    "zh",
    "complaint",
    "{product}出了问题找售后，像踢皮球一样转了三个部门，问题还是没有解决。",
    ["after_sales"],
)
tpl(
    "zh",
    "complaint",
    "说好{days}天内给答复，到现在没有任何人联系我，我要投诉。",
    ["after_sales", "repair", "billing"],
)
tpl("zh", "complaint", "开户流程太复杂，资料交了三遍还是审核不通过。", ["onboarding"])
tpl("zh", "complaint", "{product}开通后一直用不了，已经{days}天了还没弄好。", ["onboarding"], "telecom")
tpl("zh", "complaint", "办理时承诺的赠品和优惠都没有兑现，感觉被骗了。", ["onboarding", "store_visit"])
tpl(
    "zh",
    "complaint",
    "在线客服全是机器人回复，转人工等了{minutes}分钟，问题还是没有解决。",
    ["online_support"],
)
tpl("zh", "complaint", "客服态度差，问两句就不耐烦，直接结束了对话。", ["online_support", "after_sales"])
tpl(
    "zh", "complaint", "App里提交的工单{days}天没人处理，在线客服只会说已加急。", ["online_support", "repair"]
)
tpl("zh", "complaint", "门店排队{minutes}分钟才轮到我，店员态度差，爱答不理。", ["store_visit"])
tpl(
    "zh",
    "complaint",
    "门店说{product}有现货，去了才说要等{days}天调货，白跑一趟。",
    ["store_visit"],
    "appliance",
)
tpl("zh", "complaint", "店员推销了一堆我不需要的东西，体验很不好。", ["store_visit"])
tpl(
    "zh",
    "complaint",
    "营业厅说可以当场办理{product}变更，排了{minutes}分钟又说系统故障办不了。",
    ["store_visit"],
    "telecom",
)
tpl("zh", "complaint", "寄来的光猫是坏的，快递{days}天才到，又要重新寄一次。", ["delivery"], "宽带")
tpl("zh", "complaint", "SIM卡寄了{days}天还没收到，新号码一直用不了。", ["delivery"], "手机套餐")
tpl("zh", "complaint", "会员延保开通不了，页面一直报错，电话也打不通。", ["onboarding"], "appliance")
tpl(
    "zh",
    "complaint",
    "{product}维修三次还没修好，每次来都说换个零件就行，我要求退货退款。",
    ["repair"],
    "appliance",
)
tpl("zh", "complaint", "维修师傅上门看了{minutes}分钟就收了{amount}元上门费，问题没有解决。", ["repair"])
tpl("zh", "complaint", "报修{days}天了一直没人上门，{product}坏了没法用。", ["repair"])
tpl("zh", "complaint", "修完不到一周又坏了，同样的故障，太不负责任了。", ["repair"])
tpl(
    "zh",
    "complaint",
    "宽带三天两头掉线，报修了{times}次还是老样子，再不修好就销户。",
    ["repair", "after_sales"],
    "宽带",
)
# --- Chinese negatives that fit any touchpoint
tpl("zh", "negative", "不满意，整个过程太折腾了。")
tpl("zh", "negative", "非常不满意，跟宣传的完全不一样。")
tpl("zh", "negative", "问题到现在都没有解决，不会再买你们的{product}了。")
tpl("zh", "negative", "这次服务很失望，不会推荐给朋友。")
tpl("zh", "negative", "不太满意，{touchpoint_zh}这块拖了{days}天，前后打了{times}次电话。")
tpl("zh", "negative", "态度差、效率低，我已经打算投诉了。")
tpl("zh", "negative", "{touchpoint_zh}的体验太差了，等了{days}天都没有结果。")
tpl("zh", "negative", "同一个问题说了好几遍还是没有解决，非常不满意。")
# --- Chinese lukewarm comments
tpl("zh", "mild", "整体还行，就是{touchpoint_zh}等的时间有点长。")
tpl("zh", "mild", "不太满意，{product}本身没问题，但服务流程可以更快一些。")
tpl("zh", "mild", "一般吧，师傅挺客气，就是比约定时间晚了半小时。", ["delivery", "installation", "repair"])
tpl("zh", "mild", "价格可以接受，服务中规中矩。")
tpl("zh", "mild", "问题最后解决了，不过前后打了{times}次电话。")
tpl("zh", "mild", "不算差也不算好，希望下次能更顺利。")
tpl("zh", "mild", "说不上满意，也说不上不满意，就是正常水平。")
tpl("zh", "mild", "还可以，{product}质量没话说，就是{touchpoint_zh}响应慢了点。")
tpl("zh", "mild", "流程有点繁琐，跑了两趟，不过最后还是办好了。")
# --- Chinese suggestions
tpl("zh", "suggestion", "建议送货前提前一小时电话通知，方便安排在家。", ["delivery", "installation"])
tpl(
    "zh",
    "suggestion",
    "建议在App里能实时查看师傅的位置，省得一直等。",
    ["delivery", "installation", "repair"],
)
tpl("zh", "suggestion", "建议账单里把每一项费用写清楚，现在看不太懂。", ["billing"])
tpl(
    "zh",
    "suggestion",
    "建议客服热线增加直接转人工的入口，按键菜单太长了。",
    ["online_support", "after_sales"],
)
tpl("zh", "suggestion", "建议门店周末多安排几个店员，人太多了。", ["store_visit"])
tpl("zh", "suggestion", "建议维修后回访一下，确认{product}确实修好了。", ["repair"])
tpl("zh", "suggestion", "不是投诉，只是建议把{product}的说明书写得简单一点。", None, "appliance")
tpl("zh", "suggestion", "建议增加晚上{evening}点以后的预约时段，上班族白天没空。")
tpl("zh", "suggestion", "建议老用户也能享受新用户的优惠，不然感觉不公平。", None, "telecom")
tpl("zh", "suggestion", "建议短信通知里带上订单号和联系电话，方便查询。")
# --- Chinese inquiries
tpl("zh", "inquiry", "请问{product}的保修期怎么查询？", None, "appliance")
tpl("zh", "inquiry", "请问发票怎么在线申请？找了半天没找到入口。")
tpl("zh", "inquiry", "请问怎么修改安装地址？订单已经下了。", ["delivery", "installation"])
tpl("zh", "inquiry", "请问{product}到期后怎么续约，有没有老用户优惠？", None, "telecom")
tpl("zh", "inquiry", "请问积分怎么兑换？")
tpl("zh", "inquiry", "请问{product}的电子发票怎么下载？")
tpl("zh", "inquiry", "请问预约的维修怎么改到周末？", ["repair", "after_sales"])
tpl("zh", "inquiry", "请问门店营业时间是几点到几点？", ["store_visit"])
# --- Chinese praise
tpl("zh", "praise", "非常满意，师傅很专业，安装得又快又干净。", ["installation"])
tpl("zh", "praise", "送货很快，{fast_days}天就到了，{product}包装完好。", ["delivery"], "appliance")
tpl(
    "zh",
    "praise",
    "客服耐心解答了我的问题，一次就解决了，点赞！",
    ["online_support", "after_sales", "billing"],
)
tpl("zh", "praise", "{master}师傅很专业，还教我怎么保养{product}。", ["installation", "repair"], "appliance")
tpl("zh", "praise", "门店店员服务热情，讲解得很清楚。", ["store_visit"])
tpl("zh", "praise", "没有任何问题，非常满意，会推荐给朋友。")
tpl("zh", "praise", "维修很及时，当天报修当天就修好了。", ["repair"])
tpl("zh", "praise", "账单清楚明白，没有乱收费，很放心。", ["billing"])
tpl("zh", "praise", "开通很顺利，不到{quick_minutes}分钟就办好了。", ["onboarding"])
tpl("zh", "praise", "服务很好，一点也不麻烦。")
tpl("zh", "praise", "第二次买你们家的{product}了，一如既往的靠谱。", None, "appliance")
tpl(
    "zh",
    "praise",
    "在线客服响应很快，{quick_minutes}分钟就帮我办好了退款。",
    ["online_support", "after_sales"],
)
tpl("zh", "praise", "整体很满意，{touchpoint_zh}环节比预期的还要顺畅。")
tpl("zh", "praise", "{product}用着很好，{touchpoint_zh}服务也到位，给满分。")
tpl("zh", "praise", "工作人员很有耐心，解释得很清楚，非常满意。")
tpl("zh", "praise", "比上次体验好多了，继续保持！")
tpl("zh", "praise", "效率很高，{touchpoint_zh}一次就搞定了。")
tpl("zh", "praise", "网速稳定，装机师傅也很准时，好评。", ["installation", "repair"], "telecom")
# --- English
tpl("en", "complaint", "Delivery was {days} days late and nobody told me. Very disappointed.", ["delivery"])
tpl(
    "en",
    "complaint",
    "The installer showed up {late_hours} hours late and didn't bring the right parts.",
    ["installation"],
)
tpl(
    "en",
    "complaint",
    "I was charged {amount} yuan extra for a service I never ordered. I want a refund.",
    ["billing"],
)
tpl(
    "en",
    "complaint",
    "Called the hotline {times} times, waited {minutes} minutes each time, nobody picked up.",
    ["after_sales", "online_support"],
)
tpl(
    "en",
    "complaint",
    "The {product_en} has been repaired three times and it still doesn't work.",
    ["repair"],
    "appliance",
)
tpl(
    "en", "complaint", "Store staff were rude and unhelpful. I left without buying anything.", ["store_visit"]
)
tpl("en", "complaint", "Activation took {days} days and the service still isn't working.", ["onboarding"])
tpl("en", "negative", "Not satisfied at all. The issue is still not resolved.")
tpl("en", "negative", "I'm filing a complaint: the refund promised {days} days ago never arrived.")
tpl("en", "mild", "It was OK, but the wait was longer than expected.")
tpl(
    "en",
    "mild",
    "Not bad, not great. The technician was polite but late.",
    ["delivery", "installation", "repair"],
)
tpl(
    "en",
    "suggestion",
    "Suggestion: send an SMS an hour before the delivery arrives.",
    ["delivery", "installation"],
)
tpl("en", "suggestion", "Could you add English to all app menus? Some pages are Chinese only.")
tpl("en", "inquiry", "How do I change the installation address for my order?", ["delivery", "installation"])
tpl("en", "inquiry", "How can I get an electronic invoice for my {product_en}?")
tpl("en", "praise", "Excellent service, the technician was very professional.", ["installation", "repair"])
tpl(
    "en",
    "praise",
    "Fast delivery, the {product_en} arrived in {fast_days} days in perfect condition.",
    ["delivery"],
    "appliance",
)
tpl(
    "en",
    "praise",
    "Support solved my problem on the first call. Great job!",
    ["online_support", "after_sales", "billing"],
)
tpl("en", "praise", "No complaints at all, very happy with the {product_en}.")
tpl("en", "praise", "Smooth setup, it took less than {quick_minutes} minutes.", ["onboarding"])
tpl("en", "praise", "Friendly staff and clear explanations at the store.", ["store_visit"])

# Optional endings, by language and kind, so the same template reads differently.
ENDINGS = {
    ("zh", "complaint"): [
        "希望尽快给个说法。",
        "请尽快处理！",
        "订单信息已经发给客服了。",
        "这已经是第{times}次反馈了。",
        "太让人失望了。",
    ],
    ("zh", "negative"): ["希望尽快给个说法。", "请尽快处理！", "太让人失望了。"],
    ("zh", "praise"): ["谢谢！", "下次还会选择你们。", "给你们点赞。", "已经推荐给家里人了。"],
    ("zh", "mild"): ["希望改进。", "继续努力吧。"],
    ("zh", "suggestion"): ["谢谢。", "希望采纳。"],
    ("en", "complaint"): ["Please fix this.", "Really disappointing.", "I expect a call back."],
    ("en", "negative"): ["Please fix this.", "I expect a call back."],
    ("en", "praise"): ["Thanks!", "Will recommend."],
}
ENDING_CHANCE = 0.5

# What people write, by sentiment (kind -> weight).
TEXT_KINDS = {
    "detractor": {"complaint": 3, "negative": 1},
    "textonly": {"complaint": 1},
    "passive": {"mild": 4, "suggestion": 3, "inquiry": 2},
    "promoter": {"praise": 17, "suggestion": 2, "inquiry": 1},
}


def wchoice(rng: random.Random, weights: dict):
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def fill_template(rng: random.Random, text: str, product: str, touchpoint: str) -> str:
    values = {
        "product": product,
        "product_en": PRODUCTS[product][1],
        "touchpoint_zh": TOUCHPOINT_ZH[touchpoint],
        "days": rng.randint(3, 15),
        "fast_days": rng.randint(1, 3),
        "late_hours": rng.randint(2, 5),
        "pm_hour": rng.randint(3, 6),
        "evening": rng.randint(7, 9),
        "minutes": rng.choice([15, 20, 25, 30, 40, 45, 60, 90]),
        "quick_minutes": rng.choice([3, 5, 8, 10, 15]),
        "amount": rng.choice([18, 30, 45, 58, 88, 99, 120, 150, 199, 260, 380]),
        "times": rng.randint(3, 6),
        "master": rng.choice(["张", "李", "王", "刘", "陈", "周", "孙", "马"]),
    }
    return text.format(**values)


def pick_template(rng, lang, kind, touchpoint, product):
    category = PRODUCTS[product][0]

    def fits(t):
        return (
            t[0] == lang
            and t[1] == kind
            and (t[2] is None or touchpoint in t[2])
            and t[3] in (None, category, product)
        )

    options = [t for t in T if fits(t)]
    if not options:  # no touchpoint-specific wording: fall back to the generic kind
        fallback = {
            "complaint": "negative",
            "praise": "praise",
            "mild": "mild",
            "suggestion": "mild",
            "inquiry": "mild",
            "negative": "negative",
        }[kind]
        options = [
            t
            for t in T
            if t[0] == lang and t[1] == fallback and t[2] is None and t[3] in (None, category, product)
        ]
    return rng.choice(options)


# ---------------------------------------------------------------------------------------
# Customers


def make_customers(rng: random.Random) -> list[dict]:
    names = [(s + g, s_py, g_py) for s, s_py in SURNAMES for g, g_py in GIVEN if s + g not in RESERVED_NAMES]
    rng.shuffle(names)
    ids = [f"C{10001 + i}" for i in range(N_CUSTOMERS)]
    vip = set(rng.sample([cid for cid in ids if cid != "C10023"], 13)) | {"C10023"}  # 14 of 90
    customers = []
    for i, cid in enumerate(ids):
        name, s_py, g_py = names[i]
        local = f"{g_py}.{s_py}"
        if cid in ENGLISH_CUSTOMERS:
            name, local = ENGLISH_CUSTOMERS[cid]
        digits = rng.choice(MOBILE_PREFIXES) + f"{rng.randint(0, 99999999):08d}"
        style = rng.choices(["plain", "spaced", "dashed"], weights=[5, 3, 2])[0]
        phone = {
            "plain": digits,
            "spaced": f"+86 {digits[:3]} {digits[3:7]} {digits[7:]}",
            "dashed": f"+86-{digits[:3]}-{digits[3:7]}-{digits[7:]}",
        }[style]
        customer = {"id": cid, "name": name, "phone": phone}
        if rng.random() < 0.55 or cid in ENGLISH_CUSTOMERS:
            suffix = "" if rng.random() < 0.6 else str(rng.randint(1, 99))
            customer["email"] = f"{local}{suffix}@{rng.choice(EMAIL_DOMAINS)}"
        customer["tier"] = "vip" if cid in vip else "standard"
        customer["attributes"] = {"region": rng.choice(REGIONS), "product": rng.choice(list(PRODUCTS))}
        customers.append(customer)
    return customers


# ---------------------------------------------------------------------------------------
# Planning: who gives which feedback when, before any text is written.


def at(day: int, hour: int, minute: int) -> datetime:
    """Day 0 is 2026-10-23 (China time); day 29 is 2026-11-21."""
    return WINDOW_START + timedelta(days=day, hours=hour, minutes=minute)


def plan(customer, when, sentiment, **extra):
    return {"customer": customer, "when": when, "sentiment": sentiment, "scripted": True, **extra}


def scripted_plans(by_id: dict) -> list[dict]:
    plans = []
    # Complaint bursts: 3+ complaints inside 7 days (what windowed rules look for).
    c = by_id["C10023"]  # VIP broadband customer, 4 complaints in 5 days
    c["attributes"]["product"] = "宽带"
    for day, hour, minute, tp, nps in [(15, 9, 12, "installation", 8)]:
        plans.append(plan(c, at(day, hour, minute), "passive", touchpoint=tp, nps=nps))
    for day, hour, minute, tp, nps in [
        (20, 10, 5, "repair", 3),
        (21, 19, 40, "after_sales", 2),
        (23, 8, 55, "billing", 1),
        (25, 14, 5, "online_support", 0),
    ]:
        plans.append(plan(c, at(day, hour, minute), "detractor", touchpoint=tp, nps=nps, kind="complaint"))
    c = by_id["C10047"]  # air conditioner installation gone wrong: 3 complaints in 4 days
    c["attributes"]["product"] = "空调"
    for day, hour, minute, tp in [
        (8, 18, 30, "installation"),
        (10, 11, 15, "repair"),
        (12, 16, 45, "after_sales"),
    ]:
        plans.append(plan(c, at(day, hour, minute), "detractor", touchpoint=tp, kind="complaint"))
    c = by_id["C10068"]  # washing machine repairs: 3 complaints spanning 6.5 days
    c["attributes"]["product"] = "洗衣机"
    for day, hour, minute, tp in [(3, 9, 0, "repair"), (6, 20, 10, "repair"), (9, 21, 0, "after_sales")]:
        plans.append(plan(c, at(day, hour, minute), "detractor", touchpoint=tp, kind="complaint"))
    c = by_id["C10082"]  # near miss: 3 complaints, but spread over 12 days
    for day, hour, minute in [(1, 10, 30), (7, 15, 0), (13, 11, 20)]:
        plans.append(plan(c, at(day, hour, minute), "detractor", kind="complaint"))
    # Sharp drops: a happy customer turns into a detractor.
    c = by_id["C10005"]
    c["attributes"]["product"] = "冰箱"
    for day, nps, sentiment in [
        (0, 10, "promoter"),
        (4, 10, "promoter"),
        (9, 9, "promoter"),
        (14, 9, "promoter"),
        (19, 7, "passive"),
        (22, 3, "detractor"),
        (25, 1, "detractor"),
        (28, 0, "detractor"),
    ]:
        plans.append(plan(c, at(day, 13, 20 + day), sentiment, nps=nps, source="survey-app"))
    c = by_id["C10031"]
    c["attributes"]["product"] = "手机套餐"
    for day, nps, sentiment in [
        (2, 9, "promoter"),
        (8, 10, "promoter"),
        (13, 9, "promoter"),
        (18, 4, "detractor"),
        (21, 2, "detractor"),
        (27, 0, "detractor"),
    ]:
        plans.append(plan(c, at(day, 20, 5 + day), sentiment, nps=nps, source="app"))
    return plans


# Customers whose whole story is scripted (no random events muddle the drop or the near miss).
FULLY_SCRIPTED = {"C10005", "C10031", "C10082"}


def allocate(rng: random.Random, customers: list[dict], scripted: list[dict]) -> dict:
    """How many events each customer gets in total (scripted ones included)."""
    scripted_count = Counter(p["customer"]["id"] for p in scripted)
    ids = [c["id"] for c in customers]
    heavy = [cid for cid in ids if cid in scripted_count]
    heavy += rng.sample([cid for cid in ids if cid not in scripted_count], 20 - len(heavy))
    counts = {}
    for cid in ids:
        if cid in FULLY_SCRIPTED:
            counts[cid] = scripted_count[cid]
        elif cid in heavy:
            counts[cid] = max(scripted_count[cid] + rng.randint(0, 3), rng.randint(5, 10))
        else:
            counts[cid] = 1
    light = [cid for cid in ids if cid not in heavy]
    while sum(counts.values()) < N_EVENTS:
        cid = rng.choice(light)
        if counts[cid] < 4:
            counts[cid] += 1
    while sum(counts.values()) > N_EVENTS:  # trim the heavy tail, never below the scripted events
        cid = rng.choice(heavy)
        if cid not in FULLY_SCRIPTED and counts[cid] > max(5, scripted_count[cid]):
            counts[cid] -= 1
    return counts


def random_time(rng: random.Random) -> datetime:
    day = rng.randrange(30)
    hour = rng.choices(
        range(24), weights=[1, 0, 0, 0, 0, 0, 1, 2, 4, 6, 7, 7, 6, 6, 7, 7, 6, 6, 7, 8, 8, 6, 4, 2]
    )[0]
    return WINDOW_START + timedelta(days=day, hours=hour, minutes=rng.randrange(60))


def make_plans(rng: random.Random, customers: list[dict]) -> list[dict]:
    by_id = {c["id"]: c for c in customers}
    plans = scripted_plans(by_id)
    counts = allocate(rng, customers, plans)
    taken = Counter(p["sentiment"] for p in plans)
    pool = (
        ["textonly"] * N_TEXT_ONLY
        + ["detractor"] * (N_DETRACTORS - taken["detractor"])
        + ["passive"] * (N_PASSIVES - taken["passive"])
        + ["promoter"] * (N_PROMOTERS - taken["promoter"])
    )
    rng.shuffle(pool)
    scripted_count = Counter(p["customer"]["id"] for p in plans)
    for c in customers:
        for _ in range(counts[c["id"]] - scripted_count[c["id"]]):
            plans.append(
                {"customer": c, "when": random_time(rng), "sentiment": pool.pop(), "scripted": False}
            )
    assert not pool and len(plans) == N_EVENTS
    # Which events carry a comment, and in which language.
    for p in plans:
        p["has_text"] = (
            p["scripted"]
            or rng.random()
            < {"textonly": 1, "detractor": 0.95, "passive": 0.85, "promoter": 0.75}[p["sentiment"]]
        )
        p["lang"] = "en" if p["customer"]["id"] in ENGLISH_CUSTOMERS else "zh"
    texted = [p for p in plans if p["has_text"]]
    want_en = round(ENGLISH_SHARE * len(texted))
    have_en = sum(p["lang"] == "en" for p in texted)
    candidates = [p for p in texted if p["lang"] == "zh" and not p["scripted"]]
    for p in rng.sample(candidates, max(0, want_en - have_en)):
        p["lang"] = "en"
    return plans


# ---------------------------------------------------------------------------------------
# Realising a plan as an event.


def make_scores(rng, sentiment, score_set, nps=None):
    if sentiment == "textonly":
        return None
    scores = {}
    if "nps" in score_set:
        scores["nps"] = (
            nps
            if nps is not None
            else {
                "detractor": rng.choices(range(7), weights=[4, 2, 3, 4, 4, 5, 5])[0],
                "passive": rng.randint(7, 8),
                "promoter": rng.choices([9, 10], weights=[5, 4])[0],
            }[sentiment]
        )
    if "csat" in score_set:
        if sentiment == "detractor":
            scores["csat"] = rng.choices([1, 2], weights=[2, 3])[0]
        elif sentiment == "passive":
            scores["csat"] = rng.choice([3, 4]) if "nps" in scores else rng.choices([3, 4], weights=[3, 2])[0]
        else:
            scores["csat"] = rng.choices([4, 5], weights=[1, 3])[0] if "nps" in scores else 5
    if "ces" in score_set:
        scores["ces"] = {
            "detractor": rng.randint(5, 7),
            "passive": rng.randint(3, 5),
            "promoter": rng.randint(1, 3),
        }[sentiment]
    return scores


def classify(scores: dict | None) -> str:
    if not scores:
        return "unscored"
    if scores.get("nps", 10) <= 6 or scores.get("csat", 5) <= 2:
        return "detractor"
    if "nps" in scores:
        return "promoter" if scores["nps"] >= 9 else "passive"
    return "promoter" if scores["csat"] == 5 else "passive"


def make_tags(rng, sentiment, text, customer, source):
    tags = []
    if sentiment in ("detractor", "textonly") and text and rng.random() < 0.6:
        if "投诉" in text or "12315" in text or "complaint" in text:
            tags.append("投诉")
        if "退款" in text or "refund" in text:
            tags.append("退款")
        if not tags and rng.random() < 0.5:
            tags.append("差评")
    if sentiment == "promoter" and rng.random() < 0.15:
        tags.append("表扬")
    if customer["tier"] == "vip" and source in ("survey-app", "call-center") and rng.random() < 0.5:
        tags.append("vip回访")
    return tags


def make_attributes(rng, source, touchpoint, when):
    attributes = {}
    if touchpoint in ("delivery", "installation", "billing") and rng.random() < 0.8:
        attributes["order_id"] = f"SO{when:%Y%m%d}{rng.randint(0, 99999):05d}"
    if touchpoint == "repair" and rng.random() < 0.8:
        attributes["ticket_id"] = f"RP-{rng.randint(100000, 999999)}"
    if source == "survey-app":
        attributes["survey_id"] = f"{rng.choice(['NPS-REL', 'NPS-TXN', 'CSAT-TXN'])}-{when:%Y%m}"
    elif source == "call-center" and rng.random() < 0.7:
        attributes["call_id"] = f"CALL-{rng.randint(1000000, 9999999)}"
        attributes["agent_id"] = f"A{rng.randint(1, 60):03d}"
    elif source == "qr-kiosk":
        attributes["store_id"] = rng.choice(["SH-XH-01", "GZ-TH-03", "BJ-CY-02", "CD-JJ-01", "WH-WC-02"])
    return attributes


def realise(rng: random.Random, p: dict) -> dict:
    customer = p["customer"]
    product = customer["attributes"]["product"]
    sentiment = p["sentiment"]
    if p.get("source"):
        source = p["source"]
    elif sentiment == "textonly":
        source = rng.choice(["call-center", "website", "wechat-miniprogram"])
    else:
        source = wchoice(rng, {s: spec[3] for s, spec in SOURCES.items()})
    _, _, channels, _, score_sets = SOURCES[source]
    channel = wchoice(rng, channels)
    if p.get("touchpoint"):
        touchpoint = p["touchpoint"]
    elif source == "qr-kiosk":  # QR codes on store counters and on installation/repair receipts
        touchpoint = rng.choice(
            [t for t in ["store_visit", "store_visit", "installation", "repair"] if t in TOUCHPOINTS[product]]
        )
    else:
        touchpoint = wchoice(rng, TOUCHPOINTS[product])
    score_set = wchoice(rng, score_sets)
    if p.get("nps") is not None and "nps" not in score_set:
        score_set = ("nps",) + score_set
    scores = make_scores(rng, sentiment, score_set, p.get("nps"))

    text = None
    if p["has_text"]:
        kind = p.get("kind") or wchoice(rng, TEXT_KINDS[sentiment])
        template = pick_template(rng, p["lang"], kind, touchpoint, product)
        text = fill_template(rng, template[4], product, touchpoint)
        endings = ENDINGS.get((p["lang"], template[1]))
        if endings and rng.random() < ENDING_CHANCE:
            ending = fill_template(rng, rng.choice(endings), product, touchpoint)
            text += ending if p["lang"] == "zh" else " " + ending
        p["template"] = template[4]

    when = p["when"]
    if source in UTC_SOURCES:
        when = when.astimezone(UTC)
    if source in ("app", "website"):  # these integrations stamp seconds
        when = when.replace(second=rng.randrange(60))

    event = {
        "schema_version": 1,
        "event_id": None,  # numbered per source once the stream is sorted
        "source": source,
        "occurred_at": when.isoformat(),
        "customer": json.loads(json.dumps(customer)),
        "channel": channel,
        "touchpoint": touchpoint,
    }
    if scores is not None:
        event["scores"] = scores
    if text is not None:
        event["text"] = text
    tags = make_tags(rng, sentiment, text, customer, source)
    if tags:
        event["tags"] = tags
    attributes = make_attributes(rng, source, touchpoint, p["when"])
    if attributes:
        event["attributes"] = attributes
    event["_lang"] = p["lang"] if text else None
    event["_template"] = p.get("template")
    event["_instant"] = when
    return event


def build_stream(rng: random.Random) -> list[dict]:
    customers = make_customers(rng)
    plans = make_plans(rng, customers)
    plans.sort(key=lambda p: (p["when"], p["customer"]["id"]))
    events = [realise(rng, p) for p in plans]
    events.sort(key=lambda e: (e["_instant"], e["customer"]["id"]))

    numbers = {s: spec[1] for s, spec in SOURCES.items()}
    for e in events:
        numbers[e["source"]] += 1
        e["event_id"] = f"{SOURCES[e['source']][0]}-{numbers[e['source']]:06d}"

    # Fields the contract does not define (allowed: readers keep unknown fields).
    campaign = [
        e
        for e in events
        if e["source"] == "survey-app" and "2026-11-12" <= e["occurred_at"][:10] <= "2026-11-15"
    ][:3]
    for e in campaign:
        e["campaign"] = "双11回访"
    app_event = next(e for e in events if e["source"] == "app" and "text" in e)
    app_event["device"] = {"os": "iOS 18.1", "app_version": "7.4.2"}
    # Two producers send an explicit null for "no comment" instead of leaving it out.
    for e in [e for e in events if e["source"] == "call-center" and "text" not in e][:2]:
        e["text"] = None
    return events


# ---------------------------------------------------------------------------------------
# Malformed messages: one raw body per line, each broken in one way.


def malformed_lines() -> list[str]:
    def base(event_id, **overrides):
        event = {
            "schema_version": 1,
            "event_id": event_id,
            "source": "survey-app",
            "occurred_at": "2026-11-21T10:00:00+08:00",
            "customer": {"id": "C10001", "tier": "standard"},
            "channel": "web",
            "touchpoint": "delivery",
            "scores": {"nps": 2, "csat": 1},
            "text": "送货延迟，非常不满意。",
        }
        event.update(overrides)
        return event

    def dump(event):
        return json.dumps(event, ensure_ascii=False)

    missing_id = base("bad-000002")
    del missing_id["event_id"]
    return [
        # 1. invalid JSON: the body was cut off mid-string
        (lambda s: s[: s.index("非常")])(dump(base("bad-000001"))),
        # 2. required event_id missing
        dump(missing_id),
        # 3. nps out of range
        dump(base("bad-000003", scores={"nps": 11, "csat": 5})),
        # 4. occurred_at without a UTC offset
        dump(base("bad-000004", occurred_at="2026-11-21T10:00:00")),
        # 5. a schema version this reader does not accept
        dump(base("bad-000005", schema_version=2)),
        # 6. text longer than 10,000 characters
        dump(base("bad-000006", text="送货延迟，非常不满意。" * 1000 + "完")),
    ]


# ---------------------------------------------------------------------------------------


def write_jsonl(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def public(event: dict) -> dict:
    return {k: v for k, v in event.items() if not k.startswith("_")}


def check_and_summarise(events: list[dict]) -> dict:
    """Re-read both files, check what the samples promise, and return the counts."""
    lines = FEEDBACK_FILE.read_text(encoding="utf-8").splitlines()
    parsed = [json.loads(line) for line in lines]
    assert parsed == [public(e) for e in events]
    assert len(parsed) == N_EVENTS
    keys = [(e["source"], e["event_id"]) for e in parsed]
    assert len(set(keys)) == len(keys), "event ids must be unique per source"
    for e in parsed:
        assert e["schema_version"] == 1 and len(e["event_id"]) <= 128 and len(e["source"]) <= 64
        when = datetime.fromisoformat(e["occurred_at"])
        assert when.utcoffset() is not None and WINDOW_START <= when < WINDOW_END
        s = e.get("scores") or {}
        assert 0 <= s.get("nps", 0) <= 10 and 1 <= s.get("csat", 1) <= 5 and 1 <= s.get("ces", 1) <= 7
        assert len(e.get("text") or "") <= 10_000
        assert e["channel"] in CHANNELS
    instants = [datetime.fromisoformat(e["occurred_at"]) for e in parsed]
    assert instants == sorted(instants), "stream is sorted by occurred_at"

    channels = Counter(e["channel"] for e in parsed)
    assert set(channels) == set(CHANNELS), "every channel is used"
    mix = Counter(classify(e.get("scores")) for e in parsed)
    assert mix["detractor"] == N_DETRACTORS and mix["passive"] == N_PASSIVES
    assert mix["promoter"] == N_PROMOTERS and mix["unscored"] == N_TEXT_ONLY
    per_customer = Counter(e["customer"]["id"] for e in parsed)
    assert len(per_customer) == N_CUSTOMERS
    repeat = sorted(c for c, n in per_customer.items() if n >= 5)
    assert len(repeat) >= 15

    # Customers with 3+ complaints (detractor or text-only, with a comment) inside 7 days.
    complaints = defaultdict(list)
    for e, instant in zip(parsed, instants, strict=True):
        if e.get("text") and classify(e.get("scores")) in ("detractor", "unscored"):
            complaints[e["customer"]["id"]].append(instant)
    bursts = sorted(
        c
        for c, ts in complaints.items()
        if any(ts[i + 2] - ts[i] <= timedelta(days=7) for i in range(len(ts) - 2))
    )
    assert {"C10023", "C10047", "C10068"} <= set(bursts) and "C10082" not in bursts

    texts = [e["text"] for e in events if e.get("text")]
    langs = Counter(e["_lang"] for e in events if e.get("text"))
    tiers = Counter(c["tier"] for c in {e["customer"]["id"]: e["customer"] for e in parsed}.values())
    score_fields = Counter(k for e in parsed for k in (e.get("scores") or {}))
    used_templates = {e["_template"] for e in events if e.get("text")}

    bad = MALFORMED_FILE.read_text(encoding="utf-8").splitlines()
    assert len(bad) == 6
    return {
        "events": len(parsed),
        "customers": len(per_customer),
        "vip customers": tiers["vip"],
        "customers with 5+ events": len(repeat),
        "most events for one customer": per_customer.most_common(1)[0],
        "customers with 3+ complaints within 7 days": bursts,
        "detractors (nps 0-6 or csat 1-2)": mix["detractor"],
        "passives": mix["passive"],
        "promoters": mix["promoter"],
        "text-only complaints (no scores)": mix["unscored"],
        "events with nps / csat / ces": (score_fields["nps"], score_fields["csat"], score_fields["ces"]),
        "events with a comment": len(texts),
        "distinct comments": len(set(texts)),
        "comment templates (used / written)": (len(used_templates), len(T)),
        "comments in Chinese / English": (langs["zh"], langs["en"]),
        "events without a comment": len(parsed) - len(texts),
        "sources": dict(Counter(e["source"] for e in parsed).most_common()),
        "channels": dict(channels.most_common()),
        "touchpoints": dict(Counter(e["touchpoint"] for e in parsed).most_common()),
        "events with unknown top-level fields": sum(bool({"campaign", "device"} & set(e)) for e in parsed),
        "malformed messages": len(bad),
    }


def main() -> int:
    rng = random.Random(SEED)
    events = build_stream(rng)
    write_jsonl(FEEDBACK_FILE, [json.dumps(public(e), ensure_ascii=False) for e in events])
    write_jsonl(MALFORMED_FILE, malformed_lines())
    summary = check_and_summarise(events)
    for key, value in summary.items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
