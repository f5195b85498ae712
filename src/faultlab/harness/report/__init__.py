"""The HTML, SVG, text and JUnit reports of a run, and the triage console/JSON view."""
