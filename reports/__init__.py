"""Evidence bundle: manifest, signature, summary and report rendering (HTML, PDF, JUnit)."""
