"""Text analysis of customers' comments: segmentation (jieba), negation, sentiment,
category and keywords from admin-editable lexicons (``text``), and a polarity model
learned from the customers' own scored comments (``sentiment_model``).

Domain code shared by the alerts service (text conditions in rules) and the profiles
service (sentiment, categories, top terms); like ``contracts`` it imports nothing of
ours, so either service uses it without depending on the other.
"""
