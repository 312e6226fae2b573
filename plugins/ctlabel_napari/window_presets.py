"""The CT window presets of the labeling widget (F1-F5) and of the HU range box."""

#: name -> (window width, level) in HU, and the shortcut key.
WINDOWS = {
    "soft tissue": (400, 40, "F1"),
    "lung": (1500, -600, "F2"),
    "bone": (1800, 400, "F3"),
    "brain": (80, 40, "F4"),
    "liver": (150, 90, "F5"),
}
