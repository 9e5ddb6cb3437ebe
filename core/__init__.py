"""SaliBox's headless engine: models, maps, boxes, scores and formats. No Qt here."""
