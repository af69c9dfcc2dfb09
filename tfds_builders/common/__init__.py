"""Builder code the dataset builders share: config options, stored media features, frozen text features, Beam work units."""
