"""Qt widgets of SaliBox; they take plain data and know nothing of torch."""
