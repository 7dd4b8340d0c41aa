"""The engine: turns Docker's container, image, network and volume model into work for the runtime and stores."""
