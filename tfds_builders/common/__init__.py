"""Builder code the dataset builders share: config options, frozen text features, Beam work units."""
