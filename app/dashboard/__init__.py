"""The dashboard: pages for people under /dashboard/, served by the service itself.

Each page is a Jinja2 shell (labels from one message catalogue per language, messages/zh.json and
messages/en.json) and a thin script (static/dashboard.js) that reads the JSON API with the token kept
in sessionStorage, or none under public read. Charts are drawn by plotly.js, served from the
installed `plotly` package: no outside URL, the offices run on closed networks.
"""
