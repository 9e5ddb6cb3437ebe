"""Exchange formats: Pascal VOC (read and VOCdevkit export), YOLO and COCO, on plain records."""
