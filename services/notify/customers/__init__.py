"""Messages to customers (回访 follow-up surveys, replies on a case): the customer side of notify.

``customer_message_requested`` (from cases) becomes one durable document per
``message_id`` (``store.CustomerStore``). ``outreach.Outreach`` looks the customer up
(``contacts.py``: the profiles service's contact details and contact counts), decides
with pure code (``decision.py``: erased, opt-out, contact fatigue, quiet hours in the
customer's time zone, expiry), renders the message (``render.py``), sends it on a customer
channel (``channels/<name>/`` exporting ``CUSTOMER_CHANNEL``: sms, email, wechat_oa) with
retries, and answers ``customer_message_outcome``: sent, refused with its reason, or
failed with the error. Nothing is dropped: a refusal is recorded and announced too.
"""
