"""Exchange formats: Pascal VOC XML (read here), more with the store."""
