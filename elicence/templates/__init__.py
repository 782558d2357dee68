"""Licence layouts, PDF rendering, QR codes and HTML pages."""
