"""Programs that build, check and measure the course; no notebook imports them."""
