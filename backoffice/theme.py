"""The staff console's look: the brand's colour as the theme's palette (django-unfold's ``COLORS``).

Unfold paints buttons, links and the active sidebar item with its ``primary`` scale (600 is the button).
One colour from the settings is enough: the lighter steps mix it with white, the darker with black, so a
brand sets ``ADMIN_COLOR`` (or ``BRAND_COLOR``) and the whole console follows.
"""

# Share of white (negative: black) mixed into the brand's colour at each step of the scale; 600 is the colour.
_STEPS = {
    "50": 0.95,
    "100": 0.88,
    "200": 0.76,
    "300": 0.58,
    "400": 0.36,
    "500": 0.16,
    "600": 0.0,
    "700": -0.16,
    "800": -0.32,
    "900": -0.48,
    "950": -0.64,
}


def palette(color: str) -> dict[str, str]:
    """``#1f4e8c`` → unfold's eleven steps, each as "r g b" (the form unfold's CSS variables take)."""
    value = color.strip().lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    if len(value) != 6:
        raise ValueError(f"a colour is #rrggbb or #rgb, not {color!r}")
    red, green, blue = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    scale = {}
    for step, share in _STEPS.items():
        target = 255 if share > 0 else 0
        mix = abs(share)
        scale[step] = " ".join(str(round(c + (target - c) * mix)) for c in (red, green, blue))
    return scale
