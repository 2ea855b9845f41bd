"""The dashboard: its pages over HTTP (test_pages) and in real Chromium (test_browser)."""
