"""The main job: the whole platform end to end on the local embedded stack (`fraudlake demo`)."""
