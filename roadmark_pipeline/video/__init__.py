"""Video ingestion: probe a dashcam file, sample frames, measure quality, anonymise, geotag."""
