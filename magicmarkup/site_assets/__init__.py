"""The static files of the HTML export (`site.css`, `site.js`)."""
