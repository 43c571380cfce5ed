"""Pure rendering of gate outcomes: Markdown (PR comment / summary), JUnit XML, terminal text."""
