"""The delivery pipeline's stages, one small type each, in the order a delivery meets them.

| stage | type | decides / does (its record) | store verbs given |
|---|---|---|---|
| plan | ``plan.Plan`` | the deliveries a notification asks for | directory |
| hold | ``hold.QuietHours`` | waits out quiet hours, or not (``Hold``) | none |
| resolve | ``resolve.Resolver`` | channel, recipient, address, or why not (``Resolved``) | directory |
| rate limit | ``rate_limit.RateLimiter`` | which sends go now, which wait (``Admission``) | ``take_tokens`` |
| render | ``render.NoteRenderer`` | the note in the recipient's language (``Rendering``) | ``count`` |
| send | ``send.Sender`` | one attempt, secrets redacted (``Sent``) | none |
| retry | ``retry.Retry`` | delivered, retried later, or failed for good (``Settle``) | none |
| record | ``record.Record`` | a batch's settles in one write, announced | ``settle_many``, ``count`` |
| fall back | ``fall_back.FallBack`` | the deliveries replacing failed ones | directory, deliveries |

``delivery.Pipeline`` composes them. A stage is given only the store verbs it uses (the
``Protocol`` classes in its module), so a test passes a small in-memory stand-in, the
recipients directory in memory (``store.Recipients``), or a real ``NotifyStore``.
"""
