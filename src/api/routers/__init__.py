"""One router per resource; `fraudlake.api.main` lists them."""
