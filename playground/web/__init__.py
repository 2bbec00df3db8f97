"""The web layer: thin views for the pages and the JSON API over one service."""
