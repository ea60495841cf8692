"""Settings of the notify service: its keys and their defaults (read with
``services.common.settings.get``; overridden in ``deploy/config.yaml`` or the environment)."""

from services.common import settings

DEFAULTS = settings.declare(
    {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": 8025,
        "SMTP_SECURITY": "none",  # none | starttls | ssl
        "SMTP_USER": "",
        "SMTP_FROM": "CX Alerts <cx-alerts@example.com>",
        "SMTP_TIMEOUT": 10,
        # Notification delivery (services/notify/delivery.py).
        "NOTIFY_MAX_ATTEMPTS": 5,
        "NOTIFY_BACKOFF_BASE": 5.0,
        "NOTIFY_BACKOFF_CAP": 900.0,
        "NOTIFY_LEASE_SECONDS": 60.0,
        "NOTIFY_FALLBACK_CHANNEL": "email",  # where IM deliveries go after failing for good; "none" for none
        "NOTIFY_URGENT_LEVELS": "P1",  # comma-separated levels that bypass quiet hours
        "NOTIFY_HTTP_TIMEOUT": 10.0,
        # Deliveries of one batch of notification requests sent at once (the batch's worker).
        "NOTIFY_SEND_CONCURRENCY": 10,
        # Test sends from the template editor, per user: a burst, then one per interval (seconds).
        "NOTIFY_TEMPLATE_TEST_BURST": 3,
        "NOTIFY_TEMPLATE_TEST_INTERVAL": 120.0,
        # Messages to customers (services/notify/customers/, docs/notify.md "Customer messages").
        # Contact fatigue: at most LIMIT contacts (feedback given + messages sent) in DAYS days; 0 = no limit.
        "CUSTOMER_FATIGUE_LIMIT": 3,
        "CUSTOMER_FATIGUE_DAYS": 7,
        # The customers' quiet hours in their own time zone (HH:MM-HH:MM; "none" = none), and
        # the zone of a customer whose profile names none.
        "CUSTOMER_QUIET_HOURS": "21:00-09:00",
        "CUSTOMER_DEFAULT_TIMEZONE": "Asia/Shanghai",
        "CUSTOMER_EMAIL_FROM": "",  # the sender customers see; "" = SMTP_FROM
        # SMS: Alibaba Cloud SMS SendSms. TEMPLATES: purpose.language=TemplateCode, comma-separated.
        "CUSTOMER_SMS_ENDPOINT": "https://dysmsapi.aliyuncs.com/",
        "CUSTOMER_SMS_ACCESS_KEY_ID": "",
        "CUSTOMER_SMS_ACCESS_KEY_SECRET": "",
        "CUSTOMER_SMS_SIGN_NAME": "",
        "CUSTOMER_SMS_REGION": "cn-hangzhou",
        "CUSTOMER_SMS_TEMPLATES": "",
        # The SMS vendors, primary first (aliyun, tencent): a vendor that fails is followed by
        # the next one at once, one that refuses the number is not (docs/notify.md "SMS vendors").
        "CUSTOMER_SMS_VENDORS": "aliyun",
        # SMS: Tencent Cloud SMS SendSms (TC3-HMAC-SHA256). TEMPLATES: purpose.language=TemplateId.
        "CUSTOMER_SMS_TENCENT_ENDPOINT": "https://sms.tencentcloudapi.com/",
        "CUSTOMER_SMS_TENCENT_SECRET_ID": "",
        "CUSTOMER_SMS_TENCENT_SECRET_KEY": "",
        "CUSTOMER_SMS_TENCENT_SDK_APP_ID": "",
        "CUSTOMER_SMS_TENCENT_SIGN_NAME": "",
        "CUSTOMER_SMS_TENCENT_REGION": "ap-guangzhou",
        "CUSTOMER_SMS_TENCENT_TEMPLATES": "",
        # WeChat official account template messages. TEMPLATES: purpose=template_id, comma-separated.
        "CUSTOMER_WECHAT_API": "https://api.weixin.qq.com",
        "CUSTOMER_WECHAT_APPID": "",
        "CUSTOMER_WECHAT_SECRET": "",
        "CUSTOMER_WECHAT_TEMPLATES": "",
    }
)
